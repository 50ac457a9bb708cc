"""Read data.police.uk street-level crime files: find them, check them and filter their rows.

Inputs may be single CSV files, folders of monthly folders (`YYYY-MM/YYYY-MM-<force>-street.csv`) or
the zip archives data.police.uk serves. Every data row read ends up either in a batch handed to the
caller or counted under exactly one reason in the ImportReport, so that read = written + reasons.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from crime_mapping_plugin.core import crime_types

STREET_COLUMNS: tuple[str, ...] = (
    "Crime ID",
    "Month",
    "Reported by",
    "Falls within",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "LSOA name",
    "Crime type",
    "Last outcome category",
    "Context",
)
# "Context" is blank in practice and absent from some third-party extracts; all others are required.
REQUIRED_COLUMNS: tuple[str, ...] = STREET_COLUMNS[:-1]

OUTCOME_MARKERS = ("Outcome type",)
STOP_SEARCH_MARKERS = ("Object of search", "Legislation", "Officer-defined ethnicity")

STREET_FILE_RE = re.compile(r"(?:^|[/\\])(\d{4}-\d{2})-([a-z0-9-]+)-street\.csv$", re.IGNORECASE)
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

# Reasons a row is left out, in the order they are tested: a row is counted under the first that applies.
MALFORMED = "malformed row"
OUTSIDE_MONTHS = "outside the chosen months"
TYPE_NOT_SELECTED = "crime type not selected"
FORCE_NOT_SELECTED = "force not selected"
NO_LOCATION = "no location (blank or 0,0 coordinates)"
DUPLICATE_ID = "duplicate crime id"
REASONS: tuple[str, ...] = (
    MALFORMED,
    OUTSIDE_MONTHS,
    TYPE_NOT_SELECTED,
    FORCE_NOT_SELECTED,
    NO_LOCATION,
    DUPLICATE_ID,
)
REASON_KEYS: dict[str, str] = {
    MALFORMED: "MALFORMED",
    OUTSIDE_MONTHS: "OUTSIDE_MONTHS",
    TYPE_NOT_SELECTED: "TYPE_NOT_SELECTED",
    FORCE_NOT_SELECTED: "FORCE_NOT_SELECTED",
    NO_LOCATION: "NO_LOCATION",
    DUPLICATE_ID: "DUPLICATE_ID",
}

MAX_EXAMPLES = 20


class PoliceUkInputError(ValueError):
    """An input that is not usable police.uk street data; the message names the file and the problem."""


def check_month(text: str | None, what: str) -> str | None:
    """Return a month written YYYY-MM, None when empty; raise PoliceUkInputError naming `what` otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    if not MONTH_RE.match(text):
        raise PoliceUkInputError(f"The {what} '{text}' is not a month: write it as YYYY-MM, e.g. 2024-11.")
    return text


@dataclass(frozen=True)
class StreetSource:
    """One street-level CSV: a file on disk or a member of a zip archive."""

    path: str
    member: str | None = None

    @property
    def name(self) -> str:
        """Return a name a person can find the file by."""
        return f"{self.path}!{self.member}" if self.member else self.path

    @property
    def short_name(self) -> str:
        """Return the CSV's own file name, as written into each feature."""
        return os.path.basename(self.member or self.path)

    @property
    def force_slug(self) -> str | None:
        """Return the police.uk force slug in the file name (e.g. 'metropolitan'), if any."""
        m = STREET_FILE_RE.search(self.member or self.path)
        return m.group(2).lower() if m else None

    def open_binary(self) -> io.RawIOBase:
        """Open the CSV's bytes, whether a file or a member of a zip archive."""
        if self.member is None:
            return open(self.path, "rb")  # noqa: SIM115 - the caller closes it
        archive = zipfile.ZipFile(self.path)
        return _ZipMemberStream(archive, archive.open(self.member))


class _ZipMemberStream(io.RawIOBase):
    """A readable member of a zip archive that closes the archive with it."""

    def __init__(self, archive: zipfile.ZipFile, member: io.BufferedIOBase) -> None:
        super().__init__()
        self._archive = archive
        self._member = member

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001 - buffer protocol
        data = self._member.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._member.close()
            self._archive.close()
        super().close()


def _is_street_name(name: str) -> bool:
    return bool(STREET_FILE_RE.search(name))


