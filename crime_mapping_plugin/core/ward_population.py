"""Populations of the areas the user chose, from LSOA populations: ward totals, other LSOA vintages, crosswalks.

Every LSOA of the population table is either added to one ward or reported: not in the lookup, or
without a usable population (missing, not a number, infinite or negative). A lookup that sends one LSOA
to two wards is refused, since it would count its residents twice.

The lookup is an ONS best-fit table or, without one, a best fit by location: each LSOA goes to the area
holding its point on surface, or the point given for it (a population-weighted centroid), by the area rule
of core.areas (docs/methods.md §0.3, §1.5). Populations on the other LSOA vintage (2011 or 2021) are carried
over by the ONS exact-fit lookup, dividing an LSOA that the other vintage split in equal parts. Counts on one
boundary set are re-expressed on another by the share of each old area's residents living in each new
area (a population-weighted crosswalk); the result is an estimate and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from qgis.core import QgsGeometry

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core.ward_rates import parents_by_location


@dataclass
class WardPopulation:
    """Ward totals and what could not be assigned."""

    codes: list[str]
    names: list[str | None]
    population: list[float]
    lsoas: list[int]
    assigned_lsoas: int = 0
    assigned_population: float = 0.0
    not_in_lookup: list[str] = field(default_factory=list)
    not_in_lookup_population: float = 0.0
    bad_population: list[str] = field(default_factory=list)
    lookup_without_population: list[str] = field(default_factory=list)
    duplicated_population: list[str] = field(default_factory=list)


def best_fit_lookup(
    lookup_lsoa: Sequence, lookup_area: Sequence, lookup_area_name: Sequence | None = None, what: str = "ward"
) -> tuple[dict[str, str], dict[str, str | None]]:
    """Return the area of each LSOA of a best-fit lookup (and the areas' names); refuse an LSOA given two areas."""
    area_of: dict[str, str] = {}
    name_of: dict[str, str | None] = {}
    conflicts: set[str] = set()
    for i, (lsoa, area) in enumerate(zip(lookup_lsoa, lookup_area)):
        if lsoa is None or area is None or not str(lsoa).strip() or not str(area).strip():
            continue
        lsoa, area = str(lsoa).strip(), str(area).strip()
        if lsoa in area_of and area_of[lsoa] != area:
            conflicts.add(lsoa)
        area_of[lsoa] = area
        if lookup_area_name is not None:
            name_of.setdefault(area, lookup_area_name[i])
    if conflicts:
        listed = ", ".join(sorted(conflicts)[:10])
        raise ValueError(
            f"The lookup assigns {len(conflicts)} LSOA(s) to more than one {what} (e.g. {listed}); a best-fit lookup "
            f"gives each LSOA exactly one {what}. Use the ONS best-fit lookup or filter the table first."
        )
    return area_of, name_of


def ward_population(
    lsoa_codes: Sequence,
    lsoa_population: Sequence,
    lookup_lsoa: Sequence,
    lookup_ward: Sequence,
    lookup_ward_name: Sequence | None = None,
) -> WardPopulation:
    """Sum LSOA populations into wards through a best-fit lookup; report every LSOA left out."""
    ward_of, name_of = best_fit_lookup(lookup_lsoa, lookup_ward, lookup_ward_name)
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    result = WardPopulation([], [], [], [])
    seen: set[str] = set()
    for code, value in zip(lsoa_codes, lsoa_population):
        key = "" if code is None else str(code).strip()
        if key in seen:
            result.duplicated_population.append(key)
            continue
        seen.add(key)
        try:
            pop = float(value)
        except (TypeError, ValueError):
            pop = float("nan")
        if not math.isfinite(pop) or pop < 0:  # NaN, infinite or negative
            result.bad_population.append(key)
            continue
        ward = ward_of.get(key)
        if ward is None:
            result.not_in_lookup.append(key)
            result.not_in_lookup_population += pop
            continue
        totals[ward] = totals.get(ward, 0.0) + pop
        counts[ward] = counts.get(ward, 0) + 1
        result.assigned_lsoas += 1
        result.assigned_population += pop
    if result.duplicated_population:
        listed = ", ".join(sorted(set(result.duplicated_population))[:10])
        raise ValueError(
            f"The population table lists LSOA code(s) more than once (e.g. {listed}): give one row per LSOA."
        )
    result.lookup_without_population = sorted(k for k in ward_of if k not in seen)
    for ward in sorted(totals):
        result.codes.append(ward)
        result.names.append(name_of.get(ward))
        result.population.append(totals[ward])
        result.lsoas.append(counts[ward])
    return result


def usable_population(value: object) -> float | None:
    """Return a population as a number, or None when it is missing, not a number, infinite or negative."""
    try:
        pop = float(value)
    except (TypeError, ValueError):
        return None
    return pop if math.isfinite(pop) and pop >= 0 else None


@dataclass
class LocationLookup:
    """A best fit by location: the area of each LSOA, and the LSOAs in no area or without a geometry."""

    lsoa: list[str]
    area: list[str]
    outside: list[str] = field(default_factory=list)
    no_geometry: list[str] = field(default_factory=list)
    by_overlap: list[str] = field(default_factory=list)  # point in no area: placed in the area it overlaps most


def lookup_by_location(
    lsoa_codes: Sequence,
    lsoa_geometries: Sequence[QgsGeometry],
    areas: area_rule.Areas,
    is_cancelled: Callable[[], bool] | None = None,
) -> LocationLookup:
    """Give each LSOA the area holding its point on surface (a point LSOA: the point itself), by the area rule.

    A polygon's point on surface always lies inside it (its centroid may not); a point layer is taken as the
    LSOAs' population-weighted centroids, which is what ONS's own best-fit lookups use. An LSOA polygon whose
    point lies in no area (two generalisations that do not meet, a coastline cut differently) goes to the area
    it overlaps most (ties: the lower code), so that its residents are not lost; one in no area at all is
    listed as outside. Both in the areas' CRS.
    """
    codes = ["" if c is None else str(c).strip() for c in lsoa_codes]
    geoms = list(lsoa_geometries)
    placed = parents_by_location(geoms, areas, areas.codes, is_cancelled)
    result = LocationLookup([], [])
    for code, geom, area in zip(codes, geoms, placed):
        if area is None and geom is not None and not geom.isNull() and not geom.isEmpty():
            area = _largest_overlap(geom, areas)
            if area is not None:
                result.by_overlap.append(code)
        if area is not None:
            result.lsoa.append(code)
            result.area.append(area)
        elif geom is None or geom.isNull() or geom.isEmpty():
            result.no_geometry.append(code)
        else:
            result.outside.append(code)
    return result


def _largest_overlap(geometry: QgsGeometry, areas: area_rule.Areas) -> str | None:
    """Return the code of the area sharing the most surface with geometry (the lowest code on a tie), or None."""
    box = geometry.boundingBox()
    best, best_area = None, 0.0
    for code, other in zip(areas.codes, areas.geometries):  # in code order: a tie keeps the lower code
        if other.isNull() or other.isEmpty() or not other.boundingBox().intersects(box):
            continue
        shared = geometry.intersection(other).area()
        if shared > best_area:
            best, best_area = code, shared
    return best


@dataclass
class VintageConversion:
    """LSOA populations carried to the other LSOA vintage through an exact-fit lookup."""

    codes: list[str]
    population: list[float]
    source_field: int  # 0: the populations were on the lookup's first vintage, 1: on its second
    by_change: dict[str, int] = field(default_factory=dict)  # LSOAs of the population by change code (U, S, M, X)
    divided: list[str] = field(default_factory=list)  # LSOAs whose residents went to several LSOAs
    divided_population: float = 0.0
    not_in_lookup: list[str] = field(default_factory=list)
    not_in_lookup_population: float = 0.0
    bad_population: list[str] = field(default_factory=list)


def convert_vintage(
    lsoa_codes: Sequence,
    lsoa_population: Sequence,
    first: Sequence,
    second: Sequence,
    change: Sequence | None = None,
) -> VintageConversion:
    """Carry LSOA populations to the other vintage of an exact-fit lookup (first, second: its two code columns).

    The populations' vintage is the column that holds more of their codes. An LSOA of the other vintage made
    of whole LSOAs of this one (unchanged, or merged: M) gets their sum, exactly. An LSOA that the other vintage
    divides (split: S, or irregular: X) gives its residents in equal parts to the LSOAs it overlaps: ONS split
    LSOAs whose population had grown, into parts of similar size. No resident is lost or counted twice.
    """
    codes = ["" if c is None else str(c).strip() for c in lsoa_codes]
    pairs = [
        (str(a).strip(), str(b).strip(), "" if change is None or change[i] is None else str(change[i]).strip())
        for i, (a, b) in enumerate(zip(first, second))
        if a is not None and b is not None and str(a).strip() and str(b).strip()
    ]
    wanted = set(codes)
    hits = [sum(1 for p in {p[k] for p in pairs} if p in wanted) for k in (0, 1)]
    k = 0 if hits[0] >= hits[1] else 1
    targets: dict[str, list[str]] = {}
    change_of: dict[str, str] = {}
    for pair in pairs:
        targets.setdefault(pair[k], [])
        if pair[1 - k] not in targets[pair[k]]:
            targets[pair[k]].append(pair[1 - k])
        change_of.setdefault(pair[k], pair[2])
    result = VintageConversion([], [], k)
    totals: dict[str, float] = {}
    seen: set[str] = set()
    for code, value in zip(codes, lsoa_population):
        if code in seen:
            raise ValueError(f"The population table lists LSOA code {code} more than once: give one row per LSOA.")
        seen.add(code)
        pop = usable_population(value)
        if pop is None:
            result.bad_population.append(code)
            continue
        if code not in targets:
            result.not_in_lookup.append(code)
            result.not_in_lookup_population += pop
            continue
        tag = change_of.get(code) or "?"
        result.by_change[tag] = result.by_change.get(tag, 0) + 1
        parts = targets[code]
        if len(parts) > 1:
            result.divided.append(code)
            result.divided_population += pop
        for target in parts:
            totals[target] = totals.get(target, 0.0) + pop / len(parts)
    for target in sorted(totals):
        result.codes.append(target)
        result.population.append(totals[target])
    return result


OUTSIDE_NEW = ""  # the new code of the part of an old area that lies in no new area


@dataclass
class Crosswalk:
    """How the residents of each old area are shared among the new areas (a population-weighted best fit)."""

    old: list[str]
    new: list[str]
    population: np.ndarray  # residents of the LSOAs of both the old and the new area
    share: np.ndarray  # that population over the old area's
    old_population: dict[str, float]
    split: list[str]  # old areas whose residents live in more than one new area
    no_old_area: list[str] = field(default_factory=list)  # LSOAs of the population not in the old lookup
    no_new_area: list[str] = field(default_factory=list)  # LSOAs in an old area but in no new one (new code "")
    unplaced_population: float = 0.0  # residents of LSOAs in no old area
    outside_population: float = 0.0  # residents of old areas living outside every new area
    bad_population: list[str] = field(default_factory=list)
    empty_old: list[str] = field(default_factory=list)  # old areas whose LSOAs have no residents at all

    def moved(self) -> dict[str, float]:
        """Return, per new area, the share of its residents that came from old areas split between new ones."""
        split = set(self.split)
        total: dict[str, float] = {}
        moved: dict[str, float] = {}
        for o, n, p in zip(self.old, self.new, self.population):
            if n == OUTSIDE_NEW:
                continue
            total[n] = total.get(n, 0.0) + float(p)
            moved[n] = moved.get(n, 0.0) + (float(p) if o in split else 0.0)
        return {n: (moved[n] / total[n] if total[n] > 0 else 0.0) for n in total}


def crosswalk(
    lsoa_codes: Sequence,
    lsoa_population: Sequence,
    old_of: dict[str, str],
    new_of: dict[str, str],
) -> Crosswalk:
    """Share each old area's residents among new areas: LSOA populations through both best-fit lookups.

    Residents of an old area in no new area (the new areas cover less ground) make its part "outside the new
    areas", new code OUTSIDE_NEW: its crimes are counted as outside, never pushed into the new areas.
    """
    pair_pop: dict[tuple[str, str], float] = {}
    old_pop: dict[str, float] = {}
    walk = Crosswalk([], [], np.zeros(0), np.zeros(0), {}, [])
    seen: set[str] = set()
    for code, value in zip(lsoa_codes, lsoa_population):
        key = "" if code is None else str(code).strip()
        if key in seen:
            raise ValueError(f"The population table lists LSOA code {key} more than once: give one row per LSOA.")
        seen.add(key)
        pop = usable_population(value)
        if pop is None:
            walk.bad_population.append(key)
            continue
        old, new = old_of.get(key), new_of.get(key)
        if old is None:
            walk.no_old_area.append(key)
            walk.unplaced_population += pop
            continue
        if new is None:
            walk.no_new_area.append(key)
            walk.outside_population += pop
            new = OUTSIDE_NEW
        pair_pop[(old, new)] = pair_pop.get((old, new), 0.0) + pop
        old_pop[old] = old_pop.get(old, 0.0) + pop
    walk.empty_old = sorted(o for o, p in old_pop.items() if p <= 0)
    pairs = sorted(p for p in pair_pop if old_pop[p[0]] > 0)
    walk.old = [o for o, _ in pairs]
    walk.new = [n for _, n in pairs]
    walk.population = np.array([pair_pop[p] for p in pairs], dtype=float)
    walk.share = np.array([pair_pop[p] / old_pop[p[0]] for p in pairs], dtype=float)
    walk.old_population = {o: p for o, p in old_pop.items() if p > 0}
    per_old: dict[str, int] = {}
    for o in walk.old:
        per_old[o] = per_old.get(o, 0) + 1
    walk.split = sorted(o for o, n in per_old.items() if n > 1)
    return walk


@dataclass
class Reexpressed:
    """Counts re-expressed on the new areas: whole numbers (each old count shared out by largest remainder)."""

    table: pd.DataFrame  # new code, the kept fields, count (whole), count_share (the exact share), moved
    rows_read: int
    crimes_read: int
    crimes_written: int
    left_out: dict[str, list[str]]  # reason -> old codes whose counts could not be re-expressed
    left_out_crimes: dict[str, int]


NOT_IN_LOOKUP = "old code not in the old areas' lookup"
NO_RESIDENTS = "old area without residents to share its crimes by"
OUTSIDE_NEW_AREAS = "share of old areas outside every new area"


def reexpress(
    old_codes: Sequence,
    counts: np.ndarray,
    keys: dict[str, Sequence],
    walk: Crosswalk,
    known_old: set[str],
) -> Reexpressed:
    """Share each row's count among the new areas by the crosswalk, keeping the row's keys (month, category…).

    Each row's count c goes to its old area's new areas in proportion to the residents they share; the parts
    c·share are made whole numbers by the largest remainder (ties: lower new code), so every row's crimes are
    all written, none twice. Rows of an old code not in the lookup, or of an old area without residents, and
    the parts outside every new area, are left out by reason (known_old: the old areas the lookup names).
    """
    codes = np.array(["" if c is None else str(c).strip() for c in old_codes], dtype=object)
    counts = np.asarray(counts, dtype=np.int64)
    old_index = {o: i for i, o in enumerate(sorted(walk.old_population))}
    row_old = np.array([old_index.get(c, -1) for c in codes], dtype=np.int64)
    left_out: dict[str, list[str]] = {NOT_IN_LOOKUP: [], NO_RESIDENTS: [], OUTSIDE_NEW_AREAS: []}
    left_crimes = {NOT_IN_LOOKUP: 0, NO_RESIDENTS: 0, OUTSIDE_NEW_AREAS: 0}
    for reason, mask in (
        (NOT_IN_LOOKUP, np.array([c not in known_old for c in codes], dtype=bool)),
        (NO_RESIDENTS, np.array([c in known_old and c not in old_index for c in codes], dtype=bool)),
    ):
        left_out[reason] = sorted(set(codes[mask & (row_old < 0)]))
        left_crimes[reason] = int(counts[mask & (row_old < 0)].sum())
    # The crosswalk's pairs grouped by old area (they are sorted by old code already).
    pair_old = np.array([old_index[o] for o in walk.old], dtype=np.int64)
    new_codes = sorted(set(walk.new))
    new_index = {n: i for i, n in enumerate(new_codes)}
    pair_new = np.array([new_index[n] for n in walk.new], dtype=np.int64)
    starts = np.searchsorted(pair_old, np.arange(len(old_index) + 1))
    used = np.flatnonzero(row_old >= 0)
    per_row = starts[row_old[used] + 1] - starts[row_old[used]]
    row = np.repeat(used, per_row)
    offsets = np.arange(len(row)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    pair = starts[row_old[row]] + offsets
    exact = counts[row] * walk.share[pair]
    whole = np.floor(exact).astype(np.int64)
    remainder = counts[used] - np.bincount(np.searchsorted(used, row), weights=whole, minlength=len(used)).astype(
        np.int64
    )
    # Largest remainder: within each row, the parts with the largest fractions get one more crime each.
    order = np.lexsort((pair_new[pair], -(exact - whole), row))
    rank = np.empty(len(order), dtype=np.int64)
    first = np.searchsorted(row[order], row[order], side="left")
    rank[order] = np.arange(len(order)) - first
    whole += (rank < np.repeat(remainder, per_row)).astype(np.int64)
    moved = walk.moved()
    frame = pd.DataFrame({"_new": pair_new[pair], "count": whole, "count_share": exact})
    for name, values in keys.items():
        frame[name] = pd.Series(list(values), dtype=object).iloc[row].to_numpy()
    names = list(keys)
    grouped = frame.groupby(["_new", *names], sort=True, dropna=False)[["count", "count_share"]].sum().reset_index()
    for n in names:  # a missing key stays missing (groupby makes it NaN)
        grouped[n] = grouped[n].astype(object).where(grouped[n].notna(), None)
    grouped.insert(0, "ward_code", [new_codes[i] for i in grouped["_new"]])
    outside = (grouped["ward_code"] == OUTSIDE_NEW).to_numpy()
    if outside.any():
        left_crimes[OUTSIDE_NEW_AREAS] = int(grouped["count"][outside].sum())
        left_out[OUTSIDE_NEW_AREAS] = sorted({o for o, n in zip(walk.old, walk.new) if n == OUTSIDE_NEW})
        grouped = grouped[~outside].reset_index(drop=True)
    grouped["pop_share_moved"] = [moved.get(c, 0.0) for c in grouped["ward_code"]]
    grouped["estimated"] = (grouped["pop_share_moved"] > 0).astype(int)
    grouped = grouped.drop(columns="_new")
    return Reexpressed(
        grouped,
        len(codes),
        int(counts.sum()),
        int(grouped["count"].sum()),
        left_out,
        left_crimes,
    )
