"""``pkd prepare``'s judgement of what it is given: variable frame rates, still images, corrupt files already in
the destination, reruns and empty sources."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

from pkd_plugins.video import prepare as prepare_module
from pkd_plugins.video.container import read_index
from pkd_plugins.video.encoding import EncoderSettings, write_video

from .conftest import moving_square

SETTINGS = EncoderSettings(width=64, height=48)


def write_variable_rate_avi(path, frames: int = 68, slots: int = 444) -> None:
    """A complete Cinepak AVI whose ``frames`` pictures are spread over ``slots`` declared frame slots (the AVI
    muxer declares every slot; only the pictures hold data), as screen recorders and old cameras write."""
    pictures = moving_square(frames, size=(64, 48), side=16, velocity=(0, 0), start=(4, 4))
    with av.open(str(path), "w") as container:
        stream = container.add_stream("cinepak", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "rgb24"
        for number, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = round(number * (slots - 1) / (frames - 1)), Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    (root / "a").mkdir()
    write_variable_rate_avi(root / "a" / "vfr.avi")
    write_video(root / "a" / "plain.avi", moving_square(30, size=(64, 48), side=16, velocity=(1, 1), start=(4, 2)), settings=SETTINGS)
    data = (root / "a" / "plain.avi").read_bytes()
    (root / "a" / "cut.avi").write_bytes(data[: len(data) // 2])
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), 128, np.uint8)).save(root / "a" / "photo.avi", format="JPEG")
    return root


def prepared(inputs, tmp_path, *names):
    source = tmp_path / "src"
    (source / "a").mkdir(parents=True)
    for name in names:
        (source / "a" / name).write_bytes((inputs / "a" / name).read_bytes())
    return source


def test_a_complete_variable_frame_rate_avi_is_not_truncated(inputs, tmp_path):
    with av.open(str(inputs / "a" / "vfr.avi")) as container:
        assert container.streams.video[0].frames == 444  # what the header declares
    manifest = prepare_module.prepare(prepared(inputs, tmp_path, "vfr.avi"), tmp_path / "dst", SETTINGS)
    assert manifest.failed == {}
    assert manifest.videos["a/vfr.avi"]["frames"] == read_index(tmp_path / "dst" / "a" / "vfr.avi").frames == 68


def test_a_truly_truncated_avi_is_still_reported(inputs, tmp_path):
    manifest = prepare_module.prepare(prepared(inputs, tmp_path, "cut.avi"), tmp_path / "dst", SETTINGS)
    assert "truncated" in manifest.failed["a/cut.avi"]


def test_a_jpeg_named_avi_is_not_a_video(inputs, tmp_path):
    manifest = prepare_module.prepare(prepared(inputs, tmp_path, "photo.avi", "plain.avi"), tmp_path / "dst", SETTINGS)
    assert manifest.failed["a/photo.avi"] == "a still image (jpeg_pipe), not a video"
    assert list(manifest.videos) == ["a/plain.avi"] and not (tmp_path / "dst" / "a" / "photo.avi").exists()


def test_a_corrupt_file_already_in_the_destination_is_encoded_again(inputs, tmp_path):
    source = prepared(inputs, tmp_path, "plain.avi", "vfr.avi")
    target = tmp_path / "dst"
    prepare_module.prepare(source, target, SETTINGS)
    # one cut short by a crash after the rename and missing from the manifest, one whose size the manifest contradicts
    (target / "a" / "plain.avi").write_bytes(b"")
    manifest = json.loads((target / "manifest.json").read_text())
    del manifest["videos"]["a/plain.avi"]
    (target / "manifest.json").write_text(json.dumps(manifest))
    whole = (target / "a" / "vfr.avi").read_bytes()
    (target / "a" / "vfr.avi").write_bytes(whole[: len(whole) // 3])
    again = prepare_module.prepare(source, target, SETTINGS)
    assert again.failed == {} and (again.encoded, again.kept) == (2, 0)
    assert read_index(target / "a" / "plain.avi").frames == 30 and read_index(target / "a" / "vfr.avi").frames == 68


def test_a_rerun_says_how_many_were_prepared_before_and_one_is_one(cli, inputs, tmp_path):
    source = prepared(inputs, tmp_path, "plain.avi")
    first = cli("prepare", source, tmp_path / "dst", "--jobs", "1")
    assert first.code == 0 and "1 video prepared, 0 already prepared (kept)" in first.err
    again = cli("prepare", source, tmp_path / "dst", "--jobs", "1")
    assert again.code == 0 and "0 videos prepared, 1 already prepared (kept)" in again.err
    (source / "a" / "photo.avi").write_bytes((inputs / "a" / "photo.avi").read_bytes())
    failed = cli("prepare", source, tmp_path / "dst", "--jobs", "1")
    assert failed.code == 1 and "1 video could not be prepared" in failed.err
    assert (tmp_path / "dst" / "prepare-report.txt").read_text().startswith("1 video could not be prepared:\n")


def test_an_empty_source_creates_nothing_and_says_so(cli, tmp_path):
    (tmp_path / "empty" / "class").mkdir(parents=True)
    (tmp_path / "empty" / "class" / "notes.txt").write_text("no videos here")
    result = cli("prepare", tmp_path / "empty", tmp_path / "dst", "--jobs", "1")
    assert result.code == 2 and "no video files found" in result.err
    assert not (tmp_path / "dst").exists()
