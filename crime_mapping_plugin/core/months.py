"""Months: the one rule for reading a month from a value, and the period an analysis covers.

Every algorithm, the import and the dock read months through this module, so a value means the same
month (or no month) everywhere. The rules are in docs/methods.md ("Definitions shared by every algorithm"):

- A month is read from a date or a date-time (Python's, numpy's or Qt's), or from text `YYYY-MM`,
  `YYYY-MM-DD`, an ISO date-time (`YYYY-MM-DDThh:mm…` or `YYYY-MM-DD hh:mm…`), or `YYYYMM` (text or a whole
  number: the MPS ward table's layout). The month has two digits, 01 to 12, and a day must exist. Anything
  else (`2024-1`, `2024-123`, `Jul-18`, `10/2024`) is no month: never guessed, always counted.
- Months are numbered year × 12 + month − 1, so that consecutive months are consecutive numbers; NO_MONTH
  (−1) marks a value that holds no month.
- The period of an analysis is every calendar month from its first to its last month. A month of the period
  with no record at all is missing data, listed and never taken for zero; a month with records but none
  of the chosen crimes is a real zero. Figures "per month" divide by the months with records.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

NO_MONTH = -1
REASON_NO_MONTH = "no usable month"

_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})")


class MonthError(ValueError):
    """A month given as a parameter that is not a month; the message names the parameter."""


def _number(year: int, month: int) -> int:
    return year * 12 + month - 1 if 1 <= year <= 9999 and 1 <= month <= 12 else NO_MONTH


def _of_text(text: str) -> int:
    text = text.strip()
    match = _YEAR_MONTH.fullmatch(text) or _COMPACT.fullmatch(text)
    if match:
        return _number(int(match.group(1)), int(match.group(2)))
    match = _DATE.fullmatch(text)
    if match:
        try:
            day = _dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return NO_MONTH
        return _number(day.year, day.month)
    return NO_MONTH


def month_number(value: object) -> int:
    """Return year × 12 + month − 1 for a value holding a month (see the module rules); NO_MONTH otherwise."""
    if value is None or isinstance(value, bool):
        return NO_MONTH
    if isinstance(value, str):
        return _of_text(value)
    if isinstance(value, (bytes, bytearray)):
        return _of_text(value.decode("utf-8", "replace"))
    if isinstance(value, (int, np.integer)):
        return _of_text(str(int(value))) if 100000 <= int(value) <= 999999 else NO_MONTH
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return NO_MONTH
        return int(value.astype("datetime64[M]").astype(np.int64)) + 1970 * 12
    if hasattr(value, "isNull") and value.isNull():  # QDate, QDateTime, QVariant NULL
        return NO_MONTH
    if hasattr(value, "isValid") and not value.isValid():
        return NO_MONTH
    if hasattr(value, "toPyDate") or hasattr(value, "toPyDateTime"):  # QDate / QDateTime
        py = value.toPyDate() if hasattr(value, "toPyDate") else value.toPyDateTime()
        return _number(py.year, py.month)
    if isinstance(value, (_dt.date, _dt.datetime)):
        return _number(value.year, value.month)
    return NO_MONTH


def month_numbers(values: Iterable[object]) -> np.ndarray:
    """Return month numbers (NO_MONTH where none) of many values, reading each distinct value once."""
    cache: dict = {}
    out = []
    for v in values:
        try:
            n = cache[v]
        except KeyError:
            n = cache[v] = month_number(v)
        except TypeError:  # an unhashable value
            n = month_number(v)
        out.append(n)
    return np.array(out, dtype=np.int64)


def datetime_months(values: np.ndarray) -> np.ndarray:
    """Return month numbers of a numpy datetime64 array (NO_MONTH for NaT)."""
    out = values.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    out[np.isnat(values)] = NO_MONTH
    return out


def month_text(number: int) -> str:
    """Return 'YYYY-MM' for a month number."""
    year, month = divmod(int(number), 12)
    return f"{year:04d}-{month + 1:02d}"


def month_parameter(text: str | None, what: str) -> int | None:
    """Return the month number of a month parameter written YYYY-MM; None when empty; MonthError otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    number = _of_text(text) if _YEAR_MONTH.fullmatch(text) else NO_MONTH
    if number == NO_MONTH:
        raise MonthError(f"The {what} '{text}' is not a month: write it as YYYY-MM, e.g. 2024-11.")
    return number


