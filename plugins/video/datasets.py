"""Video dataset components: lists of labelled videos, served as clips of compressed-domain modalities.

A component is cheap to build: lists are read when ``classes`` or a split is
first asked for, videos when clips are. Bad videos never stop a DataLoader:
with ``on_error: skip`` (the default) a video that cannot be read is reported
once (a :class:`BadVideoWarning`), recorded in :meth:`VideoDataset.skipped`,
replaced by another video in training (as mmaction2 does), and evaluated as
zeros with its own label and index, so score files keep one row per listed
video.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset as TorchDataset

from pkd_plugins.video.bad_videos import BadVideoLog
from pkd_plugins.video.config import ClipSettings, SyntheticActionsConfig
from pkd_plugins.video.container import read_index
from pkd_plugins.video.errors import VideoError
from pkd_plugins.video.file_inputs import VideoFileInputs
from pkd_plugins.video.formats import (
    Listing,
    folder_classes,
    hmdb51_classes,
    read_folder,
    read_hmdb51,
    read_ucf101,
    ucf101_classes,
    ucf101_group,
    video_finder,
)
from pkd_plugins.video.jit import kernels
from pkd_plugins.video.modalities import Representation, representations_of
from pkd_plugins.video.representations import DecodedVideo, read_representations
from pkd_plugins.video.sampling import centred_positions, random_positions
from pkd_plugins.video.transforms import apply_view, evaluation_views, multiscale_view
from pkd_toolkit.api import PkdError, UsageError

SPLITS = ("train", "test")
# A training sample is replaced by another at most this many times in a row before the loader gives up.
MAX_REPLACEMENTS = 20


@dataclass(frozen=True)
class VideoEntry:
    video: str  # identifier: the path relative to the root, as listed
    path: Path
    label: int


class VideoDataset:
    """Common behaviour of the video datasets; subclasses say where the lists and videos are."""

    def __init__(self, config: ClipSettings):
        self.config = config
        self.root: Path = config.root  # every dataset's config has one: the videos, <class>/<video>
        self.input_size = (config.size, config.size)
        self._memory: dict[tuple[Path, tuple], DecodedVideo] = {}
        self._log: BadVideoLog | None = None

    # -- what subclasses provide -------------------------------------------------

    def class_names(self) -> list[str]:
        """Class names, read cheaply (list file names or folders, no video)."""
        raise NotImplementedError

    def read_listing(self) -> Listing:
        raise NotImplementedError

    # -- the Dataset protocol -------------------------------------------------------

    # The class count the format fixes (HMDB51: 51), used when the lists are not there to count
    # (e.g. `pkd summary` on a recipe before the data set is downloaded).
    format_classes: int | None = None

    @property
    def num_classes(self) -> int:
        if self.format_classes is not None and not Path(self.config.splits).exists():
            return self.format_classes
        return len(self.classes)

    @cached_property
    def classes(self) -> list[str]:
        return self.class_names()

    def split(self, name: str, *, modalities: Mapping[str, object], training: bool) -> ClipDataset:
        """The clips of split ``name``; see :class:`ClipDataset`."""
        wanted = representations_of(modalities)
        if self._log is None:
            self._log = BadVideoLog()  # made here, before any DataLoader worker starts
        return ClipDataset(self._entries(name), wanted, self.config, training, self._log, self._memory)

    def videos(self, name: str) -> list[str]:
        return [entry.video for entry in self._entries(name)]

    def labels(self, name: str) -> list[int]:
        return [entry.label for entry in self._entries(name)]

    def groups(self, name: str) -> list[str] | None:
        """UCF-101's groups (``gNN``: clips cut from one longer video); no grouping for the other formats."""
        return None

    def open_file(self, path: Path, *, modalities: Mapping[str, object]) -> VideoFileInputs:
        """Test-time inputs of one file, decoded as far as they are asked for; an unusable file raises a :class:`VideoError`."""
        return VideoFileInputs(Path(path), representations_of(modalities), self.config)

    def skipped(self) -> list[dict[str, str]]:
        """Videos that could not be read so far, by any process: ``{"sample", "path", "problem"}`` each."""
        return self._log.entries() if self._log is not None else []

    # -- lists ------------------------------------------------------------------------

    def _entries(self, name: str) -> list[VideoEntry]:
        if name not in SPLITS:
            raise UsageError(f"unknown split {name!r} (choices: {', '.join(SPLITS)})")
        return self._resolved[name]

    @cached_property
    def _resolved(self) -> dict[str, list[VideoEntry]]:
        """Listed videos found on disk, per split; missing ones are reported once and left out."""
        listing = self.read_listing()
        if not self.root.is_dir():
            raise PkdError(f"{self.root}: no such folder; expected the videos there as <class>/<video> (set the recipe's data.root)")
        find = video_finder(self.root)
        resolved: dict[str, list[VideoEntry]] = {}
        for name in SPLITS:
            samples = listing.splits.get(name, [])
            entries, missing = [], []
            for sample in samples:
                path = find(sample.video)
                if path is None:
                    missing.append(sample.video)
                else:
                    entries.append(VideoEntry(sample.video, path, sample.label))
            if samples and not entries:
                raise PkdError(
                    f"{self.root}: none of the {len(samples)} {name} videos listed is there "
                    f"(first: {missing[0]}); is data.root the folder of <class>/<video> files?"
                )
            if missing:
                shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
                warnings.warn(f"{self.root}: {len(missing)} listed {name} videos are missing and left out: {shown}", stacklevel=2)
            resolved[name] = entries
        return resolved


