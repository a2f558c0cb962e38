"""The CE and PKD exit schedules: plans for the engine and their losses."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from pkd_plugins.progressive_kd.config import AUTO, SELF, share_fractions
from pkd_toolkit.api import MultiExitNetwork, Objective, ScheduleContext, SchedulePlan, Stage, StepContext, UsageError

EXIT_STAGE = "exits"  # the lockstep key: CE and PKD exits train side by side


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``KL(softmax(teacher/T) || softmax(student/T))``, averaged over the batch (soft cross entropy up to a constant)."""
    return F.kl_div(
        F.log_softmax(student / temperature, dim=1), F.softmax(teacher / temperature, dim=1), reduction="batchmean"
    )


def switch_epochs(teachers: int, epochs: int, shares: str | list[float] = "equal") -> list[int]:
    """The epochs at which each next teacher takes over, from the teachers' shares of ``epochs``."""
    fractions = share_fractions(shares, teachers)
    return [round(epochs * sum(fractions[:i])) for i in range(1, teachers)]


def teacher_at(epoch: int, teachers: list[str], switches: list[int]) -> str:
    """The teacher of ``epoch`` (0-based): the last one whose switch epoch has been reached."""
    return teachers[sum(epoch >= switch for switch in switches)]


class _ExitSchedule:
    """Trains the exits of every selected network on its frozen backbone, one optimizer per network."""

    def __init__(self, config):
        self.config = config

    def plan(self, context: ScheduleContext) -> SchedulePlan:
        names = self.config.networks or context.network_names()
        networks = {name: context.new_exits(name) for name in names}
        for name in self.config.networks or []:  # asked for by name: it must have exits to train
            if not len(networks[name].heads):
                raise UsageError(f"schedule {context.label!r}: network {name!r} has no exits to train")
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
            setup=self.setup(context),
        )
        modules = nn.ModuleDict({name: network.heads for name, network in networks.items()})
        return SchedulePlan([stage], networks, modules)

    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        raise NotImplementedError

    def setup(self, context: ScheduleContext) -> list[Callable[[], None]]:
        """What must run when the stage starts (or resumes), before its first step."""
        return []


def _early_exits(network: MultiExitNetwork, step: StepContext, name: str) -> dict[str, torch.Tensor]:
    logits = step.outputs(name, network).consensus()
    return {exit_name: logits[exit_name] for exit_name in network.heads}


class CrossEntropySchedule(_ExitSchedule):
    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        def cross_entropy(step: StepContext) -> torch.Tensor:
            return sum(F.cross_entropy(z, step.labels) for z in _early_exits(network, step, name).values())

        return cross_entropy


class ProgressiveSchedule(_ExitSchedule):
    """PKD: each exit learns from the final head of one teacher at a time, the teacher switching by epoch."""

    def __init__(self, config):
        super().__init__(config)
        # Fixed here, or when the stage starts for teachers: auto (the networks' accuracies are known only then).
        self.teachers: list[str] = [] if config.teachers == AUTO else list(config.teachers)

    def setup(self, context: ScheduleContext) -> list[Callable[[], None]]:
        if self.config.teachers != AUTO:
            return []

        def order_teachers() -> None:
            accuracy = context.network_accuracies()
            # weakest first; a tie keeps the recipe's order (sorted is stable)
            self.teachers = sorted(context.network_names(), key=lambda name: accuracy[name])
            shown = " -> ".join(f"{name} ({100 * accuracy[name]:.1f}%)" for name in self.teachers)
            context.note("teachers", self.teachers, f"{context.label}: teachers: auto, weakest to strongest: {shown}")

        return [order_teachers]

    def switches(self) -> list[int]:
        config = self.config
        if config.switch_epochs is not None:
            return list(config.switch_epochs)
        return switch_epochs(len(self.teachers), config.epochs, config.shares)

    def loss(self, name: str, network: MultiExitNetwork, context: ScheduleContext) -> Callable[[StepContext], torch.Tensor]:
        config = self.config
        scale = config.temperature**2 if config.scale_t2 else 1.0

        def teacher_logits(step: StepContext) -> torch.Tensor:
            teacher = teacher_at(step.epoch, self.teachers, self.switches())
            if teacher == SELF:  # the trained network's own head: the released code's last teacher
                return step.outputs(name, network).consensus()["final"].detach()
            return step.outputs(teacher, context.networks[teacher]).consensus()["final"].detach()

        def progressive(step: StepContext) -> torch.Tensor:
            target = teacher_logits(step)
            total = 0.0
            for z in _early_exits(network, step, name).values():
                term = (1 - config.alpha) * scale * distillation_loss(z, target, config.temperature)
                if config.alpha:
                    term = term + config.alpha * F.cross_entropy(z, step.labels)
                total = total + term
            return total

        return progressive