def ranges_text(months: Sequence[int]) -> str:
    """Return months as runs, e.g. '2016-08 to 2017-06, 2017-08'."""
    runs: list[str] = []
    months = sorted(int(m) for m in months)
    start = prev = None
    for m in [*months, None]:
        if start is not None and (m is None or m != prev + 1):
            runs.append(month_text(start) if start == prev else f"{month_text(start)} to {month_text(prev)}")
            start = None
        if m is not None and start is None:
            start = m
        prev = m
    return ", ".join(runs)


@dataclass(frozen=True)
class MonthRange:
    """A range of month numbers asked for; either end may be open (None)."""

    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise MonthError(
                f"The first month {month_text(self.start)} is after the last month {month_text(self.end)}: "
                "swap them."
            )

    @property
    def open(self) -> bool:
        """True when neither end is set (every record counts, with or without a month)."""
        return self.start is None and self.end is None

    def mask(self, months: np.ndarray) -> np.ndarray:
        """Return which month numbers fall in the range (a record with no month only in an open range)."""
        months = np.asarray(months, dtype=np.int64)
        if self.open:
            return np.ones(len(months), dtype=bool)
        ok = months != NO_MONTH
        if self.start is not None:
            ok &= months >= self.start
        if self.end is not None:
            ok &= months <= self.end
        return ok

    def overlaps(self, other: MonthRange) -> bool:
        """True when the two ranges share a month (open ends reach to any month)."""
        lo = max(x for x in (self.start, other.start, -(10**9)) if x is not None)
        hi = min(x for x in (self.end, other.end, 10**9) if x is not None)
        return lo <= hi


@dataclass(frozen=True)
class AnalysisPeriod:
    """The calendar months an analysis covers, and which of them have any record in its input."""

    first: int
    last: int
    with_records: tuple[int, ...]

    @property
    def months(self) -> range:
        """Every calendar month of the period, in order."""
        return range(self.first, self.last + 1)

    @property
    def calendar_months(self) -> int:
        """The number of calendar months from first to last."""
        return self.last - self.first + 1

    @property
    def months_with_records(self) -> int:
        """The number of months with at least one record: what 'per month' divides by."""
        return len(self.with_records)

    @property
    def missing(self) -> tuple[int, ...]:
        """The months of the period with no record at all (missing data, not zero)."""
        have = set(self.with_records)
        return tuple(m for m in self.months if m not in have)

    def label(self) -> str:
        """Return '2024-10 to 2024-12' (or one month)."""
        if self.first == self.last:
            return month_text(self.first)
        return f"{month_text(self.first)} to {month_text(self.last)}"

    def describe(self) -> str:
        """Return the period, its months with records and its missing months, in words."""
        text = self.label()
        if not self.missing:
            n = self.months_with_records
            return f"{text} ({n} month{'s' if n != 1 else ''})"
        return (
            f"{text}: {self.months_with_records} of {self.calendar_months} months have records; "
            f"{len(self.missing)} without any record (missing data, not zero): {ranges_text(self.missing)}"
        )


def analysis_period(record_months: np.ndarray, wanted: MonthRange | None = None) -> AnalysisPeriod | None:
    """Return the period of an analysis: the wanted range (its open ends from the records) and its months with
    records. record_months are the months of every record of the input (before any crime-type choice), NO_MONTH
    allowed; None when neither the range nor the records give a first and a last month."""
    wanted = wanted or MonthRange()
    known = np.unique(np.asarray(record_months, dtype=np.int64))
    known = known[known != NO_MONTH]
    first = wanted.start if wanted.start is not None else (int(known[0]) if len(known) else None)
    last = wanted.end if wanted.end is not None else (int(known[-1]) if len(known) else None)
    if first is None or last is None:
        return None
    if first > last:  # an open end taken from records beyond the given end
        first, last = (first, first) if wanted.start is not None else (last, last)
    inside = known[(known >= first) & (known <= last)]
    return AnalysisPeriod(int(first), int(last), tuple(int(m) for m in inside))
