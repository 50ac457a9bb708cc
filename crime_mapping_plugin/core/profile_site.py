"""Write area profiles as a static website: an index of all areas, one page per area and a definitions page.

The pages are plain HTML files with one stylesheet and one small script (sorting the index table), both
shipped in resources/site/, and the images the algorithm rendered, copied beside them: nothing is fetched
from another site, so the folder works offline, from a disk or any web server. Every text is escaped and
every file name is made from the area code, so any name or code is safe. The figures are the ProfileSet's,
formatted by the one set of formatters below (the PDF's text uses them too); none is computed here.

The site is written into a temporary folder beside the destination and moved into place once complete: a
failure or a cancel leaves the previous site as it was. A folder that holds anything but a site this module
wrote is never replaced.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import struct
import tempfile
import unicodedata
from typing import Callable, Iterable

from crime_mapping_plugin.core.gpkg import temporary_path
from crime_mapping_plugin.core.profiles import AreaProfile, GroupLine, ProfileSet, RateLine, headlines

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESOURCES = os.path.join(PLUGIN_DIR, "resources", "site")
ICON = os.path.join(PLUGIN_DIR, "icon.png")  # the site's favicon: a browser asks for one
ASSETS = ("site.css", "sort.js")
MARKER = "crimemapping-site.json"  # names the folder as one this module wrote, and lists its pages
GENERATOR = "Crime Mapping QGIS plugin"
NOT_AVAILABLE = "not available"
KINDS = {"ward": ("ward", "wards"), "borough": ("borough", "boroughs")}


class ProfileSiteError(OSError):
    """A site that cannot be written; the message names the file or folder and what to do."""


class SiteCancelledError(ProfileSiteError):
    """The analyst cancelled: nothing was written and the previous site is untouched."""


# Numbers: formatted one way on every page (and in the PDF), from the ProfileSet's values.


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def format_count(value: float | None) -> str:
    """Return a count with thousands separators ('1,234'), or 'not available'."""
    return NOT_AVAILABLE if _missing(value) else f"{round(value):,}"


def format_rate(value: float | None) -> str:
    """Return a rate per 1,000 residents to one decimal ('12.3', '1,234.5'), or 'not available'."""
    return NOT_AVAILABLE if _missing(value) else f"{value:,.1f}"


def format_interval(low: float | None, high: float | None) -> str:
    """Return a 95% interval as 'low to high', each to one decimal, or 'not available'."""
    if _missing(low) or _missing(high):
        return NOT_AVAILABLE
    return f"{format_rate(low)} to {format_rate(high)}"


def format_change(pct: float | None) -> str:
    """Return a change in per cent with its sign to one decimal ('+12.5%', '−3.0%', '0.0%'), or 'not available'."""
    if _missing(pct):
        return NOT_AVAILABLE
    text = f"{abs(pct):,.1f}%"
    if text == "0.0%":
        return text
    return ("+" if pct > 0 else "\u2212") + text  # a real minus sign, read as "minus"


def p_in_words(p: float | None) -> str:
    """Return how often chance alone would give a change this large, in words ('about 1 in 40')."""
    if _missing(p):
        return "not tested"
    if p < 0.001:
        return "less than 1 in 1,000"
    if p < 0.05:
        return f"about 1 in {round(1.0 / p):,}"
    if p >= 0.995:
        return "almost always"
    return f"about {round(100.0 * p)} in 100"


# Names: any text escaped, any code turned into a safe file name.


def _e(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def file_stem(code: str, taken: set[str]) -> str:
    """Return a file name stem made of a-z, 0-9 and '-' from an area code, not yet in taken (which it joins)."""
    ascii_text = unicodedata.normalize("NFKD", str(code)).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "area"
    candidate, number = stem, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem}-{number}"
    taken.add(candidate)
    return candidate


def _png_size(path: str) -> tuple[int, int] | None:
    """Return a PNG's width and height from its header, or None when it is not a PNG."""
    with open(path, "rb") as handle:
        head = handle.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


# Pages.


