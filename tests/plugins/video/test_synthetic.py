"""The synthetic actions generator: deterministic, HMDB51 layout and split format, resumable, honest classes."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from pkd_plugins.video.container import read_index
from pkd_plugins.video.formats import read_hmdb51
from pkd_plugins.video.scenes import APPEARANCES, MOTIONS, SceneSettings, render
from pkd_plugins.video.synthetic import SyntheticSpec, ensure_generated, generate

SMALL = dataclasses.replace(SyntheticSpec.preset("tiny"), videos_per_class=2, frames=14)


def digests(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_videos(tmp_path):
    generate(tmp_path / "a", SMALL)
    generate(tmp_path / "b", SMALL)
    generate(tmp_path / "c", dataclasses.replace(SMALL, seed=1))
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    videos_a = {k: v for k, v in digests(tmp_path / "a").items() if k.startswith("videos/")}
    videos_c = {k: v for k, v in digests(tmp_path / "c").items() if k.startswith("videos/")}
    assert videos_a.keys() == videos_c.keys() and not set(videos_a.values()) & set(videos_c.values())


def test_the_tiny_data_set_is_hmdb51_shaped_in_the_training_format(tiny_synthetic):
    spec = SyntheticSpec.preset("tiny")
    for split in (1, 2, 3):
        listing = read_hmdb51(tiny_synthetic / "splits", split)
        assert listing.classes == spec.class_names == sorted(f"{m}_{a}" for m in MOTIONS[:2] for a in APPEARANCES[:2])
        assert len(listing.splits["train"]) == 16 and len(listing.splits["test"]) == 8  # 70/30 of 6 per class
    assert read_hmdb51(tiny_synthetic / "splits", 1).splits["test"] != read_hmdb51(tiny_synthetic / "splits", 2).splits["test"]
    video = next((tiny_synthetic / "videos" / "slide_stripes").glob("*.avi"))
    index = read_index(video)
    assert (index.codec, index.width, index.height, index.frames) == ("mpeg4", 64, 48, 24)
    assert index.motion_problem() is None and index.keyframes[:2] == (0, 12)


def test_an_interrupted_generation_resumes_where_it_stopped(tmp_path):
    generate(tmp_path / "full", SMALL)
    root = tmp_path / "resumed"
    generate(root, SMALL)
    (root / "synthetic.json").unlink()  # as if killed before finishing
    victim = sorted((root / "videos").rglob("*.avi"))[3]
    victim.unlink()
    kept = {p: p.stat().st_mtime_ns for p in (root / "videos").rglob("*.avi")}
    ensure_generated(root, SMALL)
    assert all(p.stat().st_mtime_ns == stamp for p, stamp in kept.items())
    assert digests(root) == digests(tmp_path / "full")


def test_the_command_generates_and_says_how_to_use_it(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative destination: the message names the folder it really wrote
    result = cli("make-synthetic", "syn", "--preset", "tiny", "--videos-per-class", "2", "--frames", "13", "--jobs", "1")
    assert result.code == 0, result.err
    err = " ".join(result.err.split())
    assert f"8 videos of 4 classes in {tmp_path.resolve() / 'syn'}" in err
    assert f"data: {{name: hmdb51, root: {tmp_path.resolve() / 'syn' / 'videos'}, splits: {tmp_path.resolve() / 'syn' / 'splits'}}}" in err
    assert len(list((tmp_path / "syn" / "videos").rglob("*.avi"))) == 8
    huge = cli("make-synthetic", tmp_path / "x", "--preset", "huge")
    assert huge.code == 2 and "'huge' is not one of 'tiny', 'small', 'benchmark'" in huge.err
    assert cli("make-synthetic", tmp_path / "x", "--size", "15x9").code == 2
    one = cli("make-synthetic", tmp_path / "x", "--videos-per-class", "1")
    assert one.code == 2 and "--videos-per-class: Input should be greater than or equal to 2" in one.err
    assert "Traceback" not in one.err and not (tmp_path / "x").exists()


def test_every_motion_moves_the_actor_and_every_appearance_has_its_own_texture():
    settings = SceneSettings(96, 72, 12, noise=0, distractors=0, camera=0)  # only the actor changes
    for motion in MOTIONS:
        frames = np.stack(render(motion, "stripes", settings, np.random.default_rng(3))).astype(np.float32)
        changed = np.abs(frames[1:] - frames[:-1]).mean(axis=(1, 2, 3)) > 0
        assert changed.mean() > 0.7, motion  # (a pulse holds its size for a frame at its extremes)
    firsts = [render("slide", kind, settings, np.random.default_rng(3))[0] for kind in APPEARANCES]
    assert len({frame.tobytes() for frame in firsts}) == len(APPEARANCES)
