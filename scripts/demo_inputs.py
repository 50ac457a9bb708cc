"""Inputs the demo steps share, each made once in the demo's output folder: crimes, wards, MPS counts."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

CRIMES = "crimes.gpkg"
WARDS = "wards.gpkg"
MPS_COUNTS = "mps_ward_counts.gpkg"
MPS_CSV = Path("mps") / "MPS Ward Level Crime (most recent 24 months).csv"
WARD_POPULATION = "ward_population.gpkg"


def ward_population_parameters(sample_dir: Path, out_dir: Path) -> dict:
    """Return crimemapping:wardpopulation's parameters for the bundled ONS LSOA populations and lookup."""
    return {
        "LSOA_POPULATION": str(sample_dir / "population" / "london_lsoa21_population_census2021.csv"),
        "LOOKUP": str(sample_dir / "population" / "london_lsoa21_to_ward24_lookup.csv"),
        "OUTPUT": str(out_dir / WARD_POPULATION),
    }


def crimes(sample_dir: Path, out_dir: Path, run_alg: Callable) -> Path:
    """Return the imported sample crimes, importing them when no earlier step has."""
    path = out_dir / CRIMES
    if not path.exists():
        run_alg("crimemapping:importpoliceuk", {"INPUT": [str(sample_dir / "police_uk")], "OUTPUT": str(path)})
    return path


def wards(sample_dir: Path, out_dir: Path) -> str:
    """Return the source of a copy of the bundled wards (QGIS opens a GeoPackage for update and may touch it)."""
    path = out_dir / WARDS
    if not path.exists():
        shutil.copy(sample_dir / "boundaries" / "london_wards_2024.gpkg", path)
    return f"{path}|layername=wards"


def mps_counts(sample_dir: Path, out_dir: Path, run_alg: Callable) -> Path:
    """Return the imported MPS ward-level counts, importing them when no earlier step has."""
    path = out_dir / MPS_COUNTS
    if not path.exists():
        run_alg("crimemapping:importmpswardcrime", {"INPUT": str(sample_dir / MPS_CSV), "OUTPUT": str(path)})
    return path


def ward_population(sample_dir: Path, out_dir: Path, run_alg: Callable) -> Path:
    """Return residents per ward from the bundled LSOA populations, made when no earlier step has."""
    path = out_dir / WARD_POPULATION
    if not path.exists():
        run_alg("crimemapping:wardpopulation", ward_population_parameters(sample_dir, out_dir))
    return path