def _page(title: str, body: str, script: bool = False) -> str:
    """Return a whole HTML document: one stylesheet, optionally the sort script, nothing from another site."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        # The browser itself refuses anything not from the site's own folder.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; object-src 'none'\">\n"
        f'<meta name="generator" content="{_e(GENERATOR)}">\n'
        f"<title>{_e(title)}</title>\n"
        '<link rel="icon" href="icon.png" type="image/png">\n'
        '<link rel="stylesheet" href="site.css">\n</head>\n<body>\n'
        '<a class="skip-link" href="#main">Skip to the content</a>\n'
        '<header>\n<nav aria-label="Site">\n<ul>\n'
        '<li><a href="index.html">All areas</a></li>\n'
        '<li><a href="definitions.html">Definitions</a></li>\n'
        "</ul>\n</nav>\n</header>\n"
        f'<main id="main">\n{body}</main>\n'
        + ('<script src="sort.js"></script>\n' if script else "")
        + "</body>\n</html>\n"
    )


def _img(image: tuple[str, tuple[int, int] | None] | None, alt: str, missing: str) -> str:
    if image is None:
        return f'<p class="no-image">{_e(missing)}</p>\n'
    src, size = image
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    # Alt text is never empty: an image without its own says what it is.
    return f'<img src="{_e(src)}" alt="{_e(alt.strip() or missing)}"{dims}>\n'


def _about(profiles: ProfileSet, period: str, previous: str, missing_months: str, with_period: bool = True) -> str:
    """Return the period, data, licence and the definitions that apply, in plain words."""
    rows = [("Crimes counted", profiles.crimes_chosen or "all crimes"), ("Data source", profiles.source)]
    if with_period:  # an area's page says its period at the top already
        rows[:0] = [
            ("Last 12 months", period or NOT_AVAILABLE),
            ("Previous 12 months", previous or NOT_AVAILABLE),
            ("Months missing from the data", missing_months or "none"),
        ]
    out = ['<section aria-labelledby="about">\n<h2 id="about">About these figures</h2>\n<dl class="facts">\n']
    out += [f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>\n" for term, text in rows]
    out.append("</dl>\n")
    if profiles.definitions:
        out.append('<h3 id="terms">What the words mean</h3>\n<dl class="terms">\n')
        out += [f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>\n" for term, text in profiles.definitions]
        out.append("</dl>\n")
    out.append('<p><a href="definitions.html">Read the full definitions</a></p>\n')
    out.append(f'<p class="licence">{_e(profiles.licence)}</p>\n</section>\n')
    return "".join(out)


def _groups_table(profile: AreaProfile) -> str:
    period, previous = profile.period or NOT_AVAILABLE, profile.previous_period or NOT_AVAILABLE
    caption = f"Crimes by group: the last 12 months ({period}) against the previous 12 ({previous})"
    out = [
        '<table class="groups">\n',
        f"<caption>{_e(caption)}</caption>\n",
        "<thead>\n<tr>"
        '<th scope="col">Crime group</th>'
        '<th scope="col" class="num">Last 12 months</th>'
        '<th scope="col" class="num">Previous 12 months</th>'
        '<th scope="col" class="num">Change</th>'
        '<th scope="col">Chance of a change this large</th>'
        '<th scope="col">What it means</th>'
        "</tr>\n</thead>\n<tbody>\n",
    ]
    for line in profile.groups:
        out.append(_group_row(line))
    out.append("</tbody>\n</table>\n")
    return "".join(out)


def _group_row(line: GroupLine) -> str:
    return (
        f'<tr><th scope="row">{_e(line.group)}</th>'
        f'<td class="num">{_e(format_count(line.current))}</td>'
        f'<td class="num">{_e(format_count(line.previous))}</td>'
        f'<td class="num">{_e(format_change(line.change_pct))}</td>'
        f"<td>{_e(p_in_words(line.p_value))}</td>"
        f"<td>{_e(line.verdict)}</td></tr>\n"
    )


def _rates_table(profile: AreaProfile) -> str:
    caption = f"Crimes per 1,000 residents, last 12 months ({profile.period or NOT_AVAILABLE}), with the 95% interval"
    out = [
        '<table class="rates">\n',
        f"<caption>{_e(caption)}</caption>\n",
        "<thead>\n<tr>"
        '<th scope="col">Area</th>'
        '<th scope="col" class="num">Crimes</th>'
        '<th scope="col" class="num">Residents</th>'
        '<th scope="col" class="num">Rate per 1,000</th>'
        '<th scope="col" class="num">95% interval</th>'
        "</tr>\n</thead>\n<tbody>\n",
    ]
    for line in profile.rates:
        out.append(_rate_row(line))
    out.append("</tbody>\n</table>\n")
    return "".join(out)


def _rate_row(line: RateLine) -> str:
    return (
        f'<tr><th scope="row">{_e(line.label)}</th>'
        f'<td class="num">{_e(format_count(line.crimes))}</td>'
        f'<td class="num">{_e(format_count(line.population))}</td>'
        f'<td class="num">{_e(format_rate(line.rate))}</td>'
        f'<td class="num">{_e(format_interval(line.lcl95, line.ucl95))}</td></tr>\n'
    )


def _area_page(
    profiles: ProfileSet,
    profile: AreaProfile,
    pages: dict[str, str],
    names: dict[str, str],
    images: dict[str, tuple[str, tuple[int, int] | None] | None],
) -> str:
    kind = KINDS.get(profiles.area_kind, (profiles.area_kind or "area", f"{profiles.area_kind or 'area'}s"))
    heading = f"{profile.name} ({profile.code})" if profile.name and profile.name != profile.code else profile.code
    where = f"{kind[0].capitalize()} profile"
    if profile.parent_name or profile.parent_code:
        where = f"{kind[0].capitalize()} in {profile.parent_name or profile.parent_code}"
    out = [f"<h1>{_e(heading)}</h1>\n"]
    out.append(f'<p class="lede">{_e(where)}. {_e(profiles.title)}.</p>\n')
    out.append('<section aria-labelledby="summary">\n<h2 id="summary">In short</h2>\n<ul class="summary">\n')
    for label, text in (
        ("Overall", profile.headline),
        (f"Rate against {profile.rates[-1].label if len(profile.rates) > 1 else 'all areas'}", profile.rate_verdict),
        ("Trend", profile.trend_verdict),
    ):
        if text:
            out.append(f"<li><strong>{_e(label)}:</strong> {_e(text)}</li>\n")
    missing = profile.missing_months or "none"
    out.append(
        f"<li><strong>Period:</strong> the last 12 months, {_e(profile.period or NOT_AVAILABLE)}, against the "
        f"12 before, {_e(profile.previous_period or NOT_AVAILABLE)}; months missing from the data: {_e(missing)}</li>\n"
    )
    out.append("</ul>\n</section>\n")

    # The map and the chart side by side on paper, so that an area's page fits one printed sheet.
    out.append('<div class="area-figures">\n')
    out.append(f'<section aria-labelledby="map">\n<h2 id="map">The {_e(kind[0])} and its neighbours</h2>\n')
    out.append('<figure class="map">\n')
    out.append(_img(images.get(f"{profile.code}:map"), profile.map_alt, f"No map was drawn for {heading}."))
    neighbours = [_neighbour_link(code, pages, names) for code in profile.neighbours]
    text = ", ".join(neighbours) if neighbours else "none in this publication"
    out.append(f"<figcaption>Neighbouring {_e(kind[1])}: {text}.</figcaption>\n</figure>\n</section>\n")

    out.append('<section aria-labelledby="trend">\n<h2 id="trend">Month by month</h2>\n<figure class="chart">\n')
    out.append(_img(images.get(f"{profile.code}:chart"), profile.chart_alt, f"No trend chart was drawn for {heading}."))
    if profile.trend_verdict:
        out.append(f"<figcaption>{_e(profile.trend_verdict)}</figcaption>\n")
    out.append("</figure>\n</section>\n")
    out.append("</div>\n")
    out.append('<section aria-labelledby="groups">\n<h2 id="groups">Crimes by group</h2>\n')
    out.append(_groups_table(profile) if profile.groups else "<p>No crimes by group for this area.</p>\n")
    out.append("</section>\n")

    out.append('<section aria-labelledby="rates">\n<h2 id="rates">Crimes per 1,000 residents</h2>\n')
    out.append(_rates_table(profile) if profile.rates else "<p>No rate for this area.</p>\n")
    if profile.rate_verdict:
        out.append(f"<p>{_e(profile.rate_verdict)}</p>\n")
    out.append("</section>\n")

    out.append(_about(profiles, profile.period, profile.previous_period, profile.missing_months, with_period=False))
    return _page(f"{heading}: {profiles.title}", "".join(out))


def _neighbour_link(code: str, pages: dict[str, str], names: dict[str, str]) -> str:
    name = names.get(code) or code
    if code in pages:
        return f'<a href="{_e(pages[code])}">{_e(name)}</a>'
    return _e(name)


def _common(values: Iterable[str]) -> str:
    """Return the one value all profiles share, or '' when they differ."""
    found = {v for v in values if v}
    return found.pop() if len(found) == 1 else ""


def _index_page(profiles: ProfileSet, pages: dict[str, str], image: tuple[str, tuple[int, int] | None] | None) -> str:
    kind = KINDS.get(profiles.area_kind, (profiles.area_kind or "area", f"{profiles.area_kind or 'area'}s"))
    period = _common(p.period for p in profiles.profiles)
    previous = _common(p.previous_period for p in profiles.profiles)
    missing = _common(p.missing_months for p in profiles.profiles)
    out = [f"<h1>{_e(profiles.title)}</h1>\n"]
    count = len(profiles.profiles)
    out.append(
        f'<p class="lede">{_e(format_count(count))} {_e(kind[0] if count == 1 else kind[1])}: '
        f"{_e(profiles.crimes_chosen or 'all crimes')}, last 12 months {_e(period or 'as each page says')}.</p>\n"
    )
    out.append(f'<section aria-labelledby="map">\n<h2 id="map">Map of all {_e(kind[1])}</h2>\n<figure class="map">\n')
    out.append(_img(image, profiles.index_map_alt, "No map of all areas was drawn."))
    out.append("<figcaption>\n" + _legend(profiles) + "</figcaption>\n</figure>\n</section>\n")
    out.append(f'<section aria-labelledby="areas">\n<h2 id="areas">All {_e(kind[1])}</h2>\n')
    out.append(_index_table(profiles, pages, kind))
    out.append("</section>\n")
    out.append(_about(profiles, period, previous, missing))
    return _page(profiles.title, "".join(out), script=True)


def _headline_colours(profiles: ProfileSet) -> dict[str, str]:
    # The map's colour of each headline, when the ProfileSet states them (a later field of the model).
    pairs = getattr(profiles, "headline_colours", None) or ()
    return {str(h): str(c) for h, c in pairs if re.fullmatch(r"#[0-9A-Fa-f]{6}", str(c))}


def _legend(profiles: ProfileSet) -> str:
    """Return the map's legend as text: each headline, its colour when known, and how many areas have it."""
    counts: dict[str, int] = {}
    for profile in profiles.profiles:
        counts[profile.headline or NOT_AVAILABLE] = counts.get(profile.headline or NOT_AVAILABLE, 0) + 1
    colours = _headline_colours(profiles)
    whole = profiles.profiles[0].rates[-1].label if profiles.profiles and profiles.profiles[0].rates else "London"
    known = [h for h in (*colours, *headlines(whole)) if h in counts]  # the map's legend order
    order = list(dict.fromkeys([*known, *counts]))
    out = ['<p class="legend-title">Colour of each area on the map: its overall signal</p>\n<ul class="legend">\n']
    for headline in order:
        swatch = (
            f'<span class="swatch" style="background-color: {colours[headline]}" aria-hidden="true"></span>'
            if headline in colours
            else ""
        )
        n = counts[headline]
        out.append(f"<li>{swatch}{_e(headline)} ({_e(format_count(n))} {'area' if n == 1 else 'areas'})</li>\n")
    out.append("</ul>\n")
    return "".join(out)


