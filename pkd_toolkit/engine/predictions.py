"""Run networks over a split and collect every exit's per-segment logits."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist

from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.engine.stages import StepContext
from pkd_toolkit.networks import FINAL
from pkd_toolkit.scores.metrics import topk_accuracy

if TYPE_CHECKING:
    from pkd_toolkit.networks.multi_exit import MultiExitNetwork


@dataclass
class Predictions:
    """Logits of a split in sample order: ``logits[key][exit]`` is ``[samples, segments, classes]``."""

    indices: np.ndarray
    labels: np.ndarray
    logits: dict[str, dict[str, np.ndarray]]


@torch.no_grad()
def predict(
    networks: Mapping[str, tuple[str, MultiExitNetwork]],
    loader: torch.utils.data.DataLoader,
    runtime: Runtime,
    modalities: Mapping[str, str],
    monitor: Monitor,
    description: str,
    *,
    summary: bool = False,
) -> Predictions:
    """``networks`` maps a key to (network name, network); networks sharing a backbone share its passes.

    ``summary``: log a line with the clips, time and throughput when done."""
    for _, network in networks.values():
        network.eval()
    indices, labels = [], []
    logits: dict[str, dict[str, list[np.ndarray]]] = {key: {} for key in networks}
    batches = monitor.track(loader, len(loader), description, summary=summary)
    for batch in batches:
        context = StepContext(batch, -1, modalities, runtime.device)
        with runtime.autocast():
            for key, (name, network) in networks.items():
                for exit_name, value in context.outputs(name, network).logits.items():
                    logits[key].setdefault(exit_name, []).append(value.float().cpu().numpy())
        indices.append(batch["index"].numpy())
        labels.append(batch["label"].numpy())
        batches.advance(len(batch["label"]))
    local = Predictions(
        indices=np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        labels=np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64),
        logits={key: {e: np.concatenate(parts) for e, parts in exits.items()} for key, exits in logits.items()},
    )
    return gather(local, runtime) if runtime.distributed else local


def head_accuracies(
    networks: Mapping[str, MultiExitNetwork],
    loader: torch.utils.data.DataLoader,
    runtime: Runtime,
    modalities: Mapping[str, str],
    monitor: Monitor,
) -> dict[str, float]:
    """Top-1 of each network's own head (its ``final`` exit, segment consensus) over ``loader``."""
    keyed = {name: (name, network) for name, network in networks.items()}
    predictions = predict(keyed, loader, runtime, modalities, monitor, "network accuracies")
    return {
        name: topk_accuracy(exits[FINAL].mean(axis=1), predictions.labels) for name, exits in predictions.logits.items()
    }


def gather(local: Predictions, runtime: Runtime) -> Predictions:
    """Every process's predictions, in sample order, without the duplicates DistributedSampler pads with."""
    parts: list[Predictions | None] = [None] * runtime.world_size
    dist.all_gather_object(parts, local)
    indices = np.concatenate([p.indices for p in parts])
    order = np.unique(indices, return_index=True)[1]  # first occurrence of each sample, sorted by index
    return Predictions(
        indices=indices[order],
        labels=np.concatenate([p.labels for p in parts])[order],
        logits={
            key: {e: np.concatenate([p.logits[key][e] for p in parts])[order] for e in exits}
            for key, exits in local.logits.items()
        },
    )
