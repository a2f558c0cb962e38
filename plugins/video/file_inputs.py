"""One video's test-time inputs for ``pkd predict``, decoded only as far as the early exit asks.

:class:`VideoFileInputs` follows :class:`pkd_toolkit.api.FileInputs`. Opening
reads the video's index (no decoding) and checks that its stream can give what
the modalities need. ``load(key, rows)`` decodes the sampled positions those
rows need and that were not decoded yet, and transforms only those rows. A
decode also computes the other modalities whose frames it has just decoded
(for a residual: its motion vectors, and the I-frames of the GOPs it read):
they cost little once the frames are decoded, and a later exit that needs them
then decodes nothing more. Their crops and normalisation wait until asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from pkd_plugins.video.config import ClipSettings
from pkd_plugins.video.container import read_index
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.representations import gop_prefixes, read_representations
from pkd_plugins.video.sampling import centred_positions
from pkd_plugins.video.transforms import apply_view, evaluation_views
from pkd_toolkit.api import UsageError


class VideoFileInputs:
    """The rows of a test-time clip (``test_crops x test_clips x test_segments``, crop-major) of one video, per modality."""

    def __init__(self, path: Path, wanted: Mapping[str, Representation], config: ClipSettings):
        self.path, self.wanted, self.config = Path(path), dict(wanted), config
        self.index = read_index(self.path)
        self.index.require(motion=any(r.uses_motion for r in self.wanted.values()))
        self.positions = centred_positions(self.index.frames, config.test_segments, config.test_clips)
        self.views = evaluation_views(self.index.height, self.index.width, config.size, config.resize_to, config.test_crops)
        self.segments = len(self.views) * len(self.positions)
        self._frames: dict[str, dict[int, np.ndarray]] = {key: {} for key in self.wanted}  # decoded, per position slot

    def load(self, key: str, rows: Sequence[int] | None = None) -> torch.Tensor:
        if key not in self.wanted:
            raise UsageError(f"{self.path}: no modality {key!r} was asked for (known: {', '.join(self.wanted)})")
        rows = list(range(self.segments)) if rows is None else [int(row) for row in rows]
        if any(not 0 <= row < self.segments for row in rows):
            raise UsageError(f"{self.path}: rows {rows} of a clip of {self.segments} segments")
        slots = sorted({row % len(self.positions) for row in rows})
        missing = [slot for slot in slots if slot not in self._frames[key]]
        if missing:
            self._decode(key, missing)
        representation, size = self.wanted[key], self.config.size
        clip = np.empty((len(rows), representation.channels, size, size), dtype=np.float32)
        for number, row in enumerate(rows):
            view = self.views[row // len(self.positions)]
            frame = self._frames[key][row % len(self.positions)][None]
            apply_view(frame, representation.kind, view, size, self.config.normalization, out=clip[number : number + 1])
        return torch.from_numpy(clip)

    def _decode(self, key: str, slots: list[int]) -> None:
        """Decode ``key`` at these position slots, with every modality those decoded frames already give."""
        positions = [self.positions[slot] for slot in slots]
        decoded = dict(gop_prefixes(self.index, positions, {key: self.wanted[key]}))  # keyframe -> last frame decoded
        along = {
            other: representation
            for other, representation in self.wanted.items()
            if other == key
            or (
                any(slot not in self._frames[other] for slot in slots)
                and _covered(gop_prefixes(self.index, positions, {other: representation}), decoded)
            )
        }
        arrays = read_representations(self.path, positions, along, index=self.index)
        for other, frames in arrays.items():
            for slot, frame in zip(slots, frames, strict=True):
                self._frames[other].setdefault(slot, frame)


def _covered(prefixes: list[tuple[int, int]], decoded: dict[int, int]) -> bool:
    """Whether every GOP prefix is within the ones decoded (nothing more to decode)."""
    return all(start in decoded and last <= decoded[start] for start, last in prefixes)
