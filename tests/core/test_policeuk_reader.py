"""core.policeuk's reader on randomly damaged copies of a real police.uk month: it never crashes, and
every line is one row that is written or counted (read = written + reasons = the file's data lines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crime_mapping_plugin.core import policeuk
from tests.conftest import POLICE_UK

REAL = POLICE_UK / "2024-11" / "2024-11-city-of-london-street.csv"


def data_lines(data: bytes) -> int:
    """Count the non-blank lines after the header (a line ends at LF, with an optional CR before it)."""
    return sum(1 for line in data.split(b"\n")[1:] if (line[:-1] if line.endswith(b"\r") else line) != b"")


def corrupt(rng: np.random.Generator, data: bytes, header_end: int) -> bytes:
    """Apply one random damage somewhere after the header."""
    buf = bytearray(data)
    at = int(rng.integers(header_end, len(buf)))
    kind = rng.integers(8)
    if kind == 0:  # a stray quote
        buf[at:at] = b'"'
    elif kind == 1:  # a bare carriage return
        buf[at:at] = b"\r"
    elif kind == 2:  # a line cut short (the rest of the line gone)
        end = buf.find(b"\n", at)
        del buf[at : end if end >= 0 else len(buf)]
    elif kind == 3:  # two lines run together
        end = buf.find(b"\n", at)
        if end >= 0:
            del buf[end]
    elif kind == 4:  # an extra field
        buf[at:at] = b","
    elif kind == 5:  # bytes that are not UTF-8
        buf[at:at] = bytes(rng.choice([0xFF, 0xFE, 0xC3, 0x80, 0xE2, 0xA0], size=int(rng.integers(1, 4))).tolist())
    elif kind == 6:  # the file cut off mid-line
        del buf[at:]
    else:  # a quoted field with a comma in it, closed
        buf[at:at] = b'"a, b"'
    return bytes(buf)


def read_all(path: Path) -> tuple[policeuk.ImportReport, list[policeuk.StreetBatch]]:
    reader = policeuk.StreetReader()
    return reader.report, [reader.read(policeuk.StreetSource(str(path)))]


def test_random_damage_never_crashes_and_every_line_is_accounted_for(tmp_path):
    rng = np.random.default_rng(20261130)
    real = REAL.read_bytes()
    lines = real.split(b"\n")
    base = b"\n".join(lines[:151]) + b"\n"  # the header and 150 real rows keep 200 runs quick
    header_end = base.index(b"\n") + 1
    target = tmp_path / REAL.name
    for _ in range(200):
        data = base
        for _ in range(int(rng.integers(1, 6))):
            data = corrupt(rng, data, header_end)
        if rng.random() < 0.3:
            data = data.replace(b"\n", b"\r\n")
        target.write_bytes(data)
        report, batches = read_all(target)
        assert report.read == data_lines(data)
        assert report.balanced()
        assert report.written == sum(len(b) for b in batches)
        written_types = [t for b in batches for t in b.columns["crime_type"]]
        assert all(written_types)  # no half line written as a crime without a type
        assert report.read - report.reasons[policeuk.MALFORMED] <= data_lines(base)  # no damage adds a line


def test_a_damaged_header_is_refused_naming_the_file(tmp_path):
    target = tmp_path / REAL.name
    target.write_bytes(REAL.read_bytes().replace(b"Longitude", b'"Longitude', 1))
    with pytest.raises(policeuk.PoliceUkInputError, match=REAL.name):
        read_all(target)


def test_reading_stops_at_the_first_part_when_cancelled(tmp_path):
    real = REAL.read_bytes()
    header, body = real.split(b"\n", 1)
    repeats = 3 * policeuk.CHUNK_BYTES // len(body) + 1
    target = tmp_path / REAL.name
    target.write_bytes(header + b"\n" + body * repeats)
    reader = policeuk.StreetReader()
    parts: list = []
    for batch in reader.batches(policeuk.StreetSource(str(target)), lambda: len(parts) >= 1):
        parts.append(batch)
    assert len(parts) == 1
    assert 0 < reader.report.read < data_lines(body) * repeats / 2
