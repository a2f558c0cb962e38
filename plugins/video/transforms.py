"""Crops, flips, resizing and normalisation of decoded representations, as CoViAR trains and tests.

Every modality of a clip gets the same crop box and flip, so the I-frame, motion
and residual networks see the same region. Motion vectors are vectors, not
colours: resizing scales them by the resize factor (CoViAR omits this) and a
horizontal flip negates dx.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

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


def apply_view(frames: np.ndarray, kind: str, view: View, size: int, normalization: str) -> torch.Tensor:
    """``frames`` (``[T, H, W, C]``) cut to ``view``, resized to ``size x size``, flipped, normalised: ``float32 [T, C, size, size]``."""
    region = frames[:, view.top : view.top + view.height, view.left : view.left + view.width]
    clip = torch.from_numpy(np.ascontiguousarray(region)).permute(0, 3, 1, 2).float()
    if (view.height, view.width) != (size, size):
        clip = F.interpolate(clip, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        if kind == "mv":  # a vector field stretched by (sx, sy) has vectors stretched by the same
            clip[:, 0] *= size / view.width
            clip[:, 1] *= size / view.height
    if view.flip:
        clip = clip.flip(-1)
        if kind == "mv":
            clip[:, 0] = -clip[:, 0]
    return normalize(clip, kind, normalization)


def normalize(clip: torch.Tensor, kind: str, normalization: str) -> torch.Tensor:
    """CoViAR's input normalisation of one kind of representation (``[T, C, H, W]``), or nothing."""
    if normalization == "none":
        return clip
    if kind == "mv":
        return (clip * (127.5 / MV_SATURATION) + 128).clamp_(0, 255) / 255 - 0.5
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    if kind == "residual":
        return ((clip + 128).clamp_(0, 255) / 255 - 0.5) / std
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    return (clip / 255 - mean) / std
