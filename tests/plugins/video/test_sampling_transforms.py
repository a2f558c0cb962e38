"""TSN sampling, crops, flips that negate MV dx, resizing that scales MV values, CoViAR normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from pkd_plugins.video.sampling import centred_positions, random_positions
from pkd_plugins.video.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    View,
    apply_view,
    evaluation_views,
    multiscale_view,
    normalize,
)


def test_training_positions_fall_one_in_each_segment_and_vary():
    generator = np.random.default_rng(0)
    draws = np.array([random_positions(60, 3, generator) for _ in range(200)])
    for segment in range(3):
        assert draws[:, segment].min() >= 20 * segment and draws[:, segment].max() < 20 * (segment + 1)
        assert len(np.unique(draws[:, segment])) > 10  # random, not fixed


def test_test_positions_are_segment_centres_and_clips_shift_them():
    assert centred_positions(60, 3) == [10, 30, 50]
    assert centred_positions(60, 3, clips=2) == [5, 25, 45, 15, 35, 55]


def test_short_videos_repeat_frames_rather_than_fail():
    positions = random_positions(2, 5, np.random.default_rng(0))
    assert len(positions) == 5 and set(positions) <= {0, 1} and positions == sorted(positions)
    assert centred_positions(1, 25) == [0] * 25


def test_multiscale_crops_stay_inside_and_use_the_listed_sizes():
    generator = np.random.default_rng(1)
    scales = [1.0, 0.875, 0.75, 0.66]
    allowed = {224 if abs(round(256 * s) - 224) < 3 else round(256 * s) for s in scales}
    flips = 0
    for _ in range(300):
        view = multiscale_view(256, 340, 224, scales, True, generator)
        assert view.height in allowed and view.width in allowed
        assert 0 <= view.top and view.top + view.height <= 256 and 0 <= view.left and view.left + view.width <= 340
        flips += view.flip
    assert 100 < flips < 200


def test_ten_crops_are_corners_and_centre_then_their_mirror_images():
    views = evaluation_views(256, 340, 224, 256, 10)
    assert len(views) == 10 and [v.flip for v in views] == [False] * 5 + [True] * 5
    assert {(v.top, v.left) for v in views[:4]} == {(0, 0), (0, 116), (32, 0), (32, 116)}
    assert evaluation_views(256, 340, 224, 256, 1) == [View(16, 58, 224, 224)]


def test_flip_negates_dx_and_mirrors_the_field():
    field = np.zeros((1, 8, 8, 2), np.float32)
    field[0, :, :2] = (3.0, 1.0)  # motion to the right on the left edge
    flipped = apply_view(field, "mv", View(0, 0, 8, 8, flip=True), 8, "none")
    np.testing.assert_array_equal(flipped[0, 0, :, -2:], np.full((8, 2), -3.0))  # now on the right edge, moving left
    np.testing.assert_array_equal(flipped[0, 1, :, -2:], np.full((8, 2), 1.0))
    assert not flipped[0, :, :, :-2].any()


def test_resizing_scales_motion_vectors_by_the_resize_factor():
    field = np.tile(np.array([4.0, 2.0], np.float32), (1, 16, 32, 1))  # uniform motion
    resized = apply_view(field, "mv", View(0, 0, 16, 32), 8, "none")  # width x 1/4, height x 1/2
    np.testing.assert_allclose(resized, np.ones((1, 2, 8, 8)), rtol=1e-5)
    image = np.full((1, 16, 32, 3), 100, np.uint8)
    np.testing.assert_allclose(apply_view(image, "iframe", View(0, 0, 16, 32), 8, "none"), np.full((1, 3, 8, 8), 100.0))


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("mv", [0.0, 20.0, -40.0], [128 / 255 - 0.5, 255 / 255 - 0.5, 0 / 255 - 0.5]),  # saturates at +-20 px
        ("residual", [0.0, 200.0], [(128 / 255 - 0.5) / IMAGENET_STD[0], (255 / 255 - 0.5) / IMAGENET_STD[0]]),
        ("iframe", [0.0, 255.0], [(0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], (1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0]]),
    ],
)
def test_coviar_normalisation(kind, raw, expected):
    channels = 2 if kind == "mv" else 3
    values = np.zeros((1, 1, len(raw), channels), np.float32)
    values[0, 0, :, 0] = raw
    normalised = normalize(values.copy(), kind, "coviar")
    np.testing.assert_allclose(normalised[0, 0, :, 0], expected, atol=1e-5)
