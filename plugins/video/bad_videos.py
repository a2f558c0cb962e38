"""A record of the videos a run could not read, shared by the DataLoader's worker processes.

A worker cannot hand a Python list back to the main process, so each record
is one line appended to a JSON-lines file in a private temporary folder made
when the split is built (before workers start). Short appends to a file opened
in append mode do not interleave, so workers need no lock. Each process warns
once per file.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
import weakref
from pathlib import Path


class BadVideoWarning(UserWarning):
    """A video could not be read and was left out (or evaluated as zeros)."""


class BadVideoLog:
    """Bad videos seen by any process; :meth:`entries` lists each once."""

    FILE = "bad_videos.jsonl"

    def __init__(self) -> None:
        folder = Path(tempfile.mkdtemp(prefix="pkd-bad-videos-"))
        self.path = folder / self.FILE
        self._warned: set[str] = set()
        # Removed when the log is garbage-collected in the process that made it (workers never own it).
        self._cleanup = weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    def __getstate__(self) -> dict[str, object]:
        return {"path": self.path}  # a worker gets the file, not the clean-up duty

    def __setstate__(self, state: dict[str, object]) -> None:
        self.path = state["path"]
        self._warned = set()
        self._cleanup = None

    def record(self, video: str, path: Path, problem: str, action: str) -> None:
        """Note that ``video`` (at ``path``) failed with ``problem``; warn once per process."""
        if video in self._warned:
            return
        self._warned.add(video)
        warnings.warn(f"{path}: {problem}; {action}", BadVideoWarning, stacklevel=3)
        line = json.dumps({"sample": video, "path": str(path), "problem": problem}) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
        except OSError:
            pass  # the record is a courtesy; the warning has been given

    def entries(self) -> list[dict[str, str]]:
        """One ``{"sample", "path", "problem"}`` per bad video (``sample`` is its identifier), in the order first seen."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError:
            return []
        seen: dict[str, dict[str, str]] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a killed worker
            seen.setdefault(entry["sample"], entry)
        return list(seen.values())
