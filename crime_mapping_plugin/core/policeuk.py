"""Read data.police.uk street-level crime files: find them, check them and filter their rows.

Inputs may be single CSV files, folders of monthly folders (`YYYY-MM/YYYY-MM-<force>-street.csv`) or
the zip archives data.police.uk serves. A row is one line of a file: a quote, a carriage return or a
cut line never carries over into the next line, so one bad line is one malformed row. Every data row
read ends up either in a batch handed to the caller or counted under exactly one reason in the
ImportReport, so that read = written + reasons and read = the number of non-blank data lines.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from crime_mapping_plugin.core import crime_points, crime_types
from crime_mapping_plugin.core.crime_ids import SeenIds
from crime_mapping_plugin.core.months import (
    NO_MONTH,
    MonthError,
    MonthRange,
    month_numbers,
    month_parameter,
    month_text,
)

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

# A browser saving a second copy names it '…-street (1).csv': still the same month and force.
STREET_FILE_RE = re.compile(r"(?:^|[/\\])(\d{4}-\d{2})-([a-z0-9-]+?)-street(?: ?\(\d+\))?\.csv$", re.IGNORECASE)
# A plain decimal number; float() also takes 'nan', 'inf' and '1_000', which no police.uk file holds.
NUMBER_RE = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")

# Reasons a row is left out, in the order they are tested: a row is counted under the first that applies.
MALFORMED = "malformed row"
OUTSIDE_MONTHS = crime_points.OUTSIDE_MONTHS
TYPE_NOT_SELECTED = crime_points.TYPE_NOT_SELECTED
FORCE_NOT_SELECTED = "force not selected"
NO_LOCATION = "no location (blank or 0,0 coordinates)"
OUTSIDE_UK = "coordinates outside the UK (or not degrees)"
DUPLICATE_ID = "duplicate crime id"
REASONS: tuple[str, ...] = (
    MALFORMED,
    OUTSIDE_MONTHS,
    TYPE_NOT_SELECTED,
    FORCE_NOT_SELECTED,
    NO_LOCATION,
    OUTSIDE_UK,
    DUPLICATE_ID,
)
REASON_KEYS: dict[str, str] = {
    MALFORMED: "MALFORMED",
    OUTSIDE_MONTHS: "OUTSIDE_MONTHS",
    TYPE_NOT_SELECTED: "TYPE_NOT_SELECTED",
    FORCE_NOT_SELECTED: "FORCE_NOT_SELECTED",
    NO_LOCATION: "NO_LOCATION",
    OUTSIDE_UK: "OUTSIDE_UK",
    DUPLICATE_ID: "DUPLICATE_ID",
}

# WGS84 box around every place police.uk maps (England, Wales, Northern Ireland, BTP in Scotland), with a
# margin: longitude -11 to 2.5, latitude 49 to 61.5 degrees.
UK_BOUNDS: tuple[float, float, float, float] = (-11.0, 2.5, 49.0, 61.5)

MAX_EXAMPLES = 20
# The csv module's field limit: no police.uk field comes near it, so a longer one is refused.
FIELD_LIMIT = 131_072
# Bytes read, and bytes of rows parsed into one batch, between two checks of the cancel button.
READ_BLOCK = 16 * 1024 * 1024
CHUNK_BYTES = 8 * 1024 * 1024
# Bytes read from a CSV of unknown name to recognise what it is by its header.
SNIFF_BYTES = 65536


class PoliceUkInputError(ValueError):
    """An input that is not usable police.uk street data; the message names the file and the problem."""


def check_month(text: str | None, what: str) -> str | None:
    """Return a month parameter as YYYY-MM (core.months' rule), None when empty; PoliceUkInputError naming `what`."""
    try:
        number = month_parameter(text, what)
    except MonthError as err:
        raise PoliceUkInputError(str(err)) from err
    return None if number is None else month_text(number)


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

    @property
    def month(self) -> str | None:
        """Return the month in the file name (YYYY-MM), if any."""
        m = STREET_FILE_RE.search(self.member or self.path)
        return m.group(1) if m else None

    def open_binary(self) -> io.RawIOBase:
        """Open the CSV's bytes, whether a file or a member of a zip archive."""
        if self.member is None:
            return open(self.path, "rb")  # noqa: SIM115 - the caller closes it
        archive = zipfile.ZipFile(self.path)
        return _ZipMemberStream(archive, archive.open(self.member))

    def identity(self) -> tuple:
        """Return what is the same for one file however it is reached (links, '..', a second name)."""
        st = os.stat(self.path)
        return (st.st_dev, st.st_ino, self.member)

    def size(self) -> int | None:
        """Return the CSV's size in bytes (unpacked, for a zip member)."""
        try:
            if self.member is None:
                return os.path.getsize(self.path)
            with zipfile.ZipFile(self.path) as archive:
                return archive.getinfo(self.member).file_size
        except (OSError, KeyError, zipfile.BadZipFile):
            return None


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


@dataclass
class Discovery:
    """The street files found in the inputs, and what was passed over, skipped or could not be read."""

    sources: list[StreetSource] = field(default_factory=list)
    passed_over: list[str] = field(default_factory=list)  # "name (what it is)": CSVs that are not street data
    repeats: list[str] = field(default_factory=list)  # files not read because the same data was read already
    warnings: list[str] = field(default_factory=list)  # files that could not be read, named with the problem


def discover(paths: Iterable[str]) -> Discovery:
    """Expand files, folders and zip archives into the street-level CSVs they hold, in month order.

    Each file is read once: the same file reached twice (a link, '..', a folder and a file in it) and the
    same month and force found twice (a zip archive beside the folder it was unpacked to) are skipped
    as repeats, and said so. CSVs whose name is not a street file's are recognised by their header.
    """
    found = Discovery()
    candidates: list[StreetSource] = []
    for path in paths:
        path = str(path).strip()
        if not path:
            continue
        if not os.path.exists(path):
            raise PoliceUkInputError(f"{path}: no such file or folder.")
        if os.path.isdir(path):
            in_folder = _sources_in_folder(path, found)
            if not in_folder:
                raise PoliceUkInputError(
                    f"{path}: the folder holds no police.uk street files (named YYYY-MM-<force>-street.csv, "
                    "directly, in monthly folders or in zip archives)."
                    + (f" Could not be read: {'; '.join(found.warnings[:3])}" if found.warnings else "")
                )
            candidates.extend(in_folder)
        elif path.lower().endswith(".zip") or zipfile.is_zipfile(path):
            problem = _zip_problem(path)
            if problem:
                raise PoliceUkInputError(f"{path}: {problem}")
            candidates.extend(_sources_in_zip(path, found))
        else:
            candidates.append(StreetSource(path))
    candidates.sort(key=_month_order_key)
    found.sources = _drop_repeats(candidates, found)
    return found


def _drop_repeats(candidates: list[StreetSource], found: Discovery) -> list[StreetSource]:
    kept: list[StreetSource] = []
    by_identity: dict[tuple, StreetSource] = {}
    by_month_force: dict[tuple[str, str], StreetSource] = {}
    for source in candidates:
        key = source.identity()
        first = by_identity.get(key)
        if first is not None:
            if first != source:
                found.repeats.append(f"{source.name}: the same file as {first.name}, read once")
            continue
        by_identity[key] = source
        month, slug = source.month, source.force_slug
        if month and slug:
            first = by_month_force.get((month, slug))
            if first is not None:
                sizes = (first.size(), source.size())
                note = f"{source.name}: not read, a repeat of {first.name} (same month {month} and force {slug})"
                if sizes[0] != sizes[1]:
                    found.warnings.append(
                        f"{note}, but the two differ ({sizes[0]} and {sizes[1]} bytes): check which download "
                        "is the newer and keep only that one."
                    )
                else:
                    found.repeats.append(note)
                continue
            by_month_force[(month, slug)] = source
        kept.append(source)
    return kept


def _month_order_key(source: StreetSource) -> tuple[str, str]:
    return (source.month or "", source.name)


def _zip_problem(path: str) -> str | None:
    """Return why a file named .zip is not a readable zip archive, or None when it is one."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(512)
    except OSError as err:
        return f"cannot be read ({err.strerror})."
    if not zipfile.is_zipfile(path):
        if head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml")):
            return "not a zip archive but a web page (an error page saved in its place): download it again."
        if head.startswith(b"PK"):
            return "the zip archive is cut short (an incomplete download): download it again."
        return "not a zip archive (it does not start as one): download it again."
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"the zip archive is damaged ({err}): download it again."
    return None


def _sources_in_folder(folder: str, found: Discovery) -> list[StreetSource]:
    sources: list[StreetSource] = []
    visited: set[tuple[int, int]] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in visited:  # a link back up the tree: walked already
            dirs[:] = []
            continue
        visited.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            lower = name.lower()
            if _is_street_name(name):
                sources.append(StreetSource(full))
            elif lower.endswith(".zip"):
                problem = _zip_problem(full)
                if problem:
                    found.warnings.append(f"{full}: {problem} Its rows are not in the output.")
                    continue
                sources.extend(StreetSource(full, m) for m in _street_members(full, found))
            elif lower.endswith(".csv"):
                try:
                    head = _sniff(StreetSource(full))
                except OSError as err:
                    found.warnings.append(f"{full}: cannot be read ({err.strerror or err}); not read.")
                    continue
                _sort_csv(StreetSource(full), head, sources, found)
            elif "-street" in lower:  # e.g. a street file saved from Excel as .xlsx
                found.warnings.append(f"{full}: not a CSV file, not read: save it as CSV (UTF-8) to import it.")
    return sources


def _sniff(source: StreetSource) -> bytes:
    with source.open_binary() as handle:
        return handle.read(SNIFF_BYTES)


def _sort_csv(source: StreetSource, head: bytes, sources: list[StreetSource], found: Discovery) -> None:
    """Put a CSV whose name is not a street file's where its header says it belongs."""
    kind = header_kind(head)
    if kind == "street":
        sources.append(source)
    elif kind in ("outcomes", "stop-and-search"):
        found.passed_over.append(f"{source.name} ({kind} file)")
    elif kind == "other":
        found.passed_over.append(f"{source.name} (not a police.uk street file: its header has no Crime type)")
    else:
        found.warnings.append(f"{source.name}: {kind}; not read.")


def header_kind(head: bytes) -> str:
    """Return what the first bytes of a CSV say it is: 'street', 'outcomes', 'stop-and-search', 'other' or a problem."""
    problem = text_problem(head)
    if problem:
        return problem
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    line = head.split(b"\n", 1)[0].rstrip(b"\r").split(b"\r", 1)[0]
    try:
        names = {n.strip() for n in next(csv.reader([line.decode("utf-8")]), [])}
    except (UnicodeDecodeError, csv.Error):
        return "not a UTF-8 CSV text file"
    if names & set(OUTCOME_MARKERS) and "Crime type" not in names:
        return "outcomes"
    if sum(m in names for m in STOP_SEARCH_MARKERS) >= 2 or {"Type", "Date"} <= names and "Crime type" not in names:
        return "stop-and-search"
    if set(REQUIRED_COLUMNS) <= names:
        return "street"
    return "other"


def text_problem(head: bytes) -> str | None:
    """Return why bytes are not UTF-8 CSV text (UTF-16, binary), or None."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 8 and head[1:8:2] == b"\x00\x00\x00\x00"):
        return (
            "UTF-16 text (as Excel's 'Unicode Text' or some editors save it), not UTF-8: open it and save it "
            "as 'CSV UTF-8'"
        )
    if b"\x00" in head[:4096]:
        return "not a CSV text file (it holds binary data)"
    return None


def _street_members(path: str, found: Discovery) -> list[str]:
    members: list[str] = []
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    for name in sorted(names):
        if _is_street_name(name):
            members.append(name)
        elif name.lower().endswith(".csv"):
            source = StreetSource(path, name)
            try:
                head = _sniff(source)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as err:
                found.warnings.append(f"{source.name}: the zip archive is damaged ({err}); not read.")
                continue
            street: list[StreetSource] = []
            _sort_csv(source, head, street, found)
            members.extend(s.member for s in street)
    return members


def _sources_in_zip(path: str, found: Discovery) -> list[StreetSource]:
    members = _street_members(path, found)
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
            raise PoliceUkInputError(
                f"The start month {self.start_month} is after the end month {self.end_month}: no month is "
                "in that range. Swap them."
            )

    @property
    def months(self) -> MonthRange:
        """The months chosen, as every algorithm reads a month range."""
        return MonthRange(
            month_parameter(self.start_month, "start month"), month_parameter(self.end_month, "end month")
        )


@dataclass
class ImportReport:
    """What was read, what was written and why every other row was left out."""

    read: int = 0
    written: int = 0
    reasons: Counter = field(default_factory=Counter)
    unmapped_labels: Counter = field(default_factory=Counter)  # rows read (well-formed) per unmapped label
    unmapped_written: Counter = field(default_factory=Counter)
    files: list[tuple[str, int]] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    repeats: list[str] = field(default_factory=list)  # files not read: the same data was read already
    months: set = field(default_factory=set)  # months written
    months_read: set = field(default_factory=set)  # months of the well-formed rows
    forces_read: Counter = field(default_factory=Counter)  # 'Reported by' of the well-formed rows
    force_tokens_matched: set = field(default_factory=set)
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
                f" read, {self.unmapped_written.get(label, 0)} written"
            )
        lines += [f"Skipped as a repeat: {r}" for r in self.repeats]
        lines += [f"Warning: {w}" for w in self.warnings]
        return lines

    def finish(self, options: ImportOptions) -> None:
        """Add the warnings about the whole run: filters that matched nothing, nothing written."""
        for force in options.forces or ():
            if force.strip() and _norm_force(force) not in self.force_tokens_matched:
                seen = ", ".join(name for name, _ in self.forces_read.most_common(8)) or "none"
                self.warnings.append(
                    f"The force '{force.strip()}' matches no force in the files read (forces read: {seen}); "
                    "write a force name or a police.uk slug such as 'metropolitan' or 'city-of-london'."
                )
        wanted = f"{options.start_month or 'any'} to {options.end_month or 'any'}"
        filtered = bool(options.start_month or options.end_month) and bool(self.months_read)
        if filtered and not options.months.mask(month_numbers(sorted(self.months_read))).any():
            self.warnings.append(
                f"No row is in the chosen months ({wanted}); the files read hold "
                f"{min(self.months_read)} to {max(self.months_read)}."
            )
        hidden = {k: v - self.unmapped_written.get(k, 0) for k, v in self.unmapped_labels.items()}
        hidden = {k: v for k, v in hidden.items() if v}
        if hidden and (options.crime_types is not None or options.crime_groups is not None):
            self.warnings.append(
                "Crime types not in the harmonised table were left out by the crime type or group filter: "
                + ", ".join(f"'{k}' ({v} rows)" for k, v in sorted(hidden.items()))
                + ". Check whether police.uk has a new category you want."
            )
        if self.read and not self.written:
            top = max(REASONS, key=lambda r: self.reasons.get(r, 0))
            self.warnings.append(f"Nothing was written: of {self.read} rows read, {self.reasons[top]} were {top}.")


@dataclass
class StreetBatch:
    """The rows of one part of a file that are kept, column by column."""

    source: StreetSource
    columns: dict[str, list]
    lon: np.ndarray
    lat: np.ndarray
    located: np.ndarray  # bool: False for rows kept without a location
    done: float = 1.0  # share of the file's bytes read so far

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
    for column in STREET_COLUMNS:
        where = [i + 1 for i, n in enumerate(names) if n == column]
        if len(where) > 1:
            raise PoliceUkInputError(
                f"{source_name}: the header has {len(where)} columns named '{column}' (columns "
                f"{', '.join(map(str, where))}), so which one to read is unknown. Remove or rename the extra one."
            )
    return {c: names.index(c) for c in STREET_COLUMNS if c in present}


def split_line(text: str) -> list[str] | None:
    """Return the fields of one CSV line, or None when a quoted field is not closed on the line.

    Quotes follow the csv module (a doubled quote inside a quoted field is one quote; a quote inside an
    unquoted field is kept as it is) but never reach past the end of the line.
    """
    if '"' not in text:
        return text.split(",")
    cr = "\r" in text
    if cr:  # a carriage return inside a line is text, not a line end
        text = text.replace("\r", "\ue000")
    fields = next(csv.reader([text + "\n"]), [""])
    if fields and fields[-1].endswith("\n"):
        return None
    if cr:
        fields = [f.replace("\ue000", "\r") for f in fields]
    return fields


class _Chunk:
    """The data lines of one part of a file: the columns of the well-formed ones, the line of each."""

    def __init__(self, columns: dict[str, np.ndarray], lines: np.ndarray, n: int, malformed: int = 0) -> None:
        self.columns = columns
        self.lines = lines
        self.n = n
        self.malformed = malformed


class StreetReader:
    """Read street files one at a time, filtering and counting their rows into one report."""

    def __init__(self, options: ImportOptions | None = None) -> None:
        self.options = options or ImportOptions()
        self.report = ImportReport()
        self._seen_ids = SeenIds()  # 32 bytes per police.uk id, not a Python string each
        self._force_tokens = {_norm_force(f) for f in self.options.forces if f.strip()} if self.options.forces else None

    def forget_ids(self) -> None:
        """Drop the crime ids seen so far (about 40 bytes each): call it when every file has been read.

        The report stays; a file read after this is no longer checked against the earlier ones.
        """
        self._seen_ids = SeenIds()

    def read(self, source: StreetSource, is_cancelled: Callable[[], bool] = lambda: False) -> StreetBatch:
        """Read one file and return the rows kept; raise PoliceUkInputError when it is not street data."""
        parts = list(self.batches(source, is_cancelled))
        if not parts:
            return self._empty(source)
        columns = {name: [v for p in parts for v in p.columns[name]] for name, _ in OUTPUT_FIELDS}
        return StreetBatch(
            source,
            columns,
            np.concatenate([p.lon for p in parts]),
            np.concatenate([p.lat for p in parts]),
            np.concatenate([p.located for p in parts]),
        )

    def batches(self, source: StreetSource, is_cancelled: Callable[[], bool] = lambda: False) -> Iterator[StreetBatch]:
        """Read one file part by part, yielding the rows kept; stop early when is_cancelled() says so."""
        raw = self._read_bytes(source, is_cancelled)
        if raw is None:
            return
        header, data_start = self._header(source, raw)
        header_index = check_header(source.name, header)
        stats = _FileStats(len(header), [h.strip() for h in header])
        rows = 0
        first_line = 2
        pos = data_start
        total = max(1, len(raw) - data_start)
        while pos < len(raw):
            if is_cancelled():
                return
            end = raw.find(b"\n", min(pos + CHUNK_BYTES, len(raw)) - 1)
            end = len(raw) if end < 0 else end + 1
            part = raw[pos:end]
            chunk = self._parse(source, part, first_line, header_index, len(header), stats)
            first_line += part.count(b"\n")
            pos = end
            rows += chunk.n + chunk.malformed
            self.report.read += chunk.n + chunk.malformed
            self.report.reasons[MALFORMED] += chunk.malformed
            batch = self._filter(source, chunk, stats)
            batch.done = (pos - data_start) / total
            yield batch
        self.report.files.append((source.name, rows))
        self.report.warnings.extend(stats.warnings(source.name, rows))

    def _header(self, source: StreetSource, raw: bytes) -> tuple[list[str], int]:
        end = raw.find(b"\n")
        end = len(raw) if end < 0 else end
        line = raw[:end].rstrip(b"\r")
        if b"\r" in line:
            raise PoliceUkInputError(
                f"{source.name}: its lines end with a carriage return only (CR, as old Mac programs save), "
                "not LF or CR LF. Save it again with Windows (CR LF) or Unix (LF) line ends."
            )
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PoliceUkInputError(
                f"{source.name}: the header is not UTF-8 text ({err.reason} at byte {err.start}): save the file "
                "as 'CSV UTF-8'."
            ) from err
        header = split_line(text)
        if header is None:
            raise PoliceUkInputError(f'{source.name}: the header line has a quote (") that is not closed.')
        return header, min(end + 1, len(raw))

    def _parse(
        self,
        source: StreetSource,
        part: bytes,
        first_line: int,
        header_index: dict[str, int],
        width: int,
        stats: _FileStats,
    ) -> _Chunk:
        """Return the well-formed rows of a run of whole lines; count and describe the malformed ones."""
        # Fast path: with no quote, no carriage return but in CR LF, and a line's field count equal to its
        # comma count + 1 (which numpy counts for all lines at once), pandas' C parser reads the rows
        # exactly as lines. Anything else goes line by line, so that one bad line is one malformed row.
        if b'"' not in part and b"\x00" not in part and part.count(b"\r") == part.count(b"\r\n"):
            filled = _lines_with_fields(part, width)
            if filled == 0:
                return _Chunk({c: np.zeros(0, dtype=object) for c in header_index}, np.zeros(0, np.int64), 0)
            if filled is not None:
                with contextlib.suppress(UnicodeDecodeError):
                    frame = pd.read_csv(
                        io.BytesIO(part),
                        header=None,
                        names=[f"c{i}" for i in range(width)],
                        usecols=list(header_index.values()),
                        dtype=str,
                        keep_default_na=False,
                        na_values=[],
                        skip_blank_lines=True,
                        encoding="utf-8",
                        engine="c",
                    )
                    if len(frame) == filled:
                        columns = {c: frame[f"c{i}"].to_numpy(dtype=object) for c, i in header_index.items()}
                        return _Chunk(columns, _LineNumbers(part, first_line), len(frame))
        return self._parse_slowly(source, part, first_line, header_index, width, stats)

    def _parse_slowly(
        self,
        source: StreetSource,
        part: bytes,
        first_line: int,
        header_index: dict[str, int],
        width: int,
        stats: _FileStats,
    ) -> _Chunk:
        good: list[list[str]] = []
        lines: list[int] = []
        malformed = 0
        for offset, raw_line in enumerate(part.split(b"\n")):
            line_no = first_line + offset
            if raw_line.endswith(b"\r"):
                raw_line = raw_line[:-1]
            if not raw_line:
                continue
            problem = row = None
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError as err:
                text = None
                problem = f"not UTF-8 text ({err.reason} at character {err.start + 1})"
                stats.kinds["utf8"] += 1
            if text is not None:
                try:
                    row = split_line(text)
                except csv.Error as err:
                    if "field limit" in str(err):
                        raise PoliceUkInputError(_long_field_message(source.name, line_no, text, stats.names)) from err
                    row, problem = None, f"not a CSV line ({err})"
                    stats.kinds["csv"] += 1
                if row is None and problem is None:
                    problem = 'a quoted field (opened by ") is not closed on its line'
                    stats.kinds["quote"] += 1
                elif row is not None and len(row) != width:
                    problem = f"expected {width} fields, found {len(row)}"
                    stats.field_counts[len(row)] += 1
                    if len(row) == width + 1 and row[-1] == "":
                        stats.kinds["trailing comma"] += 1
                    else:
                        stats.kinds["fields"] += 1
                    row = None
            if row is None:
                malformed += 1
                self.report.add_example(f"{source.name}, line {line_no}: {MALFORMED}: {problem}")
                continue
            good.append(row)
            lines.append(line_no)
        columns: dict[str, np.ndarray] = {}
        for column, i in header_index.items():
            columns[column] = np.array([r[i] for r in good], dtype=object)
        return _Chunk(columns, np.array(lines, dtype=np.int64), len(good), malformed)

    def _filter(self, source: StreetSource, chunk: _Chunk, stats: _FileStats) -> StreetBatch:
        """Count the rows of a chunk under their reasons and return those kept."""
        report = self.report
        n = chunk.n
        lines = chunk.lines

        def column(name: str) -> np.ndarray:
            if name not in chunk.columns:
                return np.full(n, "", dtype=object)
            return chunk.columns[name]

        keep = np.ones(n, dtype=bool)
        # Repeated values (months, types, forces, snap points) are parsed once per distinct value.
        month_codes, months_u = _factorize(column("Month"))
        # core.months' one rule; every month kept is then written in one form, YYYY-MM.
        month_numbers_u = month_numbers(months_u)
        month_ok_u = month_numbers_u != NO_MONTH
        months_u = np.array(
            [month_text(n) if ok else m for m, n, ok in zip(months_u, month_numbers_u, month_ok_u)], dtype=object
        )
        lon_codes, lon_u = _factorize(column("Longitude"))
        lat_codes, lat_u = _factorize(column("Latitude"))
        lon = _to_float(lon_u)[lon_codes]
        lat = _to_float(lat_u)[lat_codes]
        lon_blank = (lon_u == "")[lon_codes]
        lat_blank = (lat_u == "")[lat_codes]
        # A coordinate that is there but is not a number is malformed, whether or not the other is blank.
        bad_coord = (~lon_blank & np.isnan(lon)) | (~lat_blank & np.isnan(lat))
        bad_month = ~month_ok_u[month_codes]
        for mask, what, values in (
            (bad_month, "month is not a month (YYYY-MM)", column("Month")),
            (bad_coord & ~bad_month, "coordinates are not numbers", None),
        ):
            for i in np.flatnonzero(mask)[:MAX_EXAMPLES]:
                if values is not None:
                    shown = f"'{values[i]}'"
                else:
                    shown = f"'{column('Longitude')[i]}', '{column('Latitude')[i]}'"
                report.add_example(f"{source.name}, line {lines[i]}: {MALFORMED}: {what} ({shown})")
        stats.kinds["month"] += int(np.count_nonzero(bad_month))
        stats.kinds["coordinates"] += int(np.count_nonzero(bad_coord & ~bad_month))
        if bad_month.any():
            stats.bad_months.update(str(months_u[c]) for c in np.unique(month_codes[bad_month])[:5])
        well_formed = ~(bad_month | bad_coord)
        self._drop(keep, ~well_formed, MALFORMED)

        type_codes, types_u = _factorize(column("Crime type"))
        groups_u = np.array([crime_types.group_of(t) for t in types_u], dtype=object)
        canon_u = np.array([crime_types.canonical_label(t) or t for t in types_u], dtype=object)
        unmapped = groups_u == crime_types.UNMAPPED
        if unmapped.any():
            read_types = np.bincount(type_codes[well_formed], minlength=len(types_u))
            for code in np.flatnonzero(unmapped & (read_types > 0)):
                report.unmapped_labels[str(types_u[code])] += int(read_types[code])
        report.months_read.update(str(months_u[c]) for c in np.unique(month_codes[well_formed]))

        opts = self.options
        if opts.start_month or opts.end_month:
            outside_u = ~opts.months.mask(month_numbers_u)
            self._drop(keep, outside_u[month_codes], OUTSIDE_MONTHS)

        if opts.crime_types is not None or opts.crime_groups is not None:
            selected_u = np.ones(len(types_u), dtype=bool)
            if opts.crime_types is not None:
                selected_u &= np.array([c in opts.crime_types for c in canon_u], dtype=bool)
            if opts.crime_groups is not None:
                selected_u &= np.array([g in opts.crime_groups for g in groups_u], dtype=bool)
            self._drop(keep, ~selected_u[type_codes], TYPE_NOT_SELECTED)

        if self._force_tokens is not None:
            force_codes, forces_u = _factorize(column("Reported by"))
            counts = np.bincount(force_codes[well_formed], minlength=len(forces_u))
            for code in np.flatnonzero(counts):
                report.forces_read[str(forces_u[code])] += int(counts[code])
            ok_u = np.array([_norm_force(f) in self._force_tokens for f in forces_u], dtype=bool)
            report.force_tokens_matched.update(
                _norm_force(str(forces_u[c])) for c in np.flatnonzero(ok_u & (counts > 0))
            )
            slug = source.force_slug
            if slug is not None and _norm_force(slug) in self._force_tokens:
                force_ok = np.ones(n, dtype=bool)
                if well_formed.any():
                    report.force_tokens_matched.add(_norm_force(slug))
            else:
                force_ok = ok_u[force_codes]
            self._drop(keep, ~force_ok, FORCE_NOT_SELECTED)

        # (0, 0) is police.uk's other way of saying "no location".
        unlocated = lon_blank | lat_blank | ((lon == 0) & (lat == 0))
        if not opts.keep_unlocated:
            self._drop(keep, unlocated, NO_LOCATION)
        west, east, south, north = UK_BOUNDS
        outside = ~unlocated & ~((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
        if outside.any():
            stats.note_outside(lon[outside & keep], lat[outside & keep])
            for i in np.flatnonzero(outside & keep)[:3]:
                report.add_example(f"{source.name}, line {lines[i]}: {OUTSIDE_UK} ({lon[i]}, {lat[i]})")
        self._drop(keep, outside, OUTSIDE_UK)

        ids = np.array([i.strip() for i in column("Crime ID")], dtype=object)
        kept_idx = np.flatnonzero(keep)
        kept_ids = ids[kept_idx]
        with_id = np.flatnonzero(kept_ids != "")  # blank (or only spaces): anti-social behaviour, never a duplicate
        dup = np.zeros(len(kept_ids), dtype=bool)
        dup[with_id] = self._seen_ids.repeated(kept_ids[with_id].tolist())
        dup_mask = np.zeros(n, dtype=bool)
        dup_mask[kept_idx[dup]] = True
        self._drop(keep, dup_mask, DUPLICATE_ID)

        idx = np.flatnonzero(keep)
        if unmapped.any():
            kept_types = np.bincount(type_codes[idx], minlength=len(types_u))
            for code in np.flatnonzero(unmapped & (kept_types > 0)):
                report.unmapped_written[str(types_u[code])] += int(kept_types[code])

        report.written += len(idx)
        located = ~unlocated[idx]
        report.unlocated_written += int(np.count_nonzero(~located))
        report.months.update(str(months_u[c]) for c in np.unique(month_codes[idx]))

        out: dict[str, list] = {}
        for col, name in _FIELD_OF_COLUMN.items():
            values = ids[idx] if col == "Crime ID" else column(col)[idx]
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

    def _read_bytes(self, source: StreetSource, is_cancelled: Callable[[], bool]) -> bytes | None:
        blocks: list[bytes] = []
        try:
            with source.open_binary() as handle:
                while True:
                    block = handle.read(READ_BLOCK)
                    if not block:
                        break
                    blocks.append(block)
                    if is_cancelled():
                        return None
        except (zipfile.BadZipFile, EOFError, zlib.error) as err:
            raise PoliceUkInputError(f"{source.name}: the zip archive is damaged ({err}): download it again.") from err
        except OSError as err:
            raise PoliceUkInputError(f"{source.name}: cannot be read ({err.strerror or err}).") from err
        raw = b"".join(blocks)
        del blocks
        problem = text_problem(raw[:4096])
        if problem:
            raise PoliceUkInputError(f"{source.name}: {problem}.")
        if raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            raise PoliceUkInputError(f"{source.name}: the file is empty.")
        return raw


class _FileStats:
    """What went wrong in one file, to tell the user what the file looks like when every row is bad."""

    def __init__(self, width: int, names: list[str]) -> None:
        self.width = width
        self.names = names
        self.kinds: Counter = Counter()
        self.field_counts: Counter = Counter()
        self.bad_months: Counter = Counter()
        self.outside = 0
        self.swapped = 0
        self.metres = 0

    def note_outside(self, lon: np.ndarray, lat: np.ndarray) -> None:
        west, east, south, north = UK_BOUNDS
        self.outside += len(lon)
        self.swapped += int(np.count_nonzero((lat >= west) & (lat <= east) & (lon >= south) & (lon <= north)))
        self.metres += int(np.count_nonzero((np.abs(lon) > 1000) | (np.abs(lat) > 1000)))

    def warnings(self, name: str, rows: int) -> list[str]:
        out: list[str] = []
        malformed = sum(self.kinds.values())
        if rows and malformed == rows:
            kind = self.kinds.most_common(1)[0][0]
            out.append(f"{name}: every row is malformed: {self._diagnosis(kind)}")
        if self.kinds["utf8"] and malformed < rows:
            out.append(
                f"{name}: {self.kinds['utf8']} rows are not UTF-8 text (the file was saved in another encoding, "
                "e.g. by Excel as 'CSV' rather than 'CSV UTF-8'); they are counted as malformed. Save it as UTF-8."
            )
        if self.outside:
            if self.metres:
                why = (
                    "they look like metres (eastings and northings), not the WGS84 degrees of police.uk files: "
                    "the file was converted by another program; use the file as downloaded"
                )
            elif self.swapped:
                why = "Longitude and Latitude look swapped: put the longitude (about -6 to 2) in Longitude"
            else:
                why = "check that the file is police.uk data"
            out.append(f"{name}: {self.outside} rows have coordinates outside the UK, left out: {why}.")
        return out

    def _diagnosis(self, kind: str) -> str:
        if kind == "trailing comma":
            return (
                f"each line has one field more than the header's {self.width}, an empty one at the end: a "
                "comma closes every line. Remove the trailing commas (or use the file as downloaded)."
            )
        if kind == "fields":
            found = ", ".join(str(k) for k, _ in self.field_counts.most_common(3))
            extra = " The header ends with a comma." if self.names and self.names[-1] == "" else ""
            return f"the lines have {found} fields where the header has {self.width}.{extra}"
        if kind == "month":
            shown = ", ".join(f"'{m}'" for m, _ in self.bad_months.most_common(3))
            return (
                f"the months are written {shown}, not YYYY-MM (e.g. 2018-07). Excel rewrites months so when "
                "it opens and saves a police.uk file: use the file as downloaded, or format the Month column "
                "as text YYYY-MM before saving as CSV."
            )
        if kind == "utf8":
            return "the text is not UTF-8 (it was saved in another encoding): save it as 'CSV UTF-8'."
        if kind == "quote":
            return 'every line opens a quoted field (") that it does not close.'
        if kind == "coordinates":
            return "the Longitude and Latitude are not numbers (decimal degrees, e.g. -0.1062 and 51.5183)."
        return "the lines are not CSV as police.uk writes it."


def _long_field_message(name: str, line_no: int, text: str, names: list[str]) -> str:
    old = csv.field_size_limit()
    csv.field_size_limit(max(len(text) + 1, old))
    try:
        fields = next(csv.reader([text.replace("\r", " ")]), [])
    finally:
        csv.field_size_limit(old)
    longest = max(range(len(fields)), key=lambda i: len(fields[i])) if fields else 0
    column = names[longest] if longest < len(names) else f"field {longest + 1}"
    return (
        f"{name}, line {line_no}, field '{column}': a quoted field of {len(fields[longest]) if fields else len(text)} "
        f"characters, more than the {FIELD_LIMIT} any CSV reader takes; no police.uk field is so long. "
        "The file is damaged: download it again."
    )


class _LineNumbers:
    """Line numbers of the data rows of a run of lines, worked out only when a message needs one."""

    def __init__(self, raw: bytes, first_line: int) -> None:
        self._raw = raw
        self._first = first_line
        self._lines: np.ndarray | None = None

    def __getitem__(self, row: int) -> int:
        if self._lines is None:
            _, filled = _line_ends(np.frombuffer(self._raw, dtype=np.uint8))
            self._lines = np.flatnonzero(filled) + self._first
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


def _lines_with_fields(raw_bytes: bytes, width: int) -> int | None:
    """Return the number of non-blank lines when each has exactly `width` comma-separated fields, else None."""
    raw = np.frombuffer(raw_bytes, dtype=np.uint8)
    ends, filled = _line_ends(raw)
    commas = np.flatnonzero(raw == 44)
    before = np.searchsorted(commas, ends)  # commas before each line end
    per_line = np.diff(before, prepend=0)
    if not np.all(per_line[filled] == width - 1):
        return None
    return int(np.count_nonzero(filled))


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return codes and distinct values (stripped of surrounding blanks) of a string array."""
    codes, uniques = pd.factorize(values)
    stripped = np.array([str(u).strip() for u in uniques], dtype=object)
    if len(values) and (codes < 0).any():  # missing values: treat as blank
        stripped = np.append(stripped, "")
        codes = np.where(codes < 0, len(stripped) - 1, codes)
    if len(values) == 0:
        codes = np.zeros(0, dtype=np.int64)
    return codes, stripped


def _to_float(values: np.ndarray) -> np.ndarray:
    """Convert distinct strings to floats; blanks, non-numbers, infinities and NaN become NaN.

    Only plain decimal numbers count (NUMBER_RE, tested by pandas over the array); numpy then converts them
    with Python's own float(), correctly rounded, in one call rather than one Python step per value.
    """
    if len(values) == 0:
        return np.zeros(0)
    texts = pd.Series(values, dtype=object)
    plain = texts.str.match(NUMBER_RE).to_numpy(dtype=bool, na_value=False)
    out = np.full(len(values), np.nan)
    if plain.any():
        with np.errstate(over="ignore"):
            out[plain] = texts[plain].to_numpy(dtype=object).astype(float)
    out[~np.isfinite(out)] = np.nan
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
