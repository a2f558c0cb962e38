"""The built-in ensemblers: a lower-triangular matrix of weights over the exits in order.

Stage k's logits are ``sum_{j<=k} weights[k, j] * z_j`` over the raw
(segment-consensus) logits ``z_j`` of the first k exits. ``sum`` fixes every
weight to 1, ``mean`` to 1/k (its last stage averages the networks' final
heads), ``fusion`` to the weight of the exit's network, ``wise`` learns them
(:mod:`pkd_plugins.wise.fitting`). The matrix and the order are the whole
fitted state, saved as JSON for ``pkd predict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pkd_toolkit.api import ScoreSet, UsageError, default_order, member_logits, network_of, resolve_order, topk_accuracy

# The published WISE order: residual IC1..IC4, MV IC1..IC4, I-frame IC1..IC3 and
# the I-frame's final head, whose stage ensembles all twelve exits (the "final fusion").
PUBLISHED_NETWORKS = ("residual", "mv", "iframe")
COVIAR_WEIGHTS = {"iframe": 2.0, "mv": 1.0, "residual": 1.0}


def plain_sum(members: int) -> np.ndarray:
    """The weights of the sum ensemble: 1 for every exit up to the stage."""
    return np.tril(np.ones((members, members)))


def final_heads_row(order: list[str], weights: dict[str, float]) -> np.ndarray:
    """A last stage that combines only each network's deepest exit of ``order``, with its network's weight (default 1)."""
    row = np.zeros(len(order))
    deepest = {network_of(key): index for index, key in enumerate(order)}  # the last listed exit of each network
    for network, index in deepest.items():
        row[index] = weights.get(network, 1.0)
    return row


def weighted_stages(weights: np.ndarray, exit_logits: np.ndarray) -> np.ndarray:
    """``[stages, videos, classes]``: stage k is ``sum_j weights[k, j] * exit_logits[j]``."""
    return np.einsum("kj,jvc->kvc", weights, exit_logits)


class LinearEnsembler:
    """Base of the built-ins: resolves the order, holds the weights, applies them."""

    deepest_only = False  # default order: every exit (True: each network's deepest exit only)

    def __init__(self, config: Any) -> None:
        self.config = config
        self.order: list[str] = []
        self.weights = np.zeros((0, 0))

    def fit(self, scores: ScoreSet) -> None:
        if self.config.order:
            self.order = resolve_order(self.config.order, scores)
        else:
            self.order = default_order(scores, PUBLISHED_NETWORKS, deepest_only=self.deepest_only)
        self.weights = self.fitted_weights(scores)

    def fitted_weights(self, scores: ScoreSet) -> np.ndarray:
        """The ``[stages, stages]`` lower-triangular weights for :attr:`order`."""
        raise NotImplementedError

    def stage_logits(self, exit_logits: np.ndarray) -> np.ndarray:
        members = len(exit_logits)
        if members > len(self.order):
            raise ValueError(f"{members} exits given, the ensemble has {len(self.order)}")
        return weighted_stages(self.weights[:members, :members], exit_logits)

    def state_dict(self) -> dict[str, Any]:
        return {"order": list(self.order), "weights": self.weights.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        order = [str(key) for key in state["order"]]
        weights = np.asarray(state["weights"], dtype=np.float64)
        if weights.shape != (len(order), len(order)):
            raise ValueError(f"weights of shape {weights.shape} do not fit an order of {len(order)} exits")
        if np.any(np.triu(weights, 1)):
            raise ValueError("weights above the diagonal: a stage may only use the exits up to it")
        self.order, self.weights = order, weights


class SumEnsembler(LinearEnsembler):
    """No scaling: every stage sums the logits of its exits."""

    def fitted_weights(self, scores: ScoreSet) -> np.ndarray:
        return plain_sum(len(self.order))


class MeanEnsembler(LinearEnsembler):
    """No scaling as the released code computes it: stage k averages its k exits; the last stage averages the
    networks' final heads."""

    def fitted_weights(self, scores: ScoreSet) -> np.ndarray:
        stages = len(self.order)
        if stages < 2:
            raise UsageError(
                f"'mean' averages the exits of each stage, and its order holds one exit ({', '.join(self.order)}): "
                "list more exits, or use 'sum'"
            )
        weights = plain_sum(stages) / np.arange(1, stages + 1)[:, None]
        finals = final_heads_row(self.order, {})
        weights[-1] = finals / finals.sum()
        return weights


class FusionEnsembler(LinearEnsembler):
    """A fixed weight per network; by default CoViAR's 2:1:1 late fusion of the final exits."""

    deepest_only = True

    def fitted_weights(self, scores: ScoreSet) -> np.ndarray:
        weights = self.config.weights if self.config.weights is not None else COVIAR_WEIGHTS
        per_exit = np.array([weights.get(network_of(key), 1.0) for key in self.order])
        return plain_sum(len(self.order)) * per_exit


class WiseEnsembler(LinearEnsembler):
    """WISE: a weight per (stage, earlier exit), fitted on the train split (docs/methods.md, "WISE")."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.kept_sum: list[str] = []  # stages whose fitted weights did worse than the sum on the train split

    def fitted_weights(self, scores: ScoreSet) -> np.ndarray:
        from pkd_plugins.wise.fitting import fit_stage_weights

        config, members = self.config, member_logits(scores, self.order)
        stages = len(self.order)
        l1 = [config.l1_small if k + 1 <= config.small_members else config.l1_large for k in range(stages)]
        weights = fit_stage_weights(
            members, scores.labels, l1=l1, lr=config.lr, iterations=config.iterations,
            init=config.init, clamp_negative=config.clamp_negative,
        )  # fmt: skip
        plain = plain_sum(stages)
        if not config.fit_first_stage:  # the released code: the first exit's logits as they are
            weights[0] = plain[0]
        if config.final_stage == "fusion":  # the released code: a fixed fusion of the final heads
            weights[-1] = final_heads_row(self.order, config.final_weights or COVIAR_WEIGHTS)
        self.kept_sum = []
        if config.keep_sum_if_worse:
            worse = _stage_top1(weights, members, scores.labels) < _stage_top1(plain, members, scores.labels)
            weights[worse] = plain[worse]
            self.kept_sum = [key for key, reverted in zip(self.order, worse, strict=True) if reverted]
        if config.stage_mean:  # the released code divides each stage by how many logits it adds up
            weights = weights / np.count_nonzero(structure(stages, config.final_stage == "fusion", self.order), axis=1)[:, None]
        return weights

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "kept_sum": list(self.kept_sum)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.kept_sum = [str(key) for key in state.get("kept_sum", [])]


def structure(stages: int, fusion_last: bool, order: list[str]) -> np.ndarray:
    """Which exits each stage may combine: every exit up to it, or only the final heads at a fusion last stage."""
    allowed = plain_sum(stages)
    if fusion_last:
        allowed[-1] = final_heads_row(order, {}) > 0
    return allowed


def _stage_top1(weights: np.ndarray, members: np.ndarray, labels: np.ndarray) -> np.ndarray:
    stages = weighted_stages(weights, members)
    return np.array([topk_accuracy(logits, labels) for logits in stages])


IMPLEMENTATIONS = {"sum": SumEnsembler, "mean": MeanEnsembler, "fusion": FusionEnsembler, "wise": WiseEnsembler}
