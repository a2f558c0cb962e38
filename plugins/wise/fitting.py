"""Fitting WISE's weights: full-batch SGD on the train split's logits, with torch."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch.nn import functional

# Below this many logits (HMDB51's 12 exits x 3,570 videos x 51 classes are 2.2
# million) a step's operations are too small to gain from threads: on 2 cores
# one thread was faster, and ten times faster when the machine was busy.
SINGLE_THREAD_BELOW = 5_000_000


def fit_stage_weights(
    members: np.ndarray,
    labels: np.ndarray,
    *,
    l1: Sequence[float],
    lr: float,
    iterations: int,
    init: float,
    clamp_negative: bool,
) -> np.ndarray:
    """Weights ``beta`` ``[stages, stages]``, lower triangular, fitted by full-batch SGD.

    ``members`` ``[stages, videos, classes]`` holds the consensus logits of the
    exits in order. Stage k minimises ``CE(sum_{j<=k} beta[k, j] * z_j, y) +
    l1[k] * |beta[k]|_1``, starting from ``beta = init``; with
    ``clamp_negative`` every step ends by setting negative betas to 0.
    """
    logits = torch.from_numpy(np.ascontiguousarray(members, dtype=np.float32))
    stages, videos, classes = logits.shape
    targets = torch.from_numpy(labels.astype(np.int64)).repeat(stages)
    below = torch.tril(torch.ones(stages, stages))
    beta = (torch.full((stages, stages), float(init)) * below).requires_grad_()
    l1_weight = torch.tensor(list(l1), dtype=torch.float32)
    optimizer = torch.optim.SGD([beta], lr=lr)
    with _threads(1 if logits.numel() < SINGLE_THREAD_BELOW else torch.get_num_threads()):
        for _ in range(iterations):
            optimizer.zero_grad()
            scaled = beta * below  # entries above the diagonal get no gradient and stay out of every stage
            stage_logits = torch.einsum("kj,jvc->kvc", scaled, logits).reshape(stages * videos, classes)
            cross_entropy = functional.cross_entropy(stage_logits, targets, reduction="none")
            # Each stage's loss touches only its own row of beta, so one SGD on the
            # sum takes exactly the steps that a separate SGD per stage would.
            loss = (cross_entropy.view(stages, videos).mean(1) + l1_weight * scaled.abs().sum(1)).sum()
            loss.backward()
            optimizer.step()
            if clamp_negative:
                with torch.no_grad():
                    beta.clamp_(min=0)
    return (beta.detach() * below).double().numpy()


@contextmanager
def _threads(count: int) -> Iterator[None]:
    """Run torch's operations on ``count`` threads, then restore the process's setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
