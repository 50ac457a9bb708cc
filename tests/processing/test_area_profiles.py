"""crimemapping:areaprofiles on real data: the City of London's 25 wards over 25 months of its police's crimes.

Every figure of a PDF page is checked against the output layers read straight with OGR, formatted here
by the rule the pages state (counts with thousands separators, rates to one decimal).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
from osgeo import ogr

from tests.conftest import SAMPLE

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
POPULATION = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
CITY_CRIMES = SAMPLE / "police_uk_city_of_london_2023-05_2025-05.zip"
CITY = "City of London"
# The City's ward codes (unchanged since 2013); 20 of them hold no LSOA in the ONS lookup, so no borough there.
CITY_CODES = ("E05009288", "E05009312")
GROUP_FILES = {  # every harmonised group the City's crimes hold, and the trends layer written for it
    "Anti-social behaviour": "trends_anti-social_behaviour.gpkg",
    "Burglary": "trends_burglary.gpkg",
    "Robbery": "trends_robbery.gpkg",
    "Vehicle crime": "trends_vehicle_crime.gpkg",
    "Violence and sexual offences": "trends_violence_and_sexual_offences.gpkg",
    "Criminal damage and arson": "trends_criminal_damage_and_arson.gpkg",
    "Drugs": "trends_drugs.gpkg",
    "Theft (other, bicycle, from the person)": "trends_theft__other__bicycle__from_the_person_.gpkg",
    "Shoplifting": "trends_shoplifting.gpkg",
    "Public order and weapons": "trends_public_order_and_weapons.gpkg",
    "Other crime": "trends_other_crime.gpkg",
}


def _rows(path: Path, key: str) -> dict[str, dict]:
    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    out = {str(f.GetField(key)): {n: f.GetField(n) for n in names} for f in layer}
    ds = None
    return out


def _count(value) -> str:
    return "not available" if value is None else f"{int(value):,}"


def _rate(value) -> str:
    return "not available" if value is None else f"{value:,.1f}"


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"Pages:\s+(\d+)", info).group(1))


def _page_text(pdf: Path, page: int) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _flat(text: str) -> str:
    # NFKC undoes the ligatures (ﬀ, ﬁ) the PDF's fonts use, so 'offences' reads as typed.
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def inputs(run_alg, tmp_path_factory) -> dict[str, str]:
    """The City's crimes, residents per ward and the 704 London wards with their borough's name."""
    folder = tmp_path_factory.mktemp("profile_inputs")
    crimes = folder / "city.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(CITY_CRIMES)], "OUTPUT": str(crimes)})
    population = folder / "population.gpkg"
    run_alg(
        "crimemapping:wardpopulation",
        {"LSOA_POPULATION": str(POPULATION), "LOOKUP": str(LOOKUP), "OUTPUT": str(population)},
    )
    shutil.copy(WARDS, folder / "wards_source.gpkg")
    joined = run_alg(
        "native:joinattributestable",
        {
            "INPUT": f"{folder / 'wards_source.gpkg'}|layername=wards",
            "FIELD": "WD24CD",
            "INPUT_2": str(LOOKUP),
            "FIELD_2": "WD24CD",
            "FIELDS_TO_COPY": ["LAD24NM"],
            "METHOD": 1,
            "PREFIX": "",
            "OUTPUT": str(folder / "wards_joined.gpkg"),
        },
    )["OUTPUT"]
    first, last = CITY_CODES
    wards = run_alg(
        "native:fieldcalculator",
        {
            "INPUT": joined,
            "FIELD_NAME": "borough",
            "FIELD_TYPE": 2,
            "FIELD_LENGTH": 80,
            "FORMULA": f"CASE WHEN \"WD24CD\" >= '{first}' AND \"WD24CD\" <= '{last}' THEN '{CITY}' "
            'ELSE "LAD24NM" END',
            "OUTPUT": str(folder / "wards.gpkg"),
        },
    )["OUTPUT"]
    city_only = run_alg(
        "native:extractbyattribute",
        {"INPUT": wards, "FIELD": "borough", "OPERATOR": 0, "VALUE": CITY, "OUTPUT": str(folder / "city_wards.gpkg")},
    )["OUTPUT"]
    return {"crimes": str(crimes), "population": str(population), "wards": wards, "city_wards": city_only}


def _params(inputs: dict[str, str], out: Path, **extra: object) -> dict:
    return {
        "CRIMES": inputs["crimes"],
        "AREAS": inputs["wards"],
        "POPULATION_TABLE": inputs["population"],
        "BOROUGH_FIELD": "borough",
        "SUBSET": CITY,
        "OUTPUT_FOLDER": str(out),
        **extra,
    }


@pytest.fixture(scope="module")
def published(run_alg, inputs, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("published") / "city_profiles"
    return run_alg("crimemapping:areaprofiles", _params(inputs, out)), out


def _city_wards() -> dict[str, str]:
    """The City's ward codes and names, read from the bundled boundaries."""
    first, last = CITY_CODES
    ds = ogr.Open(str(WARDS))
    layer = ds.GetLayerByName("wards")
    layer.SetAttributeFilter(f"WD24CD >= '{first}' AND WD24CD <= '{last}'")
    wards = {f.GetField("WD24CD"): f.GetField("WD24NM") for f in layer}
    ds = None
    return wards


