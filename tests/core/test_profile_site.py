"""The website of area profiles: opened in headless Chromium, validated, figures read back, written all or nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from crime_mapping_plugin.core import gpkg
from crime_mapping_plugin.core.profile_site import (
    MARKER,
    ProfileSiteError,
    SiteCancelledError,
    format_change,
    format_count,
    format_interval,
    format_rate,
    p_in_words,
    page_names,
    write_site,
)
from tests.browser import open_site, print_to_pdf
from tests.html_pages import nu_check, parse, structure_problems, table_rows, table_with_caption
from tests.profile_samples import HOSTILE, sample_profiles

HALF_TENTH = 0.05 + 1e-9  # a figure shown to one decimal is within this of the value (ties may go either way)


@pytest.fixture()
def profiles(qgis_app, tmp_path):  # noqa: ARG001 - QImage draws the stand-in renderings
    return sample_profiles(tmp_path / "renderings")


@pytest.fixture()
def site(profiles, tmp_path):
    index = write_site(str(tmp_path / "site"), profiles)
    return Path(index).parent


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_numbers_are_formatted_one_way():
    assert [format_count(v) for v in (0, 7, 1234, 8799728.0, None, float("nan"))] == [
        "0",
        "7",
        "1,234",
        "8,799,728",
        "not available",
        "not available",
    ]
    assert [format_rate(v) for v in (109.68, 0.04, 1234.56, None)] == ["109.7", "0.0", "1,234.6", "not available"]
    assert format_interval(103.94, 115.66) == "103.9 to 115.7" and format_interval(None, 3.0) == "not available"
    assert [format_change(v) for v in (20.0, -5.149, 0.0, -0.04, None)] == [
        "+20.0%",
        "\u22125.1%",
        "0.0%",
        "0.0%",
        "not available",
    ]
    assert [p_in_words(p) for p in (0.0004, 0.002, 0.0303, 0.2371, 0.05, 0.999, None, float("nan"))] == [
        "less than 1 in 1,000",
        "about 1 in 500",
        "about 1 in 33",
        "about 24 in 100",
        "about 5 in 100",
        "almost always",
        "not tested",
        "not tested",
    ]


def test_index_and_every_page_open_in_chromium_with_no_failed_request_and_none_elsewhere(site, profiles):
    pages = ["index.html", "definitions.html", *page_names(str(site)).values()]
    assert len(pages) == 2 + len(profiles.profiles)
    run = open_site(site, pages)
    assert run.other_hosts() == []
    assert run.failed_requests() == []
    served = {path for path, _ in run.served}
    for page in pages:
        report = run.pages[page]
        assert report.url == f"http://127.0.0.1:{run.port}/{page}"
        assert report.css_rules > 20 and report.skip_link_hidden is True  # the stylesheet applies
        assert all(img["decoded"] and img["alt"] for img in report.images), report.images
        for ref in report.refs:  # every address on the page is the site's own, or a plain link
            host = re.match(r"https?://([^/:]+)", ref["url"] or "")
            own = ref["url"].startswith(f"http://127.0.0.1:{run.port}/")
            assert own or (ref["tag"] == "a" and host), ref
        assert f"/{page}" in served
    assert run.pages["index.html"].sort_buttons == 7  # the script ran: a button in every column heading
    area = run.pages[page_names(str(site))["E05000001"]]
    assert len(area.images) == 2  # the area map and the trend chart


def test_the_browser_check_sees_a_request_to_another_site_and_a_missing_file(tmp_path):
    """The check above can fail: a page without the site's policy, fetching from elsewhere and a missing file."""
    (tmp_path / "bad.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><title>bad</title><link rel="icon" href="data:,"></head><body>'
        '<img src="https://cdn.example.org/logo.png" alt="x"><img src="missing.png" alt="y"></body></html>'
    )
    run = open_site(tmp_path, ["bad.html"])
    assert run.other_hosts() == ["https://cdn.example.org/logo.png"]
    failed = run.failed_requests()
    assert any("cdn.example.org" in f for f in failed) and "/missing.png (HTTP 404)" in failed
    assert [img["decoded"] for img in run.pages["bad.html"].images] == [False, False]