def _index_table(profiles: ProfileSet, pages: dict[str, str], kind: tuple[str, str]) -> str:
    # A column of parents only when some area has one (boroughs have none, nor do wards without a borough field).
    with_parent = any(p.parent_name or p.parent_code for p in profiles.profiles)
    out = [
        '<table class="sortable areas">\n',
        f"<caption>{_e(f'Every {kind[0]} of this publication, with its overall signal and rate')}</caption>\n",
        "<thead>\n<tr>"
        f'<th scope="col" data-type="text" aria-sort="ascending">{_e(kind[0].capitalize())}</th>'
        + ('<th scope="col" data-type="text">Part of</th>' if with_parent else "")
        + '<th scope="col" data-type="text">Overall</th>'
        '<th scope="col" data-type="number" class="num">Crimes, last 12 months</th>'
        '<th scope="col" data-type="number" class="num">Rate per 1,000 residents</th>'
        '<th scope="col" data-type="number" class="num">95% interval</th>'
        '<th scope="col" data-type="text">Trend</th>'
        "</tr>\n</thead>\n<tbody>\n",
    ]
    for profile in sorted(profiles.profiles, key=lambda p: ((p.name or p.code).casefold(), p.code)):
        line = profile.rates[0] if profile.rates else None
        name = profile.name or profile.code
        value = "" if line is None or _missing(line.rate) else f' data-value="{line.rate!r}"'
        crimes = "" if line is None or _missing(line.crimes) else f' data-value="{line.crimes!r}"'
        low = "" if line is None or _missing(line.lcl95) else f' data-value="{line.lcl95!r}"'
        out.append(
            f'<tr><th scope="row" data-value="{_e(name)}"><a href="{_e(pages[profile.code])}">{_e(name)}</a></th>'
            + (f"<td>{_e(profile.parent_name or profile.parent_code or '')}</td>" if with_parent else "")
            + f"<td>{_e(profile.headline)}</td>"
            f'<td class="num"{crimes}>{_e(format_count(line.crimes if line else None))}</td>'
            f'<td class="num"{value}>{_e(format_rate(line.rate if line else None))}</td>'
            f'<td class="num"{low}>{_e(format_interval(line.lcl95, line.ucl95) if line else NOT_AVAILABLE)}</td>'
            f"<td>{_e(profile.trend_verdict)}</td></tr>\n"
        )
    out.append("</tbody>\n</table>\n")
    return "".join(out)


