"""Demo step: import the bundled police.uk street files and say what was read, written and left out."""

from __future__ import annotations

from pathlib import Path

import demo_inputs

from crime_mapping_plugin.core.policeuk import REASON_KEYS


def demo(sample_dir: Path, out_dir: Path, run_alg) -> list[str]:
    """Import sample_dir/police_uk into out_dir/crimes.gpkg; return lines to print."""
    target = out_dir / demo_inputs.CRIMES
    result = run_alg("crimemapping:importpoliceuk", {"INPUT": [str(sample_dir / "police_uk")], "OUTPUT": str(target)})
    lines = [
        "== Import police.uk street crime (crimemapping:importpoliceuk)",
        f"Read {result['ROWS_READ']} rows from {result['FILES_READ']} files, months {result['MONTHS']}",
        f"Wrote {result['ROWS_WRITTEN']} crimes to {target}",
        f"Left out {result['ROWS_LEFT_OUT']} rows:",
    ]
    for reason, key in REASON_KEYS.items():
        lines.append(f"  {reason}: {result[key]}")
    if result["UNMAPPED_LABELS"]:
        lines.append(f"Crime types not in the harmonised table (kept): {result['UNMAPPED_LABELS']}")
    mps_csv = sample_dir / demo_inputs.MPS_CSV
    mps = run_alg(
        "crimemapping:importmpswardcrime", {"INPUT": str(mps_csv), "OUTPUT": str(out_dir / demo_inputs.MPS_COUNTS)}
    )
    lines += [
        "== Import MPS ward-level crime counts (crimemapping:importmpswardcrime)",
        f"Read {mps['ROWS_READ']} rows x months = {mps['CELLS_READ']} cells; wrote {mps['CELLS_WRITTEN']} "
        f"ward-category-month counts holding {mps['OFFENCES_WRITTEN']} offences ({mps['MONTHS'].split(',')[0]} "
        f"to {mps['MONTHS'].split(',')[-1]})",
    ]
    return lines
