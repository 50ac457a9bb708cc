"""Extract the London rows of the ONS Census 2021 LSOA populations and the LSOA21->WD24 lookup into sample_data.

Run once by a maintainer with the national ONS files (see sample_data/README.md); the plugin never
reads them. London = the LSOAs whose 2024 local authority code is a London borough (E09...).

    python scripts/extract_population.py <census2021-ts007a-lsoa.csv> <LSOA21_WD24_lookup.csv> sample_data/population
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def main(ts007a: str, lookup: str, out_dir: str) -> None:
    """Write the two London-only CSV extracts."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(lookup, encoding="utf-8-sig", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["LAD24CD"].startswith("E09")]
    rows.sort(key=lambda r: r["LSOA21CD"])
    london = {r["LSOA21CD"] for r in rows}
    with open(out / "london_lsoa21_to_ward24_lookup.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LSOA21CD", "LSOA21NM", "WD24CD", "WD24NM", "LAD24CD", "LAD24NM"])
        for r in rows:
            w.writerow([r["LSOA21CD"], r["LSOA21NM"], r["WD24CD"], r["WD24NM"], r["LAD24CD"], r["LAD24NM"]])
    with open(ts007a, encoding="utf-8-sig", newline="") as fh:
        pops = [r for r in csv.DictReader(fh) if r["geography code"] in london]
    pops.sort(key=lambda r: r["geography code"])
    with open(out / "london_lsoa21_population_census2021.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["LSOA21CD", "LSOA21NM", "population"])
        for r in pops:
            w.writerow([r["geography code"], r["geography"], r["Age: Total"]])
    print(f"{len(rows)} lookup rows, {len(pops)} population rows, total {sum(int(r['Age: Total']) for r in pops):,}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
