"""Remember the crime ids an import has written, in 32 bytes each, to tell a repeated crime id exactly.

An import of ten million police.uk rows sees ten million crime ids. Held as Python strings in a set they
take about 150 bytes each (1.5 GB); police.uk's ids are 64 lower-case hex digits (a SHA-256), which are
32 bytes of binary. Such ids are kept as those bytes in sorted numpy runs (a new run per batch, runs of
similar size merged, so each id is re-sorted a few times at most), searched by their first 8 bytes and
compared on all 32: exact, never a hash that two ids could share. Any other id (another length, upper-case
or other characters) is kept as its text in an ordinary set.
"""

from __future__ import annotations

import numpy as np

_HEX = np.full(256, 255, dtype=np.uint8)  # the value of each lower-case hex digit's byte, 255 for other bytes
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)


def _packed(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Return which ids are 64 lower-case hex digits, and those as rows of four uint64 (their 32 bytes)."""
    n = len(ids)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=n)
    if (lengths == 64).all():
        joined = "".join(ids)
        try:
            raw = bytes.fromhex(joined)  # police.uk's ids: all of them in one C call
        except ValueError:
            raw = b""
        # fromhex also takes upper case, and spaces (which give fewer bytes): those ids are not 64 hex digits.
        if len(raw) == 32 * n and not any(c in joined for c in "ABCDEF"):
            return np.ones(n, dtype=bool), np.frombuffer(raw, dtype=">u8").reshape(n, 4).astype(np.uint64)
    try:
        # 65 bytes: an id of 65 characters or more fills the last one, so it cannot pass for 64.
        text = np.array(ids, dtype="S65")
    except UnicodeEncodeError:  # an id that is not ASCII: not hex; encode the others
        ascii_ids = np.fromiter((i.isascii() for i in ids), dtype=bool, count=n)
        text = np.zeros(n, dtype="S65")
        text[ascii_ids] = np.array([ids[i] for i in np.flatnonzero(ascii_ids)], dtype="S65")
    raw = text.view(np.uint8).reshape(n, 65)
    nibbles = _HEX[raw[:, :64]]
    hexlike = (raw[:, 64] == 0) & (nibbles != 255).all(axis=1)
    nibbles = nibbles[hexlike]
    packed = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]  # 32 bytes per id
    return hexlike, np.ascontiguousarray(packed).view(">u8").astype(np.uint64)


class SeenIds:
    """The crime ids seen so far; `repeated` tells which of a batch were seen before and remembers the rest."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (first 8 bytes sorted, all 32 bytes) per run
        self._other: set[str] = set()

    def __len__(self) -> int:
        return sum(len(keys) for keys, _ in self._runs) + len(self._other)

    def repeated(self, ids: list[str]) -> np.ndarray:
        """Return, for each id of a batch, True when it was seen before (in an earlier batch or earlier in this one).

        Every id not repeated is remembered. Ids are compared as text: 'ab…' and 'AB…' are two ids.
        """
        n = len(ids)
        out = np.zeros(n, dtype=bool)
        if n == 0:
            return out
        hexlike, packed = _packed(ids)
        other = np.flatnonzero(~hexlike)
        if len(other):
            seen = self._other
            for i in other.tolist():
                cid = ids[i]
                if cid in seen:
                    out[i] = True
                else:
                    seen.add(cid)
        if len(packed):
            out[np.flatnonzero(hexlike)] = self._repeated_packed(packed)
        return out

    def _repeated_packed(self, packed: np.ndarray) -> np.ndarray:
        # In sorted order (stable: the first of equal ids stays first), which also makes the searches
        # below walk each run forwards.
        order = np.argsort(packed[:, 0], kind="stable")
        rows = packed[order]
        keys = np.ascontiguousarray(rows[:, 0])
        dup = _repeats_within(keys, rows)
        for run_keys, run_full in self._runs:
            dup |= _found(run_keys, run_full, keys, rows)
        if not dup.all():
            self._add(keys[~dup], rows[~dup])
        out = np.empty(len(rows), dtype=bool)
        out[order] = dup
        return out

    def _add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Add sorted new ids as a run; merge runs of similar size (each id is re-sorted about log2(runs) times)."""
        self._runs.append((keys, rows))
        while len(self._runs) > 1 and len(self._runs[-1][0]) >= len(self._runs[-2][0]):
            b = self._runs.pop()
            a = self._runs.pop()
            self._runs.append(_merged(a, b))
            del a, b  # the two runs are freed here: at most the merged run and them are held, never more


def _merged(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Return two sorted runs as one, a's before b's among equal keys (as a stable sort of a then b orders them).

    Each row goes straight to its place (its rank in its own run + the rows of the other run before it), so
    the merge needs the new run and one array of positions, not the copies a concatenation and a sort make.
    """
    keys_a, full_a = a
    keys_b, full_b = b
    n = len(keys_a) + len(keys_b)
    keys = np.empty(n, dtype=keys_a.dtype)
    full = np.empty((n, full_a.shape[1]), dtype=full_a.dtype)
    at = np.searchsorted(keys_b, keys_a, side="left")
    at += np.arange(len(keys_a))
    keys[at] = keys_a
    full[at] = full_a
    at = np.searchsorted(keys_a, keys_b, side="right")
    at += np.arange(len(keys_b))
    keys[at] = keys_b
    full[at] = full_b
    return keys, full


def _found(keys: np.ndarray, full: np.ndarray, wanted: np.ndarray, packed: np.ndarray) -> np.ndarray:
    """Return which rows of packed (first 8 bytes: wanted, sorted) are in a run (keys sorted, full its rows)."""
    found = np.zeros(len(packed), dtype=bool)
    at = np.searchsorted(keys, wanted, side="left")
    live = np.flatnonzero(at < len(keys))
    # Ids sharing their first 8 bytes with others are a handful at most: step through each key's range.
    while len(live):
        at_live = at[live]
        live = live[keys[at_live] == wanted[live]]
        if not len(live):
            break
        found[live] |= (full[at[live]] == packed[live]).all(axis=1)
        at[live] += 1
        live = live[at[live] < len(keys)]
    return found


def _repeats_within(keys: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Return which rows (sorted by keys, stably) repeat an earlier row of the same batch."""
    dup = np.zeros(len(rows), dtype=bool)
    same_key = np.flatnonzero(keys[1:] == keys[:-1]) + 1
    if len(same_key) == 0:
        return dup
    # Equal first 8 bytes: almost always the same id; compare all 32 bytes within each such group.
    starts = same_key[np.r_[True, same_key[1:] != same_key[:-1] + 1]] - 1
    for start in starts.tolist():
        end = start + 1
        while end < len(keys) and keys[end] == keys[start]:
            end += 1
        group = rows[start:end]
        for k in range(1, len(group)):
            dup[start + k] = bool((group[:k] == group[k]).all(axis=1).any())
    return dup
