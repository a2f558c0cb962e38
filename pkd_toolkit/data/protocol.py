"""What the engine expects of dataset and modality components.

The core knows clips, labels and modalities, nothing about video. A dataset
component yields clips: for each of the recipe's modality keys a float tensor
``[segments, channels, height, width]`` (segments counts every segment of every
test clip), the class index and the sample index. The default collate of a
``torch.utils.data.DataLoader`` turns them into a :data:`ClipBatch`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypedDict

if TYPE_CHECKING:
    import torch
    from torch.utils.data import Dataset as TorchDataset

Split = Literal["train", "val", "test"]
"""A dataset component provides "train" and "test"; the core carves "val" out of "train" (``data.val``)."""


class Clip(TypedDict):
    """One sample: ``inputs[modality_key]`` is ``[segments, channels, H, W]``."""

    inputs: dict[str, torch.Tensor]
    label: int
    index: int


class ClipBatch(TypedDict):
    """A collated batch: ``inputs[modality_key]`` is ``[batch, segments, channels, H, W]``."""

    inputs: dict[str, torch.Tensor]
    label: torch.Tensor
    index: torch.Tensor


class SkippedSample(TypedDict):
    """A sample a dataset could not read: the report lists it. Datasets may add keys (a file's ``path``)."""

    sample: str  # its identifier, as ``Dataset.videos`` gives it
    problem: str


class Modality(Protocol):
    """A modality component: what a network sees of a clip. Datasets decide how to produce it."""

    name: str
    channels: int


class FileInputs(Protocol):
    """The test-time inputs of one file, computed on demand: what ``Dataset.open_file`` returns.

    ``load(key)`` is the clip ``[segments, C, H, W]`` that evaluation would give
    the modality ``key`` (every test clip and crop stacked on the segment axis);
    ``load(key, rows)`` only those rows of it, in that order, computing no more
    than they need. Loading the same key twice gives the same values.
    """

    segments: int
    """Rows of a whole clip (the segment axis of ``load(key)``)."""

    def load(self, key: str, rows: Sequence[int] | None = None) -> torch.Tensor:
        """Rows ``rows`` (default: all) of modality ``key``'s clip; an unreadable file raises a PkdError naming it."""


class Dataset(Protocol):
    """A dataset component. Building it must be cheap: files are read when a split is asked for."""

    num_classes: int
    """Number of classes, known without reading the data when the format fixes it."""

    input_size: tuple[int, int]
    """(height, width) of the tensors the networks receive (after cropping)."""

    @property
    def classes(self) -> Sequence[str]:
        """Class names, index = label. May read the data; raises PkdError when it is missing."""

    def split(self, name: Split, *, modalities: Mapping[str, Modality], training: bool) -> TorchDataset[Clip]:
        """The clips of one split.

        ``training=True``: random segments and augmentation (the train loader).
        ``training=False``: centred segments and test-time transforms, every
        test clip of a video stacked along the segment axis (evaluation and
        score files, also of the train split). ``modalities`` maps the recipe's
        modality keys to the built modality components.
        """

    def videos(self, name: Split) -> Sequence[str]:
        """Identifier of each sample of a split (e.g. its relative path), in index order."""

    def labels(self, name: Split) -> Sequence[int]:
        """The class index of each sample of a split, in index order, without reading the samples."""

    def groups(self, name: Split) -> Sequence[str] | None:
        """What must stay on one side when a validation split is carved (a recording session, an actor, a
        source video), per sample in index order; None when the data set knows no such grouping."""

    def open_file(self, path: Path, *, modalities: Mapping[str, Modality]) -> FileInputs:
        """One file outside the dataset (``pkd predict``), its test-time inputs read when asked for (:class:`FileInputs`).

        Checks that the file can be used (a :class:`~pkd_toolkit.errors.PkdError`
        naming it otherwise) and reads as little as that needs: an early exit
        that stops before a modality or a segment is needed never pays for it.
        """

    def skipped(self) -> Sequence[SkippedSample]:
        """The samples of any split that could not be read so far, each once (a dataset that never skips: ``[]``).

        Called by the engine once the score files are written; the report lists them.
        """

