"""The compiled kernels give numpy's results bit for bit, on awkward input too; without numba, numpy with one warning."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

from pkd_plugins.video import jit
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.motion import MV_COLUMNS, motion_fields
from pkd_plugins.video.representations import read_representations
from pkd_plugins.video.tracing import IntegerTrace, TracePool, trace_class
from pkd_plugins.video.transforms import View, apply_view

from .conftest import SHARED_DATA
from .test_motion import random_table

compiled = pytest.importorskip("pkd_plugins.video.trace_kernels", reason="numba is not installed: nothing compiled to compare")
ACCUMULATED = {"mv": Representation("mv"), "residual": Representation("residual"), "iframe": Representation("iframe")}


def records(generator, height, width, block, reach, moving=0.85):
    """FFmpeg-style records as :func:`motion_fields` takes them (see ``random_table``)."""
    table = random_table(generator, block, reach, height=height, width=width, intra=1 - moving)
    return {name: table[:, column] for column, name in enumerate(MV_COLUMNS)}


def assert_same_trace(fields, height, width, generator):
    """Follow ``fields`` with numpy's trace and the compiled one; compare sources, motion and residual after every step."""
    reference, fast = IntegerTrace(height, width), compiled.CompiledIntegerTrace(height, width)
    keyframe = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
    for field in fields:
        reference.follow(field)
        fast.follow(field)
        np.testing.assert_array_equal(fast.source, reference.source)
        expected, got = np.empty((height, width, 2), np.float32), np.empty((height, width, 2), np.float32)
        reference.displacement(out=expected)
        fast.displacement(out=got)
        assert expected.tobytes() == got.tobytes()
        frame = generator.integers(0, 256, (height, width, 3), dtype=np.uint8)
        expected, got = np.empty((height, width, 3), np.float32), np.empty((height, width, 3), np.float32)
        reference.residual(frame, keyframe, expected)
        fast.residual(frame, keyframe, got)
        assert expected.tobytes() == got.tobytes()


@pytest.mark.parametrize(
    ("height", "width", "block", "reach"),
    [
        (48, 64, 16, 3),  # one vector per macroblock
        (48, 64, 8, 4),  # 4MV macroblocks
        (37, 53, None, 5),  # odd frame size, mixed blocks reaching past the frame
        (40, 52, 8, 200),  # vectors pointing far outside the frame (past the numpy trace's margin)
        (17, 1, 4, 3),  # one pixel wide
    ],
)
def test_compiled_trace_equals_numpy_bit_for_bit(height, width, block, reach):
    generator = np.random.default_rng(height * width + reach)
    tables = [records(generator, height, width, block, reach) for _ in range(11)]
    assert_same_trace(motion_fields(tables, height, width), height, width, generator)


def test_zero_motion_gops_and_frames_without_vectors_keep_every_pixel_in_place():
    generator = np.random.default_rng(0)
    still = records(generator, 48, 64, 16, 0)  # every vector zero
    assert not np.logical_or(still["dst_x"] - still["src_x"], still["dst_y"] - still["src_y"]).any()
    fields = motion_fields([still, None, records(generator, 48, 64, 16, 0, moving=0)], 48, 64)
    assert_same_trace(fields, 48, 64, generator)
    trace = compiled.CompiledIntegerTrace(48, 64)
    for field in fields:
        trace.follow(field)
    np.testing.assert_array_equal(trace.source, np.arange(48 * 64).reshape(48, 64))


def test_a_trace_that_never_moves_is_the_identity():  # a GOP of one frame: its I-frame only
    trace = compiled.CompiledIntegerTrace(9, 7)
    np.testing.assert_array_equal(trace.displacement(), np.zeros((9, 7, 2), np.float32))
    image = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    out = np.empty((9, 7, 3), np.float32)
    trace.residual(image, image, out)
    assert not out.any()


