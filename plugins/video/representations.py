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

Just over 300 lines: one pass over a clip's GOPs computes every representation;
the per-representation code is short and reads best beside that pass.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from pkd_plugins.video.container import GopDecoder, VideoIndex, motion_vector_records, open_video, read_index
from pkd_plugins.video.modalities import Precision, Representation
from pkd_plugins.video.motion import MotionVectorField, motion_fields
from pkd_plugins.video.tracing import TracePool


def read_representations(
    path: Path | str,
    positions: Sequence[int],
    wanted: Mapping[str, Representation],
    *,
    index: VideoIndex | None = None,
    memory: DecodedVideo | None = None,
    reuse: bool = False,
) -> dict[str, np.ndarray]:
    """For each key of ``wanted``, the representation at every position: ``[len(positions), H, W, C]``.

    Positions outside the video are clamped to it. With ``memory`` (a video
    decoded earlier) nothing is decoded. ``reuse=True`` writes into this
    thread's buffers rather than new arrays: the next call with ``reuse`` from
    the same thread overwrites them (for callers that copy the arrays out at
    once, as the loader's transforms do). Raises :class:`VideoError` for
    unreadable files and :class:`UnsupportedVideo` for streams that cannot
    give what is asked (e.g. B-frames).
    """
    index = memory.index if memory is not None else (index or read_index(path))
    motion = any(r.uses_motion for r in wanted.values())
    index.require(motion=motion)
    positions = [min(max(int(p), 0), index.frames - 1) for p in positions]
    plans = _plan(index, positions, wanted)
    outputs = _outputs(wanted, len(positions), index, plans, reuse)
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

    def records(self) -> np.ndarray | None:
        """A copy of the frame's motion-vector records (None without any): keeps nothing of the decoder's frame."""
        records = motion_vector_records(self._frame)
        # copied as raw bytes: numpy copies structured arrays field by field, far slower
        return None if records is None else records.view(np.uint8).copy().view(records.dtype)

    def field(self, precision: Precision) -> MotionVectorField:
        if precision not in self._fields:
            self._fields[precision] = motion_fields([self.records()], self._index.height, self._index.width, precision)[0]
        return self._fields[precision]


def _decoded(frames: Iterator[tuple[int, av.VideoFrame]], index: VideoIndex) -> Iterator[tuple[int, FrameData]]:
    reformatter = VideoReformatter()  # reused: a fresh one per frame costs more than the conversion
    for frame_index, frame in frames:
        yield frame_index, _DecodedFrame(frame, index, reformatter)


