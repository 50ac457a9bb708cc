"""make demo: run the plugin's algorithms on the bundled real sample data and say what they did.

Usage: python scripts/demo.py SAMPLE_DIR OUT_DIR
Each analysis has a module scripts/demo_<name>.py with demo(sample_dir, out_dir, run_alg) -> lines.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsProcessingContext, QgsProcessingFeedback, QgsProject  # noqa: E402
from standalone import start_qgis  # noqa: E402

# In the order an analyst works: import first, the analyses read its output.
STEPS = (
    "demo_import",
    "demo_hotspot_density",
    "demo_wardrates",
    "demo_gistar",
    "demo_trends",
    "demo_model",
    "demo_profiles",
)


class _Quiet(QgsProcessingFeedback):
    def pushInfo(self, info):  # noqa: N802 - the demo prints its own summary
        pass


def main(sample_dir: Path, out_dir: Path) -> int:
    app, provider = start_qgis()
    from qgis import processing

    def run_alg(alg_id: str, params: dict, feedback=None, context=None):
        context = context or QgsProcessingContext()
        context.setProject(QgsProject.instance())
        return processing.run(alg_id, params, feedback=feedback or _Quiet(), context=context)

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    for step in STEPS:
        module = importlib.import_module(step)
        for line in module.demo(sample_dir, out_dir, run_alg):
            print(line)
        print()
    print(f"Outputs are in {out_dir}/ (open them in QGIS).")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()))
