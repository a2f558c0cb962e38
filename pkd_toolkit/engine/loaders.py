"""DataLoaders for training and evaluation: seeded per sample, split across torchrun processes, workers kept.

Every sample's random draws (crops, flips, noise) come from a seed of its own,
made from the epoch's seed and the sample's index, set in whichever process
reads it. So an epoch's batches are a function of the seed alone: the same with
0 or 16 workers, with workers kept from one epoch to the next
(``train.persistent_workers``) or started anew, and in a resumed run.

Under torchrun the epoch's order is cut into global batches of
``batch_size * world_size`` samples and each process takes every
``world_size``-th sample of each: the processes together see exactly the
batches one process with the global batch size would, which is what makes a
run on N processes equivalent to one on one process.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, get_worker_info
from torch.utils.data import Dataset as TorchDataset

from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.recipe.settings import TrainSettings

T = TypeVar("T")


def sample_seed(seed: int, index: int) -> int:
    """The seed of sample ``index``'s random draws in the epoch seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


class ShardedOrder(Sampler):
    """The samples this process reads in an epoch, in order, each as ``(index, seed of its draws)``.

    ``shuffle``: a permutation drawn from the epoch's seed (:meth:`set_epoch`), cut to whole
    global batches when there is at least one; else index order. Padded by repeating the first
    samples so that every process reads as many (evaluation drops the repeats, see ``predictions``).
    """

    def __init__(self, size: int, runtime: Runtime, *, shuffle: bool, global_batch: int | None = None):
        self.size, self.rank, self.world_size = size, runtime.rank, runtime.world_size
        self.shuffle, self.global_batch = shuffle, global_batch
        self.seed = 0

    def set_epoch(self, seed: int) -> None:
        self.seed = seed

    def _order(self) -> list[int]:
        if self.shuffle:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed)).tolist()
        else:
            order = list(range(self.size))
        if self.global_batch is not None and self.size >= self.global_batch:
            return order[: self.size - self.size % self.global_batch]
        padding = -len(order) % self.world_size
        return order + (order * (padding // max(len(order), 1) + 1))[:padding]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for index in self._order()[self.rank :: self.world_size]:
            yield index, sample_seed(self.seed, index)

    def __len__(self) -> int:
        if self.global_batch is not None and self.size >= self.global_batch:
            return (self.size - self.size % self.global_batch) // self.world_size
        return -(-self.size // self.world_size)


class SeededSamples(TorchDataset):
    """``dataset[index]`` with the random generators (torch CPU, numpy, random) set to the sample's seed."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        if get_worker_info() is not None:  # a worker: its generators serve nothing else
            _seed_cpu_generators(seed)
            return self.dataset[index]
        # In the training process, leave its generators (dropout, ...) as they were: results do not depend
        # on whether samples are read here or in workers.
        with torch.random.fork_rng(devices=[]):
            state_python, state_numpy = random.getstate(), np.random.get_state()
            try:
                _seed_cpu_generators(seed)
                return self.dataset[index]
            finally:
                random.setstate(state_python)
                np.random.set_state(state_numpy)


def _seed_cpu_generators(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.default_generator.manual_seed(seed)  # not torch.manual_seed: that would reseed the GPUs too


def _worker_init(worker_id: int) -> None:
    # Workers inherit the training process's SIGTERM handler (see runtime); a worker just ends.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass(frozen=True)
class Workers:
    """How many DataLoader workers each process runs, and why (``note``: a line for the log, or None)."""

    count: int
    note: str | None = None


def resolve_workers(setting: int | str, runtime: Runtime, cpus: int | None = None) -> Workers:
    """``train.num_workers`` for this process: ``auto`` from the CPUs and the processes sharing them."""
    cpus = cpus or available_cpus()
    share = max(1, cpus // max(runtime.local_world_size, 1))
    if setting == "auto":
        count = share - 1  # one CPU for the process that trains
        here = f"{cpus} CPUs, {runtime.local_world_size} process(es) here"
        return Workers(count, f"train.num_workers: auto: {count} per process ({here})")
    if int(setting) > cpus:
        return Workers(
            cpus,
            f"warning: train.num_workers is {setting}, more than the {cpus} CPUs this process may use; using {cpus} workers",
        )
    return Workers(int(setting))


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # what this process may run on (taskset, cgroups, Slurm)
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _loader(
    dataset: Any, sampler: ShardedOrder, batch: int, settings: TrainSettings, runtime: Runtime, workers: int, *, keep: bool
) -> DataLoader:
    options: dict[str, Any] = {}
    if workers > 0:
        options = {"prefetch_factor": settings.prefetch, "persistent_workers": keep, "worker_init_fn": _worker_init}
    return DataLoader(
        SeededSamples(dataset),
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        pin_memory=runtime.device.type == "cuda",
        generator=torch.Generator(),  # its own: DataLoader draws a base seed per pass, not from the global one
        **options,
    )


class TrainBatches:
    """The training split's batches, epoch after epoch, from one DataLoader whose workers live as long as it."""

    def __init__(self, dataset: Any, settings: TrainSettings, runtime: Runtime, workers: int):
        global_batch = settings.batch_size * runtime.world_size
        self.sampler = ShardedOrder(len(dataset), runtime, shuffle=True, global_batch=global_batch)
        self.loader = _loader(
            dataset, self.sampler, settings.batch_size, settings, runtime, workers, keep=settings.persistent_workers
        )

    def epoch(self, seed: int) -> DataLoader:
        """The batches of the epoch seeded with ``seed`` (the same seed: the same batches)."""
        self.sampler.set_epoch(seed)
        return self.loader


def eval_loader(dataset: Any, settings: TrainSettings, runtime: Runtime, workers: int) -> DataLoader:
    """Batches in index order; with several processes each takes a share (padded: see ``predictions``).

    Its workers end with the pass over the split: evaluations are rarer than epochs, and idle
    workers would hold memory while training runs.
    """
    sampler = ShardedOrder(len(dataset), runtime, shuffle=False)
    return _loader(dataset, sampler, settings.eval_batch_size or settings.batch_size, settings, runtime, workers, keep=False)


class WaitClock:
    """Iterate ``items`` and add up the seconds spent waiting for each next item (``waited``)."""

    def __init__(self, items: Iterable[T]):
        self.items = items
        self.waited = 0.0

    def __iter__(self) -> Iterator[T]:
        started = time.perf_counter()
        iterator = iter(self.items)  # starts the workers the first time: waiting too
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.waited += time.perf_counter() - started
            yield item
            started = time.perf_counter()