def test_the_index_table_sorts_in_chromium_and_says_how_with_aria_sort(site, profiles):
    rate_column = 4  # Rate per 1,000 residents
    actions = f"""function (doc) {{
      var table = doc.querySelector("table.sortable");
      var names = function () {{
        return Array.prototype.map.call(table.tBodies[0].rows, function (r) {{ return r.cells[0].textContent; }});
      }};
      var sorts = function () {{
        var cells = table.tHead.rows[0].cells;
        return Array.prototype.map.call(cells, function (c) {{ return c.getAttribute("aria-sort"); }});
      }};
      var before = names();
      var button = table.tHead.rows[0].cells[{rate_column}].querySelector("button");
      button.click();
      var up = [names(), sorts()];
      button.click();
      return {{before: before, up: up[0], up_sort: up[1], down: names(), down_sort: sorts()}};
    }}"""
    got = open_site(site, ["index.html"], actions).pages["index.html"].actions
    by_name = sorted(profiles.profiles, key=lambda p: p.name.casefold())
    by_rate = sorted(profiles.profiles, key=lambda p: p.rates[0].rate)
    assert got["before"] == [p.name for p in by_name]  # without a click (and without JavaScript): by name
    assert got["up"] == [p.name for p in by_rate]
    assert got["down"] == [p.name for p in reversed(by_rate)]
    assert got["up_sort"] == [None] * 4 + ["ascending"] + [None] * 2
    assert got["down_sort"] == [None] * 4 + ["descending"] + [None] * 2


def test_pages_validate_and_keep_the_accessibility_structure(site):
    messages = nu_check(site)
    assert [m for m in messages if m["type"] in ("error", "non-document-error") or m.get("subType") == "warning"] == []
    for page in sorted(site.glob("*.html")):
        assert structure_problems(page) == [], page.name
    index = parse(site / "index.html")
    headers = index.find_all("table")[0].find_all("th")
    assert headers[0].attrs.get("aria-sort") == "ascending"  # the order the table is in, with or without script
    assert all(h.attrs.get("scope") for h in headers)


def test_structure_check_finds_a_skipped_heading_and_a_table_without_caption(tmp_path):
    page = tmp_path / "p.html"
    page.write_text(
        '<!DOCTYPE html><html lang="fr"><body><h2>a</h2><h1>b</h1><h3>c</h3><h1>d</h1>'
        '<table><tr><th>x</th></tr></table><img src="a.png" alt=""><a href="x.html"></a></body></html>'
    )
    problems = structure_problems(page)
    for expected in (
        'no <html lang="en">',
        "not exactly one h1",
        "the first heading is not the h1",
        "heading h3 'c' follows h1: a level skipped",
        "a table without a caption",
        "th 'x' without scope",
        "img a.png without alt text",
        "link x.html without words",
        "no skip link to the main content",
    ):
        assert expected in problems


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("\u2212", "-").rstrip("%"))


def _p_agrees(words: str, p: float | None) -> bool:
    """Whether the words tell the truth about p, read back independently of the formatter."""
    if p is None:
        return words == "not tested"
    if words == "less than 1 in 1,000":
        return p < 0.001
    if words == "almost always":
        return p >= 0.995
    one_in = re.fullmatch(r"about 1 in ([\d,]+)", words)
    if one_in:
        return p < 0.05 and abs(1.0 / p - _number(one_in.group(1))) <= 0.5
    per_100 = re.fullmatch(r"about (\d+) in 100", words)
    return bool(per_100) and abs(100.0 * p - int(per_100.group(1))) <= 0.5


def test_every_figure_on_a_page_is_the_profile_set_value(site, profiles):
    names = page_names(str(site))
    for profile in profiles.profiles:
        root = parse(site / names[profile.code])
        assert root.find_all("h1")[0].text() == f"{profile.name} ({profile.code})"
        groups = table_rows(table_with_caption(root, "Crimes by group"))
        assert [row[0] for row in groups] == [g.group for g in profile.groups]
        for row, line in zip(groups, profile.groups):
            assert row[1] == "not available" if line.current is None else _number(row[1]) == line.current
            assert row[2] == "not available" if line.previous is None else _number(row[2]) == line.previous
            if line.change_pct is None:
                assert row[3] == "not available"
            else:
                assert abs(_number(row[3]) - line.change_pct) <= HALF_TENTH and (line.change_pct <= 0) == (
                    row[3][0] != "+"
                )
            assert _p_agrees(row[4], line.p_value), (row[4], line.p_value)
            assert row[5] == line.verdict
        rates = table_rows(table_with_caption(root, "Crimes per 1,000 residents"))
        assert [row[0] for row in rates] == [r.label for r in profile.rates]
        for row, line in zip(rates, profile.rates):
            assert _number(row[1]) == line.crimes
            assert _number(row[2]) == round(line.population)
            assert abs(_number(row[3]) - line.rate) <= HALF_TENTH
            low, high = (_number(x) for x in row[4].split(" to "))
            assert abs(low - line.lcl95) <= HALF_TENTH and abs(high - line.ucl95) <= HALF_TENTH
        text = root.text()
        for words in (profile.period, profile.previous_period, profile.rate_verdict, profile.trend_verdict):
            assert words in text
        assert f"months missing from the data: {profile.missing_months or 'none'}" in text
        assert profiles.licence == "Contains public sector information licensed under the Open Government Licence v3.0."
        assert profiles.licence in text and profiles.source in text
        for term, meaning in profiles.definitions:
            assert term in text and meaning in text
        assert [a for a in root.find_all("a") if a.attrs["href"] == "definitions.html" and "definitions" in a.text()]
        alts = [img.attrs["alt"] for img in root.find_all("img")]
        assert alts == [profile.map_alt, profile.chart_alt]
    index = parse(site / "index.html")
    rows = table_rows(index.find_all("table")[0])
    by_name = sorted(profiles.profiles, key=lambda p: p.name.casefold())
    assert [row[0] for row in rows] == [p.name for p in by_name]
    for row, profile in zip(rows, by_name):
        assert row[2] == profile.headline
        assert _number(row[3]) == profile.rates[0].crimes and abs(_number(row[4]) - profile.rates[0].rate) <= HALF_TENTH
    legend = " ".join(li.text() for li in index.find_all("ul")[-1].find_all("li"))
    assert "Higher than London (2 areas)" in legend and "About London's rate (1 area)" in legend


