"""Build the plugin zip for QGIS's 'Install from ZIP', or install a built zip into a profile.

The zip holds one folder, crime_mapping_plugin/, with the package, metadata.txt (copied from the
repository root, its single source), the licence and the changelog.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLUGIN = "crime_mapping_plugin"
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")


def build(target: str) -> str:
    """Write the plugin zip to target and return its path."""
    target = os.path.abspath(target)
    tmp = target + ".part"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        source = os.path.join(ROOT, PLUGIN)
        for folder, dirs, files in os.walk(source):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                if name.endswith(SKIP_SUFFIXES):
                    continue
                path = os.path.join(folder, name)
                archive.write(path, os.path.relpath(path, ROOT))
        for extra in ("metadata.txt", "LICENSE", "CHANGELOG.md"):
            archive.write(os.path.join(ROOT, extra), f"{PLUGIN}/{extra}")
        for doc in ("methods.md", "definitions.md", "dock.md"):  # the help the algorithms' helpUrl() opens
            archive.write(os.path.join(ROOT, "docs", doc), f"{PLUGIN}/docs/{doc}")
    os.replace(tmp, target)
    return target


def install(zip_path: str, plugins_dir: str) -> str:
    """Unpack the zip into a QGIS profile's plugin folder, replacing an older copy."""
    os.makedirs(plugins_dir, exist_ok=True)
    dest = os.path.join(plugins_dir, PLUGIN)
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(plugins_dir)
    return dest


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("zip", help="the zip to build (or, with --install, to install)")
    parser.add_argument("--install", metavar="PLUGINS_DIR", help="install the zip into this plugin folder")
    args = parser.parse_args(argv)
    if args.install:
        print(f"Installed {install(args.zip, args.install)}")
    else:
        print(f"Built {build(args.zip)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