class _Motion:
    """The motion of some frames, kept while decoding: fields are painted for all of them at once when asked."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self._sources: dict[int, np.ndarray | None | FrameData] = {}
        self._fields: dict[Precision, dict[int, MotionVectorField]] = {}

    def add(self, frame_index: int, frame: FrameData) -> None:
        self._sources[frame_index] = frame.records() if isinstance(frame, _DecodedFrame) else frame

    def fields(self, precision: Precision) -> dict[int, MotionVectorField]:
        if precision not in self._fields:
            numbers, sources = list(self._sources), list(self._sources.values())
            if all(source is None or isinstance(source, np.ndarray) for source in sources):
                fields = motion_fields(sources, self.height, self.width, precision)
            else:  # frames kept in memory carry their fields
                fields = [source.field(precision) for source in sources]
            self._fields[precision] = dict(zip(numbers, fields, strict=True))
        return self._fields[precision]


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
        pictures, motion_of = [], _Motion(index.height, index.width)
        with open_video(index.path, export_motion_vectors=motion) as container:
            frames = GopDecoder(container, index).frames(0, index.frames - 1)
            for frame_index, frame in _decoded(frames, index):
                pictures.append(frame.rgb() if pixels else None)
                if precisions and not index.is_keyframe(frame_index):
                    motion_of.add(frame_index, frame)
        fields = {precision: motion_of.fields(precision) for precision in precisions}
        stored = [
            _StoredFrame(picture, {precision: fields[precision][number] for precision in precisions if number in fields[precision]})
            for number, picture in enumerate(pictures)
        ]
        return cls(index, tuple(stored))

    @property
    def nbytes(self) -> int:
        return sum(frame.pixels.nbytes for frame in self.stored if frame.pixels is not None)

    def frames(self, start: int, last: int) -> Iterator[tuple[int, FrameData]]:
        for frame_index in range(start, last + 1):
            yield frame_index, self.stored[frame_index]


def _outputs(
    wanted: Mapping[str, Representation], count: int, index: VideoIndex, plans: dict[int, _GopPlan], reuse: bool
) -> dict[str, np.ndarray]:
    """The output arrays: zeros where no frame is computed (no P-frame to take motion from), the rest left to be written."""
    outputs = {}
    for key, representation in wanted.items():
        dtype = np.uint8 if representation.kind in ("iframe", "rgb") else np.float32
        shape = (count, index.height, index.width, representation.channels)
        outputs[key] = _reused_buffer(key, shape, dtype) if reuse else np.empty(shape, dtype=dtype)
    written = {(key, slot) for plan in plans.values() for targets in plan.targets.values() for key, slot in targets}
    for key, output in outputs.items():
        for slot in range(count):
            if (key, slot) not in written:
                output[slot] = 0
    return outputs


_buffers = threading.local()


def _reused_buffer(key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """This thread's buffer for ``key``, made again only when the shape changes.

    A clip's float outputs are megabytes: fresh arrays come as fresh pages from
    the system, and faulting them in cost about a fifth of the extraction of
    accumulated MV and residual (measured by benchmarks/bench_loader.py).
    """
    kept = getattr(_buffers, "arrays", None)
    if kept is None:
        kept = _buffers.arrays = {}
    buffer = kept.get(key)
    if buffer is None or buffer.shape != shape or buffer.dtype != dtype:
        buffer = kept[key] = np.empty(shape, dtype=dtype)
    return buffer


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
    shown or subtracted, motion up to the last accumulated target and at the
    per-frame targets. The frames are decoded first, keeping those pixels and
    the motion records; the motion of the whole prefix is then painted at once
    (few numpy calls per GOP rather than per frame) and followed frame by frame.
    """

    def __init__(self, index: VideoIndex, plan: _GopPlan, wanted: Mapping[str, Representation], outputs):
        self.index, self.plan, self.wanted, self.outputs = index, plan, wanted, outputs
        targets = [(frame, wanted[key]) for frame, pairs in plan.targets.items() for key, _ in pairs]
        motion = [(frame, r) for frame, r in targets if r.uses_motion]
        self.trace_ends: dict[Precision, int] = {}  # the last frame each accumulated trace must reach
        for frame, r in motion:
            if r.accumulate:
                self.trace_ends[r.precision] = max(frame, self.trace_ends.get(r.precision, -1))
        self.trace_end = max(self.trace_ends.values(), default=-1)  # motion is read up to here, and at per-frame targets
        self.frame_motion = {frame for frame, r in motion if not r.accumulate}
        self.keep_keyframe = any(r.kind == "residual" and r.accumulate for _, r in motion)
        self.keep_previous = {frame - 1 for frame, r in motion if r.kind == "residual" and not r.accumulate}
        self.keep_rgb = {frame for frame, r in targets if r.kind != "mv"} | self.keep_previous
        self.keyframe_rgb: np.ndarray | None = None
        self.previous_rgb: np.ndarray | None = None

    def run(self, frames: Iterator[tuple[int, FrameData]]) -> None:
        start, height, width = self.plan.start, self.index.height, self.index.width
        pixels: dict[int, np.ndarray] = {}
        motion = _Motion(height, width)
        for frame_index, frame in frames:
            if frame_index in self.keep_rgb or (frame_index == start and self.keep_keyframe):
                pixels[frame_index] = frame.rgb()
            if start < frame_index <= self.trace_end or frame_index in self.frame_motion:
                motion.add(frame_index, frame)
        self.keyframe_rgb = pixels.get(start)
        traces = {precision: TracePool.take(height, width, precision) for precision in self.trace_ends}
        try:
            for frame_index in range(start, self.plan.last + 1):
                if frame_index != start:
                    for precision, end in self.trace_ends.items():
                        if end >= frame_index:
                            traces[precision].follow(motion.fields(precision)[frame_index])
                for key, slot in self.plan.targets.get(frame_index, []):
                    self._compute(self.wanted[key], frame_index, pixels, motion, traces, self.outputs[key][slot])
                if frame_index in self.keep_previous:
                    self.previous_rgb = pixels[frame_index]
        finally:
            for trace in traces.values():
                TracePool.give(trace)

    def _compute(self, representation: Representation, frame_index: int, pixels, motion: _Motion, traces, out: np.ndarray) -> None:
        """Write one representation of frame ``frame_index`` into ``out`` (an output slot)."""
        if representation.kind in ("iframe", "rgb"):
            out[...] = pixels[frame_index]
            return
        precision = representation.precision
        if representation.kind == "mv":
            if not representation.accumulate:
                out[...] = motion.fields(precision)[frame_index].dense()
            elif precision == "integer":
                traces[precision].displacement(out=out)
            else:
                out[...] = traces[precision].displacement()
            return
        if representation.accumulate:
            traces[precision].residual(pixels[frame_index], self.keyframe_rgb, out)
            return
        step = TracePool.take(self.index.height, self.index.width, precision)
        try:
            step.follow(motion.fields(precision)[frame_index])
            step.residual(pixels[frame_index], self.previous_rgb, out)
        finally:
            TracePool.give(step)
