"""Early-exit inference on single videos: run exits in the ensemble's order until the policy stops.

Each network advances its own cascade (:meth:`MultiExitNetwork.cascade`), so a
stage of a backbone is computed once, and only when an exit of the order needs
it; the fitted ensembler combines the exits computed so far; the video stops at
the first stage whose ensemble confidence passes the threshold. The policy,
costs and segment subsets are those of :mod:`pkd_toolkit.early_exit`, so a
video gets here the answer the batch evaluation of its score files gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from pkd_toolkit.cost import exit_costs
from pkd_toolkit.early_exit import confidences, network_of, stage_costs
from pkd_toolkit.engine.assembly import Assembly
from pkd_toolkit.scores import segment_subset


@dataclass
class Prediction:
    """What one video got: the classes, where it stopped and what it cost."""

    video: str
    top: list[tuple[str, float]]  # (class, probability), most probable first
    exit: str  # the exit key of the stage it stopped at, e.g. "residual/ic2"
    stage: int  # 1-based, of `stages`
    stages: int
    confidence: float
    gmacs: float
    segments: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "top": [{"class": name, "probability": p} for name, p in self.top],
            "exit": self.exit,
            "stage": self.stage,
            "stages": self.stages,
            "confidence": self.confidence,
            "gmacs": self.gmacs,
            "segments": self.segments,
        }


class EarlyExitPredictor:
    """The networks of one schedule of a trained run, a fitted ensembler and a threshold."""

    def __init__(
        self,
        assembly: Assembly,
        schedule: str,
        ensembler: Any,
        classes: list[str],
        threshold: float,
        input_size: tuple[int, int],
        segments: Mapping[str, int] | None = None,
        top: int = 5,
    ):
        self.networks = assembly.scored()[schedule]
        self.modality_of = assembly.modality_of
        self.ensembler = ensembler
        self.order = list(ensembler.order)
        self.classes = classes
        self.threshold = threshold
        self.segments = dict(segments or {})
        self.top = top
        used = {network_of(key) for key in self.order}
        self.gmacs = {
            f"{name}/{cost.name}": cost.gmacs
            for name in used
            for cost in exit_costs(
                self.networks[name], (assembly.modalities[self.modality_of(name)].channels, *input_size)
            )
        }

    @torch.no_grad()
    def predict(self, video: str, inputs: Mapping[str, torch.Tensor]) -> Prediction:
        """``inputs`` maps modality keys to test-time clips ``[segments, C, H, W]`` (a dataset's ``load_file``)."""
        clips = {name: self._clip(name, inputs) for name in {network_of(key) for key in self.order}}
        seen = {name: clip.shape[1] for name, clip in clips.items()}
        cascades: dict[str, Iterator[tuple[str, torch.Tensor]]] = {}
        computed: dict[str, np.ndarray] = {}
        members = []
        for index, key in enumerate(self.order):
            network = network_of(key)
            while key not in computed:
                cascade = cascades.setdefault(network, self.networks[network].cascade(clips[network]))
                name, logits = next(cascade)
                computed[f"{network}/{name}"] = logits[0].float().numpy()
            members.append(computed[key])
            stage = self.ensembler.stage_logits(np.stack(members)[:, None, :])[-1:]
            confidence = float(confidences(stage)[0, 0])
            if confidence > self.threshold or index == len(self.order) - 1:
                break
        cost = stage_costs(self.order[: index + 1], self.gmacs, seen)[-1]
        probabilities = _softmax(stage[0, 0])
        best = np.argsort(-probabilities)[: self.top]
        return Prediction(
            video=video,
            top=[(self.classes[i], float(probabilities[i])) for i in best],
            exit=key,
            stage=index + 1,
            stages=len(self.order),
            confidence=confidence,
            gmacs=float(cost),
            segments=seen,
        )

    def _clip(self, network: str, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        clip = inputs[self.modality_of(network)]
        chosen = segment_subset(clip.shape[0], self.segments.get(network))
        return clip[torch.as_tensor(chosen)][None]  # [1, S, C, H, W]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
