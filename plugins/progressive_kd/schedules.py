"""The CE and PKD exit schedules: plans for the engine and their losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pkd_toolkit.api import MultiExitNetwork, Objective, ScheduleContext, SchedulePlan, Stage, StepContext

EXIT_STAGE = "exits"  # the lockstep key: CE and PKD exits train side by side


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(softmax(teacher/T) || softmax(student/T))``, averaged over the batch (soft cross entropy up to a constant)."""
    return F.kl_div(
        F.log_softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1), reduction="batchmean"
    )


def teacher_at(epoch: int, teachers: list[str], switch_epochs: list[int] | None, epochs: int) -> str:
    """The teacher of ``epoch`` (0-based): the last one whose switch epoch has been reached."""
    switches = switch_epochs if switch_epochs is not None else [round(epochs * i / len(teachers)) for i in range(1, len(teachers))]
    return teachers[sum(epoch >= switch for switch in switches)]


class _ExitSchedule:
    """Trains the exits of every selected network on its frozen backbone, one optimizer per network."""

    def __init__(self, config):
        self.config = config

    def plan(self, context: ScheduleContext) -> SchedulePlan:
        names = self.config.networks or context.network_names()
        networks = {name: context.new_exits(name) for name in names}
        optimizer = self.config.optimizer
        objectives = [
            Objective(
                name=name,
                parameters=list(network.heads.parameters()),
                loss=self.loss(name, network, context),
                optimizer=optimizer,
                scheduler=self.config.scheduler,
                lr=optimizer.lr_per_network.get(name, optimizer.lr),
            )
            for name, network in networks.items()
            if len(network.heads)
        ]
        stage = Stage(
            name=EXIT_STAGE,
            epochs=self.config.epochs,
            objectives=objectives,
            train_modules=[network.heads for network in networks.values()],
            evaluate=dict(networks),
            lockstep=EXIT_STAGE,
        )
        modules = nn.ModuleDict({name: network.heads for name, network in networks.items()})
        return SchedulePlan([stage], networks, modules)

    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        raise NotImplementedError


def _early_exits(network: MultiExitNetwork, step: StepContext, name: str) -> dict[str, torch.Tensor]:
    logits = step.outputs(name, network).consensus()
    return {exit_name: logits[exit_name] for exit_name in network.heads}


class CrossEntropySchedule(_ExitSchedule):
    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        def cross_entropy(step: StepContext) -> torch.Tensor:
            return sum(F.cross_entropy(z, step.labels) for z in _early_exits(network, step, name).values())

        return cross_entropy


class ProgressiveSchedule(_ExitSchedule):
    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        config = self.config
        teachers = {teacher: context.networks[teacher] for teacher in config.teachers}
        scale = config.temperature**2 if config.scale_t2 else 1.0

        def progressive(step: StepContext) -> torch.Tensor:
            teacher = teacher_at(step.epoch, config.teachers, config.switch_epochs, config.epochs)
            target = step.outputs(teacher, teachers[teacher]).consensus()["final"].detach()
            total = 0.0
            for z in _early_exits(network, step, name).values():
                term = (1 - config.alpha) * scale * distillation_loss(z, target, config.temperature)
                if config.alpha:
                    term = term + config.alpha * F.cross_entropy(z, step.labels)
                total = total + term
            return total

        return progressive
