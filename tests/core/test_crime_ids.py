"""The compact crime-id memory of the import says 'repeated' exactly where a set of the id texts does."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from crime_mapping_plugin.core.crime_ids import SeenIds

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "police_uk"


def reference(batches: list[list[str]]) -> list[np.ndarray]:
    """Return, batch by batch, which ids a plain set of strings has seen before."""
    seen: set[str] = set()
    out = []
    for batch in batches:
        flags = []
        for cid in batch:
            flags.append(cid in seen)
            seen.add(cid)
        out.append(np.array(flags, dtype=bool))
    return out


def real_ids() -> list[str]:
    ids = []
    for path in sorted(SAMPLE.glob("*/*-street.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            ids += [row["Crime ID"] for row in csv.DictReader(handle) if row["Crime ID"]]
    return ids


def check(batches: list[list[str]]) -> None:
    seen = SeenIds()
    for got, expected in zip((seen.repeated(b) for b in batches), reference(batches)):
        np.testing.assert_array_equal(got, expected)
    assert len(seen) == len({cid for b in batches for cid in b})


def test_real_police_uk_ids_read_twice_are_repeats_the_second_time():
    ids = real_ids()
    assert len(ids) > 10000 and all(len(i) == 64 for i in ids)
    # The bundled months hold real repeats (a crime listed in two months): a set of the texts is the reference.
    batches = [ids[i : i + 997] for i in range(0, len(ids), 997)]
    check(batches + batches[::-1])


def test_many_batches_merge_runs_without_losing_an_id():
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(60000)]
    rng = np.random.default_rng(3)
    batches = []
    for size in rng.integers(1, 3000, 80):
        picks = rng.integers(0, len(ids), size)  # ids come back in later batches and within one batch
        batches.append([ids[i] for i in picks])
    check(batches)


def test_ids_that_are_not_64_lower_case_hex_digits_are_compared_as_text():
    base = hashlib.sha256(b"x").hexdigest()
    odd = [
        base.upper(),  # another id as text, the same digits in upper case
        base[:63],
        base + "0",
        base[:62] + "é1",
        base[:32] + " " + base[33:],
        "0" * 64,
        "",
        "12345",
        "ab" * 40,
    ]
    check([[base, *odd], odd[::-1], [base.upper(), base]])


def test_ids_sharing_their_first_8_bytes_are_told_apart_by_the_rest():
    head = "0123456789abcdef"
    ids = [head + f"{i:048x}" for i in range(50)]
    check([ids[:20], ids[10:40], ids[::-1], ids[45:] + ids[45:]])


def test_merged_runs_are_ordered_as_a_stable_sort_of_both_orders_them():
    """Placing each row by rank gives the run a stable sort of the two runs one after the other gives."""
    from crime_mapping_plugin.core.crime_ids import _merged

    rng = np.random.default_rng(5)
    for size_a, size_b in ((0, 3), (1, 1), (500, 37), (64, 64)):
        keys_a = np.sort(rng.integers(0, 40, size_a).astype(np.uint64))  # many equal keys across the runs
        keys_b = np.sort(rng.integers(0, 40, size_b).astype(np.uint64))
        full_a = np.column_stack([keys_a, np.arange(size_a, dtype=np.uint64), np.zeros((size_a, 2), np.uint64)])
        full_b = np.column_stack([keys_b, np.arange(size_b, dtype=np.uint64) + 1000, np.ones((size_b, 2), np.uint64)])
        keys, full = _merged((keys_a, full_a), (keys_b, full_b))
        order = np.argsort(np.concatenate([keys_a, keys_b]), kind="stable")
        assert keys.tolist() == np.concatenate([keys_a, keys_b])[order].tolist()
        assert full.tolist() == np.concatenate([full_a, full_b])[order].tolist()
