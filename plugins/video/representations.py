"""The compressed-domain modalities of chosen frames: I-frames, motion vectors, residuals (and plain RGB).

:func:`read_representations` opens a video once, decodes each GOP a clip needs
once and only up to the furthest frame needed, and computes, for every sampled
position, the representations asked for:

``iframe``
    the RGB image of the position's GOP keyframe, ``uint8 [H, W, 3]``.
``mv``
    forward motion ``(dx, dy)`` in pixels, ``float32 [H, W, 2]``; accumulated
    back to the I-frame (CoViAR) or of the frame alone; integer or sub-pixel.
``residual``
    frame minus its motion-compensated prediction, ``float32 [H, W, 3]`` in RGB
    levels: ``frame_t - I(R_t)`` accumulated, ``frame_t - warp(frame_{t-1}, mv_t)`` per frame.
``rgb``
    the decoded frame itself, ``uint8 [H, W, 3]``.

Motion vectors and residuals are taken at P-frames only (see
:meth:`VideoIndex.motion_frame`); a video without P-frames gives zeros.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from pkd_plugins.video.container import GopDecoder, VideoIndex, motion_vector_records, open_video, read_index
from pkd_plugins.video.modalities import Representation
from pkd_plugins.video.motion import MotionVectorField, Precision, Trace, new_trace


def read_representations(
    path: Path | str,
    positions: Sequence[int],
    wanted: Mapping[str, Representation],
    *,
    index: VideoIndex | None = None,
    memory: DecodedVideo | None = None,
) -> dict[str, np.ndarray]:
    """For each key of ``wanted``, the representation at every position: ``[len(positions), H, W, C]``.

    Positions outside the video are clamped to it. With ``memory`` (a video
    decoded earlier) nothing is decoded. Raises :class:`VideoError` for
    unreadable files and :class:`UnsupportedVideo` for streams that cannot
    give what is asked (e.g. B-frames).
    """
    index = memory.index if memory is not None else (index or read_index(path))
    motion = any(r.uses_motion for r in wanted.values())
    index.require(motion=motion)
    positions = [min(max(int(p), 0), index.frames - 1) for p in positions]
    outputs = {key: _empty_output(r, len(positions), index) for key, r in wanted.items()}
    plans = _plan(index, positions, wanted)
    if memory is not None:
        for start in sorted(plans):
            _GopPass(index, plans[start], wanted, outputs).run(memory.frames(start, plans[start].last))
    elif plans:  # (none when only motion is asked of a video without P-frames: zeros)
        with open_video(index.path, export_motion_vectors=motion) as container:
            decoder = GopDecoder(container, index)
            for start in sorted(plans):
                frames = decoder.frames(start, plans[start].last)
                _GopPass(index, plans[start], wanted, outputs).run(_decoded(frames, index))
    return outputs


class FrameData(Protocol):
    """What the computation needs of one frame: its pixels and its motion."""

    def rgb(self) -> np.ndarray: ...

    def field(self, precision: Precision) -> MotionVectorField: ...


class _DecodedFrame:
    """A frame straight from the decoder; converts to RGB and reads motion only when asked, once."""

    def __init__(self, frame: av.VideoFrame, index: VideoIndex, reformatter: VideoReformatter):
        self._frame, self._index, self._reformatter = frame, index, reformatter
        self._rgb: np.ndarray | None = None
        self._fields: dict[Precision, MotionVectorField] = {}

    def rgb(self) -> np.ndarray:
        if self._rgb is None:
            self._rgb = self._reformatter.reformat(self._frame, format="rgb24", threads=1).to_ndarray()
        return self._rgb

    def field(self, precision: Precision) -> MotionVectorField:
        if precision not in self._fields:
            records = motion_vector_records(self._frame)
            height, width = self._index.height, self._index.width
            if records is None or len(records) == 0:
                self._fields[precision] = MotionVectorField.zeros(height, width, precision)
            else:
                self._fields[precision] = MotionVectorField.from_records(records, height, width, precision)
        return self._fields[precision]


def _decoded(frames: Iterator[tuple[int, av.VideoFrame]], index: VideoIndex) -> Iterator[tuple[int, FrameData]]:
    reformatter = VideoReformatter()  # reused: a fresh one per frame costs more than the conversion
    for frame_index, frame in frames:
        yield frame_index, _DecodedFrame(frame, index, reformatter)


@dataclass(frozen=True)
class _StoredFrame:
    pixels: np.ndarray | None
    fields: dict[Precision, MotionVectorField]

    def rgb(self) -> np.ndarray:
        assert self.pixels is not None, "decoded without pixels"
        return self.pixels

    def field(self, precision: Precision) -> MotionVectorField:
        return self.fields[precision]


@dataclass(frozen=True)
class DecodedVideo:
    """Every frame of a video kept in memory: RGB pixels and per-cell motion, for repeated clips without decoding."""

    index: VideoIndex
    stored: tuple[_StoredFrame, ...]

    @classmethod
    def decode(cls, path: Path | str, wanted: Mapping[str, Representation], index: VideoIndex | None = None) -> DecodedVideo:
        """Decode all of ``path`` once, keeping what ``wanted`` can need."""
        index = index or read_index(path)
        motion = any(r.uses_motion for r in wanted.values())
        index.require(motion=motion)
        pixels = any(r.kind != "mv" for r in wanted.values())
        precisions = {r.precision for r in wanted.values() if r.uses_motion}
        stored = []
        with open_video(index.path, export_motion_vectors=motion) as container:
            frames = GopDecoder(container, index).frames(0, index.frames - 1)
            for frame_index, frame in _decoded(frames, index):
                keyframe = index.is_keyframe(frame_index)
                fields = {} if keyframe else {precision: frame.field(precision) for precision in precisions}
                stored.append(_StoredFrame(frame.rgb() if pixels else None, fields))
        return cls(index, tuple(stored))

    @property
    def nbytes(self) -> int:
        return sum(frame.pixels.nbytes for frame in self.stored if frame.pixels is not None)

    def frames(self, start: int, last: int) -> Iterator[tuple[int, FrameData]]:
        for frame_index in range(start, last + 1):
            yield frame_index, self.stored[frame_index]


def _empty_output(representation: Representation, count: int, index: VideoIndex) -> np.ndarray:
    dtype = np.uint8 if representation.kind in ("iframe", "rgb") else np.float32
    return np.zeros((count, index.height, index.width, representation.channels), dtype=dtype)


@dataclass
class _GopPlan:
    """What one GOP must deliver: for each frame, the (key, output slot) pairs computed there."""

    start: int
    targets: dict[int, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def last(self) -> int:
        return max(self.targets)


def gop_prefixes(index: VideoIndex, positions: Sequence[int], wanted: Mapping[str, Representation]) -> list[tuple[int, int]]:
    """``(keyframe, last frame)`` of every GOP prefix :func:`read_representations` decodes for these positions."""
    positions = [min(max(int(p), 0), index.frames - 1) for p in positions]
    return sorted((start, plan.last) for start, plan in _plan(index, positions, wanted).items())


def _plan(index: VideoIndex, positions: Sequence[int], wanted: Mapping[str, Representation]) -> dict[int, _GopPlan]:
    plans: dict[int, _GopPlan] = {}
    for key, representation in wanted.items():
        for slot, position in enumerate(positions):
            if representation.kind == "iframe":
                frame: int | None = index.gop_start(position)
            elif representation.kind == "rgb":
                frame = position
            else:
                frame = index.motion_frame(position)
            if frame is None:
                continue  # no P-frame anywhere: the output stays zero
            start = index.gop_start(frame)
            plans.setdefault(start, _GopPlan(start)).targets[frame].append((key, slot))
    return plans


class _GopPass:
    """Walks one GOP prefix and fills the outputs of its target frames.

    Work is done only when something needs it: RGB pixels of frames that are
    shown or subtracted, motion only while an accumulated target lies ahead or
    a per-frame target is here.
    """

    def __init__(self, index: VideoIndex, plan: _GopPlan, wanted: Mapping[str, Representation], outputs):
        self.index, self.plan, self.wanted, self.outputs = index, plan, wanted, outputs
        motion = [(frame, wanted[key]) for frame, targets in plan.targets.items() for key, _ in targets]
        motion = [(frame, r) for frame, r in motion if r.uses_motion]
        self.trace_ends: dict[Precision, int] = {}  # the last frame each accumulated trace must reach
        for frame, r in motion:
            if r.accumulate:
                self.trace_ends[r.precision] = max(frame, self.trace_ends.get(r.precision, -1))
        self.keep_keyframe = any(r.kind == "residual" and r.accumulate for _, r in motion)
        self.keep_previous = {frame - 1 for frame, r in motion if r.kind == "residual" and not r.accumulate}
        self.keyframe_rgb: np.ndarray | None = None
        self.previous_rgb: np.ndarray | None = None

    def run(self, frames: Iterator[tuple[int, FrameData]]) -> None:
        height, width = self.index.height, self.index.width
        traces = {precision: new_trace(height, width, precision) for precision in self.trace_ends}
        for frame_index, frame in frames:
            if frame_index == self.plan.start:
                if self.keep_keyframe:
                    self.keyframe_rgb = frame.rgb()
            else:
                for precision, end in self.trace_ends.items():
                    if end >= frame_index:
                        traces[precision].follow(frame.field(precision))
            for key, slot in self.plan.targets.get(frame_index, []):
                self.outputs[key][slot] = self._compute(self.wanted[key], frame, traces)
            if frame_index in self.keep_previous:
                self.previous_rgb = frame.rgb()

    def _compute(self, representation: Representation, frame: FrameData, traces: dict[Precision, Trace]) -> np.ndarray:
        if representation.kind in ("iframe", "rgb"):
            return frame.rgb()
        precision = representation.precision
        if representation.kind == "mv":
            return traces[precision].displacement() if representation.accumulate else frame.field(precision).dense()
        if representation.accumulate:
            prediction = traces[precision].sample(self.keyframe_rgb)
        else:
            step = new_trace(self.index.height, self.index.width, precision)
            step.follow(frame.field(precision))
            prediction = step.sample(self.previous_rgb)
        return np.subtract(frame.rgb(), prediction, dtype=np.float32)
