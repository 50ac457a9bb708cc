"""Area profiles: the data model of one page per ward or borough, shared by the PDF atlas and the website.

Every figure held here is copied from a field of the output layers of ward rates and crime trends; this
module never computes a statistic. The plain-words verdicts are one mapping from those layers' flags.
"""

from __future__ import annotations

from dataclasses import dataclass


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
