"""What a schedule gives the engine: stages of objectives, and the networks it trained.

A :class:`Stage` runs for a number of epochs over the training split. Each step
the engine builds a :class:`StepContext` for the batch, asks every active
:class:`Objective` for its loss, back-propagates their sum once (objectives
own disjoint parameters) and steps each objective's optimizer. The context
computes each backbone at most once per batch, so a cross-entropy and a PKD
head set on one frozen backbone share its forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from pkd_toolkit.networks.multi_exit import ExitOutputs, MultiExitNetwork
    from pkd_toolkit.recipe.settings import OptimizerSettings, RecipeBase, SchedulerSettings


def _always(epoch: int) -> bool:
    return True


@dataclass
class Objective:
    """A loss and the parameters one optimizer updates with it."""

    name: str
    parameters: list[nn.Parameter]
    loss: Callable[[StepContext], torch.Tensor]
    optimizer: OptimizerSettings
    scheduler: SchedulerSettings
    lr: float
    active: Callable[[int], bool] = _always  # epoch -> does this objective train in it?


@dataclass
class Stage:
    """A block of epochs with fixed objectives.

    ``train_modules`` are put in training mode (everything else is in eval
    mode, so frozen BatchNorms keep their statistics). ``evaluate`` names the
    networks whose exits are scored on the test split to pick the stage's
    best checkpoint. Stages of different schedules with the same ``lockstep``
    key and epochs run as one stage, sharing batches and backbone passes; they
    may only read modules that no stage of theirs trains.
    """

    name: str
    epochs: int
    objectives: list[Objective]
    train_modules: list[nn.Module] = field(default_factory=list)
    evaluate: dict[str, MultiExitNetwork] = field(default_factory=dict)
    lockstep: str | None = None
    setup: list[Callable[[], None]] = field(default_factory=list)
    """Called when the stage starts, and again when a resumed run continues it, before its first step: decisions
    that need the trained networks of earlier stages (e.g. a teacher order from their accuracies)."""


@dataclass
class SchedulePlan:
    """A schedule's stages, the networks it produces (scored after training) and the modules it owns."""

    stages: list[Stage]
    networks: dict[str, MultiExitNetwork]
    modules: nn.Module


class StepContext:
    """One batch, and every network output computed for it so far.

    Outputs are cached per network, and backbone stage outputs per backbone,
    so every objective of a step reads the same forward passes.
    """

    def __init__(self, batch: Mapping[str, Any], epoch: int, modalities: Mapping[str, str], device: torch.device):
        self.epoch = epoch
        self.labels: torch.Tensor = batch["label"].to(device, non_blocking=True)
        self._inputs = {key: value.to(device, non_blocking=True) for key, value in batch["inputs"].items()}
        self._modalities = modalities  # network name -> modality key
        self._outputs: dict[int, ExitOutputs] = {}
        self._features: dict[int, dict[str, torch.Tensor]] = {}
        self.metrics: dict[str, float] = {}

    def inputs(self, network_name: str) -> torch.Tensor:
        return self._inputs[self._modalities[network_name]]

    def outputs(self, network_name: str, network: MultiExitNetwork) -> ExitOutputs:
        """Every exit of ``network`` (which sees the modality of ``network_name``) for this batch."""
        key = id(network)
        if key not in self._outputs:
            shared = self._features.get(id(network.backbone))
            outputs = network(self.inputs(network_name), features=shared)
            self._features.setdefault(id(network.backbone), outputs.features)
            self._outputs[key] = outputs
        return self._outputs[key]

    def record(self, name: str, value: torch.Tensor | float) -> None:
        """Log a scalar (averaged over the epoch's steps) under ``name``."""
        self.metrics[name] = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _not_measured() -> dict[str, float]:
    raise RuntimeError("the networks' accuracies are measured by the engine when a stage starts, not while planning")


def _not_kept(key: str, value: Any, message: str) -> None:
    """Outside a run (pkd predict rebuilding a plan) there is nowhere to keep a note."""


@dataclass
class ScheduleContext:
    """What a schedule's ``plan`` may use: the run's trained base networks and how to make new exits.

    ``network_accuracies()`` gives each base network's top-1 (its own head) on the
    split that chooses settings (the validation split, or the train split when
    the recipe has none); it is measured on first call, so call it from a
    stage's ``setup``, not from ``plan``. ``note(key, value, message)`` logs a
    decision and keeps it for the report (``notes.<label>.<key>``).
    """

    label: str
    recipe: RecipeBase
    networks: dict[str, MultiExitNetwork]
    num_classes: int
    new_exits: Callable[[str], MultiExitNetwork]  # network name -> same backbone, fresh exit heads
    registry: Any
    network_accuracies: Callable[[], dict[str, float]] = _not_measured
    note: Callable[[str, Any, str], None] = _not_kept

    def network_names(self) -> list[str]:
        return list(self.networks)
