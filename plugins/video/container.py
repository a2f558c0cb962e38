"""Opening video files with PyAV: the GOP index of a video and decoding one GOP at a time.

:func:`read_index` scans a video's packets once (no decoding) and returns its
:class:`VideoIndex`: frame count, keyframes (GOP starts, from the keyframe
flags, never ``index // 12``), timestamps and whether its stream can be
represented in the compressed domain. :class:`GopDecoder` then decodes only the
GOPs a clip needs, each from its keyframe up to the furthest frame needed, by
seeking to the keyframe, with one codec thread (DataLoader workers run in
parallel already). Every failure becomes a :class:`VideoError` naming the file.

Over 300 lines on purpose: the index, the GOP decoder and the PyAV quirks they
work around (seeking, side data, H.264 references) are one concern, and
splitting them would spread those quirks over several files.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from pkd_plugins.video.errors import UnsupportedVideo, VideoError
from pkd_plugins.video.h264 import max_reference_frames

# Codecs whose exported motion vectors this plugin can represent (one past reference per P-frame).
MOTION_CODECS = ("mpeg4", "h264")
_PICTURE_TYPE_B = 3


def _ffmpeg_reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


def open_video(path: Path, *, export_motion_vectors: bool = False) -> av.container.InputContainer:
    """Open ``path`` for reading its first video stream with one decoding thread."""
    path = Path(path)
    if not path.exists():
        raise VideoError(path, "no such file")
    if path.is_dir():
        raise VideoError(path, "is a folder, not a video file")
    if path.stat().st_size == 0:
        raise VideoError(path, "the file is empty (0 bytes)")
    try:
        # The explicit file: protocol keeps names such as "a:b.avi" from being read as a URL scheme.
        container = av.open(f"file:{os.path.abspath(path)}", metadata_errors="ignore")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoError(path, f"not a readable video file ({_ffmpeg_reason(error)})") from None
    if not container.streams.video:
        kinds = sorted({str(stream.type) for stream in container.streams})
        container.close()
        raise VideoError(path, f"has no video stream ({', '.join(kinds) or 'no'} streams only)")
    context = container.streams.video[0].codec_context
    context.thread_count = 1
    if export_motion_vectors:
        context.options = {"flags2": "+export_mvs"}
    return container


@dataclass(frozen=True)
class VideoIndex:
    """What one scan of a video's packets tells: frames, GOPs, timestamps and stream properties."""

    path: Path
    codec: str
    width: int
    height: int
    fps: float
    frames: int
    keyframes: tuple[int, ...]  # frame index of every keyframe: the GOP starts
    pts: tuple[int, ...] | None  # presentation timestamp of every frame; None when the container has none
    time_base: float
    reorders_frames: bool  # B-frames: decode order differs from display order
    reference_frames: int | None  # most reference frames a P-frame may use; None when unknown

    @property
    def duration(self) -> float:
        return self.frames / self.fps if self.fps > 0 else 0.0

    @property
    def gop_lengths(self) -> list[int]:
        ends = [*self.keyframes[1:], self.frames]
        return [end - start for start, end in zip(self.keyframes, ends, strict=True)]

    def gop_start(self, frame: int) -> int:
        """The keyframe that starts the GOP of ``frame``."""
        return self.keyframes[bisect.bisect_right(self.keyframes, frame) - 1]

    def is_keyframe(self, frame: int) -> bool:
        position = bisect.bisect_left(self.keyframes, frame)
        return position < len(self.keyframes) and self.keyframes[position] == frame

    def motion_frame(self, frame: int) -> int | None:
        """The frame whose motion represents position ``frame``: itself when it is a P-frame.

        Keyframes carry no motion; CoViAR then uses the previous P-frame. Before
        the first P-frame the next one is used; a video without P-frames has none (None).
        """
        for candidate in range(frame, -1, -1):
            if not self.is_keyframe(candidate):
                return candidate
        for candidate in range(frame + 1, self.frames):
            if not self.is_keyframe(candidate):
                return candidate
        return None

    def frame_problem(self) -> str | None:
        """Why frames cannot be addressed by decode order, or None."""
        if self.reorders_frames:
            return "the stream has B-frames (frames are decoded out of display order)"
        if not self.keyframes or self.keyframes[0] != 0:
            return "the stream does not start with a keyframe"
        return None

    def motion_problem(self) -> str | None:
        """Why motion vectors and residuals cannot be represented, or None."""
        problem = self.frame_problem()
        if problem is not None:
            return problem
        if self.codec not in MOTION_CODECS:
            return f"motion vectors of {self.codec!r} streams are not supported (only MPEG-4 Part 2 and H.264)"
        if self.reference_frames is None:
            return f"the number of reference frames of this {self.codec} stream cannot be read"
        if self.reference_frames > 1:
            return f"P-frames may use {self.reference_frames} reference frames; motion vectors need exactly 1"
        return None

    def require(self, *, motion: bool) -> None:
        """Raise :class:`UnsupportedVideo` unless the stream can give frames (and motion when asked)."""
        problem = self.motion_problem() if motion else self.frame_problem()
        if problem is not None:
            raise UnsupportedVideo(self.path, problem)