def test_clips_of_real_videos_are_identical_with_and_without_the_kernels(known_motion, monkeypatch):
    real = SHARED_DATA / "weizmann" / "videos"  # real clips too, where ../shared/data is there
    videos = [known_motion.path, *(sorted(real.rglob("*.avi"))[:3] if real.is_dir() else [])]
    for video in videos:
        monkeypatch.setenv("PKD_JIT", "0")
        expected = read_representations(video, [1, 5, 11, 13, 20], ACCUMULATED)
        assert trace_class("integer") is IntegerTrace
        monkeypatch.setenv("PKD_JIT", "1")
        got = read_representations(video, [1, 5, 11, 13, 20], ACCUMULATED)
        assert trace_class("integer") is compiled.CompiledIntegerTrace
        for key in ACCUMULATED:
            assert expected[key].tobytes() == got[key].tobytes(), (video, key)
        assert np.abs(got["mv"]).max() > 0  # something moved


@pytest.mark.parametrize(
    "view",
    [
        View(0, 0, 24, 24),  # no resize: the kernel reads the crop in place
        View(5, 7, 24, 24, flip=True),  # a cropped, mirrored view: negative strides
        View(3, 2, 40, 41, flip=True),  # resized by Pillow first, then mirrored
        View(47, 63, 1, 1),  # one pixel, stretched
    ],
)
@pytest.mark.parametrize(("kind", "normalization"), [("iframe", "coviar"), ("rgb", "none")])
def test_compiled_8bit_normalisation_equals_numpy_bit_for_bit(view, kind, normalization, monkeypatch):
    frames = np.random.default_rng(view.top).integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    monkeypatch.setenv("PKD_JIT", "0")
    expected = apply_view(frames, kind, view, 24, normalization)
    monkeypatch.setenv("PKD_JIT", "1")
    assert jit.kernels("transform_kernels") is not None
    got = apply_view(frames, kind, view, 24, normalization)
    assert got.shape == (3, 3, 24, 24) and expected.tobytes() == got.tobytes()


def test_single_frame_gops_give_zero_motion_either_way(tmp_path, monkeypatch):
    from pkd_plugins.video.encoding import EncoderSettings, write_video

    from .conftest import moving_square

    path = tmp_path / "all_keyframes.avi"
    write_video(path, moving_square(6), settings=EncoderSettings(width=128, height=96, gop=1, scene_cuts=False))
    for setting in ("0", "1"):
        monkeypatch.setenv("PKD_JIT", setting)
        out = read_representations(path, [0, 3, 5], ACCUMULATED)
        assert not out["mv"].any() and not out["residual"].any() and out["iframe"].any()


def test_asked_for_but_unavailable_numba_falls_back_to_numpy_after_one_warning(known_motion, monkeypatch):
    monkeypatch.setenv("PKD_JIT", "1")  # asked for (or installed: auto), but it cannot be imported
    expected = read_representations(known_motion.path, [3, 9, 15], ACCUMULATED)
    monkeypatch.setitem(sys.modules, "numba", None)  # `import numba` now fails, as where it is not installed
    for name in [module for module in sys.modules if module.startswith("pkd_plugins.video.") and module.endswith("_kernels")]:
        monkeypatch.delitem(sys.modules, name)
    jit.reset()
    try:
        with pytest.warns(jit.JitUnavailable, match="numba") as caught:
            first = read_representations(known_motion.path, [3, 9, 15], ACCUMULATED)
            second = read_representations(known_motion.path, [4, 10], ACCUMULATED)
        assert len([w for w in caught if issubclass(w.category, jit.JitUnavailable)]) == 1
        assert trace_class("integer") is IntegerTrace and len(second["mv"]) == 2
        for key in ACCUMULATED:
            assert first[key].tobytes() == expected[key].tobytes()
    finally:
        jit.reset()
        TracePool._free().clear()


def test_pkd_jit_0_chooses_numpy_without_a_warning(monkeypatch):
    monkeypatch.setenv("PKD_JIT", "0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jit.kernels("trace_kernels") is None and trace_class("integer") is IntegerTrace


def test_numba_not_installed_and_not_asked_for_is_numpy_without_a_warning(monkeypatch):
    monkeypatch.delenv("PKD_JIT", raising=False)  # auto, the default: numba where it is installed
    assert trace_class("integer") is compiled.CompiledIntegerTrace
    monkeypatch.setitem(sys.modules, "numba", None)  # as where it is not installed
    jit.reset()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert trace_class("integer") is IntegerTrace
    finally:
        jit.reset()
