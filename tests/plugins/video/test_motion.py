"""Motion-vector fields and traces against plain per-pixel reference implementations."""

from __future__ import annotations

import numpy as np
import pytest

from pkd_plugins.video.motion import MotionVectorField
from pkd_plugins.video.tracing import IntegerTrace, SubpixelTrace

HEIGHT, WIDTH = 40, 52  # not multiples of 16: blocks reach past the frame


def random_table(
    generator: np.random.Generator, block: int | None, reach: int, scale: int = 2, height=HEIGHT, width=WIDTH, intra=0.15
) -> np.ndarray:
    """FFmpeg-style records (source, w, h, src_x, src_y, dst_x, dst_y, motion_x, motion_y, scale).

    Each 16x16 macroblock is one block of ``block`` pixels (8: four vectors, 4MV),
    or (``None``) split into 16, 8 or 4-pixel blocks at random, as H.264
    partitions it; a share ``intra`` of the blocks has no record.
    """
    rows = []
    for mb_top in range(0, height, 16):
        for mb_left in range(0, width, 16):
            size = block or int(generator.choice([16, 8, 4]))
            for top in range(mb_top, mb_top + 16, size):
                for left in range(mb_left, mb_left + 16, size):
                    if generator.random() < intra or top >= height or left >= width:
                        continue  # an intra block: no record
                    motion = generator.integers(-reach * scale, reach * scale + 1, size=2)
                    dst = np.array([left + size // 2, top + size // 2])
                    src = dst + np.trunc(motion / scale).astype(int)
                    rows.append([-1, size, size, *src, *dst, *motion, scale])
    return np.array(rows, dtype=np.int32).reshape(-1, 10)


def naive_field(table: np.ndarray, subpixel: bool = False) -> np.ndarray:
    field = np.zeros((HEIGHT, WIDTH, 2))
    for source, w, h, src_x, src_y, dst_x, dst_y, motion_x, motion_y, scale in table:
        value = (-motion_x / scale, -motion_y / scale) if subpixel else (dst_x - src_x, dst_y - src_y)
        field[max(dst_y - h // 2, 0) : dst_y + h // 2, max(dst_x - w // 2, 0) : dst_x + w // 2] = value
    return field


def naive_follow(source: np.ndarray, field: np.ndarray) -> np.ndarray:
    """R_t(p) = R_{t-1}(clamp(p - mv(p))), pixel by pixel."""
    result = np.empty_like(source)
    for y in range(HEIGHT):
        for x in range(WIDTH):
            dx, dy = field[y, x]
            result[y, x] = source[min(max(y - int(dy), 0), HEIGHT - 1), min(max(x - int(dx), 0), WIDTH - 1)]
    return result


@pytest.mark.parametrize("block", [16, 8, 4])
def test_field_paints_every_block_over_its_pixels(block):
    table = random_table(np.random.default_rng(block), block, reach=5)
    field = MotionVectorField.from_table(table, HEIGHT, WIDTH)
    np.testing.assert_array_equal(field.dense(), naive_field(table))


def test_field_with_mixed_block_sizes():
    generator = np.random.default_rng(1)
    table = random_table(generator, None, 3)
    np.testing.assert_array_equal(MotionVectorField.from_table(table, HEIGHT, WIDTH).dense(), naive_field(table))


def test_subpixel_field_uses_exact_motion_and_integer_field_the_truncated_positions():
    table = np.array([[-1, 16, 16, 8 - 1, 8 + 2, 8, 8, -3, 5, 2]], dtype=np.int32)  # motion (-1.5, 2.5)
    integer = MotionVectorField.from_table(table, HEIGHT, WIDTH).dense()[0, 0]
    subpixel = MotionVectorField.from_table(table, HEIGHT, WIDTH, "subpixel").dense()[0, 0]
    np.testing.assert_array_equal(integer, [1, -2])  # dst - src, with src truncated towards zero as FFmpeg does
    np.testing.assert_array_equal(subpixel, [1.5, -2.5])


def test_future_references_and_empty_tables_give_zero_motion():
    table = np.array([[1, 16, 16, 0, 0, 8, 8, 16, 16, 2]], dtype=np.int32)
    assert MotionVectorField.from_table(table, HEIGHT, WIDTH).is_zero
    assert not MotionVectorField.from_table(table[:0], HEIGHT, WIDTH).dense().any()


@pytest.mark.parametrize("reach", [3, 45])  # 45 > the trace's margin: explicit clamping
def test_integer_trace_composes_fields_like_the_per_pixel_definition(reach):
    generator = np.random.default_rng(reach)
    trace = IntegerTrace(HEIGHT, WIDTH)
    expected = np.arange(HEIGHT * WIDTH).reshape(HEIGHT, WIDTH)
    for _ in range(4):
        table = random_table(generator, 8, reach)
        trace.follow(MotionVectorField.from_table(table, HEIGHT, WIDTH))
        expected = naive_follow(expected, naive_field(table))
        np.testing.assert_array_equal(trace.source, expected)
    ys, xs = np.divmod(expected, WIDTH)
    grid_y, grid_x = np.mgrid[0:HEIGHT, 0:WIDTH]
    np.testing.assert_array_equal(trace.displacement(), np.stack([grid_x - xs, grid_y - ys], axis=-1))
    image = generator.integers(0, 255, size=(HEIGHT, WIDTH, 3))
    np.testing.assert_array_equal(trace.sample(image), image[ys, xs])


def test_subpixel_trace_agrees_with_the_integer_trace_on_whole_pixel_motion():
    generator = np.random.default_rng(7)
    integer, subpixel = IntegerTrace(HEIGHT, WIDTH), SubpixelTrace(HEIGHT, WIDTH)
    for _ in range(3):
        table = random_table(generator, 8, 4, scale=1)  # whole pixels: both precisions describe the same motion
        integer.follow(MotionVectorField.from_table(table, HEIGHT, WIDTH))
        subpixel.follow(MotionVectorField.from_table(table, HEIGHT, WIDTH, "subpixel"))
    np.testing.assert_allclose(subpixel.displacement(), integer.displacement(), atol=1e-4)


def test_subpixel_trace_moves_by_fractions():
    table = np.array([[-1, 16, 16, 0, 0, 8, 8, -1, 0, 2]], dtype=np.int32)  # half a pixel to the right
    trace = SubpixelTrace(HEIGHT, WIDTH)
    trace.follow(MotionVectorField.from_table(table, HEIGHT, WIDTH, "subpixel"))
    np.testing.assert_allclose(trace.displacement()[4:12, 4:12, 0], 0.5)
    image = np.tile(np.arange(WIDTH, dtype=np.float32), (HEIGHT, 1))[..., None]
    np.testing.assert_allclose(trace.sample(image)[5, 6, 0], 5.5)  # read between columns 5 and 6
