"""DataLoaders for training and evaluation, seeded per epoch and split across torchrun processes."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from pkd_toolkit.engine.runtime import Runtime, worker_init
from pkd_toolkit.recipe.settings import TrainSettings


def train_loader(dataset: Any, settings: TrainSettings, runtime: Runtime, seed: int, epoch: int) -> DataLoader:
    """Shuffled batches of one epoch; the same ``seed`` and ``epoch`` always give the same batches."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    sampler = None
    if runtime.distributed:
        sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank, shuffle=True, seed=seed)
        sampler.set_epoch(epoch)
    return DataLoader(
        dataset,
        batch_size=settings.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=settings.num_workers,
        worker_init_fn=worker_init,
        pin_memory=runtime.device.type == "cuda",
        drop_last=len(dataset) > settings.batch_size * runtime.world_size,
    )


def eval_loader(dataset: Any, settings: TrainSettings, runtime: Runtime) -> DataLoader:
    """Batches in index order; with several processes each takes a share (padded: see ``gather``)."""
    sampler = None
    if runtime.distributed:
        sampler = DistributedSampler(dataset, num_replicas=runtime.world_size, rank=runtime.rank, shuffle=False)
    return DataLoader(
        dataset,
        batch_size=settings.eval_batch_size or settings.batch_size,
        shuffle=False,
        sampler=sampler,
        num_workers=settings.num_workers,
        worker_init_fn=worker_init,
        pin_memory=runtime.device.type == "cuda",
    )
