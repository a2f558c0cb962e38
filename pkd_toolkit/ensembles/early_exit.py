"""The early-exit policy and its accuracy-versus-cost evaluation.

A video runs the exits in its ensemble's order and stops at the first stage k
whose ensemble confidence, the largest softmax probability of the stage's
logits, is above a threshold tau; when no stage is that confident the last one
answers, so tau = 1 never stops early. What a video costs is what its networks
computed: for every network, the cumulative per-frame GMACs of the deepest exit
it ran, times the segments it saw.

Everything here works on arrays; :mod:`pkd_toolkit.ensembles.evaluation` feeds it the
score files. Accuracies are fractions (0.9277), as in :mod:`pkd_toolkit.scores.metrics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pkd_toolkit.ensembles.protocol import network_of
from pkd_toolkit.recipe.settings import SegmentSetting
from pkd_toolkit.scores.metrics import topk_accuracy


def confidences(stage_logits: np.ndarray) -> np.ndarray:
    """Largest softmax probability of every stage and video: ``[stages, videos]``, in float64.

    Float64 because the published thresholds go up to 0.99999995, closer to 1
    than float32 can tell apart.
    """
    logits = stage_logits.astype(np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return 1.0 / np.exp(shifted).sum(axis=-1)


def exit_stages(confidence: np.ndarray, threshold: float) -> np.ndarray:
    """Index of the stage each video stops at: the first whose confidence is above ``threshold``, else the last."""
    passed = confidence > threshold
    return np.where(passed.any(axis=0), passed.argmax(axis=0), confidence.shape[0] - 1)


def stage_costs(order: Sequence[str], gmacs: Mapping[str, float], segments: Mapping[str, int]) -> np.ndarray:
    """GMACs per video of stopping at each stage of ``order``.

    ``gmacs`` maps an exit key to its cumulative per-frame cost within its
    network; ``segments`` maps a network to the segments it sees. A stage costs
    the deepest exit computed so far in each network times that network's segments.
    """
    deepest: dict[str, float] = {}
    costs = []
    for key in order:
        network = network_of(key)
        deepest[network] = max(deepest.get(network, 0.0), gmacs[key])
        costs.append(sum(cost * segments[name] for name, cost in deepest.items()))
    return np.array(costs)


def policy_point(
    stage_logits: np.ndarray,
    labels: np.ndarray,
    costs: np.ndarray,
    order: Sequence[str],
    threshold: float,
    confidence: np.ndarray | None = None,
) -> dict[str, Any]:
    """Accuracy, average cost and videos stopped at each exit when the policy uses ``threshold``.

    ``stage_logits`` is ``[stages, videos, classes]`` (stage k ensembles the first
    k+1 exits of ``order``); ``confidence`` may be passed to avoid recomputing it.
    """
    if confidence is None:
        confidence = confidences(stage_logits)
    stages = exit_stages(confidence, threshold)
    chosen = stage_logits[stages, np.arange(len(stages))]
    counts = np.bincount(stages, minlength=len(order))
    return {
        "threshold": threshold,
        "top1": topk_accuracy(chosen, labels, 1),
        "top5": topk_accuracy(chosen, labels, 5),
        "gmacs_per_video": float(costs[stages].mean()),
        "exits": {key: int(count) for key, count in zip(order, counts, strict=True)},
    }


def resolve_segments(settings: Iterable[SegmentSetting], available: Mapping[str, int]) -> list[dict[str, int]]:
    """The segments each network sees under each setting, capped at ``available``; repeats dropped.

    A setting is ``"all"``, one count for every network, or a mapping network ->
    count where the networks left out see all their segments.
    """
    resolved: list[dict[str, int]] = []
    for setting in settings:
        wanted = setting if isinstance(setting, dict) else dict.fromkeys(available, setting)
        counts = {
            network: total if wanted.get(network, "all") == "all" else min(int(wanted[network]), total)
            for network, total in available.items()
        }
        if counts not in resolved:
            resolved.append(counts)
    return resolved


def cheapest_within(points: Iterable[dict[str, Any]], reference_top1: float, tolerance: float) -> dict[str, Any] | None:
    """The point with the fewest GMACs whose top-1 is at most ``tolerance`` points below ``reference_top1``."""
    lowest = reference_top1 - tolerance / 100 - 1e-12  # 0.91 - 0.01 is 0.90000000000000002 in floats
    close = [point for point in points if point["top1"] >= lowest]
    return min(close, key=lambda point: point["gmacs_per_video"]) if close else None
