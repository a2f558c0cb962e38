"""Atomic writes: whole files or none, with the permissions the user's umask gives any new file, flushed to disk
before the rename when asked."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import pytest

from pkd_toolkit import atomic


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_get_the_permissions_of_the_umask(tmp_path, mask, expected):
    with umask(mask):
        atomic.write_text(tmp_path / "a.txt", "a")
        atomic.write_json(tmp_path / "a.json", {"a": 1})
        with atomic.atomic_path(tmp_path / "sub" / "b.bin") as temporary:
            with open(temporary, "wb") as handle:  # what torch.save, PIL and PyAV do with the path
                handle.write(b"b")
        plain = tmp_path / "plain.txt"
        plain.write_text("any other new file")
    assert mode(plain) == expected
    assert [mode(tmp_path / name) for name in ("a.txt", "a.json", "sub/b.bin")] == [expected] * 3


def test_replacing_a_file_keeps_nothing_of_the_old_one_but_its_name(tmp_path):
    path = tmp_path / "a.txt"
    atomic.write_text(path, "old")
    atomic.write_text(path, "new")
    assert path.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as temporary:
            temporary.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_durable_writes_reach_the_disk_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd))
    monkeypatch.setattr(os, "replace", lambda a, b: events.append(("replace", str(b))) or real_replace(a, b))
    path = tmp_path / "last.pt"
    atomic.write_text(path, "data", durable=True)
    (temporary_sync, data), (replace, target), (folder_sync, folder) = events
    assert (temporary_sync, replace, folder_sync) == ("fsync", "replace", "fsync")
    assert data.startswith(str(tmp_path / ".last.pt.")) and target == str(path) and folder == str(tmp_path)
    events.clear()
    atomic.write_text(tmp_path / "report.md", "cheap to redo")
    assert [kind for kind, _ in events] == ["replace"]  # no fsync where the data can be made again