def discover_sources(paths: Iterable[str], passed_over: list[str] | None = None) -> list[StreetSource]:
    """Expand files, folders and zip archives into the street-level CSVs they hold, in month order.

    CSV files in folders and archives that are not street files (outcomes, stop and search) are not
    read; their names are appended to passed_over when it is given, so that the caller can say so.
    """
    passed_over = passed_over if passed_over is not None else []
    sources: list[StreetSource] = []
    for path in paths:
        path = str(path).strip()
        if not path:
            continue
        if not os.path.exists(path):
            raise PoliceUkInputError(f"{path}: no such file or folder.")
        if os.path.isdir(path):
            found = _sources_in_folder(path, passed_over)
            if not found:
                raise PoliceUkInputError(
                    f"{path}: the folder holds no police.uk street files (named YYYY-MM-<force>-street.csv, "
                    "directly, in monthly folders or in zip archives)."
                )
            sources.extend(found)
        elif zipfile.is_zipfile(path):
            sources.extend(_sources_in_zip(path, passed_over))
        else:
            sources.append(StreetSource(path))
    # The same file named twice (e.g. a folder and a file in it) would double-count every crime.
    unique = list(dict.fromkeys(sources))
    return sorted(unique, key=_month_order_key)


def _month_order_key(source: StreetSource) -> tuple[str, str]:
    m = STREET_FILE_RE.search(source.member or source.path)
    return (m.group(1) if m else "", source.name)


def _sources_in_folder(folder: str, passed_over: list[str]) -> list[StreetSource]:
    found: list[StreetSource] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            if _is_street_name(name):
                found.append(StreetSource(full))
            elif name.lower().endswith(".zip") and zipfile.is_zipfile(full):
                members = _street_members(full, passed_over)
                found.extend(StreetSource(full, m) for m in members)
            elif name.lower().endswith(".csv"):
                passed_over.append(full)
    return found


def _street_members(path: str, passed_over: list[str]) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    passed_over.extend(f"{path}!{n}" for n in names if n.lower().endswith(".csv") and not _is_street_name(n))
    return sorted(n for n in names if _is_street_name(n))


def _sources_in_zip(path: str, passed_over: list[str]) -> list[StreetSource]:
    members = _street_members(path, passed_over)
    if not members:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
        other = ", ".join(os.path.basename(n) for n in names[:5]) or "nothing"
        raise PoliceUkInputError(
            f"{path}: the zip archive holds no police.uk street files (YYYY-MM-<force>-street.csv); "
            f"it holds {other}{' …' if len(names) > 5 else ''}."
        )
    return [StreetSource(path, m) for m in members]


@dataclass
class ImportOptions:
    """Which rows to keep; None means no filter."""

    start_month: str | None = None
    end_month: str | None = None
    crime_types: frozenset[str] | None = None  # canonical police.uk labels
    crime_groups: frozenset[str] | None = None  # harmonised group names
    forces: tuple[str, ...] | None = None  # force names or slugs, any case
    keep_unlocated: bool = False

    def __post_init__(self) -> None:
        check_month(self.start_month, "start month")
        check_month(self.end_month, "end month")
        if self.start_month and self.end_month and self.start_month > self.end_month:
            raise PoliceUkInputError(f"The start month {self.start_month} is after the end month {self.end_month}.")


@dataclass
class ImportReport:
    """What was read, what was written and why every other row was left out."""

    read: int = 0
    written: int = 0
    reasons: Counter = field(default_factory=Counter)
    unmapped_labels: Counter = field(default_factory=Counter)
    files: list[tuple[str, int]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    months: set = field(default_factory=set)
    unlocated_written: int = 0

    def left_out(self) -> int:
        """Return the number of rows left out, over all reasons."""
        return sum(self.reasons.values())

    def balanced(self) -> bool:
        """Return True when every row read is written or counted under a reason."""
        return self.read == self.written + self.left_out()

    def add_example(self, text: str) -> None:
        """Keep the first few row-level problems to show the user."""
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)

    def summary_lines(self) -> list[str]:
        """Return the report as lines for a log."""
        lines = [f"Files read: {len(self.files)}", f"Rows read: {self.read}", f"Rows written: {self.written}"]
        if self.unlocated_written:
            lines.append(f"  of which without a location (no geometry): {self.unlocated_written}")
        for reason in REASONS:
            lines.append(f"Left out, {reason}: {self.reasons.get(reason, 0)}")
        for label, count in sorted(self.unmapped_labels.items()):
            lines.append(
                f"Crime type not in the harmonised table (kept, group '{crime_types.UNMAPPED}'): '{label}' x {count}"
            )
        return lines


