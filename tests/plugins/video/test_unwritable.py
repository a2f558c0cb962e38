"""Places that cannot be written: a destination that is a file, a folder blocked by a file, a read-only folder.
One clear message, exit status 2, no traceback; the videos are not blamed for the destination's fault."""

from __future__ import annotations

import errno
import os

import pytest

from pkd_plugins.video.encoding import EncoderSettings, write_video

from .conftest import moving_square


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    frames = moving_square(14, size=(64, 48), side=16, velocity=(1, 1), start=(4, 2))
    for name in ("golf/a.avi", "golf/b.avi", "jump/c.avi"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / name, frames, settings=EncoderSettings(width=64, height=48))
    return root


def clean(result) -> None:
    assert result.code == 2, result.err
    assert "Traceback" not in result.err and "cannot be decoded" not in result.err


def test_prepare_into_a_file(cli, videos, tmp_path):
    blocker = tmp_path / "dst"
    blocker.write_text("a file where the folder should be")
    result = cli("prepare", videos, blocker, "--jobs", "1")
    clean(result)
    assert f"{blocker}: is a file; the destination must be a folder" in result.err


def test_prepare_into_a_folder_whose_class_folder_is_a_file(cli, videos, tmp_path):
    target = tmp_path / "dst"
    (target).mkdir()
    (target / "jump").write_text("in the way of jump/c.avi")
    result = cli("prepare", videos, target, "--jobs", "1")
    clean(result)
    assert f"{target / 'jump'}: cannot write the prepared videos there (File exists)" in result.err
    assert not (target / "prepare-report.txt").exists()  # no video is listed as failed: none is at fault


def test_prepare_into_a_folder_that_cannot_be_written(cli, videos, tmp_path, monkeypatch):
    """A read-only destination, as a file system mounted read-only refuses every new file (root included)."""
    target = tmp_path / "dst"
    target.mkdir()
    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if str(path).startswith(str(target)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    result = cli("prepare", videos, target, "--jobs", "1")
    clean(result)
    assert f"{target}: cannot write the destination there: Read-only file system" in result.err
    assert list(target.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the monkeypatched test covers it")
def test_prepare_into_a_read_only_folder(cli, videos, tmp_path):
    target = tmp_path / "dst"
    target.mkdir()
    target.chmod(0o555)
    try:
        result = cli("prepare", videos, target, "--jobs", "1")
    finally:
        target.chmod(0o755)
    clean(result)
    assert "Permission denied" in result.err


def test_inspect_out_is_a_file(cli, videos, tmp_path):
    blocker = tmp_path / "pictures"
    blocker.write_text("not a folder")
    result = cli("inspect", videos / "golf" / "a.avi", "--out", blocker)
    clean(result)
    assert f"{blocker}: is a file; --out must be a folder" in result.err


def test_make_synthetic_into_a_file(cli, tmp_path):
    blocker = tmp_path / "synthetic"
    blocker.write_text("not a folder")
    result = cli("make-synthetic", blocker, "--preset", "tiny", "--jobs", "1")
    clean(result)
    assert f"{blocker}: is a file; the data set must be a folder" in result.err
    under = cli("make-synthetic", blocker / "below", "--preset", "tiny", "--jobs", "1")
    clean(under)
    assert f"{blocker / 'below'}: cannot write the data set there: Not a directory" in under.err
