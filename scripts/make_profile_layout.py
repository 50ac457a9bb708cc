"""Write the shipped area profile layout template (crime_mapping_plugin/layouts/area_profile.qpt).

Usage: python scripts/make_profile_layout.py
The layout is built in code by processing/profile_render.default_layout, so the template and the code that
wires its items stay in step; run this again after changing default_layout and commit the .qpt.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from standalone import start_qgis  # noqa: E402


def main() -> int:
    """Build the default layout and save it as the shipped template."""
    app, _ = start_qgis()
    from qgis.core import QgsProject

    from crime_mapping_plugin.processing import profile_render

    project = QgsProject()
    profile_render.save_template(profile_render.default_layout(project), profile_render.TEMPLATE)
    print(profile_render.TEMPLATE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
