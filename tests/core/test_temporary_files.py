"""Temporary files of outputs: a killed run's are removed by the next run in that folder, whatever the format."""

from __future__ import annotations

import os
import subprocess
import sys

from crime_mapping_plugin.core import gpkg


def test_a_dead_process_temporary_files_of_every_format_are_removed_and_a_kept_previous_output_is_not(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stem = f"{gpkg.TEMP_PREFIX}{gpkg._HOST}-{dead.pid}-x1"
    left = [f"{stem}.gpkg", f"{stem}.gpkg-wal", f"{stem}.tif", f"{stem}.shp", f"{stem}.dbf", f"{stem}.png"]
    kept = [".crimemapping-previous-abc", "crimes.gpkg", f"{gpkg.TEMP_PREFIX}{gpkg._HOST}-{dead.pid + 10**7}x.txt"]
    for name in left + kept:
        (tmp_path / name).write_bytes(b"x")
    removed = gpkg.remove_stale_temporary_files(str(tmp_path))
    assert sorted(removed) == sorted(left)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


def test_a_new_temporary_name_has_the_suffix_asked_for_and_says_which_process_writes_it(tmp_path):
    path = gpkg.temporary_path(str(tmp_path), ".png")
    assert path.endswith(".png") and f"-{os.getpid()}-" in path
    assert not (tmp_path / path).exists()  # a name only: the writer creates the file
