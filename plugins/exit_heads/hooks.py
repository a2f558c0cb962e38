"""Hooks of the ``exit_heads`` plugin: registers ``paper_ic`` and ``light``."""

from __future__ import annotations

from typing import Any

from pkd_plugins.exit_heads.config import LightExitConfig, PaperICConfig
from pkd_toolkit.api import Registrar, hookimpl


def _paper_ic(config: PaperICConfig, *, channels: int, num_classes: int) -> Any:
    """The PKD paper's internal classifier: conv, BatchNorm, 4x4 average pool, linear."""
    from pkd_plugins.exit_heads.heads import build_paper_ic

    return build_paper_ic(config, channels=channels, num_classes=num_classes)


def _light(config: LightExitConfig, *, channels: int, num_classes: int) -> Any:
    """Global pooling and a linear layer (timm's ClassifierHead): the cheapest exit."""
    from pkd_plugins.exit_heads.heads import build_light_exit

    return build_light_exit(config, channels=channels, num_classes=num_classes)


@hookimpl
def pkd_add_exits(registry: Registrar) -> None:
    registry.add("paper_ic", _paper_ic, config=PaperICConfig)
    registry.add("light", _light, config=LightExitConfig)
