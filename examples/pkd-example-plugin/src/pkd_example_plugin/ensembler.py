"""The max-confidence ensembler, following ``pkd_toolkit.api.Ensembler``."""

from __future__ import annotations

from typing import Any

import numpy as np

from pkd_toolkit.api import default_order, resolve_order


class MaxConfidenceEnsembler:
    def __init__(self, config):
        self.config = config
        self.order: list[str] = []

    def fit(self, scores) -> None:
        """Nothing to learn: only the order of exits is chosen (from the train split's score files)."""
        self.order = resolve_order(self.config.order, scores) if self.config.order else default_order(scores)

    def stage_logits(self, exit_logits: np.ndarray) -> np.ndarray:
        """Stage k: the logits of the most confident of exits 0..k, per video."""
        scaled = exit_logits / self.config.temperature
        shifted = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
        confidence = (shifted / shifted.sum(axis=-1, keepdims=True)).max(axis=-1)  # [exits, videos]
        best_so_far = np.maximum.accumulate(confidence, axis=0)
        chosen = np.argmax(confidence[None, :, :] == best_so_far[:, None, :], axis=1)  # first exit reaching it
        videos = np.arange(exit_logits.shape[1])
        return np.stack([exit_logits[chosen[k], videos] for k in range(len(exit_logits))])

    def state_dict(self) -> dict[str, Any]:
        return {"order": list(self.order)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order = [str(key) for key in state["order"]]
