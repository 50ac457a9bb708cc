"""Screenshot a published website of area profiles as headless Chromium draws it: its index and one area's page.

    .venv/bin/python scripts/site_screenshots.py OUTPUT_FOLDER/site docs/ [AREA_CODE]

writes docs/profiles_site_index.png and docs/profiles_site_area.png (the first area, or AREA_CODE's page).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crime_mapping_plugin.core.profile_site import page_names  # noqa: E402
from tests.browser import screenshot  # noqa: E402


def main(argv: list[str]) -> int:
    site, target = Path(argv[0]), Path(argv[1])
    pages = page_names(str(site))
    area = pages[argv[2]] if len(argv) > 2 else sorted(pages.values())[0]
    for page, name, height in (("index.html", "profiles_site_index.png", 2200), (area, "profiles_site_area.png", 2000)):
        print(screenshot(site, page, target / name, width=1200, height=height))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
