"""Hooks of the ``generative_kd`` plugin: registers the ``gkd`` schedule."""

from __future__ import annotations

from pkd_plugins.generative_kd.config import GenerativeDistillation
from pkd_toolkit.api import Registrar, hookimpl


def _gkd(config: GenerativeDistillation):
    """Generative-model-based feature distillation (GKD): a student copy learns a teacher's attended features."""
    from pkd_plugins.generative_kd.schedule import GenerativeSchedule

    return GenerativeSchedule(config)


@hookimpl
def pkd_add_schedules(registry: Registrar) -> None:
    registry.add("gkd", _gkd, config=GenerativeDistillation)
