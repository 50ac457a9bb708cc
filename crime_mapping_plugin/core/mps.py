"""Read the MPS ward-level crime table (London Datastore): one count column per month, made long.

The file has `MajorText, MinorText, WardName, WardCode, LookUp_BoroughName` and then one column per
month named YYYYMM. Month columns are found by that pattern, so newer files with other months work
unchanged. A row is a line of the file (as for police.uk files, a quote never reaches past its line);
every cell read is either written or counted under a reason, and a row with missing or extra cells is
counted, not padded with zeros.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crime_mapping_plugin.core import crime_points
from crime_mapping_plugin.core.months import (
    NO_MONTH,
    MonthError,
    MonthRange,
    month_number,
    month_numbers,
    month_parameter,
    month_text,
)
from crime_mapping_plugin.core.policeuk import PoliceUkInputError, split_line, text_problem

MONTH_COLUMN = re.compile(r"^\d{6}$")
ID_COLUMNS = {
    "majortext": "major_category",
    "minortext": "minor_category",
    "wardname": "ward_name",
    "wardcode": "ward_code",
    "lookup_boroughname": "borough",
}
OUTPUT_FIELDS: tuple[tuple[str, str], ...] = (
    ("ward_code", "string"),
    ("ward_name", "string"),
    ("borough", "string"),
    ("major_category", "string"),
    ("minor_category", "string"),
    ("month", "date"),
    ("count", "integer"),
)

MALFORMED_ROW = "row with missing or extra cells (malformed)"
NO_WARD_CODE = "row without a ward code"
NOT_A_NUMBER = "count is not a whole number"
OUTSIDE_MONTHS = crime_points.OUTSIDE_MONTHS
ZERO_SKIPPED = "zero count, skipped"
CELL_REASONS = (MALFORMED_ROW, NO_WARD_CODE, NOT_A_NUMBER, OUTSIDE_MONTHS, ZERO_SKIPPED)


@dataclass
class MpsReport:
    """Rows and cells read, written and left out, with the offences they hold."""

    rows_read: int = 0
    rows_malformed: int = 0
    rows_without_code: int = 0
    months: list[str] = field(default_factory=list)
    cells_read: int = 0
    cells_written: int = 0
    cell_reasons: Counter = field(default_factory=Counter)
    offences_written: int = 0
    examples: list[str] = field(default_factory=list)

    def balanced(self) -> bool:
        """Return True when every cell read is written or counted under a reason."""
        return self.cells_read == self.cells_written + sum(self.cell_reasons.values())

    def summary_lines(self) -> list[str]:
        """Return the report as lines for a log."""
        lines = [
            f"Rows read: {self.rows_read} ({self.rows_malformed} malformed, {self.rows_without_code} without a "
            "ward code)",
            f"Month columns: {len(self.months)} ({self.months[0]} to {self.months[-1]})"
            if self.months
            else "Month columns: 0",
            f"Cells read (rows x months): {self.cells_read}",
            f"Cells written: {self.cells_written}, holding {self.offences_written} offences",
        ]
        lines += [f"Cells left out, {r}: {self.cell_reasons.get(r, 0)}" for r in CELL_REASONS]
        return lines


def read_mps_ward_table(
    path: str,
    start_month: str | None = None,
    end_month: str | None = None,
    skip_zeros: bool = False,
) -> tuple[pd.DataFrame, MpsReport]:
    """Return the long table (one row per ward, category and month) and its report."""
    header, good, good_lines, malformed = _read_lines(path)
    names = [h.strip() for h in header]
    lower_names = [n.lower() for n in names]
    missing = [name for name in ID_COLUMNS if name not in lower_names]
    if missing:
        raise PoliceUkInputError(
            f"{path}: not an MPS ward-level crime table: missing column(s) {', '.join(missing)} "
            f"(found {', '.join(names[:8])}{' …' if len(names) > 8 else ''})."
        )
    month_cols = [n for n in names if MONTH_COLUMN.match(n)]
    for name in [*month_cols, *(n for n in names if n.lower() in ID_COLUMNS)]:
        where = [i + 1 for i, n in enumerate(names) if n.lower() == name.lower()]
        if len(where) > 1:
            raise PoliceUkInputError(
                f"{path}: the column {name} appears {len(where)} times (columns {', '.join(map(str, where))}), so "
                "which one holds the counts is unknown. Remove the extra one."
            )
    bad = [c for c in month_cols if month_number(c) == NO_MONTH]
    if bad:
        raise PoliceUkInputError(f"{path}: column(s) {', '.join(bad)} look like months (YYYYMM) but are not.")
    if not month_cols:
        raise PoliceUkInputError(f"{path}: no month columns (named YYYYMM) were found.")
    wanted = {n: names.index(n) for n in names if n.lower() in ID_COLUMNS or n in month_cols}
    wide = pd.DataFrame({n: np.array([r[i] for r in good], dtype=object) for n, i in wanted.items()})
    wide.index = pd.RangeIndex(len(good))
    lower = {n.lower(): n for n in wanted}

    report = MpsReport(rows_read=len(wide) + len(malformed), months=[month_text(month_number(c)) for c in month_cols])
    report.rows_malformed = len(malformed)
    report.cells_read = report.rows_read * len(month_cols)
    report.cell_reasons[MALFORMED_ROW] = len(malformed) * len(month_cols)
    report.examples.extend(f"{path}, line {line}: {MALFORMED_ROW}: {problem}" for line, problem in malformed[:10])
    ids = pd.DataFrame({out: wide[lower[src]].str.strip() for src, out in ID_COLUMNS.items()})
    has_code = ids["ward_code"] != ""
    report.rows_without_code = int((~has_code).sum())
    report.cell_reasons[NO_WARD_CODE] = report.rows_without_code * len(month_cols)

    try:
        chosen = MonthRange(month_parameter(start_month, "first month"), month_parameter(end_month, "last month"))
    except MonthError as err:
        raise PoliceUkInputError(str(err)) from err
    kept_cols = [c for c, ok in zip(month_cols, chosen.mask(month_numbers(month_cols))) if ok]
    report.cell_reasons[OUTSIDE_MONTHS] = int(has_code.sum()) * (len(month_cols) - len(kept_cols))

    values = wide.loc[has_code, kept_cols]
    ids = ids[has_code]
    text = values.apply(lambda s: s.str.strip())
    numbers = text.apply(pd.to_numeric, errors="coerce")
    whole = numbers.notna() & (numbers % 1 == 0) & (numbers >= 0)
    # A blank cell in these files means no offences recorded; it is written as 0.
    blank = text == ""
    numbers = numbers.mask(blank, 0)
    whole |= blank
    not_number = ~whole
    report.cell_reasons[NOT_A_NUMBER] = int(not_number.to_numpy().sum())
    for r, c in zip(*np.nonzero(not_number.to_numpy())):
        if len(report.examples) < 20:
            report.examples.append(
                f"{path}, line {good_lines[int(values.index[r])]}, column {kept_cols[c]}: "
                f"{NOT_A_NUMBER}: '{text.iat[r, c]}'"
            )
    keep = whole.copy()
    if skip_zeros:
        zero = whole & (numbers == 0)
        report.cell_reasons[ZERO_SKIPPED] = int(zero.to_numpy().sum())
        keep &= ~zero

    counts = numbers.where(keep)
    counts.columns = [f"{c[:4]}-{c[4:6]}-01" for c in kept_cols]
    long = pd.concat([ids, counts], axis=1).melt(
        id_vars=list(ID_COLUMNS.values()), var_name="month", value_name="count"
    )
    long = long[long["count"].notna()]
    long["count"] = long["count"].astype("int64")
    long = long[[name for name, _ in OUTPUT_FIELDS]].reset_index(drop=True)
    report.cells_written = len(long)
    report.offences_written = int(long["count"].sum())
    return long, report


def _read_lines(path: str) -> tuple[list[str], list[list[str]], list[int], list[tuple[int, str]]]:
    """Return the header, the rows with as many cells as it, their line numbers, and (line, problem) of the others."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as err:
        raise PoliceUkInputError(f"{path}: cannot be read ({err.strerror or err}).") from err
    problem = text_problem(raw[:4096])
    if problem:
        raise PoliceUkInputError(f"{path}: {problem}.")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw.strip():
        raise PoliceUkInputError(f"{path}: the file is empty.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise PoliceUkInputError(
            f"{path}: not a UTF-8 CSV text file ({err.reason} at byte {err.start}): save it as 'CSV UTF-8'."
        ) from err
    lines = text.split("\n")
    first = lines[0][:-1] if lines[0].endswith("\r") else lines[0]
    if "\r" in first:
        raise PoliceUkInputError(
            f"{path}: its lines end with a carriage return only (CR), not LF or CR LF. Save it again with "
            "Windows (CR LF) or Unix (LF) line ends."
        )
    header = split_line(first)
    if header is None:
        raise PoliceUkInputError(f'{path}: the header line has a quote (") that is not closed.')
    good: list[list[str]] = []
    good_lines: list[int] = []
    malformed: list[tuple[int, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        try:
            cells = split_line(line)
        except csv.Error as err:
            malformed.append((number, f"not a CSV line ({err})"))
            continue
        if cells is None:
            malformed.append((number, 'a quoted cell (opened by ") is not closed on its line'))
        elif len(cells) != len(header):
            malformed.append((number, f"expected {len(header)} cells, found {len(cells)}"))
        else:
            good.append(cells)
            good_lines.append(number)
    return header, good, good_lines, malformed