def test_the_pdf_has_one_page_per_area_and_the_website_one_page_per_area(published):
    result, out = published
    wards = _city_wards()
    assert len(wards) == 25
    assert result["PAGES"] == 25
    assert result["PDF"] == str(out / "profiles.pdf")
    assert _pages(out / "profiles.pdf") == 25
    assert result["WEBSITE"] == str(out / "site" / "index.html") and os.path.isfile(result["WEBSITE"])
    pages = [p for p in os.listdir(out / "site") if p.endswith(".html") and p not in ("index.html", "definitions.html")]
    assert len(pages) == 25
    assert sorted(os.listdir(out / "maps")) == sorted(f"map_{c}.png" for c in wards)


def test_each_page_holds_its_areas_name_and_exactly_its_counts_and_rates_in_the_layers(published):
    _, out = published
    pdf = out / "profiles.pdf"
    rates = _rows(out / "rates.gpkg", "ward_code")
    parents = _rows(out / "borough_rates.gpkg", "borough")
    groups = {g: _rows(out / name, "area_code") for g, name in GROUP_FILES.items()}
    texts = {}
    for page in range(1, 26):
        text = _page_text(pdf, page)
        texts[text.strip().splitlines()[0].strip()] = text
    wards = _city_wards()
    assert sorted(texts) == sorted(wards.values())  # one page per ward, its name as the title
    city, london = parents[CITY], parents["all wards"]
    with_crimes_compared = 0
    for code, name in wards.items():
        text = texts[name]
        flat = _flat(text)
        row = rates[code]
        # The area's row: its name (a long one wraps in its cell, so its first word) and then its crimes.
        label = f"(?:{re.escape(name)}|{re.escape(name.split()[0])})"
        assert re.search(label + r"\s+" + _count(row["crimes"]) + r"\s+", flat), name
        assert _rate(row["rate"]) in flat
        if row["rate"] is not None:
            assert _count(row["population"]) in flat
            assert f"{_rate(row['rate_lcl95'])} to {_rate(row['rate_ucl95'])}" in flat
        expected_city = f"{CITY} {_count(city['crimes'])} {_count(city['population'])} {_rate(city['rate'])}"
        assert expected_city in flat
        assert f"{_rate(city['rate_lcl95'])} to {_rate(city['rate_ucl95'])}" in flat
        expected_london = f"London {_count(london['crimes'])} {_count(london['population'])} {_rate(london['rate'])}"
        assert expected_london in flat
        for group, layer in groups.items():
            g = layer[code]
            assert re.search(
                re.escape(group) + r"\s+" + _count(g["roll_current"]) + r"\s+" + _count(g["roll_previous"]), flat
            ), (name, group)
            if g["roll_change_pct"] is not None:
                with_crimes_compared += 1
                assert f"{abs(g['roll_change_pct']):,.1f}%" in flat
        assert "Contains public sector information licensed under the Open Government Licence v3.0." in flat
        assert "2024-06 to 2025-05" in flat
    assert with_crimes_compared > 50


