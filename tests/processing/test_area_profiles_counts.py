"""crimemapping:areaprofiles from a count table: two Westminster wards from the MPS ward table (25 months).

The rates and trends run over every ward of the MPS table; the last 12 months against the previous 12 of
each MPS major category is checked against a pandas sum of the CSV's rows, and the PDF page and the website
page of each ward against the output layers read straight with OGR.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from crime_mapping_plugin.core.profile_site import page_names
from tests.conftest import SAMPLE
from tests.html_pages import parse, table_rows, table_with_caption
from tests.processing.test_area_profiles import _count, _flat, _page_text, _pages, _rate, _rows

MPS_CSV = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
WARDS = {"E05013792": "Abbey Road", "E05013806": "St James's"}  # two of Westminster's 18 wards
LAST_12 = [f"2025{m:02d}" for m in range(4, 13)] + ["202601", "202602", "202603"]
PREVIOUS_12 = [f"2024{m:02d}" for m in range(4, 13)] + ["202501", "202502", "202503"]
SOURCE = "MPS recorded crime by ward, London Datastore"


@pytest.fixture(scope="module")
def published(run_alg, tmp_path_factory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("mps_profiles")
    counts = run_alg("crimemapping:importmpswardcrime", {"INPUT": str(MPS_CSV), "OUTPUT": str(folder / "mps.gpkg")})[
        "OUTPUT"
    ]
    population = folder / "population.gpkg"
    run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(SAMPLE / "population" / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(LOOKUP),
            "OUTPUT": str(population),
        },
    )
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", folder / "wards_source.gpkg")
    wards = run_alg(
        "native:joinattributestable",
        {
            "INPUT": f"{folder / 'wards_source.gpkg'}|layername=wards",
            "FIELD": "WD24CD",
            "INPUT_2": str(LOOKUP),
            "FIELD_2": "WD24CD",
            "FIELDS_TO_COPY": ["LAD24NM"],
            "METHOD": 1,
            "PREFIX": "",
            "OUTPUT": str(folder / "wards.gpkg"),
        },
    )["OUTPUT"]
    out = folder / "westminster"
    result = run_alg(
        "crimemapping:areaprofiles",
        {
            "COUNTS_TABLE": counts,
            "AREAS": wards,
            "POPULATION_TABLE": str(population),
            "BOROUGH_FIELD": "LAD24NM",
            "SUBSET": ",".join(WARDS),
            "OUTPUT_FOLDER": str(out),
        },
    )
    return result, out


def _expected_changes() -> dict[tuple[str, str], tuple[int, int]]:
    """(ward, major category) -> crimes of the last 12 months and of the previous 12, summed from the CSV."""
    wide = pd.read_csv(MPS_CSV, dtype={c: "Int64" for c in LAST_12 + PREVIOUS_12})
    wide = wide[wide["WardCode"].isin(list(WARDS))]
    sums = wide.groupby(["WardCode", "MajorText"])[LAST_12 + PREVIOUS_12].sum()
    return {key: (int(row[LAST_12].sum()), int(row[PREVIOUS_12].sum())) for key, row in sums.iterrows()}


def _group_files(out: Path) -> dict[str, Path]:
    """Major category -> its trends layer, as the algorithm names the file."""
    from crime_mapping_plugin.processing.profile_render import safe_name

    majors = sorted(pd.read_csv(MPS_CSV, usecols=["MajorText"])["MajorText"].unique())
    return {m: out / f"trends_{safe_name(m).lower()}.gpkg" for m in majors}


def test_the_changes_of_each_mps_category_are_the_sums_of_the_csv_rows(published):
    result, out = published
    assert result["PAGES"] == 2 and _pages(out / "profiles.pdf") == 2
    assert result["PERIOD"] == "2025-04 to 2026-03"
    expected = _expected_changes()
    files = _group_files(out)
    assert len(files) == 13
    checked = 0
    for major, path in files.items():
        layer = _rows(path, "area_code")
        for code in WARDS:
            current, previous = expected.get((code, major), (0, 0))
            assert (layer[code]["roll_current"], layer[code]["roll_previous"]) == (current, previous), (code, major)
            checked += current > 0
    assert checked >= 16
    rates = _rows(out / "rates.gpkg", "ward_code")
    for code in WARDS:
        assert rates[code]["crimes"] == sum(c for (w, _), (c, _) in expected.items() if w == code)
    # The City's 25 wards (City of London Police, not in the MPS table) are left out, not counted as zero.
    assert len(rates) == 679 and "25 area(s) left out, no row in the count table" in result["REPORT"]


def test_each_pdf_page_and_web_page_holds_exactly_the_layers_counts(published):
    _, out = published
    rates = _rows(out / "rates.gpkg", "ward_code")
    westminster = _rows(out / "borough_rates.gpkg", "borough")["Westminster"]
    groups = {m: _rows(p, "area_code") for m, p in _group_files(out).items()}
    texts = {}
    for page in (1, 2):
        text = _page_text(out / "profiles.pdf", page)
        texts[text.strip().splitlines()[0].strip()] = _flat(text)
    assert sorted(texts) == sorted(WARDS.values())
    pages = page_names(str(out / "site"))
    for code, name in WARDS.items():
        flat, row = texts[name], rates[code]
        assert f"{_count(row['crimes'])} {_count(row['population'])} {_rate(row['rate'])}" in flat
        # A wide interval (St James's: 1,842.1 to 1,894.2) wraps in its cell, so each end is looked for.
        assert f"{_rate(row['rate_lcl95'])} to " in flat and f" {_rate(row['rate_ucl95'])} " in flat
        assert f"Westminster {_count(westminster['crimes'])} {_count(westminster['population'])}" in flat
        assert SOURCE in flat and "2025-04 to 2026-03" in flat
        # The London Datastore states the OGL v2.0 for the MPS tables (sample_data/README.md), not police.uk's v3.0.
        assert "Open Government Licence v2.0" in flat and "Licence v3.0" not in flat
        assert "They are not police.uk's crime groups" in flat
        root = parse(out / "site" / pages[code])
        site_groups = {r[0]: r[1:3] for r in table_rows(table_with_caption(root, "Crimes by group"))}
        site_rates = table_rows(table_with_caption(root, "Crimes per 1,000 residents"))
        assert site_rates[0][1:3] == [_count(row["crimes"]), _count(row["population"])]
        assert SOURCE in root.text() and "Open Government Licence v2.0" in root.text()
        for major, layer in groups.items():
            g = layer[code]
            current, previous = _count(g["roll_current"]), _count(g["roll_previous"])
            # A long category wraps in its cell: its first words on the row of the counts, the rest below.
            label = f"(?:{re.escape(major)}|{re.escape(major.split()[0])}(?: [A-Z]+)*)"
            assert re.search(label + r" " + current + r" " + previous + r" ", flat), (name, major)
            assert site_groups[major] == [current, previous], (name, major)
