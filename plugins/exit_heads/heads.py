"""The exit heads themselves (torch, timm: imported by the registry's factories only)."""

from __future__ import annotations

from torch import nn

from pkd_plugins.exit_heads.config import LightExitConfig, PaperICConfig
from pkd_toolkit.api import import_timm


def build_paper_ic(config: PaperICConfig, *, channels: int, num_classes: int) -> nn.Module:
    """The PKD paper's internal classifier: conv, BatchNorm, 4x4 average pool, linear."""
    out_channels = config.out_channels or channels
    padding = config.kernel_size // 2 if config.padding is None else config.padding
    return nn.Sequential(
        nn.Conv2d(channels, out_channels, config.kernel_size, padding=padding, bias=config.bias),
        nn.BatchNorm2d(out_channels),
        nn.AdaptiveAvgPool2d(config.pool_size),
        nn.Flatten(),
        nn.Linear(out_channels * config.pool_size**2, num_classes),
    )


def build_light_exit(config: LightExitConfig, *, channels: int, num_classes: int) -> nn.Module:
    """Global pooling and a linear layer (timm's ClassifierHead): the cheapest exit."""
    layers = import_timm().layers
    return layers.ClassifierHead(channels, num_classes, pool_type=config.pool, drop_rate=config.dropout)
