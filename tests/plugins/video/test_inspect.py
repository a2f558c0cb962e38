"""``pkd inspect``: pictures of the I-frame, MV field and residual, the GOP structure, value ranges."""

from __future__ import annotations

import pytest

import json

import numpy as np
from PIL import Image

from .conftest import write_b_frame_video


def test_inspect_writes_pictures_and_reports_the_structure(cli, known_motion, tmp_path):
    result = cli("inspect", known_motion.path, "--frames", "5,13", "--out", tmp_path / "pictures", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["frame_types"] == "I" + "P" * 11 + "I" + "P" * 11
    assert report["gop_starts"] == [0, 12] and report["gop_lengths"] == [12, 12] and report["problem"] is None
    first, second = report["pictures"]
    assert (first["frame"], first["gop_start"], second["frame"], second["gop_start"]) == (5, 0, 13, 12)
    assert 10 <= first["mv"]["dx"]["max"] <= 12 and 10 <= first["mv"]["dy"]["max"] <= 12  # 5 frames of (2, 2), accumulated
    for picture in report["pictures"]:
        image = np.asarray(Image.open(picture["png"]))
        assert image.shape[0] == 96 * 2 + 16 and image.shape[2] == 3  # a 96-pixel video is shown at twice its size
        tile = image[16:, 128 * 2 + 4 : 2 * (128 * 2 + 4) - 4]  # the MV tile: coloured where the square moved
        assert (tile.max(axis=-1) > 100).mean() > 0.05 and (tile.max(axis=-1) < 10).mean() > 0.3


def test_inspect_prints_a_readable_summary_by_default(cli, known_motion, tmp_path):
    result = cli("inspect", known_motion.path, "--out", tmp_path, "--per-frame")
    assert result.code == 0
    assert "mpeg4 128x96" in result.out and "GOPs: 2, lengths 12-12" in result.out
    assert "frame 11 (GOP from 0, motion of frame 11): dx " in result.out  # the end of the first GOP
    assert "frame 12 (GOP from 12, motion of frame 11): dx " in result.out  # the middle: an I-frame, so frame 11's motion
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["square_frame00011.png", "square_frame00012.png"]


def test_inspect_shows_b_frames_and_says_to_prepare(cli, tmp_path):
    video = write_b_frame_video(tmp_path / "raw.mp4")
    result = cli("inspect", video, "--out", tmp_path)
    assert result.code == 1
    assert "B" in result.out.split("frame types: ")[1].split("\n")[0]
    assert "B-frames" in result.err and "pkd prepare" in result.err and not list(tmp_path.glob("*.png"))


def test_inspect_bad_arguments(cli, known_motion, tmp_path):
    assert cli("inspect", tmp_path / "none.avi").code == 1
    assert cli("inspect", known_motion.path, "--frames", "a,b").code == 2
    assert cli("inspect", known_motion.path, "--precision", "half").code == 2


def test_inspect_lines_are_whole_when_piped_into_a_narrow_width(cli, known_motion, tmp_path, monkeypatch):
    """A pipe (or a 40-column COLUMNS) must not cut a line with its PNG path in two."""
    from pkd_toolkit import console

    monkeypatch.setattr(console.out, "_width", 40)
    result = cli("inspect", known_motion.path, "--out", tmp_path / "a-rather-long-folder-name", "--per-frame")
    assert result.code == 0, result.err
    pictures = [line for line in result.out.splitlines() if line.startswith("frame 1")]
    assert len(pictures) == 2 and all(line.endswith(".png") for line in pictures)


@pytest.mark.parametrize("frames", ["99999", "5,24", "-1"])
def test_inspect_names_the_valid_frame_range_instead_of_clamping(cli, known_motion, tmp_path, frames):
    result = cli("inspect", known_motion.path, "--frames", frames, "--out", tmp_path / "pictures")
    assert result.code == 2 and "Traceback" not in result.err
    assert f"--frames {frames}: this video's frames are numbered 0 to 23 (24 frames)" in result.err
    assert not list((tmp_path / "pictures").glob("*.png"))
