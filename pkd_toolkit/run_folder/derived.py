"""Folders derived from a finished run (``pkd test``'s reports, ``pkd eval --out``): always new folders, so
that nothing the run wrote is ever overwritten by them."""

from __future__ import annotations

import time
from pathlib import Path

from pkd_toolkit.errors import UsageError
from pkd_toolkit.run_folder.layout import tests_dir


def new_output_folder(path: Path, option: str) -> Path:
    """``path``, refused when it exists and holds files (``option`` names where it came from)."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(f"{option} {path}: already exists and is not an empty folder; choose a new folder")
    return path


def retest_folder(run_dir: Path, label: str) -> Path:
    """``tests/<date-time>-<label>`` in the run folder, numbered when that name is taken."""
    stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{label}"
    candidate, count = tests_dir(run_dir) / stamp, 1
    while candidate.exists():
        count += 1
        candidate = tests_dir(run_dir) / f"{stamp}-{count}"
    return candidate
