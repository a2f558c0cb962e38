"""Writing videos in the training format with PyAV: MPEG-4 Part 2 (or H.264), fixed GOP, no B-frames.

CoViAR's format is MPEG-4 Part 2 at 340x256, quantiser scale 1, GOP 12 and no
B-frames, so every GOP is one I-frame and P-frames that each predict from the
frame before. The H.264 option keeps that shape: no B-frames, one reference
frame. FFmpeg may start a GOP early at a scene cut; readers find GOPs from the
keyframe flags.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.video.reformatter import VideoReformatter

Codec = Literal["mpeg4", "h264"]
# FFmpeg's lambda per quantiser step: global_quality = qscale * FF_QP2LAMBDA sets a fixed quantiser.
FF_QP2LAMBDA = 118
# Containers that can hold both codecs, by suffix; anything else is written as MP4.
MUXERS = {".avi": "avi", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


@dataclass(frozen=True)
class EncoderSettings:
    """How videos are encoded; the defaults are CoViAR's."""

    codec: Codec = "mpeg4"
    width: int = 340
    height: int = 256
    gop: int = 12
    qscale: int = 1  # MPEG-4 Part 2: fixed quantiser, 1 = best
    crf: int = 18  # H.264: constant rate factor
    scene_cuts: bool = True  # let FFmpeg start a GOP early at a scene change, as the ffmpeg command line does

    def describe(self) -> dict[str, object]:
        quality = {"qscale": self.qscale} if self.codec == "mpeg4" else {"crf": self.crf, "refs": 1}
        return {"codec": self.codec, "width": self.width, "height": self.height, "gop": self.gop, "b_frames": 0, **quality}


def muxer_for(path: Path) -> str:
    return MUXERS.get(path.suffix.lower(), "mp4")


class VideoWriter:
    """Encodes RGB frames (``uint8 [H, W, 3]``, resized when needed) or PyAV frames into ``path``.

    ``path`` may carry any suffix (e.g. a temporary ``.part`` file): ``muxer``
    names the container, by default the one of ``path``'s suffix.
    """

    def __init__(self, path: Path | str, fps: float | Fraction, settings: EncoderSettings, *, muxer: str | None = None):
        path = Path(path)
        self.settings = settings
        self.container = av.open(f"file:{os.path.abspath(path)}", "w", format=muxer or muxer_for(path))
        rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(25)
        codec = "libx264" if settings.codec == "h264" else "mpeg4"
        self.stream = self.container.add_stream(codec, rate=rate)
        self._time_base = 1 / rate  # frames are numbered 0, 1, 2, ... whatever their source's timestamps
        self.stream.width, self.stream.height = settings.width, settings.height
        self.stream.pix_fmt = "yuv420p"
        context = self.stream.codec_context
        context.thread_count = 1  # parallelism comes from encoding several files at once
        context.gop_size = settings.gop
        context.max_b_frames = 0
        if settings.codec == "mpeg4":
            context.qscale = True
            context.global_quality = settings.qscale * FF_QP2LAMBDA
            if not settings.scene_cuts:
                context.options = {"sc_threshold": "1000000000"}
        else:
            params = f"keyint={settings.gop}:min-keyint=1:bframes=0:ref=1"
            if not settings.scene_cuts:
                params += ":scenecut=0"
            context.options = {"crf": str(settings.crf), "preset": "veryfast", "x264-params": params}
        self.frames = 0
        self._reformatter = VideoReformatter()  # one for all frames: a fresh one per frame costs more than the conversion

    def add(self, frame: np.ndarray | av.VideoFrame) -> None:
        if isinstance(frame, np.ndarray):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if (frame.width, frame.height) != (self.settings.width, self.settings.height) or frame.format.name != "yuv420p":
            frame = self._reformatter.reformat(
                frame, self.settings.width, self.settings.height, "yuv420p", interpolation="BICUBIC", threads=1
            )
        frame.pts, frame.time_base = self.frames, self._time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
        finally:
            self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.container.close()


def write_video(
    path: Path | str,
    frames: Iterable[np.ndarray],
    *,
    fps: float = 25,
    settings: EncoderSettings | None = None,
    muxer: str | None = None,
) -> int:
    """Encode RGB frames into ``path`` (not atomically: callers that need it write to a temporary path); return the count."""
    settings = settings or EncoderSettings()
    with VideoWriter(path, fps, settings, muxer=muxer) as writer:
        for frame in frames:
            writer.add(frame)
        return writer.frames


def ignore_interrupts() -> None:
    """Initializer of the worker processes that encode videos: Ctrl-C reaches every process of the terminal's
    process group, and only the main process answers it (one message, the manifest saved); a worker finishes
    the video it is writing, whole, and ends when the main process shuts the pool down."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
