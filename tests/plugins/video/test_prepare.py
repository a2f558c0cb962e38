"""``pkd prepare``: the training format, kept names, a manifest, failures reported, resuming and shards."""

from __future__ import annotations

import json
import shutil

import pytest

from pkd_plugins.video import prepare as prepare_module
from pkd_plugins.video.container import read_index
from pkd_plugins.video.encoding import EncoderSettings, VideoWriter, write_video

from .conftest import moving_square, shared, write_b_frame_video

NAMES = ["brush_hair/clip (1)+take!.avi", "brush_hair/b-frames.mp4", "golf/other clip.mkv", "golf/broken.avi"]


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("src")
    frames = moving_square(30, size=(80, 60), side=16, velocity=(1, 1), start=(4, 2))
    (root / "brush_hair").mkdir()
    (root / "golf").mkdir()
    write_video(root / NAMES[0], frames, settings=EncoderSettings(width=80, height=60, gop=30))
    write_b_frame_video(root / NAMES[1])
    write_video(root / NAMES[2], frames[:14], settings=EncoderSettings(codec="h264", width=80, height=60))
    (root / NAMES[3]).write_text("not a video")
    (root / "golf" / "notes.txt").write_text("ignored: not a video suffix")
    return root


def prepared_names(folder) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.suffix in (".avi", ".mp4", ".mkv"))


def test_prepare_writes_the_training_format_and_reports_failures(cli, source_tree, tmp_path):
    target = tmp_path / "out"
    result = cli("prepare", source_tree, target, "--size", "64x48", "--jobs", "1")
    assert result.code == 1
    assert f"1 video could not be prepared (listed in {target / 'prepare-report.txt'})" in result.err
    assert "golf/broken.avi: not a readable video file" in (target / "prepare-report.txt").read_text()
    assert prepared_names(target) == sorted(NAMES[:3])  # names and layout kept
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["settings"] == {"codec": "mpeg4", "width": 64, "height": 48, "gop": 12, "b_frames": 0, "qscale": 1}
    assert set(manifest["failed"]) == {"golf/broken.avi"}
    for name in NAMES[:3]:
        index = read_index(target / name)
        assert (index.codec, index.width, index.height) == ("mpeg4", 64, 48)
        assert not index.reorders_frames and index.motion_problem() is None
        assert all(length <= 12 for length in index.gop_lengths) and index.keyframes[:2] == (0, 12)
        entry = manifest["videos"][name]
        assert entry["frames"] == index.frames and entry["gop_starts"] == list(index.keyframes)
        assert entry["bytes"] == (target / name).stat().st_size and entry["duration"] > 0
    assert manifest["videos"][NAMES[0]]["frames"] == 30 and manifest["videos"][NAMES[2]]["frames"] == 14


def test_a_second_run_skips_finished_files_and_redoes_missing_ones(source_tree, tmp_path):
    settings = EncoderSettings(width=64, height=48)
    target = tmp_path / "out"
    prepare_module.prepare(source_tree, target, settings)
    stamps = {name: (target / name).stat().st_mtime_ns for name in NAMES[:3]}
    (target / NAMES[2]).unlink()
    stale = target / "golf" / f".{(target / NAMES[2]).name}.x1y2.part"  # what a killed run leaves
    stale.write_bytes(b"half a video")
    manifest = json.loads((target / "manifest.json").read_text())
    del manifest["videos"][NAMES[0]]  # finished, but killed before the manifest was written
    (target / "manifest.json").write_text(json.dumps(manifest))
    again = prepare_module.prepare(source_tree, target, settings)
    assert (target / NAMES[0]).stat().st_mtime_ns == stamps[NAMES[0]] and (target / NAMES[1]).stat().st_mtime_ns == stamps[NAMES[1]]
    assert (target / NAMES[2]).is_file() and not stale.exists()
    assert set(again.videos) == set(NAMES[:3]) and again.videos[NAMES[0]]["frames"] == 30


def test_an_interrupted_run_leaves_no_half_file_and_records_what_finished(source_tree, tmp_path, monkeypatch):
    target = tmp_path / "out"
    original = VideoWriter.add
    calls = {"count": 0}

    def add_then_stop(self, frame):
        calls["count"] += 1
        if calls["count"] == 40:  # in the middle of the second video
            raise KeyboardInterrupt
        original(self, frame)

    monkeypatch.setattr(VideoWriter, "add", add_then_stop)
    with pytest.raises(KeyboardInterrupt):
        prepare_module.prepare(source_tree, target, EncoderSettings(width=64, height=48))
    files = [p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()]
    assert sorted(files) == ["brush_hair/b-frames.mp4", "manifest.json"]  # the first video only: no .part left
    assert list(json.loads((target / "manifest.json").read_text())["videos"]) == ["brush_hair/b-frames.mp4"]


