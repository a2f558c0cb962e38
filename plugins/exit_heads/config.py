"""The exit components' recipe sections; both sit after stages 1, 2 and 3 unless ``at`` says otherwise."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from pkd_toolkit.api import ExitConfig, StageRef


class PaperPlacedExit(ExitConfig):
    """An exit whose default place is the PKD paper's: one after each of stages 1, 2 and 3."""

    at: StageRef | list[StageRef] = Field(
        default_factory=lambda: [1, 2, 3],
        description="backbone stage the exit reads: a stage name or its 1-based number; a list places one "
        "such exit after each (default: after stages 1, 2 and 3, as in the paper)",
    )


class PaperICConfig(PaperPlacedExit):
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


class LightExitConfig(PaperPlacedExit):
    """Global pooling and a linear layer: the cheapest exit."""

    pool: Literal["avg", "max", "avgmax"] = Field(default="avg", description="global pooling")
    dropout: Annotated[float, Field(ge=0, lt=1)] = Field(default=0.0, description="dropout before the linear layer")
