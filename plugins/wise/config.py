"""The built-in ensemblers' recipe sections."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from pkd_toolkit.api import ComponentConfig, Presets, check_all_known, check_known

NonNegativeFloat = Annotated[float, Field(ge=0)]


class OrderedEnsemblerConfig(ComponentConfig):
    """Settings every built-in ensembler shares: its label and the order of its exits."""

    label: str | None = Field(
        default=None,
        description="names this ensemble in reports, state files and early_exit.ensemblers (the core checks that "
        "it can name a file); "
        "default: the component name (give one when the recipe lists a component twice)",
    )
    order: list[str] | None = Field(
        default=None,
        min_length=1,
        description="the exits in stage order: 'network/exit' (e.g. 'residual/ic1'), or a network name for all "
        "its exits, shallowest first; default: the published order (residual, mv, iframe) when the networks are "
        "named so, else the networks by increasing cost",
    )

    @field_validator("order")
    @classmethod
    def _networks_exist(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        for entry in value or ():
            check_known(entry.partition("/")[0], info, "networks")
        return value


class SumConfig(OrderedEnsemblerConfig):
    """Every exit weighs 1: the plain sum of the exits' logits ("no scaling")."""


class MeanConfig(OrderedEnsemblerConfig):
    """No scaling, as released: stage k averages its k exits, the last stage the networks' final heads."""


class FusionConfig(OrderedEnsemblerConfig):
    """A fixed weight per network. Its default order is the networks' final exits (CoViAR's late fusion)."""

    weights: dict[str, NonNegativeFloat] | None = Field(
        default=None,
        description="weight of each network's logits; networks left out weigh 1; default: CoViAR's "
        "iframe 2, mv 1, residual 1",
    )

    @field_validator("weights")
    @classmethod
    def _weighted_networks_exist(cls, value: dict[str, float] | None, info: ValidationInfo) -> dict[str, float] | None:
        return check_all_known(value, info, "networks")


WISE_PRESETS: dict[str, dict[str, Any]] = {
    # COVIAR_backbone/wise_ucf101_kinetics_pretrained.py and hmdb_wise.py
    "published_code": {"fit_first_stage": False, "final_stage": "fusion", "stage_mean": True, "keep_sum_if_worse": False},
}


class WiseConfig(OrderedEnsemblerConfig, Presets):
    """Learned weights: stage k's logits are sum_j<=k beta[k, j] * z_j, fitted on held-out (or train) scores."""

    presets: ClassVar[dict[str, dict[str, Any]]] = WISE_PRESETS

    preset: Literal["published_code"] | None = Field(
        default=None,
        description="published_code: as the released code: the first stage unfitted, the last a fixed fusion of "
        "the final heads, each stage divided by its size, no guard (keep_sum_if_worse false); fills the settings "
        "the section does not give (see docs/fidelity.md)",
    )

    lr: Annotated[float, Field(gt=0)] = Field(default=0.1, description="learning rate of the full-batch SGD")
    iterations: Annotated[int, Field(ge=0)] = Field(default=500, description="SGD steps (0 keeps every beta at init)")
    init: float = Field(default=1.0, description="initial value of every beta (1: the plain sum)")
    l1_small: NonNegativeFloat = Field(default=0.0, description="L1 weight on a stage's betas for small ensembles")
    l1_large: NonNegativeFloat = Field(default=0.1, description="L1 weight on a stage's betas for large ensembles")
    small_members: Annotated[int, Field(ge=0)] = Field(
        default=5, description="ensembles of up to this many exits are small (l1_small), larger ones use l1_large"
    )
    clamp_negative: bool = Field(default=False, description="clamp negative betas to 0 after every step")
    keep_sum_if_worse: bool = Field(
        default=True,
        description="a stage whose fitted betas classify the fitting videos worse than the plain sum keeps the "
        "sum's betas, so WISE never loses to 'sum' on the data it was fitted on (our addition; false: the "
        "published procedure unguarded)",
    )
    fit_first_stage: bool = Field(
        default=True, description="fit a weight for the first stage too (false: its logits as they are, as released)"
    )
    final_stage: Literal["fitted", "fusion"] = Field(
        default="fitted",
        description="the last stage (the full ensemble): a fitted row over every exit, or a fixed weighted fusion "
        "of the networks' final heads (final_weights), as released",
    )
    final_weights: dict[str, NonNegativeFloat] | None = Field(
        default=None,
        description="final_stage: fusion: the weight of each network's final head (networks left out weigh 1); "
        "default CoViAR's iframe 2, mv 1, residual 1; the released per-split values are in the paper recipes",
    )
    stage_mean: bool = Field(
        default=False,
        description="divide each stage's logits by the number it adds up (the fusion stage: by the networks), as "
        "the released code does before the softmax: the answers stay, the confidences (so early exit) change",
    )

    @field_validator("final_weights")
    @classmethod
    def _weighted_networks_exist(cls, value: dict[str, float] | None, info: ValidationInfo) -> dict[str, float] | None:
        return check_all_known(value, info, "networks")


CONFIGS = {"sum": SumConfig, "mean": MeanConfig, "fusion": FusionConfig, "wise": WiseConfig}
