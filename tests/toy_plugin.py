"""The ``toy`` test plugin: a dataset of tiny random tensors whose class is visible in their mean.

Enough to drive the engine end to end in seconds without decoding video.
Loaded in-process by tests/conftest.py, and through real entry-point metadata
by the tests that start ``pkd`` in a subprocess.

Faults for the tests that start ``pkd`` under torchrun, set in that process's environment:
``PKD_TOY_EXIT_AT=<rank>:<n>``: the process of that rank dies (``os._exit``, no clean-up) when it
reads its n-th training sample; ``PKD_TOY_INTERRUPT_AFTER=<stage>:<epoch>``: every process stops
as on Ctrl-C at the end of that epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pydantic import Field

from pkd_toolkit.api import ComponentConfig, DatasetConfig, hookimpl


class ToyDatasetConfig(DatasetConfig):
    classes: int = Field(default=3, ge=2)
    train_size: int = Field(default=24, ge=0)
    test_size: int = Field(default=12, ge=0)
    size: int = 16
    segments: int = 2
    noise: float = 1.0
    group_size: int | None = None


class ToyModalityConfig(ComponentConfig):
    channels: int = 3


class ToyClips:
    """Sample i of class i % classes: noise plus a class-specific offset per channel."""

    def __init__(self, config: ToyDatasetConfig, count: int, modalities, training: bool, salt: int):
        self.config, self.count, self.modalities, self.training, self.salt = config, count, modalities, training, salt

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        import torch

        if self.training:
            _maybe_die()
        label = index % self.config.classes
        inputs = {}
        for key, modality in self.modalities.items():
            generator = torch.Generator().manual_seed(self.salt * 100_003 + index * 31 + len(key))
            shape = (self.config.segments, modality.channels, self.config.size, self.config.size)
            clip = torch.randn(shape, generator=generator) * self.config.noise
            if self.training:  # augmentation: fresh noise from the global generator the engine seeds
                clip = clip + 0.1 * torch.randn(shape)
            clip[:, label % modality.channels] += 1.0 + 0.5 * (label // modality.channels)
            inputs[key] = clip
        return {"inputs": inputs, "label": label, "index": index}


class ToyFileInputs:
    """One sample's inputs, made when a modality is first loaded; ``LOADS`` records every ``(key, rows)`` asked for."""

    LOADS: list[tuple[str, list[int]]] = []

    def __init__(self, clips: ToyClips, index: int):
        self.clips, self.index = clips, index
        self.segments = clips.config.segments

    def load(self, key, rows=None):
        rows = list(range(self.segments)) if rows is None else [int(row) for row in rows]
        ToyFileInputs.LOADS.append((key, rows))
        return self.clips[self.index]["inputs"][key][rows]


class ToyDataset:
    def __init__(self, config: ToyDatasetConfig):
        self.config = config
        self.num_classes = config.classes
        self.input_size = (config.size, config.size)

    @property
    def classes(self):
        return [f"class{i}" for i in range(self.config.classes)]

    def split(self, name, *, modalities, training):
        count = self.config.train_size if name == "train" else self.config.test_size
        return ToyClips(self.config, count, modalities, training, salt=0 if name == "train" else 1)

    def videos(self, name):
        count = self.config.train_size if name == "train" else self.config.test_size
        return [f"{name}/{i:04d}" for i in range(count)]

    def labels(self, name):
        count = self.config.train_size if name == "train" else self.config.test_size
        return [index % self.config.classes for index in range(count)]

    def groups(self, name):
        """Samples come in "sessions" of ``group_size`` consecutive indices (None: no grouping)."""
        if self.config.group_size is None:
            return None
        return [f"session{index // self.config.group_size}" for index in range(len(self.videos(name)))]

    def open_file(self, path, *, modalities):
        """A file ``.../<split>/<index>`` holds that sample of the split (test-time inputs)."""
        from pathlib import Path

        from pkd_toolkit.api import PkdError

        path = Path(path)
        if not path.is_file() or path.parent.name not in ("train", "test") or not path.name.isdigit():
            raise PkdError(f"{path}: not a toy sample file (<split>/<index>)")
        count = self.config.train_size if path.parent.name == "train" else self.config.test_size
        salt = 0 if path.parent.name == "train" else 1
        return ToyFileInputs(ToyClips(self.config, count, modalities, False, salt=salt), int(path.name))

    def skipped(self):
        return []  # every toy sample can be read


@dataclass
class ToyModality:
    name: str
    channels: int


def _toy_modality(config: ToyModalityConfig) -> ToyModality:
    return ToyModality("toy", config.channels)


@hookimpl
def pkd_add_datasets(registry):
    registry.add("toy", ToyDataset, config=ToyDatasetConfig, help="tiny random tensors for tests")


@hookimpl
def pkd_add_modalities(registry):
    registry.add("toy", _toy_modality, config=ToyModalityConfig)


_training_samples_read = 0


def _maybe_die() -> None:
    global _training_samples_read
    _training_samples_read += 1
    rank, _, count = os.environ.get("PKD_TOY_EXIT_AT", "").partition(":")
    if rank == os.environ.get("RANK") and count and _training_samples_read == int(count):
        os._exit(3)


@hookimpl
def pkd_epoch_end(run, stage, epoch, metrics):
    if os.environ.get("PKD_TOY_INTERRUPT_AFTER") == f"{stage.name}:{epoch}":
        raise KeyboardInterrupt
