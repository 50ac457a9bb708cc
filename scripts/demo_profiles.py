"""Demo: area profiles (crimemapping:areaprofiles): Westminster's wards, London's boroughs, the City's wards.

Westminster's wards and London's boroughs are published from the MPS ward table (25 months, 2024-03 to 2026-03),
so every page has the change of the last 12 months against the previous 12 for each MPS major category; the
boroughs' counts are the ward rows summed by their ward's borough (as scripts/demo_trends.py does). The MPS
table has no row for the City of London (policed by the City of London Police), so the City is left out of the
MPS publications, never counted as zero; its 25 wards are published from the City of London Police's 25 bundled
police.uk months. Each publication is a folder with profiles.pdf (one page per area), site/ (the website) and
the layers behind every figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs
from demo_trends import _city_wards_in_the_city, _lookup, mps_counts_with_borough

CITY_CRIMES = "police_uk_city_of_london_2023-05_2025-05.zip"


def _pages(result: dict) -> str:
    return f"{result['PAGES']} pages, {result['PERIOD']} -> {result.get('PDF')}, {result.get('WEBSITE')}"


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Publish the three sets of profiles; return lines to print."""
    out = Path(out_dir) / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    sample = Path(sample_dir)
    joined = run_alg(
        "native:joinattributestable",
        {
            "INPUT": demo_inputs.wards(sample, Path(out_dir)),
            "FIELD": "WD24CD",
            "INPUT_2": _lookup(sample),
            "FIELD_2": "WD24CD",
            "FIELDS_TO_COPY": ["LAD24CD", "LAD24NM"],
            "METHOD": 1,
            "PREFIX": "",
            "OUTPUT": str(out / "wards_joined.gpkg"),
        },
    )["OUTPUT"]
    wards = _city_wards_in_the_city(run_alg, joined, out / "wards_with_borough.gpkg")
    ward_population = str(demo_inputs.ward_population(sample, Path(out_dir), run_alg))
    counts = str(demo_inputs.mps_counts(sample, Path(out_dir), run_alg))
    lines = ["== Area profiles (crimemapping:areaprofiles): PDF atlas and website"]
    common = {"AREAS": wards, "POPULATION_TABLE": ward_population, "BOROUGH_FIELD": "LAD24NM"}
    westminster = run_alg(
        "crimemapping:areaprofiles",
        {"COUNTS_TABLE": counts, **common, "SUBSET": "Westminster", "OUTPUT_FOLDER": str(out / "westminster_wards")},
    )
    lines.append(f"Westminster's wards (MPS ward table): {_pages(westminster)}")
    lines.append(f"  {westminster['REPORT']}")
    boroughs = run_alg("native:dissolve", {"INPUT": wards, "FIELD": ["LAD24CD"], "OUTPUT": str(out / "boroughs.gpkg")})[
        "OUTPUT"
    ]
    params = demo_inputs.ward_population_parameters(sample, out)
    params.update(
        {
            "LOOKUP_WARD_FIELD": "LAD24CD",
            "LOOKUP_WARD_NAME_FIELD": "LAD24NM",
            "OUTPUT": str(out / "borough_population.gpkg"),
        }
    )
    borough_population = run_alg("crimemapping:wardpopulation", params)["OUTPUT"]
    borough_counts = mps_counts_with_borough(sample, counts, out / "mps_counts_with_borough.gpkg", run_alg)
    london = run_alg(
        "crimemapping:areaprofiles",
        {
            "COUNTS_TABLE": borough_counts,
            "COUNTS_CODE_FIELD": "LAD24CD",
            "AREAS": boroughs,
            "AREA_KIND": 1,
            "AREA_CODE_FIELD": "LAD24CD",
            "AREA_NAME_FIELD": "LAD24NM",
            "POPULATION_TABLE": borough_population,
            "OUTPUT_FOLDER": str(out / "london_boroughs"),
        },
    )
    lines.append(f"London's boroughs (MPS ward table summed by borough): {_pages(london)}")
    lines.append(f"  {london['REPORT']}")
    city_crimes = out / "city_crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(sample / CITY_CRIMES)], "OUTPUT": str(city_crimes)})
    city = run_alg(
        "crimemapping:areaprofiles",
        {"CRIMES": str(city_crimes), **common, "SUBSET": "City of London", "OUTPUT_FOLDER": str(out / "city_wards")},
    )
    lines.append(f"The City of London's wards (25 months of the City of London Police): {_pages(city)}")
    return lines