def _definitions_page(profiles: ProfileSet) -> str:
    out = [
        "<h1>Definitions</h1>\n",
        f'<p class="lede">What the pages of {_e(profiles.title)} mean, in plain words.</p>\n',
    ]
    out.append('<section aria-labelledby="words">\n<h2 id="words">The words on these pages</h2>\n')
    if profiles.definitions:
        out.append('<dl class="terms">\n')
        for number, (term, text) in enumerate(profiles.definitions, 1):
            out.append(f'<dt id="term-{number}">{_e(term)}</dt><dd>{_e(text)}</dd>\n')
        out.append("</dl>\n")
    else:
        out.append("<p>No definitions were given for this publication.</p>\n")
    out.append("</section>\n")
    out.append('<section aria-labelledby="data">\n<h2 id="data">The data</h2>\n<dl class="facts">\n')
    for term, text in (("Crimes counted", profiles.crimes_chosen or "all crimes"), ("Data source", profiles.source)):
        out.append(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>\n")
    out.append("</dl>\n")
    url = profiles.definitions_url or ""
    if re.match(r"https?://", url):  # a plain link the reader may follow; nothing on the page loads it
        out.append(
            f'<p>The full definitions and methods are also published at <a href="{_e(url)}">{_e(url)}</a>.</p>\n'
        )
    out.append(f'<p class="licence">{_e(profiles.licence)}</p>\n</section>\n')
    return _page(f"Definitions: {profiles.title}", "".join(out))


# Writing, all or nothing.


def _check_destination(folder: str) -> None:
    """Refuse a destination that is a file, or a folder holding anything but a site this module wrote."""
    if os.path.isfile(folder):
        raise ProfileSiteError(f"{folder} is a file: choose a folder for the website.")
    if os.path.isdir(folder) and os.listdir(folder) and not os.path.isfile(os.path.join(folder, MARKER)):
        raise ProfileSiteError(
            f"{folder} holds files that are not a website of area profiles: choose an empty or new folder "
            "(it is never replaced)."
        )


def _copy_image(source: str | None, target_dir: str, name: str) -> tuple[str, tuple[int, int] | None] | None:
    """Copy a rendered image into the site; return its relative path and size (None when there is none)."""
    if not source:
        return None
    if not os.path.isfile(source):
        raise ProfileSiteError(f"The image {source} cannot be found: render the profiles again.")
    extension = os.path.splitext(source)[1].lower()
    if extension not in (".png", ".jpg", ".jpeg", ".svg"):
        raise ProfileSiteError(f"The image {source} is not a PNG, JPEG or SVG file.")
    relative = f"images/{name}{extension}"
    shutil.copyfile(source, os.path.join(target_dir, *relative.split("/")))
    return relative, (_png_size(source) if extension == ".png" else None)


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def _build(target: str, profiles: ProfileSet, cancelled: Callable[[], bool]) -> list[str]:
    """Write every file of the site into target (an empty folder); return the pages written."""
    os.makedirs(os.path.join(target, "images"))
    for asset in ASSETS:
        shutil.copyfile(os.path.join(RESOURCES, asset), os.path.join(target, asset))
    shutil.copyfile(ICON, os.path.join(target, "icon.png"))
    taken: set[str] = {"index", "definitions"}
    pages: dict[str, str] = {}
    for profile in profiles.profiles:
        if profile.code in pages:
            raise ProfileSiteError(f"The area code {profile.code} is given twice: each area has one page.")
        pages[profile.code] = f"{file_stem(profile.code, taken)}.html"
    names = {p.code: p.name for p in profiles.profiles}
    index_image = _copy_image(profiles.index_map_png, target, "index-map")
    written = ["index.html", "definitions.html"]
    for profile in profiles.profiles:
        if cancelled():
            raise SiteCancelledError("Cancelled: the website was not written.")
        stem = pages[profile.code][: -len(".html")]
        images = {
            f"{profile.code}:map": _copy_image(profile.map_png, target, f"{stem}-map"),
            f"{profile.code}:chart": _copy_image(profile.chart_png, target, f"{stem}-trend"),
        }
        _write_text(os.path.join(target, pages[profile.code]), _area_page(profiles, profile, pages, names, images))
        written.append(pages[profile.code])
    _write_text(os.path.join(target, "index.html"), _index_page(profiles, pages, index_image))
    _write_text(os.path.join(target, "definitions.html"), _definitions_page(profiles))
    manifest = {"generator": GENERATOR, "title": profiles.title, "pages": {c: p for c, p in pages.items()}}
    _write_text(os.path.join(target, MARKER), json.dumps(manifest, indent=1, ensure_ascii=False))
    return written


def write_site(folder: str, profiles: ProfileSet, cancelled: Callable[[], bool] | None = None) -> str:
    """Write the website of the profiles into folder, replacing a site written there before; return index.html.

    cancelled is asked between pages; when it answers True, SiteCancelledError is raised and nothing changes.
    """
    folder = os.path.abspath(folder)
    _check_destination(folder)
    parent = os.path.dirname(folder)
    try:
        work = temporary_path(parent, "-site")
        os.makedirs(work)
    except OSError as err:
        raise ProfileSiteError(
            f"Cannot write in the folder {parent} ({err}): choose a folder you can write to."
        ) from err
    try:
        _build(work, profiles, cancelled or (lambda: False))
        if cancelled is not None and cancelled():
            raise SiteCancelledError("Cancelled: the website was not written.")
        _move_into_place(work, folder)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return os.path.join(folder, "index.html")


def _move_into_place(work: str, folder: str) -> None:
    """Put the finished site at folder: the previous one is moved aside first and removed only once it is done."""
    if not os.path.exists(folder):
        os.replace(work, folder)
        return
    backup = tempfile.mkdtemp(prefix=".crimemapping-previous-", dir=os.path.dirname(folder))
    os.rmdir(backup)
    os.replace(folder, backup)
    try:
        os.replace(work, folder)
    except OSError:
        os.replace(backup, folder)  # the previous site back where it was
        raise
    shutil.rmtree(backup, ignore_errors=True)


def page_names(folder: str) -> dict[str, str]:
    """Return the area code -> page file name of the site in folder (from its manifest)."""
    with open(os.path.join(folder, MARKER), encoding="utf-8") as handle:
        return dict(json.load(handle)["pages"])
