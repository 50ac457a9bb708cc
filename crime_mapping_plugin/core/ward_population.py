"""Build ward populations from LSOA populations and an LSOA-to-ward best-fit lookup (ONS).

Every LSOA of the population table is either added to one ward or reported: not in the lookup, or
without a usable population (missing, not a number, infinite or negative). A lookup that sends one LSOA
to two wards is refused, since it would count its residents twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence


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


def ward_population(
    lsoa_codes: Sequence,
    lsoa_population: Sequence,
    lookup_lsoa: Sequence,
    lookup_ward: Sequence,
    lookup_ward_name: Sequence | None = None,
) -> WardPopulation:
    """Sum LSOA populations into wards through a best-fit lookup; report every LSOA left out."""
    ward_of: dict[str, str] = {}
    name_of: dict[str, str | None] = {}
    conflicts: set[str] = set()
    for i, (lsoa, ward) in enumerate(zip(lookup_lsoa, lookup_ward)):
        if lsoa is None or ward is None or not str(lsoa).strip() or not str(ward).strip():
            continue
        lsoa, ward = str(lsoa).strip(), str(ward).strip()
        if lsoa in ward_of and ward_of[lsoa] != ward:
            conflicts.add(lsoa)
        ward_of[lsoa] = ward
        if lookup_ward_name is not None:
            name_of.setdefault(ward, lookup_ward_name[i])
    if conflicts:
        listed = ", ".join(sorted(conflicts)[:10])
        raise ValueError(
            f"The lookup assigns {len(conflicts)} LSOA(s) to more than one ward (e.g. {listed}); a best-fit lookup "
            "gives each LSOA exactly one ward. Use the ONS best-fit lookup or filter the table first."
        )
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