def test_hostile_names_and_codes_are_escaped_and_make_safe_file_names(site):
    names = page_names(str(site))
    assert all(re.fullmatch(r"[a-z0-9-]+\.html", page) for page in names.values())
    assert len(set(names.values())) == len(HOSTILE)
    for path in site.rglob("*"):
        assert re.fullmatch(r"[a-z0-9.-]+", path.name) or path.name == MARKER, path
    for code, name in HOSTILE:
        raw = (site / names[code]).read_text(encoding="utf-8")
        assert "<St. Ann's>" not in raw and "<Test>" not in raw  # markup in a name is text, never a tag
        assert parse(site / names[code]).find_all("title")[0].text().startswith(f"{name} ({code})")
    index = parse(site / "index.html")
    links = {a.text(): a.attrs["href"] for a in index.find_all("a")}
    for code, name in HOSTILE:
        assert links[name] == names[code]


def test_an_area_page_prints_without_navigation_on_at_most_two_sheets(site):
    pdf = print_to_pdf(site, page_names(str(site))["E05000002"], site.parent / "area.pdf")
    import subprocess

    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = " ".join(
        subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split()
    )
    assert pages <= 2
    assert "All areas" not in text and "Skip to the content" not in text  # no navigation on paper
    assert "Ynys Môn" in text and "Open Government Licence v3.0" in text


def test_a_failing_write_leaves_the_previous_site_untouched(site, profiles, tmp_path):
    before = _snapshot(site)
    broken = profiles.profiles[-1].__class__(
        **{**profiles.profiles[-1].__dict__, "chart_png": str(tmp_path / "no.png")}
    )
    bad = profiles.__class__(
        **{**profiles.__dict__, "title": "New title", "profiles": (*profiles.profiles[:-1], broken)}
    )
    with pytest.raises(ProfileSiteError, match="no.png cannot be found"):
        write_site(str(site), bad)
    assert _snapshot(site) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no work folder left


def test_a_cancel_leaves_the_previous_site_untouched(site, profiles, tmp_path):
    before = _snapshot(site)
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) >= 2  # after the first area's page

    with pytest.raises(SiteCancelledError):
        write_site(str(site), profiles, cancelled)
    assert _snapshot(site) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_new_site_replaces_the_one_written_before(site, profiles):
    fewer = profiles.__class__(**{**profiles.__dict__, "title": "Two wards", "profiles": profiles.profiles[:2]})
    write_site(str(site), fewer)
    assert len(page_names(str(site))) == 2
    assert "Two wards" in (site / "index.html").read_text(encoding="utf-8")
    assert sorted(p.name for p in site.glob("*.html")) == sorted(
        ["index.html", "definitions.html", *page_names(str(site)).values()]
    )


def test_a_folder_holding_other_files_is_never_replaced(profiles, tmp_path):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ProfileSiteError, match="not a website of area profiles"):
        write_site(str(folder), profiles)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProfileSiteError, match="is a file"):
        write_site(str(tmp_path / "file"), profiles)


def test_a_killed_run_work_folder_is_removed_by_the_next_run(profiles, tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"{gpkg.TEMP_PREFIX}{gpkg._HOST}-{dead.pid}-abc-site"
    (left / "images").mkdir(parents=True)
    (left / "index.html").write_text("half")
    write_site(str(tmp_path / "site"), profiles)
    assert not left.exists()
    assert sorted(os.listdir(tmp_path)) == ["renderings", "site"]
