"""Benchmark: the Poisson E-test on every real ward pair of the MPS table, ours against scipy.

Pairs: for each ward and MPS major category of the bundled MPS ward table, the crimes of 2025-04..2026-03
against those of 2024-04..2025-03 (12 months each), about 8,800 real pairs. Ours: core.etest.e_test on the
whole vector at once. Reference: scipy.stats.poisson_means_test (scipy ≥ 1.10), one call per pair. Prints
both times (CPU time of this process), the ratio and the largest difference of the p-values (scipy leaves
out 1e-10 of each lower tail, so differences up to about 1e-9 are expected; pairs with equal counts differ
by scipy's NaN statistic at (0, 0), and pairs with tied statistics by scipy's floating-point comparison:
both are shown apart, the latter against an exact integer grid). Records benchmarks/results/etest.json.
Usage: python benchmarks/bench_etest.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import results  # noqa: E402

from crime_mapping_plugin.core import etest  # noqa: E402

MPS = ROOT / "sample_data" / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"


def ward_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Return the counts of the later and the earlier year for every ward and major category."""
    table = pd.read_csv(MPS)
    months = [c for c in table.columns if c.isdigit()]
    by_ward = table.groupby(["WardCode", "MajorText"])[months].sum()
    earlier = by_ward[[m for m in months if "202404" <= m <= "202503"]].sum(axis=1)
    later = by_ward[[m for m in months if "202504" <= m <= "202603"]].sum(axis=1)
    return later.to_numpy(float), earlier.to_numpy(float)


def main() -> None:
    """Time both on the same pairs and print the comparison."""
    later, earlier = ward_pairs()
    start = time.process_time()
    ours = etest.e_test(later, earlier, 12.0, 12.0)
    ours_time = time.process_time() - start
    start = time.process_time()
    reference = np.array([stats.poisson_means_test(int(a), 12.0, int(b), 12.0).pvalue for a, b in zip(later, earlier)])
    scipy_time = time.process_time() - start
    print(f"pairs: {len(later)}; counts per year: median {np.median(earlier):.0f}, largest {earlier.max():.0f}")
    print(f"scipy poisson_means_test, one call per pair: {scipy_time:.2f} s")
    print(f"ours, core.etest.e_test on the vector:       {ours_time:.2f} s")
    print(f"ratio: {scipy_time / ours_time:.1f}x faster")
    # With equal counts T(k1, k2) = 0, so every (x1, x2) counts and p = 1; scipy's T(0, 0) is NaN and leaves
    # that one cell out (p = 1 − P(0, 0)), so those pairs are compared apart.
    equal = later == earlier
    gap = np.abs(ours - reference)
    print(f"equal counts: {equal.sum()} pairs, ours p = 1, scipy 1 - P(0, 0) (largest gap {gap[equal].max():.2e})")
    # scipy decides |T| >= |T0| in floating point: points tied with the observed one in exact arithmetic
    # (such as (1, 0) for (3, 1) over 12 months each) can drop out. Those pairs are summed again here on an
    # exact integer grid.
    apart = np.flatnonzero(~equal & (gap > 1e-9))
    exact = np.array([exact_grid(int(later[i]), int(earlier[i]), 12, 12) for i in apart])
    print(f"unequal counts: {len(apart)} pairs differ from scipy by more than 1e-9 (largest {gap[apart].max():.2e});")
    print(f"  against an exact integer grid those differ by at most {np.abs(ours[apart] - exact).max():.2e}")
    others = np.delete(gap, np.concatenate([apart, np.flatnonzero(equal)]))
    print(f"  other pairs: largest difference from scipy {others.max():.2e}")
    row = results.row(
        "E-test (CPU time)",
        f"{len(later):,} real ward × category pairs of the MPS table, 12 months against 12",
        ours_time,
        "scipy.stats.poisson_means_test, one call per pair",
        scipy_time,
        note="no I/O: counts in memory",
    )
    results.record("etest", [row])


def exact_grid(k1: int, k2: int, n1: int, n2: int) -> float:
    """Return the E-test p summed over the whole grid with ties decided in integers (whole exposures)."""
    lam = (k1 + k2) / (n1 + n2)
    mu1, mu2 = n1 * lam, n2 * lam
    x1 = np.arange(0, int(mu1 + 20 * np.sqrt(mu1) + 40), dtype=np.int64)[:, None]
    x2 = np.arange(0, int(mu2 + 20 * np.sqrt(mu2) + 40), dtype=np.int64)[None, :]
    num, den = (x1 * n2 - x2 * n1) ** 2, x1 * n2 * n2 + x2 * n1 * n1
    num0, den0 = (k1 * n2 - k2 * n1) ** 2, k1 * n2 * n2 + k2 * n1 * n1
    beyond = np.where(den == 0, num0 == 0, num * den0 >= num0 * den)
    return float((stats.poisson.pmf(x1, mu1) * stats.poisson.pmf(x2, mu2))[beyond].sum())


if __name__ == "__main__":
    main()