def test_the_plain_words_follow_the_layers_flags(published):
    from crime_mapping_plugin.core import profiles

    _, out = published
    rates = _rows(out / "rates.gpkg", "ward_code")
    wards = _city_wards()
    prof = _rows(Path(f"{out / 'profiles.gpkg'}"), "code")
    trends = _rows(out / "trends_all.gpkg", "area_code")
    for code in wards:
        row = rates[code]
        words = profiles.rate_words(row["vs_all"], "London", row["flag"])
        assert prof[code]["rate_verdict"].startswith(words)
        assert prof[code]["trend_verdict"].startswith(profiles.SIGNAL_WORDS[trends[code]["signal"]])
    # Wards with residents are compared with London; the 20 without have no rate and say why.
    assert sum(rates[c]["vs_all"] is not None for c in wards) == 5
    assert sum(prof[c]["rate_verdict"] == "no rate (no population)" for c in wards) == 20


def test_a_restyled_template_is_honoured(run_alg, inputs, tmp_path):
    from crime_mapping_plugin.processing.profile_render import TEMPLATE

    restyled = tmp_path / "restyled.qpt"
    text = Path(TEMPLATE).read_text(encoding="utf-8")
    assert "What the words mean" in text
    restyled.write_text(text.replace("What the words mean", "Plain words for the Safer Neighbourhood Board"), "utf-8")
    out = tmp_path / "restyled_profiles"
    result = run_alg(
        "crimemapping:areaprofiles",
        _params(inputs, out, AREAS=inputs["city_wards"], LAYOUT_TEMPLATE=str(restyled), MAKE_WEBSITE=False),
    )
    assert _pages(out / "profiles.pdf") == result["PAGES"] == 25
    for page in (1, 25):
        text = _page_text(out / "profiles.pdf", page)
        assert "Plain words for the Safer Neighbourhood Board" in text and "What the words mean" not in text
    assert not (out / "site").exists() and not result.get("WEBSITE")


@pytest.mark.parametrize("stage", ["Trends of Burglary", "Exporting the PDF atlas", "Writing the website"])
def test_a_cancel_leaves_nothing_and_keeps_what_was_there(run_alg, inputs, tmp_path, stage):
    from qgis.core import QgsProcessingException, QgsProcessingFeedback

    class CancelAt(QgsProcessingFeedback):
        def setProgressText(self, text: str) -> None:  # noqa: N802 - QGIS API
            super().setProgressText(text)
            if text.startswith(stage):
                self.cancel()

    out = tmp_path / "profiles"
    out.mkdir()
    (out / "keep.txt").write_text("an earlier publication", "utf-8")
    with pytest.raises(QgsProcessingException, match="[Cc]ancel"):
        run_alg("crimemapping:areaprofiles", _params(inputs, out, AREAS=inputs["city_wards"]), feedback=CancelAt())
    assert sorted(os.listdir(out)) == ["keep.txt"]
    assert (out / "keep.txt").read_text("utf-8") == "an earlier publication"
    assert sorted(os.listdir(tmp_path)) == ["profiles"]  # no temporary folder left beside it


def test_a_second_run_replaces_the_publication_whole(run_alg, inputs, tmp_path):
    out = tmp_path / "profiles"
    out.mkdir()
    (out / "old.txt").write_text("old", "utf-8")
    run_alg("crimemapping:areaprofiles", _params(inputs, out, AREAS=inputs["city_wards"], MAKE_WEBSITE=False))
    assert not (out / "old.txt").exists() and (out / "profiles.pdf").is_file()
    assert sorted(os.listdir(tmp_path)) == ["profiles"]