def test_shards_split_the_work_and_a_plain_run_merges_their_manifests(cli, source_tree, tmp_path):
    target = tmp_path / "out"
    for shard in ("1/2", "2/2"):
        cli("prepare", source_tree, target, "--size", "64x48", "--jobs", "1", "--shard", shard)
    first = json.loads((target / "manifest.shard-1-of-2.json").read_text())["videos"]
    second = json.loads((target / "manifest.shard-2-of-2.json").read_text())["videos"]
    assert first and second and not set(first) & set(second) and set(first) | set(second) == set(NAMES[:3])
    stamps = {name: (target / name).stat().st_mtime_ns for name in NAMES[:3]}
    cli("prepare", source_tree, target, "--size", "64x48", "--jobs", "2")
    merged = json.loads((target / "manifest.json").read_text())["videos"]
    assert merged == {**first, **second}
    assert all((target / name).stat().st_mtime_ns == stamp for name, stamp in stamps.items())


def test_other_settings_in_the_same_folder_are_refused(cli, source_tree, tmp_path):
    target = tmp_path / "out"
    cli("prepare", source_tree, target, "--size", "64x48", "--jobs", "1")
    result = cli("prepare", source_tree, target, "--size", "32x32", "--jobs", "1")
    assert result.code == 2 and "this folder was prepared with other settings" in result.err
    assert cli("prepare", source_tree, target, "--shard", "3/2").code == 2
    assert cli("prepare", tmp_path / "nowhere", target).code == 2


def test_h264_option_uses_one_reference_frame_and_no_b_frames(source_tree, tmp_path):
    folder = tmp_path / "one"
    (folder / "golf").mkdir(parents=True)
    shutil.copy(source_tree / NAMES[0], folder / "golf" / "a.avi")
    manifest = prepare_module.prepare(folder, tmp_path / "out", EncoderSettings(codec="h264", width=64, height=48))
    index = read_index(tmp_path / "out" / "golf" / "a.avi")
    assert index.codec == "h264" and index.reference_frames == 1 and not index.reorders_frames
    assert manifest.settings["refs"] == 1 and all(length <= 12 for length in index.gop_lengths)


def test_prepare_the_real_hmdb51_clips(cli, tmp_path):
    source = shared("hmdb51_clips")
    target = tmp_path / "hmdb51_mpeg4"
    result = cli("prepare", source, target, "--jobs", "2")
    assert result.code == 0, result.err
    sources = sorted(p.relative_to(source).as_posix() for p in source.rglob("*.avi"))
    assert prepared_names(target) == sources  # names with parentheses, '+' and '!' kept
    manifest = json.loads((target / "manifest.json").read_text())
    for name in sources:
        assert read_index(source / name).reorders_frames  # the originals have B-frames
        index = read_index(target / name)
        assert (index.codec, index.width, index.height, index.reorders_frames) == ("mpeg4", 340, 256, False)
        assert max(index.gop_lengths) == 12 and index.motion_problem() is None
        assert manifest["videos"][name]["frames"] == index.frames >= 80


def test_a_relative_source_folder_is_prepared(source_tree, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative = shutil.copytree(source_tree / "brush_hair", tmp_path / "videos" / "brush_hair").parent.relative_to(tmp_path)
    (tmp_path / "videos" / "brush_hair" / "b-frames.mp4").unlink()
    manifest = prepare_module.prepare(relative, tmp_path / "out", EncoderSettings(width=64, height=48))
    assert list(manifest.videos) == ["brush_hair/clip (1)+take!.avi"] and not manifest.failed


def test_prepared_videos_and_the_manifest_have_the_permissions_of_the_umask(source_tree, tmp_path):
    import os
    import stat

    previous = os.umask(0o022)
    try:
        prepare_module.prepare(source_tree, tmp_path / "out", EncoderSettings(width=64, height=48))
    finally:
        os.umask(previous)
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"manifest.json", "prepare-report.txt", "clip (1)+take!.avi"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == {p.name: "0o644" for p in written}
