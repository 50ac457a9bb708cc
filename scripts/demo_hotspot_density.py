"""Demo: a hotspot density map of the bundled police.uk sample, in crimes per km² per month, and its hotspot areas."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run crimemapping:hotspotdensity on the sample crimes within London's wards; return lines to print."""
    out_dir.mkdir(parents=True, exist_ok=True)
    crimes = demo_inputs.crimes(sample_dir, out_dir, run_alg)
    wards = demo_inputs.wards(sample_dir, out_dir)
    res = run_alg(
        "crimemapping:hotspotdensity",
        {
            "INPUT": str(crimes),
            "STUDY_AREA": wards,
            "BANDWIDTH": 400,
            "CELL_SIZE": 50,
            "UNITS": 1,
            "HOTSPOT_THRESHOLD": 95,
            "OUTPUT": str(out_dir / "hotspot_density.tif"),
            "HOTSPOTS": str(out_dir / "hotspot_areas.gpkg"),
        },
    )
    unit = res["UNIT"]
    return [
        f"Hotspot density: {out_dir / 'hotspot_density.tif'} ({unit}, {res['CRIMES']:,} crimes, "
        f"{res['MONTHS']} months, quartic kernel, bandwidth {res['BANDWIDTH_USED']:g} m, "
        f"cells {res['CELL_SIZE_USED']:g} m)",
        f"Hotspot areas: {out_dir / 'hotspot_areas.gpkg'}: {res['HOTSPOT_COUNT']} areas at ≥ "
        f"{res['THRESHOLD_USED']:.3g} {unit} hold {res['HOTSPOT_CRIMES']:,} crimes "
        f"({res['HOTSPOT_SHARE']:.1f} % of those in London's wards)",
    ]
