"""Built-in plugin: exit components, the heads of early exits.

``paper_ic``, the internal classifier of the PKD paper: conv -> BatchNorm ->
adaptive average pool to 4x4 -> flatten -> linear, no activation. Sized from
the stage it reads; its published convs are expressible per exit::

    # ResNet-18: 7x7 (padding 1) 64->64, then 3x3 128->128 and 3x3 256->256
    - {name: paper_ic, at: layer1, kernel_size: 7, padding: 1}
    - {name: paper_ic, at: layer2}
    - {name: paper_ic, at: layer3}
    # ResNet-50: 3x3 256->64, 3x3 512->256, 3x3 1024->1024
    - {name: paper_ic, at: layer1, out_channels: 64}
    - {name: paper_ic, at: layer2, out_channels: 256}
    - {name: paper_ic, at: layer3}

``light``: timm's classifier head (global pool, dropout, linear), the
cheapest exit. Torch and timm are imported by the factories, not here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from pkd_toolkit import hookimpl
from pkd_toolkit.settings import ExitConfig


class PaperICConfig(ExitConfig):
    """The PKD paper's internal classifier: conv, BatchNorm, 4x4 average pool, linear."""

    kernel_size: Annotated[int, Field(ge=1)] = Field(default=3, description="size of the conv's square kernel")
    padding: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="the conv's padding; default kernel_size // 2, which keeps the map's size"
    )
    out_channels: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="the conv's output channels; default the stage's channels"
    )
    bias: bool = Field(default=False, description="a bias in the conv (the BatchNorm after it has one)")
    pool_size: Annotated[int, Field(ge=1)] = Field(
        default=4, description="side of the adaptive average pool's output: the linear sees out_channels x pool_size^2"
    )


class LightExitConfig(ExitConfig):
    """Global pooling and a linear layer: the cheapest exit."""

    pool: Literal["avg", "max", "avgmax"] = Field(default="avg", description="global pooling")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(default=0.0, description="dropout before the linear layer")


def build_paper_ic(config: PaperICConfig, *, channels: int, num_classes: int) -> Any:
    """The PKD paper's internal classifier: conv, BatchNorm, 4x4 average pool, linear."""
    from torch import nn

    out_channels = config.out_channels or channels
    padding = config.kernel_size // 2 if config.padding is None else config.padding
    return nn.Sequential(
        nn.Conv2d(channels, out_channels, config.kernel_size, padding=padding, bias=config.bias),
        nn.BatchNorm2d(out_channels),
        nn.AdaptiveAvgPool2d(config.pool_size),
        nn.Flatten(),
        nn.Linear(out_channels * config.pool_size**2, num_classes),
    )


def build_light_exit(config: LightExitConfig, *, channels: int, num_classes: int) -> Any:
    """Global pooling and a linear layer (timm's ClassifierHead): the cheapest exit."""
    from pkd_toolkit.torch_compat import import_timm

    layers = import_timm().layers
    return layers.ClassifierHead(channels, num_classes, pool_type=config.pool, drop_rate=config.dropout)


@hookimpl
def pkd_add_exits(registry):
    registry.add("paper_ic", build_paper_ic, config=PaperICConfig)
    registry.add("light", build_light_exit, config=LightExitConfig)