class Hmdb51(VideoDataset):
    """HMDB51 with its official split files (splits 1-3)."""

    format_classes = 51

    def class_names(self) -> list[str]:
        return hmdb51_classes(self.config.splits, self.config.split)

    def read_listing(self) -> Listing:
        return read_hmdb51(self.config.splits, self.config.split)


class Ucf101(VideoDataset):
    """UCF-101 with its ucfTrainTestlist (splits 1-3)."""

    format_classes = 101

    def class_names(self) -> list[str]:
        return ucf101_classes(self.config.splits)

    def read_listing(self) -> Listing:
        return read_ucf101(self.config.splits, self.config.split)


    def groups(self, name: str) -> list[str]:
        return [ucf101_group(video) for video in self.videos(name)]


class FolderDataset(VideoDataset):
    """A folder per class with a list file per split."""

    def class_names(self) -> list[str]:
        return folder_classes(self.root)

    def read_listing(self) -> Listing:
        return read_folder(self.root, {"train": self.config.train_list, "test": self.config.test_list})


class SyntheticActions(VideoDataset):
    """Synthetic actions, generated into ``root`` on first use and read through the HMDB51 code path."""

    def __init__(self, config: SyntheticActionsConfig):
        super().__init__(config)
        from pkd_plugins.video.synthetic import SyntheticSpec

        self.spec = SyntheticSpec.from_config(config)
        self.root = config.root / "videos"

    def class_names(self) -> list[str]:
        return self.spec.class_names  # known without generating anything

    def read_listing(self) -> Listing:
        from pkd_plugins.video.synthetic import ensure_generated

        ensure_generated(self.config.root, self.spec, jobs=os.cpu_count() or 1)
        return read_hmdb51(self.config.root / "splits", self.config.split)


class ClipDataset(TorchDataset):
    """The clips of one split: ``{"inputs": {key: float32 [S, C, size, size]}, "label": int, "index": int}``.

    Training: ``segments`` random frames (one per TSN segment), one multi-scale
    crop and flip for the whole clip. Evaluation: ``test_clips x test_segments``
    centred frames times ``test_crops`` views, stacked on the segment axis.
    """

    def __init__(
        self,
        entries: Sequence[VideoEntry],
        wanted: Mapping[str, Representation],
        config: ClipSettings,
        training: bool,
        log: BadVideoLog,
        memory: dict,
    ):
        self.entries, self.wanted, self.config, self.training = list(entries), dict(wanted), config, training
        self.log, self.memory = log, memory
        for compiled in ("trace_kernels", "transform_kernels"):  # loaded once here: DataLoader workers forked later inherit them
            kernels(compiled)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> dict:
        for attempt in range(MAX_REPLACEMENTS):
            entry = self.entries[index]
            try:
                inputs = self._inputs(entry)
            except VideoError as error:
                if self.config.on_error == "raise":
                    raise
                if not self.training:  # keep the row: the video is scored on zeros
                    self.log.record(entry.video, entry.path, str(error.problem), "evaluated as zeros")
                    return {"inputs": self._zeros(), "label": entry.label, "index": index}
                self.log.record(entry.video, entry.path, str(error.problem), "another video is used in its place")
                index = int(torch.randint(len(self.entries), ()).item())
                continue
            return {"inputs": inputs, "label": entry.label, "index": index}
        raise PkdError(f"{MAX_REPLACEMENTS} videos in a row could not be read (the last: {entry.path}); is the data set intact?")

    def _inputs(self, entry: VideoEntry) -> dict[str, torch.Tensor]:
        memory = None
        if self.config.cache == "memory":
            key = (entry.path, tuple(sorted(self.wanted.items())))
            memory = self.memory.get(key)
            if memory is None:
                memory = self.memory[key] = DecodedVideo.decode(entry.path, self.wanted)
        return clip_inputs(entry.path, self.wanted, self.config, training=self.training, memory=memory)

    def _zeros(self) -> dict[str, torch.Tensor]:
        count, size = self.config.test_segments * self.config.test_clips * self.config.test_crops, self.config.size
        return {key: torch.zeros(count, r.channels, size, size) for key, r in self.wanted.items()}


def clip_inputs(
    path: Path,
    wanted: Mapping[str, Representation],
    config: ClipSettings,
    *,
    training: bool,
    memory: DecodedVideo | None = None,
) -> dict[str, torch.Tensor]:
    """Sample, decode and transform one clip of ``path``: ``{key: float32 [S, C, size, size]}``."""
    index = memory.index if memory is not None else read_index(path)
    if training:
        # Drawn from torch's generator, which the engine seeds per epoch and DataLoader per worker.
        generator = np.random.default_rng(int(torch.randint(2**62, ()).item()))
        positions = random_positions(index.frames, config.segments, generator)
        views = [multiscale_view(index.height, index.width, config.size, config.scales, config.flip, generator)]
    else:
        positions = centred_positions(index.frames, config.test_segments, config.test_clips)
        views = evaluation_views(index.height, index.width, config.size, config.resize_to, config.test_crops)
    arrays = read_representations(path, positions, wanted, index=index, memory=memory, reuse=True)  # copied out below
    inputs = {}
    for key, representation in wanted.items():
        frames = arrays[key]
        # every view written into one array, handed to torch once: torch's own copies run on its thread pool, slow here
        clip = np.empty((len(views) * len(frames), representation.channels, config.size, config.size), dtype=np.float32)
        for number, view in enumerate(views):
            part = clip[number * len(frames) : (number + 1) * len(frames)]
            apply_view(frames, representation.kind, view, config.size, config.normalization, out=part)
        inputs[key] = torch.from_numpy(clip)
    return inputs
