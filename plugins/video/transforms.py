"""Crops, flips, resizing and normalisation of decoded representations, as CoViAR trains and tests.

Every modality of a clip gets the same crop box and flip, so the I-frame, motion
and residual networks see the same region. Motion vectors are vectors, not
colours: resizing scales them by the resize factor (CoViAR omits this) and a
horizontal flip negates dx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pkd_plugins.video.jit import kernels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MV_SATURATION = 20.0  # pixels: CoViAR's MV normalisation saturates beyond +-20


@dataclass(frozen=True)
class View:
    """A region of the decoded frame (source pixels), resized to the network's size, possibly flipped."""

    top: int
    left: int
    height: int
    width: int
    flip: bool = False


def multiscale_view(
    height: int, width: int, size: int, scales: Sequence[float], flip: bool, generator: np.random.Generator
) -> View:
    """TSN's multi-scale crop: sides from ``scales`` x the shorter side (at most one step apart), at one of 13 fixed places."""
    base = min(height, width)
    sides = [size if abs(round(base * scale) - size) < 3 else round(base * scale) for scale in scales]
    sides = [max(1, min(side, base)) for side in sides]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= 1]
    crop_h, crop_w = pairs[generator.integers(len(pairs))]
    step_y, step_x = (height - crop_h) / 4, (width - crop_w) / 4
    places = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    row, column = places[generator.integers(len(places))]
    mirrored = bool(flip and generator.random() < 0.5)
    return View(int(row * step_y), int(column * step_x), crop_h, crop_w, mirrored)


def evaluation_views(height: int, width: int, size: int, resize_to: int, crops: int) -> list[View]:
    """Resize the shorter side to ``resize_to``, then the centre crop (``crops=1``) or ten crops (corners, centre, flipped)."""
    scale = resize_to / min(height, width)
    side_h, side_w = min(height, round(size / scale)), min(width, round(size / scale))
    centre = View((height - side_h) // 2, (width - side_w) // 2, side_h, side_w)
    if crops == 1:
        return [centre]
    corners = [View(0, 0, side_h, side_w), View(0, width - side_w, side_h, side_w),
               View(height - side_h, 0, side_h, side_w), View(height - side_h, width - side_w, side_h, side_w), centre]  # fmt: skip
    return corners + [View(v.top, v.left, v.height, v.width, flip=True) for v in corners]


def apply_view(
    frames: np.ndarray, kind: str, view: View, size: int, normalization: str, out: np.ndarray | None = None
) -> np.ndarray:
    """``frames`` (``[T, H, W, C]``) cut to ``view``, resized to ``size x size``, flipped, normalised: ``float32 [T, C, size, size]``.

    Written into ``out`` when given (a clip's views go straight into one array).

    numpy and Pillow, single-threaded: torch's thread pool costs more than it
    gains on images this small, and a DataLoader runs one worker per core anyway.
    Normalisation is one pass per channel (a lookup table for 8-bit images),
    or for 8-bit images where numba works one compiled pass over every channel
    (:mod:`.transform_kernels`, the same tables: four times as fast).
    """
    region = frames[:, view.top : view.top + view.height, view.left : view.left + view.width]
    resized = (view.height, view.width) != (size, size)
    if resized:
        region = _resize(region, size)
    if view.flip:
        region = region[:, :, ::-1]
    count, _, _, channels = region.shape
    out = np.empty((count, channels, size, size), dtype=np.float32) if out is None else out
    if region.dtype == np.uint8 and kind != "mv" and out.dtype == np.float32 and out.flags.c_contiguous:
        compiled = kernels("transform_kernels")
        if compiled is not None:  # the same tables in one pass over the (cropped, flipped) view
            compiled.normalise_8bit(region, _lookup_tables(kind, normalization, channels), out)
            return out
    for channel, (low, high, scale, offset) in enumerate(channel_affine(kind, normalization, channels)):
        plane = region[..., channel]
        if kind == "mv":  # vectors: stretched with the image (CoViAR omits this), mirrored with it
            stretch = (size / (view.width if channel == 0 else view.height)) if resized else 1.0
            sign = -1.0 if view.flip and channel == 0 else 1.0
            low, high, scale = low / (stretch * sign), high / (stretch * sign), scale * stretch * sign
            low, high = min(low, high), max(low, high)
        if region.dtype == np.uint8:
            np.take(_lookup_table(low, high, scale, offset), plane, out=out[:, channel])
        else:
            np.clip(plane, low, high, out=out[:, channel])
            out[:, channel] *= scale
            out[:, channel] += offset
    return out


def channel_affine(kind: str, normalization: str, channels: int) -> list[tuple[float, float, float, float]]:
    """Per channel ``(low, high, scale, offset)``: normalised = clip(x, low, high) * scale + offset.

    CoViAR: MV ``clip(mv * 127.5 / 20 + 128, 0, 255) / 255 - 0.5``; residual
    ``(clip(r + 128, 0, 255) / 255 - 0.5) / std``; I-frame ``(x / 255 - mean) / std``.
    ``none``: the values as decoded.
    """
    if normalization == "none":
        return [(-np.inf, np.inf, 1.0, 0.0)] * channels
    if kind == "mv":
        per_level = 127.5 / MV_SATURATION
        return [(-128 / per_level, 127 / per_level, per_level / 255, 128 / 255 - 0.5)] * channels
    if kind == "residual":
        return [(-128.0, 127.0, 1 / (255 * std), (128 / 255 - 0.5) / std) for std in IMAGENET_STD]
    return [(0.0, 255.0, 1 / (255 * std), -mean / std) for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)]


def normalize(clip: np.ndarray, kind: str, normalization: str) -> np.ndarray:
    """Normalised copy of ``clip`` (``[T, H, W, C]``): see :func:`channel_affine`."""
    affine = channel_affine(kind, normalization, clip.shape[-1])
    return np.stack([np.clip(clip[..., c], low, high) * scale + offset for c, (low, high, scale, offset) in enumerate(affine)], axis=-1)


@lru_cache(maxsize=16)
def _lookup_tables(kind: str, normalization: str, channels: int) -> np.ndarray:
    """Every channel's table, ``float32 [channels, 256]``."""
    return np.stack([_lookup_table(*affine) for affine in channel_affine(kind, normalization, channels)])


@lru_cache(maxsize=64)
def _lookup_table(low: float, high: float, scale: float, offset: float) -> np.ndarray:
    return (np.clip(np.arange(256, dtype=np.float64), low, high) * scale + offset).astype(np.float32)


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of every frame to ``size x size`` with Pillow (antialiased when shrinking)."""
    from PIL import Image

    if frames.dtype == np.uint8:  # RGB images in one call each
        return np.stack([np.asarray(Image.fromarray(frame).resize((size, size), Image.BILINEAR)) for frame in frames])
    planes = [  # float images resize one channel at a time (Pillow's mode F)
        np.asarray(Image.fromarray(np.ascontiguousarray(frame[..., channel], dtype=np.float32)).resize((size, size), Image.BILINEAR))
        for frame in frames
        for channel in range(frames.shape[-1])
    ]
    return np.stack(planes).reshape(len(frames), frames.shape[-1], size, size).transpose(0, 2, 3, 1)
