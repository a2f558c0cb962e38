"""One video re-encoded into the training format, and judged: what ``pkd prepare`` runs per video, in a worker.

A video is refused (an :class:`Outcome` problem, listed in the report) when it
cannot be opened or decoded, is a still image, has frames it holds that do not
decode, or has data that stop before the duration it declares (truncated). Not
by its declared frame count: a variable-frame-rate AVI declares every frame
slot and holds pictures in only some of them. A destination that cannot be
written is not the video's fault: it raises :class:`DestinationError`, which
stops the whole run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from pkd_plugins.video.encoding import EncoderSettings, VideoWriter, muxer_for
from pkd_plugins.video.errors import VideoError
from pkd_toolkit.api import UsageError, atomic_path


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    name: str  # the target's path relative to DST, the manifest's key


@dataclass
class Outcome:
    name: str
    source: str
    info: dict | None = None  # manifest entry when prepared
    problem: str | None = None  # why it failed


def video_info(path: Path, source: str) -> dict:
    """The manifest entry of a prepared video."""
    from pkd_plugins.video.container import read_index

    index = read_index(path)
    return {
        "source": source,
        "frames": index.frames,
        "gop_starts": list(index.keyframes),
        "bytes": path.stat().st_size,
        "duration": round(index.duration, 3),
        "fps": round(index.fps, 3),
        "width": index.width,
        "height": index.height,
    }


class DestinationError(UsageError):
    """DST (or a folder in it) cannot be written: the destination is at fault, not the video; prepare stops."""


def encode(job: Job, settings: EncoderSettings, source_root: Path) -> Outcome:
    """Re-encode one video (in a worker process); every problem of the video becomes an :class:`Outcome` problem,
    a destination that cannot be written raises :class:`DestinationError`."""
    import av

    from pkd_plugins.video.container import open_video

    source_name = job.source.relative_to(source_root).as_posix()
    with writing_into(job.target):
        for stale in job.target.parent.glob(f".{job.target.name}.*.part"):  # left by a killed run
            stale.unlink(missing_ok=True)
    try:
        with open_video(job.source) as container, ExitStack() as writing:
            stream = container.streams.video[0]
            if container.format.name == "image2" or container.format.name.endswith("_pipe"):
                raise VideoError(job.source, f"a still image ({container.format.name}), not a video")
            with writing_into(job.target):
                temporary = writing.enter_context(atomic_path(job.target, durable=True))
                rate = stream.average_rate or stream.guessed_rate or 25
                writer = writing.enter_context(VideoWriter(temporary, rate, settings, muxer=muxer_for(job.target)))
            held = _copy_frames(container, stream, writer, job.target)
            _check_complete(job.source, stream, writer.frames, held)
            with writing_into(job.target):
                writing.close()  # the last frames, then the rename
        return Outcome(job.name, source_name, info=video_info(job.target, source_name))
    except VideoError as error:
        return Outcome(job.name, source_name, problem=error.problem)
    except (av.FFmpegError, OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        return Outcome(job.name, source_name, problem=f"cannot be decoded ({reason})")


@dataclass
class _Held:
    """What the container really holds: packets with data, and where their timestamps end."""

    packets: int = 0
    end: int | None = None  # largest pts + duration, in the stream's time base


def _copy_frames(container, stream, writer: VideoWriter, target: Path) -> _Held:
    held = _Held()
    for packet in container.demux(stream):
        if packet.size:
            held.packets += 1
            if packet.pts is not None:
                held.end = max(held.end or 0, packet.pts + (packet.duration or 0))
        for frame in packet.decode():  # the last, empty packet flushes the decoder
            with writing_into(target):
                writer.add(frame)
    return held


def _check_complete(source: Path, stream, decoded: int, held: _Held) -> None:
    """Refuse a video whose frames could not all be decoded, or whose data stop before its declared end.

    The declared frame count is not the measure: a variable-frame-rate AVI declares every frame slot and
    holds pictures in only some of them. Decoded frames are compared with the packets the file holds, and the
    packets' last timestamp with the declared duration (a file cut short stops early).
    """
    if decoded == 0:
        raise VideoError(source, "no frame could be decoded")
    if decoded < held.packets - 1:  # off by one is common in AVI indexes
        raise VideoError(source, f"corrupt: {decoded} of the {held.packets} frames it holds decoded")
    if held.end is not None and stream.duration and stream.average_rate:
        slot = 1 / (float(stream.average_rate) * float(stream.time_base))  # one frame, in time-base units
        if held.end < (stream.start_time or 0) + stream.duration - 1.5 * slot:
            seconds = float(stream.duration * stream.time_base)
            reached = float(held.end * stream.time_base)
            raise VideoError(source, f"truncated: its data end at {reached:.2f} s of the {seconds:.2f} s it declares")
    elif stream.frames and held.packets < stream.frames - 1:  # no timestamps to go by: count frames
        raise VideoError(source, f"truncated or corrupt: {held.packets} of {stream.frames} frames held")


@contextmanager
def writing_into(target: Path) -> Iterator[None]:
    """Turn a failure to write into ``target``'s folder into :class:`DestinationError`."""
    try:
        yield
    except OSError as error:
        folder = target.parent
        raise DestinationError(
            f"{folder}: cannot write the prepared videos there ({error.strerror or error}); "
            "the destination is at fault, not the videos"
        ) from None
