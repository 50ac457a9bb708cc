"""Area profiles: the data model of one page per ward or borough, shared by the PDF atlas and the website.

Every figure held here is copied from a field of the output layers of ward rates and crime trends; this
module never computes a statistic. The plain-words verdicts are one mapping from those layers' flags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from crime_mapping_plugin.core import rates, trend_stats, trends, ward_rates


@dataclass(frozen=True)
class GroupLine:
    """One harmonised crime group in the area: the last 12 months against the previous 12."""

    group: str  # harmonised group label as core/crime_types names it
    current: int | None  # crimes in the last 12 months (the trends layer's roll_current)
    previous: int | None  # crimes in the previous 12 months (roll_previous); None when not covered
    change_pct: float | None
    p_value: float | None  # E-test p (roll_p)
    verdict: str  # plain words: "up, more than chance would explain" / "no change beyond chance" / ...


@dataclass(frozen=True)
class RateLine:
    """A rate per 1,000 residents with its 95% interval."""

    label: str  # the area's name, its borough's name, or "London"
    crimes: int | None
    population: float | None
    rate: float | None
    lcl95: float | None
    ucl95: float | None


@dataclass(frozen=True)
class AreaProfile:
    """Everything one area's page shows, each figure as the layers hold it."""

    code: str
    name: str
    parent_code: str | None
    parent_name: str | None
    neighbours: tuple[str, ...]  # codes of adjacent areas
    period: str  # the layers' PERIOD text (last 12 months)
    previous_period: str
    missing_months: str  # the layers' MISSING_MONTHS text ("" when none)
    groups: tuple[GroupLine, ...]
    rates: tuple[RateLine, ...]  # the area, its parent (borough), London, in that order, as present
    rate_verdict: str  # plain words against London
    trend_verdict: str  # plain words of the latest control-chart signal
    headline: str  # short category used to colour the index map and sort the table
    map_png: str | None  # the area map, rendered by QGIS
    chart_png: str | None  # the trend chart with control limits and signals
    map_alt: str  # alt text for map_png
    chart_alt: str  # alt text for chart_png


@dataclass(frozen=True)
class ProfileSet:
    """The profiles of every area of one publication, with what applies to all their pages."""

    title: str  # e.g. "Crime in Camden's wards, 2023-07 to 2024-06"
    area_kind: str  # "ward" or "borough"
    source: str  # data source sentence (police.uk, months, force)
    licence: str  # the Open Government Licence attribution
    definitions_url: str  # link to the full definitions (relative link into the site, or the plugin's docs)
    definitions: tuple[tuple[str, str], ...]  # (term, plain-words definition) that apply on these pages
    crimes_chosen: str  # the input filter / crime selection in words
    profiles: tuple[AreaProfile, ...]
    index_map_png: str | None  # all areas coloured by headline, rendered by QGIS
    index_map_alt: str


LICENCE = "Contains public sector information licensed under the Open Government Licence v3.0."
# The London Datastore publishes the MPS recorded-crime tables under the OGL v2.0 (its dataset page says so).
MPS_LICENCE = "Contains public sector information licensed under the Open Government Licence v2.0."
OPEN_DATA_SOURCE = "data.police.uk street-level crime (Home Office)"
MPS_WARD_SOURCE = "MPS recorded crime by ward, London Datastore"
# The MPS categories are the MPS's (Home Office counting rules), not police.uk's crime types, and no mapping
# between the two is defined (docs/definitions.md): profiles from a count table group by its own categories.
POINT_GROUPS = (
    "police.uk crime types put into groups that mean the same in every month. Locations are "
    "approximate: police.uk moves each crime to a nearby map point to protect privacy."
)
TABLE_GROUPS = (
    "The categories of the count table as it names them (for the MPS table, its major categories: "
    "police-recorded offences under the Home Office counting rules). They are not police.uk's crime groups: "
    "the two sources count differently and are not mapped onto each other."
)

