"""A validation split carved out of the training videos (``data.val``), by group, so settings are never chosen on
the test split.

A group is what must not be on both sides: a recording session, an actor, a
source video. The recipe may give a regular expression over the sample ids
(its first capture group, else its match, is the group); otherwise the
dataset's own groups (``Dataset.groups``) are used, and without either each
video is its own group (the run notes it). Whole groups go to the validation
split, drawn at random (seeded) until it holds the asked number of videos;
every class must keep training videos.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pkd_toolkit.data.protocol import Dataset, Modality, Split
from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.selection import ValidationSettings


@dataclass(frozen=True)
class Carving:
    """Which training samples (by index in the dataset's train split) train, which validate, and how it was cut."""

    train: list[int]
    val: list[int]
    groups: int  # groups drawn into the validation split
    grouped_by: str  # "the recipe's pattern ...", "the data set's groups" or "video (no groups)"


def carve_validation(
    ids: Sequence[str], labels: Sequence[int], dataset_groups: Sequence[str] | None, settings: ValidationSettings
) -> Carving:
    """Draw whole groups of the training samples into a validation split of ``settings.size`` videos."""
    count = len(ids)
    wanted = round(settings.size * count) if isinstance(settings.size, float) else settings.size
    if wanted < 1 or wanted >= count:
        raise UsageError(
            f"data.val: size {settings.size} asks for {wanted} of the {count} training videos; the validation split "
            f"needs at least 1 and must leave some to train on"
        )
    groups, grouped_by = _groups(ids, dataset_groups, settings.group)
    order = list(dict.fromkeys(groups))
    np.random.default_rng(settings.seed).shuffle(order)
    chosen: set[str] = set()
    taken = 0
    sizes = Counter(groups)
    for group in order:
        if taken >= wanted:
            break
        chosen.add(group)
        taken += sizes[group]
    val = [index for index, group in enumerate(groups) if group in chosen]
    train = [index for index, group in enumerate(groups) if group not in chosen]
    left = Counter(labels[index] for index in train)
    emptied = sorted({labels[index] for index in val} - set(left))
    if emptied:
        total = Counter(labels)
        shown = ", ".join(f"class {label} ({total[label]} video(s), all in validation)" for label in emptied[:5])
        raise UsageError(
            f"data.val: drawing {len(chosen)} group(s) ({taken} of {count} videos, by {grouped_by}) leaves no training "
            f"video for {shown}: ask for a smaller size, another seed, or a group pattern that splits those classes"
        )
    return Carving(train, val, len(chosen), grouped_by)


def _groups(ids: Sequence[str], dataset_groups: Sequence[str] | None, pattern: str | None) -> tuple[list[str], str]:
    if pattern is not None:
        regex = re.compile(pattern)
        matches = [regex.search(sample) for sample in ids]
        keys = [
            sample if match is None else (match.group(1) if regex.groups else match.group(0))
            for sample, match in zip(ids, matches, strict=True)
        ]
        unmatched = matches.count(None)
        if unmatched == len(ids):
            raise UsageError(f"data.val.group: the pattern {pattern!r} matches none of the training videos' names (e.g. {ids[0]!r})")
        note = f" ({unmatched} video(s) it does not match are groups of their own)" if unmatched else ""
        return keys, f"the recipe's pattern {pattern!r}{note}"
    if dataset_groups is not None:
        return list(dataset_groups), "the data set's groups"
    return list(ids), "video (the data set has no groups: give data.val.group to keep related videos together)"


def with_validation(dataset: Dataset, recipe: Any) -> Dataset:
    """``dataset`` with a validation split carved out of its training videos when the recipe asks for one."""
    settings = getattr(recipe.data, "val", None)
    if settings is None:
        return dataset
    groups = dataset.groups("train") if hasattr(dataset, "groups") else None
    carving = carve_validation(list(dataset.videos("train")), list(dataset.labels("train")), groups, settings)
    return WithValidation(dataset, carving)


def has_validation(dataset: Dataset) -> bool:
    return isinstance(dataset, WithValidation)


class WithValidation:
    """A dataset whose train split is cut in two: ``train`` and ``val`` (test-time views), ``test`` as it was."""

    def __init__(self, base: Dataset, carving: Carving):
        self.base = base
        self.carving = carving
        self.num_classes = base.num_classes
        self.input_size = base.input_size

    @property
    def classes(self) -> Sequence[str]:
        return self.base.classes

    def split(self, name: Split, *, modalities: Mapping[str, Modality], training: bool) -> Any:
        if name == "test":
            return self.base.split("test", modalities=modalities, training=training)
        source = self.base.split("train", modalities=modalities, training=training)
        return Reindexed(source, self._indices(name))

    def videos(self, name: Split) -> list[str]:
        return self._picked(self.base.videos, name)

    def labels(self, name: Split) -> list[int]:
        return self._picked(self.base.labels, name)

    def groups(self, name: Split) -> list[str] | None:
        groups = self.base.groups("test" if name == "test" else "train")
        return None if groups is None else self._picked(lambda _: groups, name)

    def load_file(self, path: Any, *, modalities: Mapping[str, Modality]) -> Any:
        return self.base.load_file(path, modalities=modalities)

    def skipped(self) -> Sequence[Any]:
        return self.base.skipped()

    def _indices(self, name: Split) -> list[int]:
        return self.carving.val if name == "val" else self.carving.train

    def _picked(self, read: Any, name: Split) -> list[Any]:
        if name == "test":
            return list(read("test"))
        values = list(read("train"))
        return [values[index] for index in self._indices(name)]


class Reindexed:
    """Some samples of a torch dataset, numbered from 0 again (a clip's ``index`` is its place in this split)."""

    def __init__(self, source: Any, indices: Sequence[int]):
        self.source = source
        self.indices = list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> Any:
        clip = self.source[self.indices[position]]
        return {**clip, "index": position}
