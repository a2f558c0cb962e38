"""Write files so that a killed process leaves either the old file or the new one, never half of one.

The new file is written under a temporary name beside the target and renamed
over it in one step. The temporary file is created the way any new file is
(``open(..., 0o666)`` minus the user's umask: 0644 under the usual umask 022),
not with ``mkstemp``'s private 0600, so that colleagues on a shared machine can
read run folders and prepared data sets exactly as they could read any other
file of the user's.

A rename is atomic, but without ``fsync`` a power cut or a crashed machine
may still leave an empty or partial file under the new name: the data can
reach the disk after the rename does. ``durable=True`` flushes the file before
the rename and the folder after it; checkpoints, manifests and prepared videos
ask for it, files that are cheap to make again (reports, plots) do not.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pkd_toolkit.errors import UsageError


@contextmanager
def atomic_path(path: Path | str, *, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    On failure (or interruption) the temporary file is removed and ``path`` is
    untouched. Writers may reopen the temporary path (``torch.save``, PIL,
    PyAV do): the file exists already, with the umask's permissions, which
    reopening keeps. ``durable``: flush it to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _create_beside(path)
    try:
        yield temporary
        if durable:
            _fsync(temporary, os.O_RDONLY)
        os.replace(temporary, path)
        if durable:
            _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    finally:
        temporary.unlink(missing_ok=True)


def _create_beside(path: Path) -> Path:
    """A new empty file ``.<name>.<random>.part`` beside ``path``, created with mode 0o666 minus the umask."""
    while True:
        candidate = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:  # another writer drew the same name: draw again
            continue
        return candidate


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def writable_folder(path: Path | str, what: str) -> Path:
    """Create the folder ``path`` if needed and make sure new files can be made in it.

    :class:`~pkd_toolkit.errors.UsageError` (exit status 2) when it is a file, cannot be created (a file in
    its way) or cannot be written (read-only, no permission); ``what`` names it in the message
    (``"the destination"``: "DST: cannot write the destination there: Read-only file system").
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path}: is a file; {what} must be a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _create_beside(path / ".pkd-write-check").unlink()
    except OSError as error:
        raise UsageError(f"{path}: cannot write {what} there: {error.strerror or error}") from None
    return path


def write_text(path: Path | str, text: str, *, durable: bool = False) -> None:
    with atomic_path(path, durable=durable) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path | str, data: Any, *, durable: bool = False) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n", durable=durable)
