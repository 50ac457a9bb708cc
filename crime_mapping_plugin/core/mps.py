"""Read the MPS ward-level crime table (London Datastore): one count column per month, made long.

The file has `MajorText, MinorText, WardName, WardCode, LookUp_BoroughName` and then one column per
month named YYYYMM. Month columns are found by that pattern, so newer files with other months work
unchanged. Every cell read is either written or counted under a reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from crime_mapping_plugin.core.policeuk import PoliceUkInputError

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

NO_WARD_CODE = "row without a ward code"
NOT_A_NUMBER = "count is not a whole number"
OUTSIDE_MONTHS = "outside the chosen months"
ZERO_SKIPPED = "zero count, skipped"
CELL_REASONS = (NO_WARD_CODE, NOT_A_NUMBER, OUTSIDE_MONTHS, ZERO_SKIPPED)


@dataclass
class MpsReport:
    """Rows and cells read, written and left out, with the offences they hold."""

    rows_read: int = 0
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
            f"Rows read: {self.rows_read} ({self.rows_without_code} without a ward code)",
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
    try:
        wide = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise PoliceUkInputError(f"{path}: not a UTF-8 CSV text file ({err.reason} at byte {err.start}).") from err
    except pd.errors.EmptyDataError as err:
        raise PoliceUkInputError(f"{path}: the file is empty.") from err
    except pd.errors.ParserError as err:
        raise PoliceUkInputError(f"{path}: not a readable CSV table ({str(err).strip()}).") from err
    lower = {c.strip().lower(): c for c in wide.columns}
    missing = [name for name in ID_COLUMNS if name not in lower]
    if missing:
        raise PoliceUkInputError(
            f"{path}: not an MPS ward-level crime table: missing column(s) {', '.join(missing)} "
            f"(found {', '.join(map(str, wide.columns[:8]))}{' …' if len(wide.columns) > 8 else ''})."
        )
    month_cols = [c for c in wide.columns if MONTH_COLUMN.match(str(c).strip())]
    bad = [c for c in month_cols if not 1 <= int(str(c).strip()[4:]) <= 12]
    if bad:
        raise PoliceUkInputError(f"{path}: column(s) {', '.join(bad)} look like months (YYYYMM) but are not.")
    if not month_cols:
        raise PoliceUkInputError(f"{path}: no month columns (named YYYYMM) were found.")

    report = MpsReport(rows_read=len(wide), months=[f"{c[:4]}-{c[4:6]}" for c in month_cols])
    report.cells_read = len(wide) * len(month_cols)
    ids = pd.DataFrame({out: wide[lower[src]].str.strip() for src, out in ID_COLUMNS.items()})
    has_code = ids["ward_code"] != ""
    report.rows_without_code = int((~has_code).sum())
    report.cell_reasons[NO_WARD_CODE] = report.rows_without_code * len(month_cols)

    lo = (start_month or "0000-00").replace("-", "")
    hi = (end_month or "9999-99").replace("-", "")
    kept_cols = [c for c in month_cols if lo <= c <= hi]
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
                f"{path}, data row {int(values.index[r]) + 1}, column {kept_cols[c]}: "
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