@dataclass
class StreetBatch:
    """The rows of one file that are kept, column by column."""

    source: StreetSource
    columns: dict[str, list]
    lon: np.ndarray
    lat: np.ndarray
    located: np.ndarray  # bool: False for rows kept without a location

    def __len__(self) -> int:
        return len(self.lon)


# Output field name for each police.uk column, and the derived fields, in output order.
OUTPUT_FIELDS: tuple[tuple[str, str], ...] = (
    ("crime_id", "string"),
    ("month", "date"),
    ("reported_by", "string"),
    ("falls_within", "string"),
    ("crime_type", "string"),
    ("crime_group", "string"),
    ("location", "string"),
    ("lsoa_code", "string"),
    ("lsoa_name", "string"),
    ("last_outcome", "string"),
    ("context", "string"),
    ("source_file", "string"),
)
_FIELD_OF_COLUMN = {
    "Crime ID": "crime_id",
    "Reported by": "reported_by",
    "Falls within": "falls_within",
    "Location": "location",
    "LSOA code": "lsoa_code",
    "LSOA name": "lsoa_name",
    "Last outcome category": "last_outcome",
    "Context": "context",
}


def check_header(source_name: str, header: list[str]) -> dict[str, int]:
    """Return the index of each street column, or raise with what is wrong with the header."""
    names = [h.strip() for h in header]
    present = set(names)
    if any(m in present for m in OUTCOME_MARKERS) and "Crime type" not in present:
        raise PoliceUkInputError(
            f"{source_name}: this is a police.uk outcomes file (it has an 'Outcome type' column), not "
            "street-level crime data. Choose the '…-street.csv' files."
        )
    if (
        sum(m in present for m in STOP_SEARCH_MARKERS) >= 2
        or {"Type", "Date"} <= present
        and "Crime type" not in present
    ):
        raise PoliceUkInputError(
            f"{source_name}: this is a police.uk stop-and-search file, not street-level crime data. "
            "Choose the '…-street.csv' files."
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        raise PoliceUkInputError(
            f"{source_name}: not a police.uk street-level crime file: missing column(s) "
            f"{', '.join(repr(c) for c in missing)}. The header read was: {', '.join(names)[:300]}"
        )
    return {c: names.index(c) for c in STREET_COLUMNS if c in present}


class StreetReader:
    """Read street files one at a time, filtering and counting their rows into one report."""

    def __init__(self, options: ImportOptions | None = None) -> None:
        self.options = options or ImportOptions()
        self.report = ImportReport()
        self._seen_ids: set[str] = set()
        self._force_tokens = {_norm_force(f) for f in self.options.forces if f.strip()} if self.options.forces else None

    def read(self, source: StreetSource, is_cancelled: Callable[[], bool] = lambda: False) -> StreetBatch:
        """Read one file and return the rows kept; raise PoliceUkInputError when it is not street data."""
        frame, lines, malformed = self._load(source)
        report = self.report
        n = len(frame)
        report.files.append((source.name, n + malformed))
        report.read += n + malformed
        report.reasons[MALFORMED] += malformed
        if is_cancelled():
            return self._empty(source)

        def column(name: str) -> np.ndarray:
            if name not in frame.columns:
                return np.full(n, "", dtype=object)
            return frame[name].to_numpy(dtype=object)

        keep = np.ones(n, dtype=bool)
        # Repeated values (months, types, forces, snap points) are parsed once per distinct value.
        month_codes, months_u = _factorize(column("Month"))
        month_ok_u = np.array([bool(MONTH_RE.match(m)) for m in months_u], dtype=bool)
        lon_codes, lon_u = _factorize(column("Longitude"))
        lat_codes, lat_u = _factorize(column("Latitude"))
        lon = _to_float(lon_u)[lon_codes]
        lat = _to_float(lat_u)[lat_codes]
        blank = (lon_u == "")[lon_codes] | (lat_u == "")[lat_codes]
        bad_month = ~month_ok_u[month_codes]
        bad_coord = ~blank & (np.isnan(lon) | np.isnan(lat) | (np.abs(lon) > 180) | (np.abs(lat) > 90))
        for mask, what in (
            (bad_month, "month is not YYYY-MM"),
            (bad_coord & ~bad_month, "coordinates are not numbers in range"),
        ):
            for i in np.flatnonzero(mask)[:MAX_EXAMPLES]:
                report.add_example(f"{source.name}, line {lines[i]}: {MALFORMED}: {what}")
        self._drop(keep, bad_month | bad_coord, MALFORMED)

        opts = self.options
        if opts.start_month or opts.end_month:
            lo = opts.start_month or "0000-00"
            hi = opts.end_month or "9999-99"
            outside_u = np.array([not (lo <= m <= hi) for m in months_u], dtype=bool)
            self._drop(keep, outside_u[month_codes], OUTSIDE_MONTHS)

        type_codes, types_u = _factorize(column("Crime type"))
        groups_u = np.array([crime_types.group_of(t) for t in types_u], dtype=object)
        canon_u = np.array([crime_types.canonical_label(t) or t for t in types_u], dtype=object)
        if opts.crime_types is not None or opts.crime_groups is not None:
            selected_u = np.ones(len(types_u), dtype=bool)
            if opts.crime_types is not None:
                selected_u &= np.array([c in opts.crime_types for c in canon_u], dtype=bool)
            if opts.crime_groups is not None:
                selected_u &= np.array([g in opts.crime_groups for g in groups_u], dtype=bool)
            self._drop(keep, ~selected_u[type_codes], TYPE_NOT_SELECTED)

        if self._force_tokens is not None:
            slug = source.force_slug
            if slug is not None and _norm_force(slug) in self._force_tokens:
                force_ok = np.ones(n, dtype=bool)
            else:
                force_codes, forces_u = _factorize(column("Reported by"))
                ok_u = np.array([_norm_force(f) in self._force_tokens for f in forces_u], dtype=bool)
                force_ok = ok_u[force_codes]
            self._drop(keep, ~force_ok, FORCE_NOT_SELECTED)

        # (0, 0) is police.uk's other way of saying "no location".
        unlocated = blank | ((lon == 0) & (lat == 0))
        if not opts.keep_unlocated:
            self._drop(keep, unlocated, NO_LOCATION)

        ids = column("Crime ID")
        kept_idx = np.flatnonzero(keep)
        kept_ids = ids[kept_idx]
        seen = self._seen_ids
        has_id = kept_ids != ""
        dup = np.fromiter((cid in seen for cid in kept_ids), dtype=bool, count=len(kept_ids))
        dup |= pd.Series(kept_ids).duplicated().to_numpy() & has_id
        dup &= has_id
        seen.update(kept_ids[has_id & ~dup].tolist())
        dup_mask = np.zeros(n, dtype=bool)
        dup_mask[kept_idx[dup]] = True
        self._drop(keep, dup_mask, DUPLICATE_ID)

        idx = np.flatnonzero(keep)
        unmapped = groups_u == crime_types.UNMAPPED
        if unmapped.any():
            kept_types = np.bincount(type_codes[idx], minlength=len(types_u))
            for code in np.flatnonzero(unmapped & (kept_types > 0)):
                report.unmapped_labels[str(types_u[code])] += int(kept_types[code])

        report.written += len(idx)
        located = ~unlocated[idx]
        report.unlocated_written += int(np.count_nonzero(~located))
        report.months.update(str(months_u[c]) for c in np.unique(month_codes[idx]))

        out: dict[str, list] = {}
        for col, name in _FIELD_OF_COLUMN.items():
            values = column(col)[idx]
            values[values == ""] = None  # blank in the CSV (e.g. ASB has no crime id): NULL, not ''
            out[name] = values.tolist()
        month_dates = np.array([m + "-01" for m in months_u], dtype=object)
        out["month"] = month_dates[month_codes[idx]].tolist()
        out["crime_type"] = canon_u[type_codes[idx]].tolist()
        out["crime_group"] = groups_u[type_codes[idx]].tolist()
        out["source_file"] = [source.short_name] * len(idx)
        return StreetBatch(source, out, lon[idx], lat[idx], located)

    def _drop(self, keep: np.ndarray, mask: np.ndarray, reason: str) -> None:
        hit = keep & mask
        count = int(np.count_nonzero(hit))
        if count:
            self.report.reasons[reason] += count
            keep &= ~mask

    def _empty(self, source: StreetSource) -> StreetBatch:
        return StreetBatch(source, {name: [] for name, _ in OUTPUT_FIELDS}, np.zeros(0), np.zeros(0), np.zeros(0, bool))

    def _load(self, source: StreetSource) -> tuple[pd.DataFrame, _LineNumbers, int]:
        """Return the well-formed rows as strings, the line each starts on, and the malformed count."""
        raw = self._read_bytes(source)
        first_end = raw.find(b"\n")
        header_text = raw[: first_end if first_end >= 0 else len(raw)].decode("utf-8", "replace")
        header = next(csv.reader([header_text.rstrip("\r")]), [])
        header_index = check_header(source.name, header)
        width = len(header)
        names = [h.strip() for h in header]
        # Fast path: with no quote character in the file, a line's field count is its comma count + 1,
        # which numpy counts for all lines at once; pandas' C parser then reads the rows. Files with
        # quotes or with rows of the wrong width take the csv module, which names each bad line.
        if b'"' not in raw and _all_lines_have_fields(raw, width):
            try:
                frame = pd.read_csv(
                    io.BytesIO(raw),
                    header=None,
                    skiprows=1,
                    names=names,
                    dtype=str,
                    keep_default_na=False,
                    na_values=[],
                    skip_blank_lines=True,
                    encoding="utf-8",
                    engine="c",
                )
            except UnicodeDecodeError as err:
                raise PoliceUkInputError(f"{source.name}: not a UTF-8 CSV text file ({err.reason}).") from err
            frame = frame[[c for c in STREET_COLUMNS if c in header_index]]
            return frame, _LineNumbers(raw), 0
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PoliceUkInputError(
                f"{source.name}: not a UTF-8 CSV text file ({err.reason} at byte {err.start})."
            ) from err
        return self._load_slowly(source, text, names, width)

    def _load_slowly(
        self, source: StreetSource, text: str, names: list[str], width: int
    ) -> tuple[pd.DataFrame, np.ndarray, int]:
        reader = csv.reader(io.StringIO(text, newline=""))
        good: list[list[str]] = []
        lines: list[int] = []
        malformed = 0
        line = 1
        for row in reader:
            if row and line > 1:
                if len(row) == width:
                    good.append(row)
                    lines.append(line)
                else:
                    malformed += 1
                    self.report.add_example(
                        f"{source.name}, line {line}: {MALFORMED}: expected {width} fields, found {len(row)}"
                    )
            line = reader.line_num + 1
        columns = list(zip(*good)) if good else [()] * width
        frame = pd.DataFrame(
            {name: np.array(columns[i], dtype=object) for i, name in enumerate(names) if name in STREET_COLUMNS}
        )
        return frame, np.array(lines, dtype=np.int64), malformed

    def _read_bytes(self, source: StreetSource) -> bytes:
        try:
            with source.open_binary() as handle:
                raw = handle.read()
        except zipfile.BadZipFile as err:
            raise PoliceUkInputError(f"{source.name}: the zip archive is damaged ({err}).") from err
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            raise PoliceUkInputError(f"{source.name}: the file is empty.")
        if b"\x00" in raw[:4096]:
            raise PoliceUkInputError(f"{source.name}: not a CSV text file (it holds binary data).")
        return raw


class _LineNumbers:
    """Line numbers of data rows, worked out only when a message needs one."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._lines: np.ndarray | None = None

    def __getitem__(self, row: int) -> int:
        if self._lines is None:
            _, filled = _line_ends(np.frombuffer(self._raw, dtype=np.uint8))
            self._lines = (np.flatnonzero(filled) + 1)[1:]
        return int(self._lines[row])


def _line_ends(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the end offset of every line and whether the line holds anything but a line break."""
    ends = np.flatnonzero(raw == 10)
    if len(ends) == 0 or ends[-1] != len(raw) - 1:
        ends = np.append(ends, len(raw))
    starts = np.concatenate([[0], ends[:-1] + 1])
    length = ends - starts
    has_cr = (length > 0) & (raw[np.clip(ends - 1, 0, max(len(raw) - 1, 0))] == 13)
    return ends, (length - has_cr) > 0


def _all_lines_have_fields(raw_bytes: bytes, width: int) -> bool:
    """Return True when every non-blank line has exactly `width` comma-separated fields."""
    raw = np.frombuffer(raw_bytes, dtype=np.uint8)
    ends, filled = _line_ends(raw)
    commas = np.flatnonzero(raw == 44)
    before = np.searchsorted(commas, ends)  # commas before each line end
    per_line = np.diff(before, prepend=0)
    return bool(np.all(per_line[filled] == width - 1))


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return codes and distinct values (stripped of surrounding blanks) of a string array."""
    codes, uniques = pd.factorize(values)
    stripped = np.array([str(u).strip() for u in uniques], dtype=object)
    if len(values) and (codes < 0).any():  # missing values: treat as blank
        stripped = np.append(stripped, "")
        codes = np.where(codes < 0, len(stripped) - 1, codes)
    return codes, stripped


def _to_float(values: np.ndarray) -> np.ndarray:
    """Convert distinct strings to floats; blanks and non-numbers become NaN."""
    out = np.full(len(values), np.nan)
    for i, text in enumerate(values):
        with contextlib.suppress(ValueError):
            out[i] = float(text) if text else np.nan
    return out


def _norm_force(name: str) -> str:
    """Fold a force name or slug for matching: 'Metropolitan Police Service' ~ 'metropolitan'."""
    text = re.sub(r"[^a-z0-9]+", " ", name.casefold()).strip()
    return FORCE_ALIASES.get(text, text)


# police.uk force slugs, as in the file names, and the names in 'Reported by'.
FORCES: dict[str, str] = {
    "avon-and-somerset": "Avon and Somerset Constabulary",
    "bedfordshire": "Bedfordshire Police",
    "btp": "British Transport Police",
    "cambridgeshire": "Cambridgeshire Constabulary",
    "cheshire": "Cheshire Constabulary",
    "city-of-london": "City of London Police",
    "cleveland": "Cleveland Police",
    "cumbria": "Cumbria Constabulary",
    "derbyshire": "Derbyshire Constabulary",
    "devon-and-cornwall": "Devon & Cornwall Police",
    "dorset": "Dorset Police",
    "durham": "Durham Constabulary",
    "dyfed-powys": "Dyfed-Powys Police",
    "essex": "Essex Police",
    "gloucestershire": "Gloucestershire Constabulary",
    "greater-manchester": "Greater Manchester Police",
    "gwent": "Gwent Police",
    "hampshire": "Hampshire Constabulary",
    "hertfordshire": "Hertfordshire Constabulary",
    "humberside": "Humberside Police",
    "kent": "Kent Police",
    "lancashire": "Lancashire Constabulary",
    "leicestershire": "Leicestershire Police",
    "lincolnshire": "Lincolnshire Police",
    "merseyside": "Merseyside Police",
    "metropolitan": "Metropolitan Police Service",
    "norfolk": "Norfolk Constabulary",
    "north-wales": "North Wales Police",
    "north-yorkshire": "North Yorkshire Police",
    "northamptonshire": "Northamptonshire Police",
    "northern-ireland": "Police Service of Northern Ireland",
    "northumbria": "Northumbria Police",
    "nottinghamshire": "Nottinghamshire Police",
    "south-wales": "South Wales Police",
    "south-yorkshire": "South Yorkshire Police",
    "staffordshire": "Staffordshire Police",
    "suffolk": "Suffolk Constabulary",
    "surrey": "Surrey Police",
    "sussex": "Sussex Police",
    "thames-valley": "Thames Valley Police",
    "warwickshire": "Warwickshire Police",
    "west-mercia": "West Mercia Police",
    "west-midlands": "West Midlands Police",
    "west-yorkshire": "West Yorkshire Police",
    "wiltshire": "Wiltshire Police",
}
FORCE_ALIASES: dict[str, str] = {}
for _slug, _name in FORCES.items():
    FORCE_ALIASES[re.sub(r"[^a-z0-9]+", " ", _name.casefold()).strip()] = _slug.replace("-", " ")