# One mapping from the layers' flags to plain words: the change of the last 12 months (rates.change_label,
# the trends layer's roll_change), the rate against all areas (rates.COMPARISON_LABELS, ward rates' vs_all)
# and the latest control-chart signal (trends.SIGNALS, the trends layer's signal).
NOT_COMPARED = "not enough months to compare (24 are needed)"
CHANGE_WORDS: dict[str | None, str] = {
    rates.INCREASE_998: "up, far more than chance would explain",
    rates.INCREASE_95: "up, more than chance would explain",
    rates.NO_CHANGE: "no change beyond chance",
    rates.DECREASE_95: "down, more than chance would explain",
    rates.DECREASE_998: "down, far more than chance would explain",
    None: NOT_COMPARED,
}
RATE_WORDS: dict[str, str] = {
    rates.HIGHER_998: "higher than {}, far more than chance would explain",
    rates.HIGHER_95: "higher than {}, more than chance would explain",
    rates.SAME: "not different from {} beyond chance",
    rates.LOWER_95: "lower than {}, more than chance would explain",
    rates.LOWER_998: "lower than {}, far more than chance would explain",
}
NO_RATE = "no rate"
HEADLINE_WORDS: dict[str | None, str] = {
    rates.HIGHER_998: "Higher than {}",
    rates.HIGHER_95: "Higher than {}",
    rates.SAME: "Not different from {}",
    rates.LOWER_95: "Lower than {}",
    rates.LOWER_998: "Lower than {}",
    None: "No rate",
}
# The notes of a rolling comparison (the trends layer's roll_flags), short enough for a table cell.
FLAG_WORDS: dict[str, str] = {
    trend_stats.FLAG_SHORT: "fewer than 24 months of data",
    trend_stats.FLAG_MISSING: "a month has no data",
    trend_stats.FLAG_PARTIAL: "a month is cut short",
    trends.WINDOW_SOURCE_PARTIAL: "a month is cut short",
    trend_stats.FLAG_BREAK: "police.uk changed its categories in these months",
    trend_stats.FLAG_NO_DATA: "a year without data",
}
SIGNAL_WORDS: dict[str, str] = {
    trends.SIGNAL_CONCERN: "more crime than usual in the latest month: a special cause (concern)",
    trends.SIGNAL_IMPROVEMENT: "less crime than usual in the latest month: a special cause (improvement)",
    trends.SIGNAL_COMMON: "no unusual change: the ups and downs are ordinary variation (common cause)",
    trends.SIGNAL_NOT_ENOUGH: "not enough months of data for a control chart (12 are needed)",
}


def change_words(label: str | None) -> str:
    """Return the plain words of a rolling 12-month change label (None: not testable)."""
    return CHANGE_WORDS[label]


def rate_words(vs_all: str | None, whole: str, flag: str | None = None) -> str:
    """Return the plain words of a rate's comparison with all areas (named whole, e.g. London)."""
    if vs_all is None:
        return f"{NO_RATE} ({flag})" if flag else NO_RATE
    return RATE_WORDS[vs_all].format(whole)


def headline_of(vs_all: str | None, whole: str) -> str:
    """Return the short category of an area (its rate against all areas) that colours the index map."""
    return HEADLINE_WORDS[vs_all].format(whole)


def headlines(whole: str) -> tuple[str, ...]:
    """Return every headline in the order of the index map's legend."""
    return tuple(dict.fromkeys(HEADLINE_WORDS[k].format(whole) for k in (*rates.COMPARISON_LABELS, None)))


def signal_words(signal: str | None, rule: str | None = None) -> str:
    """Return the plain words of the latest month's control-chart signal, with the rule that fired."""
    words = SIGNAL_WORDS.get(signal or trends.SIGNAL_NOT_ENOUGH, SIGNAL_WORDS[trends.SIGNAL_NOT_ENOUGH])
    return f"{words}; {rule}" if rule else words


