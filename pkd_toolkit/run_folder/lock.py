"""One run per run folder: an exclusive lock on ``run.lock``, held from opening the folder to the end of the run.

Two ``pkd run`` (or ``--resume``, or ``pkd eval``) on one folder would
interleave metrics, logs and checkpoints; the second is refused instead, with
the first one's process id.

Why ``fcntl.flock`` and not the ``filelock`` package: the message needs the
holder's process id, which the holder writes into the lock file once it holds
the lock. ``filelock``'s ``FileLock`` gives no holder, and its ``SoftFileLock``
(which records one) is a file whose mere existence is the lock, so a killed
run leaves it behind and a later ``--resume`` must guess whether it is stale.
A ``flock`` lock belongs to the open file: the kernel drops it when the
process ends, however it ends, so a killed run never blocks its ``--resume``;
the file and the dead process's id stay, harmlessly. On Linux, ``flock`` on
NFS is carried out with NFS locks, so a run folder on a cluster's shared file
system is locked across machines. The file is never deleted: deleting a lock
file lets a third process lock a new file of the same name while a second
still waits on the old one. Where ``fcntl`` does not exist (Windows) folders
are not locked.
"""

from __future__ import annotations

import os
from pathlib import Path

from pkd_toolkit.errors import UsageError
from pkd_toolkit.run_folder.layout import LOCK_FILE

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunFolderInUse(UsageError):
    """Another process holds the run folder's lock."""


class RunLock:
    """The lock of one run folder; :meth:`acquire` it, :meth:`release` it (also a context manager)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_FILE
        self._descriptor: int | None = None

    @property
    def held(self) -> bool:
        return self._descriptor is not None

    def acquire(self) -> RunLock:
        """Take the lock without waiting; :class:`RunFolderInUse` names the holder when another process has it."""
        if fcntl is None or self.held:
            return self
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # never O_TRUNC: it holds the holder
        except OSError as error:
            raise UsageError(f"{self.run_dir}: cannot lock the run folder ({error.strerror or error})") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = self._in_use(descriptor)
            os.close(descriptor)
            raise error from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        self._descriptor = descriptor
        return self

    def check_free(self) -> None:
        """Raise :class:`RunFolderInUse` when another process holds the lock; write nothing either way."""
        if fcntl is None or self.held:
            return
        try:
            descriptor = os.open(self.path, os.O_RDONLY)
        except OSError:  # no lock file (a new folder), or one we cannot read: acquire() will tell
            return
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise self._in_use(descriptor) from None
        finally:
            os.close(descriptor)  # closing drops the lock if we took it

    def release(self) -> None:
        if self._descriptor is None:
            return
        descriptor, self._descriptor = self._descriptor, None
        try:
            os.ftruncate(descriptor, 0)  # no holder any more
        finally:
            os.close(descriptor)  # closing drops the lock

    def _in_use(self, descriptor: int) -> RunFolderInUse:
        return RunFolderInUse(
            f"run folder {self.run_dir} is in use by process {_read_holder(descriptor)}: one run writes into a "
            "folder at a time (wait for it to end, or choose another --run-dir)"
        )

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(descriptor: int) -> str:
    text = os.pread(descriptor, 64, 0).decode(errors="replace").strip()
    return text if text.isdigit() else "(unknown; it is starting or ending)"
