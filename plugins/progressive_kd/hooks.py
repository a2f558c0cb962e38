"""Hooks of the ``progressive_kd`` plugin: registers the ``ce`` and ``pkd`` schedules."""

from __future__ import annotations

from pkd_plugins.progressive_kd.config import CrossEntropyExits, ProgressiveDistillation
from pkd_toolkit.api import Registrar, hookimpl


def _ce(config: CrossEntropyExits):
    """Exits trained with cross entropy (the baseline)."""
    from pkd_plugins.progressive_kd.schedules import CrossEntropySchedule

    return CrossEntropySchedule(config)


def _pkd(config: ProgressiveDistillation):
    """Progressive knowledge distillation: exits learn from teachers in turn."""
    from pkd_plugins.progressive_kd.schedules import ProgressiveSchedule

    return ProgressiveSchedule(config)


@hookimpl
def pkd_add_schedules(registry: Registrar) -> None:
    registry.add("ce", _ce, config=CrossEntropyExits)
    registry.add("pkd", _pkd, config=ProgressiveDistillation)