def read_index(path: Path | str) -> VideoIndex:
    """Scan the packets of ``path`` (cached per file, size and modification time)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is None or stat.st_size == 0:
        open_video(path).close()  # raises the right error for a missing or empty file
    return _cached_index(str(path), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=65536)
def _cached_index(path: str, size: int, modified: int) -> VideoIndex:
    del size, modified  # part of the cache key only
    with open_video(Path(path)) as container:
        stream = container.streams.video[0]
        context = stream.codec_context
        pts: list[int | None] = []
        keyframes: list[int] = []
        first_keyframe: bytes | None = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if packet.is_keyframe:
                    keyframes.append(len(pts))
                    if first_keyframe is None and context.name == "h264":
                        first_keyframe = bytes(packet)
                pts.append(packet.pts)
        except av.FFmpegError as error:
            raise VideoError(path, f"corrupt video data ({_ffmpeg_reason(error)})") from None
        if not pts:
            raise VideoError(path, "the video stream holds no frames")
        known = all(value is not None for value in pts)
        increasing = known and all(a < b for a, b in zip(pts, pts[1:]))
        references = 1 if context.name != "h264" else max_reference_frames(context.extradata, first_keyframe)
        rate = stream.average_rate or stream.guessed_rate
        return VideoIndex(
            path=Path(path),
            codec=context.name,
            width=context.width,
            height=context.height,
            fps=float(rate) if rate else 0.0,
            frames=len(pts),
            keyframes=tuple(keyframes),
            pts=tuple(pts) if increasing else None,
            time_base=float(stream.time_base) if stream.time_base else 0.0,
            reorders_frames=bool(context.has_b_frames) or (known and not increasing),
            reference_frames=references,
        )


class GopDecoder:
    """Decodes whole-GOP prefixes of one open video, seeking to each keyframe."""

    def __init__(self, container: av.container.InputContainer, index: VideoIndex):
        self.container = container
        self.stream = container.streams.video[0]
        self.index = index
        self._frame_of_pts = {value: frame for frame, value in enumerate(index.pts)} if index.pts else None
        self._packets: Iterator[av.Packet] | None = None  # the demuxer, once reading has started
        self._next_packet = 0  # frame index of the next packet it gives

    def frames(self, start: int, last: int) -> Iterator[tuple[int, av.VideoFrame]]:
        """``(frame index, frame)`` for every frame from keyframe ``start`` to ``last``."""
        try:
            yield from self._frames(start, last)
        except av.FFmpegError as error:
            raise VideoError(self.index.path, f"corrupt video data near frame {start} ({_ffmpeg_reason(error)})") from None

    def _frames(self, start: int, last: int) -> Iterator[tuple[int, av.VideoFrame]]:
        self._position_at(start)
        wanted = start
        for packet in self._demux():
            for frame in self._decode(packet):
                yield wanted, frame
                wanted += 1
                if wanted > last:
                    return
        for frame in self._decode(None):  # the decoder's delayed frames at the end of the file
            yield wanted, frame
            wanted += 1
            if wanted > last:
                return
        raise VideoError(self.index.path, f"the video ends before frame {last} ({wanted} frames decoded)")

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        frames = self.stream.codec_context.decode(packet)
        if packet is None:
            self.stream.codec_context.flush_buffers()
        if any(_picture_type(frame) == _PICTURE_TYPE_B for frame in frames):
            raise UnsupportedVideo(self.index.path, "the stream has B-frames")
        return frames

    def _demux(self) -> Iterator[av.Packet]:
        assert self._packets is not None
        for packet in self._packets:
            if packet.size == 0:
                continue
            self._next_packet += 1
            yield packet

    def _position_at(self, start: int) -> None:
        """Make the next demuxed packet the keyframe ``start``, with a flushed decoder."""
        if self._packets is None and start == 0:  # a fresh container is at the first keyframe
            self._packets = self.container.demux(self.stream)
            return
        if self._packets is not None and self._next_packet == start:  # the previous GOP ended right before it
            self.stream.codec_context.flush_buffers()
            return
        if self._frame_of_pts is not None and start > 0:
            self.container.seek(self.index.pts[start], stream=self.stream, backward=True, any_frame=False)
            self._packets = self.container.demux(self.stream)
            if self._skip_to(start):
                return
        # No usable timestamps, or the seek landed after the keyframe: read from the beginning.
        self.container.seek(self.index.pts[0] if self.index.pts else 0, stream=self.stream, backward=True)
        self._packets = self.container.demux(self.stream)
        self._next_packet = 0
        if start > 0:
            for _ in self._demux():  # skipped unread: demuxing is cheap next to decoding
                if self._next_packet == start:
                    break
        self.stream.codec_context.flush_buffers()

    def _skip_to(self, start: int) -> bool:
        """After a seek: drop packets before ``start``; False when the demuxer is past it."""
        assert self._packets is not None and self._frame_of_pts is not None
        for packet in self._packets:
            if packet.size == 0:
                continue
            frame = self._frame_of_pts.get(packet.pts)
            if frame is None or frame > start:
                return False
            if frame == start:
                self._next_packet = start
                self._packets = _chain(packet, self._packets)
                self.stream.codec_context.flush_buffers()
                return True
        return False


def _chain(first: av.Packet, rest: Iterator[av.Packet]) -> Iterator[av.Packet]:
    yield first
    yield from rest


def _picture_type(frame: av.VideoFrame) -> int:
    kind = frame.pict_type  # an int in PyAV 18, an enum member in later versions
    return int(getattr(kind, "value", kind))


def motion_vector_records(frame: av.VideoFrame) -> np.ndarray | None:
    """The structured motion-vector records FFmpeg attached to ``frame``, or None (keyframes, intra frames).

    Read through a side-data container of our own: ``frame.side_data`` caches one
    on the frame, a reference cycle that keeps every decoded frame (and its
    picture buffers) alive until the garbage collector runs, which costs more
    than decoding a P-frame's vectors. The returned array reads the frame's
    side data in place and keeps the frame alive while it is referenced.
    """
    side_data = _own_side_data(frame)
    if side_data is None:
        side_data = frame.side_data
    vectors = side_data.get("MOTION_VECTORS") if hasattr(side_data, "get") else None
    if vectors is None:
        vectors = next((item for item in side_data if getattr(item.type, "name", "") == "MOTION_VECTORS"), None)
    return None if vectors is None else _records(vectors)


try:
    from av.sidedata.sidedata import SideDataContainer as _SideDataContainer
except ImportError:  # pragma: no cover - other PyAV layouts use the frame's own container
    _SideDataContainer = None


def _own_side_data(frame: av.VideoFrame):
    """A side-data container that the frame does not keep, or None where this PyAV cannot make one."""
    if _SideDataContainer is None:
        return None
    try:
        return _SideDataContainer(frame)
    except (TypeError, RuntimeError):  # pragma: no cover - a PyAV that builds it only for the frame
        return None


_RECORD_DTYPE: list[np.dtype] = []  # FFmpeg's AVMotionVector as PyAV describes it, learnt from the first frame


def _records(vectors) -> np.ndarray:
    if not _RECORD_DTYPE:
        records = vectors.to_ndarray()
        _RECORD_DTYPE.append(records.dtype)
        return records
    return np.frombuffer(vectors, dtype=_RECORD_DTYPE[0])  # what to_ndarray does, without building the dtype again
