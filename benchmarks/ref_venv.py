"""Create (once) the reference venv with PySAL esda, and re-run a script inside it.

The venv is made without system site packages, so installing esda and its numpy/scipy cannot disturb
the numpy that QGIS uses; nothing of it is a plugin dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / "_work" / "ref-venv"
REQUIREMENTS = HERE / "requirements-ref.txt"


def python() -> Path:
    """Return the reference venv's interpreter, creating the venv first if it is missing."""
    exe = VENV / "bin" / "python"
    stamp = VENV / ".ready"
    if not stamp.exists() or stamp.read_text() != REQUIREMENTS.read_text():
        print(f"Creating the reference venv {VENV} (esda, libpysal; a few minutes the first time)…", flush=True)
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(exe), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
        stamp.write_text(REQUIREMENTS.read_text())
    return exe


def reexec_in_ref_venv(script: str) -> None:
    """Run script again under the reference venv unless esda is already importable here."""
    try:
        import esda  # noqa: F401
        import libpysal  # noqa: F401
    except ImportError:
        exe = python()
        os.execv(str(exe), [str(exe), script, *sys.argv[1:]])
