"""Hooks of the ``timm_backbones`` plugin: registers the ``timm`` backbone."""

from __future__ import annotations

from typing import Any

from pkd_plugins.timm_backbones.config import TimmBackboneConfig
from pkd_toolkit.api import Registrar, hookimpl


def build_timm(config: TimmBackboneConfig, *, in_chans: int, num_classes: int, load_pretrained: bool = True) -> Any:
    """Any timm model as a backbone: stages from feature_info, in_chans from the modality, local pretrained weights."""
    from pkd_plugins.timm_backbones.backbone import build_timm_backbone

    return build_timm_backbone(config, in_chans=in_chans, num_classes=num_classes, load_pretrained=load_pretrained)


@hookimpl
def pkd_add_backbones(registry: Registrar) -> None:
    registry.add("timm", build_timm, config=TimmBackboneConfig)
