"""Optimizers and learning-rate schedules from recipe settings, through timm's factories."""

from __future__ import annotations

from typing import Any

import torch

from pkd_toolkit.recipe.settings import OptimizerSettings, SchedulerSettings
from pkd_toolkit.torch_compat import import_timm

# Our names -> timm's: timm's "sgd" is Nesterov SGD, its "momentum" the classic one.
_TIMM_OPTIMIZERS = {"sgd": "momentum", "nesterov": "sgd"}


def build_optimizer(parameters: list[torch.nn.Parameter], settings: OptimizerSettings, lr: float) -> torch.optim.Optimizer:
    import_timm()
    from timm.optim import create_optimizer_v2

    extra: dict[str, Any] = {}
    if settings.eps is not None:
        extra["eps"] = settings.eps
    return create_optimizer_v2(
        parameters,
        opt=_TIMM_OPTIMIZERS.get(settings.name, settings.name),
        lr=lr,
        weight_decay=settings.weight_decay,
        momentum=settings.momentum,
        **extra,
    )


def build_scheduler(optimizer: torch.optim.Optimizer, settings: SchedulerSettings, epochs: int) -> Any:
    """A timm scheduler stepped with ``scheduler.step(epoch)`` at the end of every epoch."""
    import_timm()
    from timm.scheduler import create_scheduler_v2

    sched = "cosine" if settings.name == "cosine" else "multistep"
    milestones = settings.milestones if settings.name == "step" else []
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=sched,
        num_epochs=max(epochs, 1),
        decay_milestones=milestones,
        decay_rate=settings.gamma,
        warmup_epochs=settings.warmup_epochs,
        warmup_prefix=False,
    )
    return scheduler
