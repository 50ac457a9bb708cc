"""Demo: the shipped model crimemapping:importandmap (import, hotspot density, ward rates) on the bundled sample."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run the shipped model for burglary, Oct-Dec 2024, in London's wards; return lines to print."""
    out_dir.mkdir(parents=True, exist_ok=True)
    wards = out_dir / "model_wards.gpkg"  # a copy: QGIS may touch a GeoPackage it opens
    shutil.copy(sample_dir / "boundaries" / "london_wards_2024.gpkg", wards)
    population = run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(sample_dir / "population" / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(sample_dir / "population" / "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": str(out_dir / "model_ward_population.gpkg"),
        },
    )["OUTPUT"]
    results = run_alg(
        "crimemapping:importandmap",
        {
            "police_uk": [str(sample_dir / "police_uk")],
            "crime_groups": [1],  # Burglary
            "wards": f"{wards}|layername=wards",
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
