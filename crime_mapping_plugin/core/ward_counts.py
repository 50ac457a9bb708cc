"""Crime counts by ward for one or two periods: month keys, filters, table aggregation and code matching."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from crime_mapping_plugin.core import months
from crime_mapping_plugin.core.months import NO_MONTH, month_text


def month_number(key: str | None) -> int:
    """Return the month number of 'YYYY-MM' (core.months' rule), NO_MONTH for None."""
    return NO_MONTH if key is None else months.month_number(key)


def months_between(first: str, last: str) -> int:
    """Return the number of months from first to last inclusive (YYYY-MM)."""
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1


@dataclass
class Period:
    """A month range; either end may be open (None)."""

    start: str | None = None
    end: str | None = None

    def mask(self, months: np.ndarray) -> np.ndarray:
        """Return which month numbers fall in the period (a missing month, -1, only in an unbounded one)."""
        months = np.asarray(months, dtype=np.int64)
        ok = np.ones(len(months), dtype=bool)
        if self.start is None and self.end is None:
            return ok
        ok &= months >= 0
        if self.start is not None:
            ok &= months >= month_number(self.start)
        if self.end is not None:
            ok &= months <= month_number(self.end)
        return ok

    def describe(self, months_present: np.ndarray) -> tuple[str, int | None]:
        """Return the period label ('2024-10 to 2024-12') and its number of months."""
        present = np.asarray(months_present, dtype=np.int64)
        present = present[present >= 0]
        first = self.start or (month_text(present.min()) if len(present) else None)
        last = self.end or (month_text(present.max()) if len(present) else None)
        if first is None or last is None:
            return "all records (no month)", None
        return (first if first == last else f"{first} to {last}"), months_between(first, last)


@dataclass
class CodeMatch:
    """Codes of one table that match the ward polygons, and those that do not."""

    matched: int
    unmatched: list[str] = field(default_factory=list)
    unmatched_total: float = 0.0


def aggregate_table(
    codes: Sequence, counts: Sequence, ward_codes: Sequence[str]
) -> tuple[np.ndarray, CodeMatch, list[int]]:
    """Sum counts per ward code; return per-ward sums, the codes not among the wards, and bad row numbers."""
    values = pd.to_numeric(pd.Series(list(counts), dtype=object), errors="coerce").to_numpy(dtype=float)
    bad_mask = ~np.isfinite(values) | (values < 0) | (values != np.floor(np.where(np.isfinite(values), values, 0)))
    keys = pd.Series(["" if c is None else str(c).strip() for c in codes], dtype=object)
    good = ~bad_mask
    sums_by_code = pd.Series(values[good], index=keys[good].to_numpy()).groupby(level=0).sum()
    index = pd.Index(list(ward_codes))
    sums = sums_by_code.reindex(index, fill_value=0).to_numpy().astype(np.int64)
    unknown = sums_by_code[~sums_by_code.index.isin(index)]
    matched = int(keys[good].isin(index).sum())
    match = CodeMatch(matched, sorted(unknown.index.tolist()), float(unknown.sum()))
    return sums, match, np.flatnonzero(bad_mask).tolist()


def population_by_code(
    codes: Sequence, values: Sequence, ward_codes: Sequence[str]
) -> tuple[list, list[str], list[str]]:
    """Join a population table to the wards; return per-ward values, unknown codes and duplicated codes."""
    seen: dict[str, object] = {}
    duplicated: set[str] = set()
    for code, value in zip(codes, values):
        key = "" if code is None else str(code).strip()
        if key in seen:
            duplicated.add(key)
        seen[key] = value
    wards = set(ward_codes)
    return [seen.get(c) for c in ward_codes], sorted(k for k in seen if k not in wards), sorted(duplicated)


def short_list(items: Sequence[str], limit: int = 12) -> str:
    """Return items joined for a message, cut after limit with the number left."""
    items = list(items)
    text = ", ".join(f"'{i}'" for i in items[:limit])
    return text + (f" and {len(items) - limit} more" if len(items) > limit else "")
