"""Every modality against a plain re-implementation of its definition, on whole small videos.

The reference paints FFmpeg's raw vectors pixel by pixel and follows the
traces with one clamped gather per frame over dense fields: nothing of the
plugin's cells, padded maps, block copies or batching. Integer modalities must
match exactly; sub-pixel ones to float32 rounding.
"""

from __future__ import annotations

import av
import numpy as np
import pytest

from pkd_plugins.video.container import read_index
from pkd_plugins.video.export import export_motion_vectors
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.representations import DecodedVideo, read_representations

ALL = {
    f"{kind}_{precision}_{'acc' if accumulate else 'frame'}": Representation(kind, accumulate, precision)
    for kind in ("mv", "residual")
    for accumulate in (True, False)
    for precision in ("integer", "subpixel")
}
ALL |= {"iframe": Representation("iframe"), "rgb": Representation("rgb")}


def dense_field(table: np.ndarray, height: int, width: int, subpixel: bool) -> np.ndarray:
    """(dx, dy) of every pixel: each past-reference block's vector over its pixels, in record order."""
    field = np.zeros((height, width, 2))
    for source, w, h, src_x, src_y, dst_x, dst_y, motion_x, motion_y, scale in table.tolist():
        left, top = dst_x - w // 2, dst_y - h // 2
        if source >= 0 or left < 0 or top < 0:
            continue
        vector = (-motion_x / max(scale, 1), -motion_y / max(scale, 1)) if subpixel else (dst_x - src_x, dst_y - src_y)
        if vector != (0, 0):
            field[top : top + h, left : left + w] = vector
    return field


def bilinear(image: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``image [H, W, C]`` at fractional positions, each of the four taps clamped to the frame."""
    height, width = image.shape[:2]
    y0, x0 = np.floor(y), np.floor(x)
    fy, fx = (y - y0)[..., None], (x - x0)[..., None]

    def tap(dy, dx):
        return image[np.clip(y0 + dy, 0, height - 1).astype(int), np.clip(x0 + dx, 0, width - 1).astype(int)]

    return (tap(0, 0) * (1 - fx) + tap(0, 1) * fx) * (1 - fy) + (tap(1, 0) * (1 - fx) + tap(1, 1) * fx) * fy


def reference(path, positions: list[int]) -> dict[str, np.ndarray]:
    """Every modality of ALL at every position, from the definitions (see the module docstring)."""
    index = read_index(path)
    height, width = index.height, index.width
    with av.open(str(path)) as container:
        rgb = [frame.to_ndarray(format="rgb24").astype(np.float64) for frame in container.decode(video=0)]
    tables = export_motion_vectors(path)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    fields = {precision: [dense_field(t, height, width, precision == "subpixel") for t in tables] for precision in ("integer", "subpixel")}
    # accumulated traces: the source position in the GOP's I-frame of every pixel of every frame
    traces: dict[str, list[np.ndarray]] = {"integer": [], "subpixel": []}
    for precision, trace in traces.items():
        for number in range(index.frames):
            if index.is_keyframe(number):
                position = np.stack([ys, xs], axis=-1)
            else:
                field = fields[precision][number]
                if precision == "integer":
                    rows = np.clip(ys - field[..., 1], 0, height - 1).astype(int)
                    columns = np.clip(xs - field[..., 0], 0, width - 1).astype(int)
                    position = trace[-1][rows, columns]
                else:
                    position = bilinear(trace[-1], ys - field[..., 1], xs - field[..., 0])
            trace.append(position)
    out = {key: [] for key in ALL}
    for position in positions:
        start = index.gop_start(position)
        out["iframe"].append(rgb[start])
        out["rgb"].append(rgb[position])
        frame = index.motion_frame(position)
        start = index.gop_start(frame)  # a position on an I-frame takes the P-frame before it, of the GOP before
        for precision in ("integer", "subpixel"):
            field = fields[precision][frame]
            source = traces[precision][frame]
            out[f"mv_{precision}_acc"].append(np.stack([xs - source[..., 1], ys - source[..., 0]], axis=-1))
            out[f"mv_{precision}_frame"].append(field)
            sy, sx = np.clip(source[..., 0], 0, height - 1), np.clip(source[..., 1], 0, width - 1)
            if precision == "integer":
                prediction = rgb[start][sy.astype(int), sx.astype(int)]
                step = rgb[frame - 1][np.clip(ys - field[..., 1], 0, height - 1).astype(int), np.clip(xs - field[..., 0], 0, width - 1).astype(int)]
            else:
                prediction = bilinear(rgb[start], sy, sx)
                step = bilinear(rgb[frame - 1], ys - field[..., 1], xs - field[..., 0])
            out[f"residual_{precision}_acc"].append(rgb[frame] - prediction)
            out[f"residual_{precision}_frame"].append(rgb[frame] - step)
    return {key: np.stack(values) for key, values in out.items()}


def check(path, positions: list[int], memory: bool = False) -> None:
    expected = reference(path, positions)
    got = read_representations(path, positions, ALL, memory=DecodedVideo.decode(path, ALL) if memory else None)
    for key, representation in ALL.items():
        if representation.precision == "subpixel" and representation.uses_motion:  # float32 positions, float64 here
            np.testing.assert_allclose(got[key], expected[key], atol=1e-3 if representation.kind == "mv" else 1e-2, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_every_modality_of_every_frame_matches_the_definitions(known_motion):
    check(known_motion.path, list(range(read_index(known_motion.path).frames)))


@pytest.mark.parametrize("memory", [False, True])
def test_synthetic_videos_with_camera_motion_match_the_definitions(tiny_synthetic, memory):
    videos = sorted((tiny_synthetic / "videos").rglob("*.avi"))[::6]
    for video in videos:
        check(video, [3, 11, 12, 20, 5, 23], memory=memory)


def test_h264_blocks_of_every_size_match_the_definitions(known_motion_h264):
    check(known_motion_h264.path, [1, 6, 11, 13, 23])
