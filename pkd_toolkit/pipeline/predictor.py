"""``pkd predict``: early-exit inference on single videos, exits run in the ensemble's order until the policy stops.

Each network advances its own cascade (:meth:`MultiExitNetwork.cascade`), so a
stage of a backbone is computed once, and only when an exit of the order needs
it; the fitted ensembler combines the exits computed so far; the video stops at
the first stage whose ensemble confidence passes the threshold. The policy,
costs and segment subsets are those of :mod:`pkd_toolkit.early_exit`, so a
video gets here the answer the batch evaluation of its score files gives.
The video is read through the dataset's ``open_file`` as the exits need it:
a network's modality, and only the segments the operating point uses, when
the order first reaches that network.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pkd_toolkit.data.protocol import FileInputs
from pkd_toolkit.engine.assembly import Assembly, load_trained
from pkd_toolkit.ensembles.early_exit import confidences, stage_costs
from pkd_toolkit.ensembles.fitted import load_fitted
from pkd_toolkit.ensembles.planning import plan_ensembles, policy_ensembles
from pkd_toolkit.ensembles.protocol import network_of
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import RecipeBase, section_label
from pkd_toolkit.report.build import read_report
from pkd_toolkit.run_folder.layout import BACKBONE_SCHEDULE, ensembles_dir, fitted_path
from pkd_toolkit.run_folder.opening import load_run_recipe
from pkd_toolkit.scores.files import segment_subset

GMACS_DIGITS = 6
"""Significant digits of the GMACs ``pkd predict --json`` prints: more would be float noise, not cost."""


@dataclass
class PredictionRequest:
    """What ``pkd predict`` asks; None lets the run's report (or recipe) decide."""

    schedule: str | None = None  # whose exits: default the last schedule with fitted ensembles
    ensemble: str | None = None  # default: the report's early-exit choice, else the recipe's policy ensemble
    threshold: float | None = None  # default: the report's cheapest point within the tolerance (1 without it)
    segments: int | None = None  # per network; default that point's, or all when a threshold is given
    top: int = 5


@dataclass
class VideoPredictions:
    """Every video's result (or its error), and the settings that produced them."""

    schedule: str
    ensemble: str
    threshold: float
    results: list[dict[str, Any]]


def predict_videos(
    run_dir: Path, videos: Sequence[Path], registry: ComponentRegistry, request: PredictionRequest
) -> VideoPredictions:
    """Classify ``videos`` with a finished run; an unreadable video gets ``{"video", "error"}`` instead of a result."""
    setup = prepare_predictor(run_dir, registry, request)
    results: list[dict[str, Any]] = []
    for video in videos:
        try:  # the video is read while its exits run, as far as they need: errors can come from either
            inputs = setup.dataset.open_file(video, modalities=setup.modalities)
            results.append(setup.predictor.predict(str(video), inputs).as_json())
        except PkdError as error:
            results.append({"video": str(video), "error": str(error)})
    return VideoPredictions(setup.schedule, setup.ensemble, setup.predictor.threshold, results)


@dataclass
class PredictorSetup:
    """A finished run ready to classify files: the predictor, the dataset that opens them, the modalities it needs."""

    predictor: EarlyExitPredictor
    dataset: Any
    modalities: dict[str, Any]
    schedule: str
    ensemble: str


def prepare_predictor(run_dir: Path, registry: ComponentRegistry, request: PredictionRequest) -> PredictorSetup:
    """Load a finished run's networks and fitted ensembler as ``request`` asks (defaults: the report's early-exit choice)."""
    if request.threshold is not None and not 0 < request.threshold <= 1:
        raise UsageError(f"--threshold {request.threshold}: a threshold is in (0, 1]")
    recipe = load_run_recipe(run_dir, registry)
    schedule = request.schedule or _default_schedule(run_dir, recipe)
    policy = _policy_summary(read_report(run_dir) or {}, schedule, request.ensemble)
    label = request.ensemble or (policy or {}).get("ensembler") or _policy_ensemble(recipe, registry)
    ensembler, classes = load_fitted(fitted_path(run_dir, schedule, label), registry)
    chosen = (policy or {}).get("cheapest_within") or {}
    assembly = load_trained(run_dir, recipe, registry, len(classes))
    dataset = registry.build("datasets", recipe.data)
    predictor = EarlyExitPredictor(
        assembly,
        schedule,
        ensembler,
        classes,
        threshold=request.threshold if request.threshold is not None else chosen.get("threshold", 1.0),
        input_size=dataset.input_size,
        segments=_segments(request, chosen, recipe),
        top=request.top,
    )
    return PredictorSetup(predictor, dataset, assembly.used_modalities(), schedule, label)


def _default_schedule(run_dir: Path, recipe: RecipeBase) -> str:
    labels = [section_label(section) for section in recipe.schedules]  # type: ignore[attr-defined]
    fitted = [label for label in [BACKBONE_SCHEDULE, *labels] if ensembles_dir(run_dir, label).is_dir()]
    if not fitted:
        raise PkdError(f"{run_dir}: no fitted ensembles; `pkd run` (or `pkd eval`) with an 'ensembles:' section writes them")
    return fitted[-1]


def _policy_ensemble(recipe: RecipeBase, registry: ComponentRegistry) -> str:
    """The ensemble the recipe's early-exit policy uses (its first, when it names several)."""
    chosen = policy_ensembles(recipe, plan_ensembles(recipe, registry))
    if not chosen:
        raise PkdError("the run's recipe lists no ensembles; name a fitted one with --ensemble")
    return chosen[0].label


def _segments(request: PredictionRequest, chosen: dict[str, Any], recipe: RecipeBase) -> dict | None:
    """Segments per network: as asked, else those of the report's point when its threshold is used too."""
    if request.segments is not None:
        return {name: request.segments for name in recipe.networks}
    return chosen.get("segments") if request.threshold is None else None


def _policy_summary(report: dict[str, Any], schedule: str, ensemble: str | None) -> dict[str, Any] | None:
    """The report's early-exit summary for this schedule (and ensemble, when one is asked for)."""
    for summary in report.get("early_exit_summary", []):
        if summary["schedule"] == schedule and ensemble in (None, summary["ensembler"]):
            return summary
    return None


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
            "gmacs": float(f"{self.gmacs:.{GMACS_DIGITS}g}"),  # 0.381, not 0.38100000000000006
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
    def predict(self, video: str, inputs: FileInputs) -> Prediction:
        """``inputs``: the video's test-time inputs (a dataset's ``open_file``), loaded when a network first needs them.

        A network's segments are loaded when the order reaches its first exit,
        so a video that stops early never reads the modalities of the networks
        it did not reach, nor the segments the chosen point leaves out.
        """
        rows = {name: segment_subset(inputs.segments, self.segments.get(name)) for name in {network_of(k) for k in self.order}}
        seen = {name: len(chosen) for name, chosen in rows.items()}
        cascades: dict[str, Iterator[tuple[str, torch.Tensor]]] = {}
        computed: dict[str, np.ndarray] = {}
        members = []
        for index, key in enumerate(self.order):
            network = network_of(key)
            while key not in computed:
                if network not in cascades:
                    clip = inputs.load(self.modality_of(network), rows[network].tolist())[None]  # [1, S, C, H, W]
                    cascades[network] = self.networks[network].cascade(clip)
                name, logits = next(cascades[network])
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


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits.astype(np.float64) - logits.max())
    return shifted / shifted.sum()
