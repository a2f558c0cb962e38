"""The synthetic actions data set: real compressed videos in HMDB51's layout, generated from a seed.

Layout under ``root``::

    videos/<class>/<video>.avi          MPEG-4 Part 2, GOP 12, no B-frames (the training format)
    splits/<class>_test_split{1,2,3}.txt   HMDB51's split format: '<video> <tag>', 1 train, 2 test
    synthetic.json                      the settings it was made with, written last

so the HMDB51 reader serves it. Video names mimic HMDB51's awkward ones
(spaces, parentheses, '+', '!'). Every video is a function of the settings and
the seed only; files are written atomically, so an interrupted generation
resumes where it stopped.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pkd_plugins.video.encoding import EncoderSettings, ignore_interrupts, write_video
from pkd_plugins.video.scenes import APPEARANCES, MOTIONS, SceneSettings, render
from pkd_toolkit.api import PkdError, atomic_path, writable_folder, write_text

MARKER = "synthetic.json"
TRAIN_FRACTION = 0.7  # HMDB51's 70/30 splits
FPS = 25


@dataclass(frozen=True)
class SyntheticSpec:
    """Everything a synthetic data set is a function of."""

    motions: tuple[str, ...]
    appearances: tuple[str, ...]
    videos_per_class: int
    frames: int
    width: int
    height: int
    seed: int = 0

    @classmethod
    def preset(cls, name: str, seed: int = 0) -> SyntheticSpec:
        presets = {
            # tests: 4 classes, 24 videos of 64x48
            "tiny": cls(MOTIONS[:2], APPEARANCES[:2], videos_per_class=6, frames=24, width=64, height=48, seed=seed),
            # the quickstart: 12 classes, 192 videos of 128x96
            "small": cls(MOTIONS, APPEARANCES, videos_per_class=16, frames=36, width=128, height=96, seed=seed),
            # comparing methods: 12 classes, 360 videos of 160x128
            "benchmark": cls(MOTIONS, APPEARANCES, videos_per_class=30, frames=48, width=160, height=128, seed=seed),
        }
        return presets[name]

    @classmethod
    def from_config(cls, config) -> SyntheticSpec:
        spec = cls.preset(config.preset, config.seed)
        overrides = {}
        if config.videos_per_class is not None:
            overrides["videos_per_class"] = config.videos_per_class
        if config.frames is not None:
            overrides["frames"] = config.frames
        if config.frame_size is not None:
            overrides["width"], overrides["height"] = config.frame_size
        return cls(**{**asdict(spec), **overrides})

    @property
    def class_names(self) -> list[str]:
        return sorted(f"{motion}_{appearance}" for motion in self.motions for appearance in self.appearances)

    def video_name(self, class_name: str, number: int) -> str:
        return f"{class_name} take ({number:03d})+!.avi"

    def as_json(self) -> dict[str, object]:
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}


def _render_one(spec: SyntheticSpec, class_name: str, number: int, path: Path) -> None:
    motion, appearance = class_name.split("_")
    label = spec.class_names.index(class_name)
    generator = np.random.default_rng([spec.seed, label, number])
    frames = render(motion, appearance, SceneSettings(spec.width, spec.height, spec.frames), generator)
    with atomic_path(path) as temporary:
        write_video(temporary, frames, fps=FPS, settings=EncoderSettings(width=spec.width, height=spec.height), muxer="avi")


def generate(root: Path, spec: SyntheticSpec, *, jobs: int = 1, progress: Callable[[int, int], None] | None = None) -> None:
    """Write the data set under ``root``, skipping videos already there; the marker file is written last."""
    root = Path(root)
    todo = []
    for class_name in spec.class_names:
        for number in range(spec.videos_per_class):
            path = root / "videos" / class_name / spec.video_name(class_name, number)
            if not path.is_file():
                todo.append((class_name, number, path))
    done = spec.videos_per_class * len(spec.class_names) - len(todo)
    total = done + len(todo)
    if progress:
        progress(done, total)
    jobs = min(jobs, len(todo) // 16)  # starting a process costs about as much as rendering a dozen small videos
    if jobs > 1:
        # spawn: the caller may be a process with torch's threads running, where fork is unsafe
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn, initializer=ignore_interrupts) as pool:
            for _ in pool.map(_render_one, *zip(*[(spec, c, n, p) for c, n, p in todo], strict=True)):
                done += 1
                if progress:
                    progress(done, total)
    else:
        for class_name, number, path in todo:
            _render_one(spec, class_name, number, path)
            done += 1
            if progress:
                progress(done, total)
    _write_splits(root / "splits", spec)
    write_text(root / MARKER, json.dumps(spec.as_json(), indent=2) + "\n")


def _write_splits(folder: Path, spec: SyntheticSpec) -> None:
    train = max(1, round(TRAIN_FRACTION * spec.videos_per_class))
    for split in (1, 2, 3):
        for label, class_name in enumerate(spec.class_names):
            order = np.random.default_rng([spec.seed, split, label]).permutation(spec.videos_per_class)
            tags = {int(number): (1 if rank < train else 2) for rank, number in enumerate(order)}
            lines = [f"{spec.video_name(class_name, number)} {tags[number]}" for number in range(spec.videos_per_class)]
            write_text(folder / f"{class_name}_test_split{split}.txt", "\n".join(lines) + "\n")


def ensure_generated(
    root: Path, spec: SyntheticSpec, *, jobs: int = 1, progress: Callable[[int, int], None] | None = None
) -> None:
    """Generate the data set under ``root`` unless it is there already; refuse a different one."""
    marker = Path(root) / MARKER
    if marker.is_file():
        try:
            found = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PkdError(f"{marker}: unreadable ({error}); delete the folder to generate it again") from None
        if found != spec.as_json():
            differences = ", ".join(
                f"{key} {found.get(key)!r} (asked {value!r})" for key, value in spec.as_json().items() if found.get(key) != value
            )
            raise PkdError(
                f"{root}: holds a synthetic data set made with other settings: {differences}; "
                "choose another data.root or delete that folder"
            )
        return
    writable_folder(root, "the data set")
    generate(Path(root), spec, jobs=jobs, progress=progress)
