"""Demo: ward populations from the ONS LSOA sample, then ward burglary rates with limits and a funnel plot.

Runs on the bundled sample: police.uk points (Met burglary, Oct-Dec 2024) counted into the 704 ward
polygons, Nov-Dec 2024 compared with Oct 2024; and the same from the MPS ward-level table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run wardpopulation and wardrates on the sample data; return lines to print."""
    from crime_mapping_plugin.core import crime_types

    out = Path(out_dir) / "ward_rates"
    out.mkdir(parents=True, exist_ok=True)
    sample = Path(sample_dir)
    wards = demo_inputs.wards(sample, Path(out_dir))
    lines = []
    crimes = demo_inputs.crimes(sample, Path(out_dir), run_alg)
    pop = run_alg("crimemapping:wardpopulation", demo_inputs.ward_population_parameters(sample, Path(out_dir)))
    lines.append(
        f"Ward populations: {pop['WARDS']} wards, {pop['POPULATION_ASSIGNED']:,.0f} residents (Census 2021) from "
        f"{pop['LSOAS_ASSIGNED']} LSOAs; {pop['LSOAS_NOT_IN_LOOKUP']} LSOAs not in the lookup -> {pop['OUTPUT']}"
    )
    points = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "CRIME_GROUPS": [crime_types.GROUPS.index(crime_types.BURGLARY)],
            "START_MONTH": "2024-11",
            "END_MONTH": "2024-12",
            "PREV_START_MONTH": "2024-10",
            "PREV_END_MONTH": "2024-10",
            "WARDS": wards,
            "POPULATION_TABLE": pop["OUTPUT"],
            "CLASS_BREAKS": "0,0.25,0.5,0.75,1,1.5,2",
            "OUTPUT": str(out / "ward_burglary_rates_police_uk.gpkg"),
            "FUNNEL_PLOT": str(out / "ward_burglary_funnel_plot.png"),
        },
    )
    lines.append(
        f"Ward burglary rates (police.uk points, {points['PERIOD']}): {points['CRIMES_COUNTED']} crimes counted, "
        f"{points['OUTSIDE_WARDS']} outside every ward, {points['ON_BOUNDARY']} on a boundary; overall "
        f"{points['OVERALL_RATE']:.3f} per 1,000 residents -> {points['OUTPUT']}"
    )
    lines.append(f"Funnel plot -> {points['FUNNEL_PLOT']}")
    mps = run_alg(
        "crimemapping:wardrates",
        {
            "COUNTS_TABLE": str(demo_inputs.mps_counts(sample, Path(out_dir), run_alg)),
            "CATEGORY_FIELD": "major_category",
            "CATEGORY_VALUES": "Burglary",
            "START_MONTH": "2024-11",
            "END_MONTH": "2024-12",
            "WARDS": wards,
            "POPULATION_TABLE": pop["OUTPUT"],
            "CLASS_BREAKS": "0,0.25,0.5,0.75,1,1.5,2",
            "OUTPUT": str(out / "ward_burglary_rates_mps.gpkg"),
            "FUNNEL_PLOT": str(out / "ward_burglary_funnel_plot_mps.png"),
        },
    )
    lines.append(
        f"Ward burglary rates (MPS recorded offences, {mps['PERIOD']}): {mps['CRIMES_COUNTED']} offences; overall "
        f"{mps['OVERALL_RATE']:.3f} per 1,000 residents; unmatched: {mps['UNMATCHED_CODES'] or 'none'} "
        f"-> {mps['OUTPUT']}"
    )
    return lines
