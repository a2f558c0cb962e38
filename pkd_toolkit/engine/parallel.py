"""Training across torchrun processes: one DistributedDataParallel wrapper per step function, SyncBatchNorm, metrics.

Why one wrapper around the whole step rather than one per trained network:
schedules are plugins whose loss closures call networks (and any module of
theirs, e.g. GKD's VAEs) directly, and a :class:`~pkd_toolkit.engine.stages.StepContext`
shares one backbone pass among the objectives of a step. DDP synchronises
gradients only for what runs inside its ``forward``; so the engine wraps
:class:`StepLosses`, a module whose forward computes every active objective's
loss and which holds the run's modules. DDP registers only parameters that
require gradients when it is built, and the trainer freezes everything but the
active objectives' parameters first: frozen backbones and teachers stay out
of gradient synchronisation (they are broadcast once, when a wrapper is built,
as DDP does). A wrapper is built per stage and set of active objectives and
kept while that set trains.

``static_graph`` is on: within one wrapper (one stage, one set of active
objectives) every step uses the same parameters. DDP learns in the first step
which trained parameters get no gradient (an exit a loss leaves out), instead
of failing on the next step (``find_unused_parameters`` off) or walking the
autograd graph every step (on). A loss whose use of parameters changes from
step to step (control flow on the batch) would break that promise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.engine.stages import Objective, StepContext
from pkd_toolkit.errors import PkdError, UsageError

StepFunction = Callable[[StepContext], dict[str, torch.Tensor]]
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class StepLosses(nn.Module):
    """Every active objective's loss for one batch, as one module call (what DDP wraps)."""

    def __init__(self, model: nn.Module, objectives: list[Objective]):
        super().__init__()
        self.model = model  # registered so that DDP finds the trained parameters; the losses reach it themselves
        self.objectives = objectives

    def forward(self, context: StepContext) -> dict[str, torch.Tensor]:
        return {objective.name: objective.loss(context) for objective in self.objectives}


def step_function(model: nn.Module, objectives: list[Objective], runtime: Runtime) -> StepFunction:
    """The step's losses; under torchrun, through DDP (gradients averaged during backward)."""
    _check_owned(model, objectives)
    losses = StepLosses(model, objectives)
    if not runtime.distributed:
        return losses
    return DistributedDataParallel(losses, device_ids=None, static_graph=True)


def _check_owned(model: nn.Module, objectives: list[Objective]) -> None:
    """Parameters outside the run's modules would be neither checkpointed nor synchronised: a plugin bug."""
    owned = {id(parameter) for parameter in model.parameters()}
    for objective in objectives:
        if any(id(parameter) not in owned for parameter in objective.parameters):
            raise PkdError(
                f"objective {objective.name!r} trains parameters that are not part of the run's modules; "
                "its schedule must return every module it trains in SchedulePlan.modules"
            )


def use_sync_batch_norm(model: nn.Module, runtime: Runtime) -> str | None:
    """Convert ``model``'s trainable BatchNorms to SyncBatchNorm in place (``train.sync_bn``); a note when not needed.

    The new layers keep the old ones' parameters and buffers (the same tensors), so objectives'
    parameter lists and checkpoints are unaffected. BatchNorms a backbone component froze (no
    parameter requires a gradient) stay as they are: they never normalise with batch statistics,
    and the component keeps them in eval mode through references to those very layers.
    """
    if not runtime.distributed:
        return "note: train.sync_bn is on but the run has one process: its batch norms are left as they are"
    if runtime.device.type != "cuda":
        raise UsageError(
            f"train.sync_bn: SyncBatchNorm runs on GPUs only and these {runtime.world_size} processes run on "
            f"{runtime.device.type}; set train.sync_bn: false (each process then normalises with its own batch)"
        )
    _convert_batch_norms(model, {})
    return None


def _convert_batch_norms(module: nn.Module, converted: dict[int, nn.Module]) -> None:
    """Replace trainable BatchNorm children throughout ``module``; a layer shared by two parents stays shared."""
    for name, child in list(module.named_children()):
        if id(child) in converted:
            setattr(module, name, converted[id(child)])
        elif isinstance(child, BATCH_NORMS) and any(p.requires_grad for p in child.parameters()):
            converted[id(child)] = nn.SyncBatchNorm.convert_sync_batchnorm(child)
            setattr(module, name, converted[id(child)])
        else:
            converted[id(child)] = child
            _convert_batch_norms(child, converted)


def mean_over_processes(values: Mapping[str, float], runtime: Runtime) -> dict[str, float]:
    """Each value averaged over the processes that have it (one small gather; ``values`` as is with one process)."""
    if not runtime.distributed:
        return dict(values)
    every: list[dict[str, float] | None] = [None] * runtime.world_size
    dist.all_gather_object(every, dict(values))
    averaged = {}
    for name in dict.fromkeys(name for part in every if part for name in part):
        values = [part[name] for part in every if part and name in part]
        averaged[name] = sum(values) / len(values)
    return averaged