def definitions(whole: str, groups: str = POINT_GROUPS) -> tuple[tuple[str, str], ...]:
    """Return the plain-words definitions that apply on every profile page (groups: what the groups are)."""
    return (
        (
            "Rate per 1,000 residents",
            "Crimes recorded in the area in the 12 months, for every 1,000 people living there (Census 2021). "
            "Where few people live but many work or visit, as in the City of London, it overstates the risk.",
        ),
        (
            "95 % interval",
            "The range the rate would lie in 19 times out of 20 if the same underlying level of crime were "
            "recorded again: counts vary by chance from year to year.",
        ),
        (
            f"Compared with {whole}",
            f"'Higher than {whole}, more than chance would explain' means the difference is too large to be "
            "chance: the area's interval lies wholly above the rate of all areas together, after allowing for "
            "the ordinary differences between areas. 'Far more' means the evidence is very strong (99.8 %).",
        ),
        (
            "Last 12 months against the previous 12",
            "Crimes of the 12 months to the last month against the 12 months before. 'Up, more than chance "
            "would explain' means a change this large would happen by chance less than once in 20 times.",
        ),
        (
            "Control chart",
            "Monthly counts with their average and process limits. A month outside the limits, or a run of "
            "months on one side of the average or all rising or falling, is a special cause worth asking "
            "about; anything else is ordinary variation.",
        ),
        ("Crime groups", groups),
        (
            "Missing month",
            "A month with no record at all in the data: it is left out and listed, never counted as zero.",
        ),
    )


def _num(value: object) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None else int(round(number))


def _text(value: object) -> str | None:
    return None if value is None or str(value) in ("", "NULL") else str(value)


@dataclass(frozen=True)
class ProfileInputs:
    """The rows of the output layers a publication is built from, as field name → value per row."""

    kind: str  # "ward" or "borough"
    whole: str  # the name of all areas together, e.g. "London"
    rates: list[dict[str, object]]  # ward rates' OUTPUT: one row per area
    parents: list[dict[str, object]]  # ward rates' BOROUGHS table: one row per parent, then "all wards"
    trends: dict[str, list[dict[str, object]]]  # crime trends' OUTPUT per harmonised group (groups in order)
    all_trends: list[dict[str, object]]  # crime trends' OUTPUT for all the crimes chosen
    neighbours: dict[str, tuple[str, ...]]
    period: str
    previous_period: str
    missing_months: str
    codes: tuple[str, ...] = ()  # the areas to publish; empty: every area
    with_parents: bool = True  # False: the parent table is the whole only (areas with no parent)
    parent_names: dict[str, str] = field(default_factory=dict)  # parent code → name, when the codes are codes
    from_table: bool = False  # counts from a table by area code: no crime dots on the maps, its own categories


