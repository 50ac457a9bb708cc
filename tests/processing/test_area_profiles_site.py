"""The website crimemapping:areaprofiles publishes for the City of London's 25 wards, opened in headless Chromium.

Real data: the City's police.uk crimes over 25 months, the ONS ward boundaries and Census 2021 residents. The
figures of the index are compared with the algorithm's own rates layer, read straight with OGR.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from osgeo import ogr

from crime_mapping_plugin.core.profile_site import page_names
from tests.browser import open_site
from tests.conftest import SAMPLE
from tests.html_pages import nu_check, parse, structure_problems, table_rows

CITY_CRIMES = SAMPLE / "police_uk_city_of_london_2023-05_2025-05.zip"
FIRST, LAST = "E05009288", "E05009312"  # the City's ward codes


@pytest.fixture(scope="module")
def published(run_alg, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("city_site")
    crimes = folder / "city.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(CITY_CRIMES)], "OUTPUT": str(crimes)})
    population = folder / "population.gpkg"
    run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(SAMPLE / "population" / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": str(population),
        },
    )
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", folder / "wards.gpkg")
    city = run_alg(
        "native:extractbyexpression",
        {
            "INPUT": f"{folder / 'wards.gpkg'}|layername=wards",
            "EXPRESSION": f"\"WD24CD\" >= '{FIRST}' AND \"WD24CD\" <= '{LAST}'",
            "OUTPUT": str(folder / "city_wards.gpkg"),
        },
    )["OUTPUT"]
    out = folder / "profiles"
    result = run_alg(
        "crimemapping:areaprofiles",
        {
            "CRIMES": str(crimes),
            "AREAS": city,
            "POPULATION_TABLE": str(population),
            "WHOLE_NAME": "the City",
            "MAKE_PDF": False,
            "OUTPUT_FOLDER": str(out),
        },
    )
    assert result["PAGES"] == 25
    return Path(result["WEBSITE"]).parent


def _rates(path: Path) -> dict[str, dict]:
    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)
    rows = {f.GetField("ward_code"): {"crimes": f.GetField("crimes"), "rate": f.GetField("rate")} for f in layer}
    ds = None
    return rows


def test_the_published_site_opens_with_no_failed_request_and_none_elsewhere(published):
    pages = ["index.html", "definitions.html", *page_names(str(published)).values()]
    assert len(pages) == 27
    run = open_site(published, pages)
    assert run.other_hosts() == [] and run.failed_requests() == []
    for page in pages:
        report = run.pages[page]
        assert report.css_rules > 20 and all(img["decoded"] and img["alt"] for img in report.images), page
    areas = [run.pages[p] for p in page_names(str(published)).values()]
    assert all(len(report.images) == 2 for report in areas)  # the QGIS map and trend chart of every ward
    assert (
        len(run.pages["index.html"].images) == 1 and run.pages["index.html"].sort_buttons == 6
    )  # no "Part of": no borough


def test_the_published_pages_validate_and_keep_their_structure(published):
    messages = nu_check(published)
    assert [m for m in messages if m["type"] in ("error", "non-document-error") or m.get("subType") == "warning"] == []
    for page in sorted(published.glob("*.html")):
        assert structure_problems(page) == [], page.name


def test_the_index_holds_the_rates_layer_numbers(published):
    rates = _rates(published.parent / "rates.gpkg")
    pages = page_names(str(published))
    index = parse(published / "index.html")
    rows = table_rows(index.find_all("table")[0])
    links = {a.text(): a.attrs["href"] for a in index.find_all("a")}
    assert len(rows) == 25
    by_page = {page: code for code, page in pages.items()}
    for row in rows:
        code = by_page[links[row[0]]]
        expected = rates[code]
        # Ward, Overall, Crimes, Rate, 95% interval, Trend: no "Part of" column without a borough.
        assert row[2] == (f"{expected['crimes']:,}" if expected["crimes"] is not None else "not available")
        if expected["rate"] is None:
            assert row[3] == "not available"
        else:
            assert abs(float(row[3].replace(",", "")) - expected["rate"]) <= 0.05 + 1e-9
