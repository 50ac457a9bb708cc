"""Demo: crime trends and signals for London's wards and boroughs from the MPS ward table (25 months).

Wards get their borough (LAD) from the bundled ONS lookup, so each ward's rolling change sits beside its
borough's and London's; boroughs are the wards dissolved by LAD code, and their counts the ward counts
summed by the same code. Writes the styled trends layers (the style is also saved in each GeoPackage),
the long tables, a map PNG of each layer, one chart per ward of Westminster and small multiples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs
from demo_maps import render_layer

LOOKUP = Path("population") / "london_lsoa21_to_ward24_lookup.csv"
BOROUGH = "E09000033"  # Westminster: its wards are charted one by one and as small multiples


def _lookup(sample_dir: Path) -> str:
    return str(sample_dir / LOOKUP)  # GDAL reads the CSV, every field as text


def render_map(gpkg: str, png: Path, title: str) -> None:
    """Render the styled trends layer with its legend to a PNG, and save the style in the GeoPackage."""
    from qgis.core import QgsVectorLayer

    from crime_mapping_plugin.processing.trend_style import style_trends

    layer = QgsVectorLayer(gpkg, title, "ogr")
    style_trends(layer, title)
    layer.saveStyleToDatabase("crime trends", title, True, "")
    render_layer(layer, png, title, 950, margin=1.08)
    del layer  # closes the GeoPackage, so no -wal file stays beside it


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run crimemapping:crimetrends for wards and boroughs on the MPS table; return lines to print."""
    out = Path(out_dir) / "trends"
    out.mkdir(parents=True, exist_ok=True)
    sample = Path(sample_dir)
    counts = str(demo_inputs.mps_counts(sample, Path(out_dir), run_alg))
    join = {"FIELD_2": "WD24CD", "FIELDS_TO_COPY": ["LAD24CD", "LAD24NM"], "METHOD": 1, "PREFIX": ""}
    wards = run_alg(
        "native:joinattributestable",
        {
            "INPUT": demo_inputs.wards(sample, Path(out_dir)),
            "FIELD": "WD24CD",
            "INPUT_2": _lookup(sample),
            **join,
            "OUTPUT": str(out / "wards_joined.gpkg"),
        },
    )["OUTPUT"]
    wards = _city_wards_in_the_city(run_alg, wards, out / "wards_with_borough.gpkg")
    lines = ["== Crime trends and signals (crimemapping:crimetrends), MPS ward table"]
    ward_run = run_alg(
        "crimemapping:crimetrends",
        {
            "COUNTS_TABLE": counts,
            "AREAS": wards,
            "AREA_CODE_FIELD": "WD24CD",
            "AREA_NAME_FIELD": "WD24NM",
            "PARENT_FIELD": "LAD24CD",
            "CHART_PARENT": BOROUGH,
            "OUTPUT": str(out / "ward_trends.gpkg"),
            "TABLE": str(out / "ward_trends_by_month.gpkg"),
            "CHARTS_FOLDER": str(out / "ward_charts"),
            "SMALL_MULTIPLES": str(out / "westminster_wards_small_multiples.png"),
        },
    )
    lines += _summary("Wards", ward_run)
    render_map(ward_run["OUTPUT"], out / "ward_trends_map.png", f"Ward crime trends: signal of {_last(ward_run)}")
    boroughs = run_alg("native:dissolve", {"INPUT": wards, "FIELD": ["LAD24CD"], "OUTPUT": str(out / "boroughs.gpkg")})[
        "OUTPUT"
    ]
    borough_counts = mps_counts_with_borough(sample, counts, out / "mps_counts_with_borough.gpkg", run_alg)
    borough_run = run_alg(
        "crimemapping:crimetrends",
        {
            "COUNTS_TABLE": borough_counts,
            "COUNTS_CODE_FIELD": "LAD24CD",
            "AREAS": boroughs,
            "AREA_CODE_FIELD": "LAD24CD",
            "AREA_NAME_FIELD": "LAD24NM",
            "CHART_AREAS": ",".join(_codes(boroughs)),
            "OUTPUT": str(out / "borough_trends.gpkg"),
            "TABLE": str(out / "borough_trends_by_month.gpkg"),
            "SMALL_MULTIPLES": str(out / "borough_small_multiples.png"),
        },
    )
    lines += _summary("Boroughs", borough_run)
    render_map(
        borough_run["OUTPUT"], out / "borough_trends_map.png", f"Borough crime trends: signal of {_last(ward_run)}"
    )
    lines.append(f"Charts -> {out / 'ward_charts'}, {ward_run['SMALL_MULTIPLES']}, {borough_run['SMALL_MULTIPLES']}")
    lines.append(f"Maps -> {out / 'ward_trends_map.png'}, {out / 'borough_trends_map.png'}")
    return lines


