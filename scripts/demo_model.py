"""Demo: the shipped model crimemapping:importandmap (import, hotspot density, ward rates) on the bundled sample."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run the shipped model for burglary, Oct-Dec 2024, in London's wards; return lines to print."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wards = demo_inputs.wards(sample_dir, out_dir)
    population = str(demo_inputs.ward_population(sample_dir, out_dir, run_alg))
    results = run_alg(
        "crimemapping:importandmap",
        {
            "police_uk": [str(sample_dir / "police_uk")],
            "crime_groups": [1],  # Burglary
            "wards": wards,
            "population": population,
            "bandwidth": 400,
            "cell_size": 50,
            "import:crimes": str(out_dir / "model_burglary.gpkg"),
            "density:density": str(out_dir / "model_burglary_density.tif"),
            "density:hotspots": str(out_dir / "model_burglary_hotspots.gpkg"),
            "wardrates:ward_rates": str(out_dir / "model_burglary_ward_rates.gpkg"),
        },
    )
    return [
        "== Shipped model crimemapping:importandmap (import, hotspot density, ward rates), burglary in London's wards",
        f"  crimes {results['import:crimes']}",
        f"  density {results['density:density']} (crimes per km² per month)",
        f"  hotspot areas {results['density:hotspots']}",
        f"  ward rates {results['wardrates:ward_rates']} (crimes per 1,000 residents, Census 2021 populations)",
    ]
