"""Fixtures for the GKD tests: a schedule context on tiny backbones and validated ``gkd`` sections."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from pkd_toolkit.engine.stages import ScheduleContext

from .tiny import tiny_network


@pytest.fixture
def schedule_context() -> Callable[..., ScheduleContext]:
    """``schedule_context(teacher_widths, student_widths)``: a context with networks ``teacher`` and ``student``."""

    def make(teacher_widths: tuple[int, int] = (4, 8), student_widths: tuple[int, int] = (4, 6)) -> ScheduleContext:
        networks = {"teacher": tiny_network(teacher_widths, seed=1), "student": tiny_network(student_widths, seed=2)}
        return ScheduleContext(
            label="gkd",
            recipe=SimpleNamespace(seed=0),
            networks=networks,
            num_classes=3,
            new_exits=lambda name: networks[name],
            registry=None,
        )

    return make


@pytest.fixture
def gkd_config() -> Callable[..., Any]:
    """``gkd_config(**settings)``: a validated ``gkd`` schedule section for networks teacher and student."""
    from pkd_plugins.generative_kd.config import GenerativeDistillation

    def make(**settings: Any) -> GenerativeDistillation:
        values = {"teacher": "teacher", "student": "student", "layer": "block2", "teacher_epochs": 1, "epochs": 2,
                  "template_size": 3, **settings}  # fmt: skip
        return GenerativeDistillation.model_validate(values, context={"networks": ["teacher", "student"]})

    return make
