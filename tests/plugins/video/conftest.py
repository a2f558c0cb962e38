"""Tiny videos made with PyAV for the video plugin's tests, made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from pkd_plugins.video.encoding import EncoderSettings, write_video
from pkd_plugins.video.synthetic import SyntheticSpec, generate

# ../shared/data beside the repository; a user's clone has none, and the tests using it skip.
SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


def shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"{path} is absent (real test data lives beside the repository, in ../shared/data)")
    return path


def textured_background(height: int, width: int) -> np.ndarray:
    """A smooth colourful pattern: block matching finds its true motion."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack(
        [100 + 40 * np.sin(xs / 9) * np.cos(ys / 7), 120 + 40 * np.cos(xs / 6 + ys / 11), 90 + 30 * np.sin((xs + ys) / 8)],
        axis=-1,
    )


def textured_square(side: int) -> np.ndarray:
    """A busier pattern than the background, in other colours."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    return np.stack(
        [200 + 40 * np.sin(xs / 3) * np.cos(ys / 4), 60 + 50 * np.cos(xs / 5 + ys / 3), 80 + 60 * np.sin((xs - ys) / 4)],
        axis=-1,
    )


@dataclass(frozen=True)
class KnownMotion:
    """A textured square of ``side`` pixels moving by ``velocity`` (dx, dy) per frame from ``start`` (x, y)."""

    path: Path
    frames: list[np.ndarray]
    velocity: tuple[int, int]
    start: tuple[int, int]
    side: int

    def corner(self, frame: int) -> tuple[int, int]:
        return self.start[0] + self.velocity[0] * frame, self.start[1] + self.velocity[1] * frame

    def core(self, frame: int, margin: int = 8) -> tuple[slice, slice]:
        """Rows and columns well inside the square at ``frame``."""
        x, y = self.corner(frame)
        return slice(y + margin, y + self.side - margin), slice(x + margin, x + self.side - margin)


def moving_square(count: int, velocity=(2, 2), start=(16, 10), side=40, size=(128, 96)) -> list[np.ndarray]:
    width, height = size
    background = textured_background(height, width)
    square = textured_square(side)
    frames = []
    for index in range(count):
        image = background.copy()
        x, y = start[0] + velocity[0] * index, start[1] + velocity[1] * index
        image[y : y + side, x : x + side] = square
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def _known(path: Path, codec: str) -> KnownMotion:
    frames = moving_square(24)
    write_video(path, frames, settings=EncoderSettings(codec=codec, width=128, height=96, scene_cuts=False))
    return KnownMotion(path, frames, (2, 2), (16, 10), 40)


@pytest.fixture(scope="session")
def known_motion(tmp_path_factory) -> KnownMotion:
    """MPEG-4 Part 2, 128x96, 24 frames, GOP 12: keyframes at 0 and 12."""
    return _known(tmp_path_factory.mktemp("known") / "square.mp4", "mpeg4")


@pytest.fixture(scope="session")
def known_motion_h264(tmp_path_factory) -> KnownMotion:
    return _known(tmp_path_factory.mktemp("known264") / "square.mp4", "h264")


def write_b_frame_video(path: Path, count: int = 20) -> Path:
    """An MPEG-4 video with B-frames, as raw HMDB51 files have."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.max_b_frames = 2
        for frame in moving_square(count, size=(64, 48), side=16, velocity=(1, 1), start=(4, 4)):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp2", rate=16000)
        samples = av.AudioFrame.from_ndarray(np.zeros((1, 1152), np.int16), format="s16", layout="mono")
        samples.sample_rate = 16000
        for packet in [*stream.encode(samples), *stream.encode(None)]:
            container.mux(packet)
    return path


@pytest.fixture(scope="session")
def bad_inputs(tmp_path_factory) -> dict[str, Path]:
    """One file per kind of bad input the issue lists (and the awkward but valid ones)."""
    folder = tmp_path_factory.mktemp("bad")
    good = moving_square(30, size=(64, 48), side=16, velocity=(1, 1), start=(4, 2))
    small = EncoderSettings(width=64, height=48)
    files = {"missing": folder / "missing.avi", "empty": folder / "empty.avi", "text": folder / "notes.avi"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is a text file, not a video\n" * 20)
    intact = folder / "intact.avi"
    write_video(intact, good, settings=small)
    data = intact.read_bytes()
    files["truncated"] = folder / "truncated.avi"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["truncated_mp4"] = folder / "truncated.mp4"
    write_video(folder / "whole.mp4", good, settings=small)
    files["truncated_mp4"].write_bytes((folder / "whole.mp4").read_bytes()[:-2000])
    files["audio_only"] = write_audio_only(folder / "sound.avi")
    files["b_frames"] = write_b_frame_video(folder / "bframes.mp4")
    files["single_frame"] = folder / "single.avi"
    write_video(files["single_frame"], good[:1], settings=small)
    files["tiny_16x16"] = folder / "tiny.avi"
    write_video(files["tiny_16x16"], [frame[:16, :16] for frame in good[:14]], settings=EncoderSettings(width=16, height=16))
    awkward = folder / "my videos (2)"
    awkward.mkdir()
    files["awkward_name"] = awkward / "Golf +300 (HQ) yards!!!.avi"
    write_video(files["awkward_name"], good, settings=small)
    return files


@pytest.fixture(scope="session")
def tiny_synthetic(tmp_path_factory) -> Path:
    """The tiny synthetic data set (4 classes, 24 videos of 64x48) in HMDB51's layout."""
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, SyntheticSpec.preset("tiny"), jobs=1)
    return root
