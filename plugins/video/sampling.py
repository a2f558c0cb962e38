"""Which frames a clip uses: TSN segments (Wang et al.), as CoViAR samples them.

A video of ``n`` frames is cut into ``K`` equal segments. Training takes one
random frame in each; testing takes each segment's centre, or with ``C``
clips the points ``(c + 1/2) / C`` of the way through each segment. Whether a
position then reads an I-frame or a P-frame is the decoder's business
(:meth:`VideoIndex.motion_frame`).
"""

from __future__ import annotations

import numpy as np


def random_positions(frames: int, segments: int, generator: np.random.Generator) -> list[int]:
    """One random frame in each of ``segments`` equal parts of ``frames``."""
    edges = np.linspace(0, frames, segments + 1)
    starts = np.floor(edges[:-1]).astype(int)
    lengths = np.maximum(np.floor(edges[1:]).astype(int) - starts, 1)  # a short video repeats frames
    offsets = np.floor(generator.random(segments) * lengths).astype(int)
    return np.minimum(starts + offsets, frames - 1).tolist()


def centred_positions(frames: int, segments: int, clips: int = 1) -> list[int]:
    """Evenly spread frames: clip by clip, ``segments`` positions each (``clips * segments`` in all)."""
    positions = []
    for clip in range(clips):
        fractions = (np.arange(segments) + (clip + 0.5) / clips) / segments
        positions.extend(np.minimum(np.floor(fractions * frames).astype(int), frames - 1).tolist())
    return positions