def build_profiles(
    inputs: ProfileInputs,
    title: str,
    source: str,
    crimes_chosen: str,
    definitions_url: str,
    images: dict[str, tuple[str | None, str | None]] | None = None,
    index_map_png: str | None = None,
) -> ProfileSet:
    """Return the profiles of the chosen areas, every figure copied from the layers' rows (never computed)."""
    images = images or {}
    parent_rows = {str(r["borough"]): r for r in inputs.parents}
    whole_row = parent_rows.get(ward_rates.ALL_WARDS)
    by_group = {g: {str(r["area_code"]): r for r in rows} for g, rows in inputs.trends.items()}
    all_trends = {str(r["area_code"]): r for r in inputs.all_trends}
    wanted = set(inputs.codes)
    profiles = []
    for row in inputs.rates:
        code = str(row["ward_code"])
        if wanted and code not in wanted:
            continue
        name = _text(row.get("ward_name")) or code
        parent = _text(row.get("borough")) if inputs.with_parents else None
        parent_name = inputs.parent_names.get(parent, parent) if parent else None
        lines = [_rate_line(name, row["crimes"], row["population"], row["rate"], row["rate_lcl95"], row["rate_ucl95"])]
        if parent and parent in parent_rows:
            lines.append(_parent_line(parent_name or parent, parent_rows[parent]))
        if whole_row is not None:
            lines.append(_parent_line(inputs.whole, whole_row))
        vs_all = _text(row.get("vs_all"))
        verdict = rate_words(vs_all, inputs.whole, _text(row.get("flag")))
        note = _text(row.get("residents_note"))
        if note:
            verdict += f"; {note}"
        trend = all_trends.get(code, {})
        map_png, chart_png = images.get(code, (None, None))
        profiles.append(
            AreaProfile(
                code=code,
                name=name,
                parent_code=parent,
                parent_name=parent_name,
                neighbours=inputs.neighbours.get(code, ()),
                period=inputs.period,
                previous_period=inputs.previous_period,
                missing_months=inputs.missing_months,
                groups=tuple(_group_line(g, rows.get(code, {})) for g, rows in by_group.items()),
                rates=tuple(lines),
                rate_verdict=verdict,
                trend_verdict=signal_words(_text(trend.get("signal")), _text(trend.get("rule"))),
                headline=headline_of(vs_all, inputs.whole),
                map_png=map_png,
                chart_png=chart_png,
                map_alt=_map_alt(name, inputs),
                chart_alt=f"Control chart of the monthly crimes in {name}: "
                + signal_words(_text(trend.get("signal")), _text(trend.get("rule"))),
            )
        )
    return ProfileSet(
        title=title,
        area_kind=inputs.kind,
        source=source,
        licence=MPS_LICENCE if inputs.from_table and source.startswith(MPS_WARD_SOURCE) else LICENCE,
        definitions_url=definitions_url,
        definitions=definitions(inputs.whole, TABLE_GROUPS if inputs.from_table else POINT_GROUPS),
        crimes_chosen=crimes_chosen,
        profiles=tuple(profiles),
        index_map_png=index_map_png,
        index_map_alt=f"Map of the {inputs.kind}s coloured by their rate against {inputs.whole}: "
        + ", ".join(f"{h}: {sum(p.headline == h for p in profiles)}" for h in headlines(inputs.whole)),
    )


def _rate_line(label: str, crimes: object, population: object, rate: object, lcl: object, ucl: object) -> RateLine:
    return RateLine(label, _int(crimes), _num(population), _num(rate), _num(lcl), _num(ucl))


def _parent_line(label: str, row: dict[str, object]) -> RateLine:
    return _rate_line(label, row["crimes"], row["population"], row["rate"], row["rate_lcl95"], row["rate_ucl95"])


def _group_line(group: str, row: dict[str, object]) -> GroupLine:
    label = _text(row.get("roll_change"))
    verdict = change_words(label if label in CHANGE_WORDS else None)
    flags = _text(row.get("roll_flags"))
    if flags and label is not None:
        notes = dict.fromkeys(FLAG_WORDS.get(f.strip(), f.strip()) for f in flags.split(";"))
        verdict += " (note: {})".format("; ".join(notes))
    return GroupLine(
        group=group,
        current=_int(row.get("roll_current")),
        previous=_int(row.get("roll_previous")),
        change_pct=_num(row.get("roll_change_pct")),
        p_value=_num(row.get("roll_p")),
        verdict=verdict,
    )


def _map_alt(name: str, inputs: ProfileInputs) -> str:
    crimes = "" if inputs.from_table else f", and the crimes of {inputs.period} as dots"
    return f"Map of {name} outlined in black, its neighbouring {inputs.kind}s in grey with their names{crimes}."


def read_rows(path: str, layer: str | None = None) -> list[dict[str, object]]:
    """Return the attribute rows of a GDAL layer (the output layers), as field name → value."""
    from osgeo import ogr

    source = ogr.Open(path)
    if source is None:
        raise OSError(f"Cannot open {path}")
    lyr = source.GetLayerByName(layer) if layer else source.GetLayer(0)
    names = [lyr.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(lyr.GetLayerDefn().GetFieldCount())]
    rows = [{n: f.GetField(n) for n in names} for f in lyr]
    source = None
    return rows
