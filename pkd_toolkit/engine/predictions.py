"""Run networks over a split and collect every exit's per-segment logits, in rank 0 only.

Under torchrun each process predicts its share of the split, and every batch's
logits go to rank 0 as they are made (``torch.distributed.gather``): the other
processes keep one batch at a time, however large the split.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist

from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.runtime import Runtime, share_from_main
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
) -> Predictions | None:
    """``networks`` maps a key to (network name, network); networks sharing a backbone share its passes.

    Returns the split's predictions in rank 0, None in the other processes; ``summary``: log a line with the
    clips, time and throughput when done.
    """
    for _, network in networks.values():
        network.eval()
    collected = _Collected()
    batches = monitor.track(loader, len(loader), description, summary=summary)
    for batch in batches:
        context = StepContext(batch, -1, modalities, runtime.device)
        with runtime.autocast():
            outputs = {
                (key, exit_name): value.float()
                for key, (name, network) in networks.items()
                for exit_name, value in context.outputs(name, network).logits.items()
            }
        ids = torch.stack([batch["index"], torch.as_tensor(batch["label"])]).to(runtime.device)
        for part_ids, part_logits in _to_main(ids, outputs, runtime):
            collected.add(part_ids, part_logits)
        batches.advance(len(batch["label"]))
    return collected.predictions(list(networks)) if runtime.is_main else None


def head_accuracies(
    networks: Mapping[str, MultiExitNetwork],
    loader: torch.utils.data.DataLoader,
    runtime: Runtime,
    modalities: Mapping[str, str],
    monitor: Monitor,
) -> dict[str, float]:
    """Top-1 of each network's own head (its ``final`` exit, segment consensus) over ``loader``, in every process."""
    keyed = {name: (name, network) for name, network in networks.items()}
    predictions = predict(keyed, loader, runtime, modalities, monitor, "network accuracies")
    accuracies = None
    if predictions is not None:  # rank 0
        accuracies = {
            name: topk_accuracy(exits[FINAL].mean(axis=1), predictions.labels) for name, exits in predictions.logits.items()
        }
    return share_from_main(runtime, accuracies)  # every process plans the same stages with them


def _to_main(
    ids: torch.Tensor, outputs: dict[tuple[str, str], torch.Tensor], runtime: Runtime
) -> list[tuple[np.ndarray, dict[tuple[str, str], np.ndarray]]]:
    """This batch of every process, in rank 0 (an empty list elsewhere): ``(indices and labels, logits)`` each.

    Every process has as many batches of the same sizes (the evaluation order is padded), so one
    gather of one flat tensor per batch carries them all.
    """
    if not runtime.distributed:
        return [(ids.cpu().numpy(), {k: v.cpu().numpy() for k, v in outputs.items()})]
    flat = torch.cat([ids.to(torch.float64).flatten(), *(v.to(torch.float64).flatten() for v in outputs.values())])
    parts = [torch.empty_like(flat) for _ in range(runtime.world_size)] if runtime.is_main else None
    dist.gather(flat, parts, dst=0)
    if parts is None:
        return []
    shapes = [ids.shape, *(v.shape for v in outputs.values())]
    sizes = [int(np.prod(shape)) for shape in shapes]
    result = []
    for part in parts:
        pieces = [p.reshape(shape) for p, shape in zip(torch.split(part.cpu(), sizes), shapes, strict=True)]
        ids_part = pieces[0].to(torch.int64).numpy()
        result.append((ids_part, {key: p.to(torch.float32).numpy() for key, p in zip(outputs, pieces[1:], strict=True)}))
    return result


class _Collected:
    """Rank 0's growing predictions; duplicates (the padding of the evaluation order) are dropped at the end."""

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.logits: dict[tuple[str, str], list[np.ndarray]] = {}

    def add(self, ids: np.ndarray, logits: dict[tuple[str, str], np.ndarray]) -> None:
        self.ids.append(ids)
        for key, value in logits.items():
            self.logits.setdefault(key, []).append(value)

    def predictions(self, keys: list[str]) -> Predictions:
        ids = np.concatenate(self.ids, axis=1) if self.ids else np.zeros((2, 0), dtype=np.int64)
        order = np.unique(ids[0], return_index=True)[1]  # first occurrence of each sample, sorted by index
        logits: dict[str, dict[str, np.ndarray]] = {key: {} for key in keys}
        for (key, exit_name), parts in self.logits.items():
            logits[key][exit_name] = np.concatenate(parts)[order]
        return Predictions(indices=ids[0][order], labels=ids[1][order], logits=logits)