def mps_counts_with_borough(sample_dir: Path, counts: str, output: Path, run_alg: Callable) -> str:
    """Give each row of the MPS ward counts its ward's borough (LAD24CD, LAD24NM) from the ONS lookup.

    The borough of a row is that of its ward code, not the table's LookUp_BoroughName, which names Heathrow
    Villages' airport rows "Aviation Security (SO18)".
    """
    return run_alg(
        "native:joinattributestable",
        {
            "INPUT": counts,
            "FIELD": "ward_code",
            "INPUT_2": _lookup(sample_dir),
            "FIELD_2": "WD24CD",
            "FIELDS_TO_COPY": ["LAD24CD", "LAD24NM"],
            "METHOD": 1,
            "PREFIX": "",
            "OUTPUT": str(output),
        },
    )["OUTPUT"]


# The City of London's 25 wards (codes unchanged since 2013); 20 hold no LSOA, so the ONS LSOA-to-ward lookup
# does not list them and the join leaves their borough empty.
CITY_WARDS = ("E05009288", "E05009312")
CITY = ("E09000001", "City of London")


def _city_wards_in_the_city(run_alg: Callable, wards: object, output: Path) -> str:
    """Give the City's wards their borough, the City of London, where the lookup has none."""
    first, last = CITY_WARDS
    in_city = f"\"WD24CD\" >= '{first}' AND \"WD24CD\" <= '{last}'"  # no BETWEEN in QGIS 3.22
    for field, value in zip(("LAD24CD", "LAD24NM"), CITY):
        wards = run_alg(
            "native:fieldcalculator",
            {
                "INPUT": wards,
                "FIELD_NAME": field,
                "FIELD_TYPE": 2,
                "FIELD_LENGTH": 80,
                "FORMULA": f"CASE WHEN {in_city} THEN '{value}' ELSE \"{field}\" END",
                "OUTPUT": str(output if field == "LAD24NM" else output.with_name(f"wards_{field}.gpkg")),
            },
        )["OUTPUT"]
    return wards


def _codes(layer: str) -> list[str]:
    from qgis.core import QgsVectorLayer

    return sorted(str(f["LAD24CD"]) for f in QgsVectorLayer(layer, "b", "ogr").getFeatures())


def _last(result: dict) -> str:
    return str(result["PERIOD"]).split(" to ")[-1]


def _summary(what: str, r: dict) -> list[str]:
    return [
        f"{what}: {r['PERIOD']} ({r['MONTHS']} months); missing: {r['MISSING_MONTHS'] or 'none'}; partial (left out): "
        f"{r['PARTIAL_MONTHS'] or 'none'}; {r['CRIMES_COUNTED']} of {r['CRIMES_READ']} offences counted, "
        f"{r['UNMATCHED_CRIMES']} with a code matching no area",
        f"  latest month: {r['CONCERN']} concern, {r['IMPROVEMENT']} improvement, {r['COMMON_CAUSE']} common cause, "
        f"{r['NOT_ENOUGH_DATA']} not enough data -> {r['OUTPUT']}",
    ]
