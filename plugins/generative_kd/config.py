"""The ``gkd`` schedule's recipe section: every weight and optimiser setting, the published values as defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pkd_toolkit.api import OptimizerSettings, ScheduleConfig, SchedulerSettings, check_known

PositiveInt = Annotated[int, Field(ge=1)]
Weight = Annotated[float, Field(ge=0)]


class GenerativeDistillation(ScheduleConfig):
    """A student network distilled from a teacher's attention-conditioned feature distribution (GKD)."""

    teacher: str = Field(description="network that teaches; trained by stage (a) and frozen here")
    student: str = Field(description="network whose copy learns; the network itself stays the cross-entropy baseline")
    layer: str | PositiveInt | None = Field(
        default=None,
        description="stage of both backbones where features are distilled: a stage name or 1-based number; "
        "default: each backbone's last stage. A 1x1 adapter maps the student to the teacher's width when they differ",
    )
    teacher_epochs: PositiveInt = Field(
        default=5, description="phase 1: epochs fitting the teacher's attention head and CVAE"
    )
    epochs: PositiveInt = Field(
        default=20, description="phase 2: epochs of the student; each is one epoch of its CVAE, then one of the network"
    )
    temporal_kernel: PositiveInt = Field(
        default=3, description="odd kernel of the attention's convolution across a clip's segments"
    )
    attention_hidden: PositiveInt | None = Field(
        default=None, description="channels inside the attention heads (default: half the feature's channels)"
    )
    cvae_hidden: PositiveInt | None = Field(
        default=None, description="width of the CVAEs' encoder and decoder layers (default: the feature's channels)"
    )
    template_size: PositiveInt = Field(
        default=7, description="side of the CVAE decoder's spatial template per channel, resized to the feature's size"
    )
    kl_weight: Weight = Field(default=0.1, description="weight of KL(q || N(A, I)) in the CVAE loss")
    cvae_distillation_weight: Weight = Field(
        default=0.01,
        description="CVAE step: weight of MSE(student CVAE's F_hat, teacher CVAE's F_hat on the student's inputs)",
    )
    generative_weight: Weight = Field(
        default=0.5, description="student step: final weight w of MSE(decode(z ~ N(A_s, I), A_s), F_s)"
    )
    generative_ramp_epochs: Annotated[int, Field(ge=0)] = Field(
        default=20, description="w_e = generative_weight * min(epoch, this) / this (0: no ramp)"
    )
    attention_weight: Weight = Field(default=0.1, description="student step: weight of MSE(A_s, A_t)")
    optimizer: OptimizerSettings = Field(
        default_factory=lambda: OptimizerSettings(name="sgd", lr=1e-3, momentum=0.9, weight_decay=5e-4),
        description="the student network with its attention head and adapter",
    )
    teacher_optimizer: OptimizerSettings | None = Field(
        default=None, description="phase 1: the teacher's attention head (default: the student's optimizer settings)"
    )
    cvae_optimizer: OptimizerSettings = Field(
        default_factory=lambda: OptimizerSettings(name="adam", lr=1e-4), description="both CVAEs"
    )
    scheduler: SchedulerSettings = Field(
        default_factory=lambda: SchedulerSettings(name="constant"),
        description="learning-rate schedule of every GKD optimizer, in epochs of its phase",
    )

    @field_validator("teacher", "student")
    @classmethod
    def _is_a_network(cls, value: str, info: ValidationInfo) -> str:
        return check_known(value, info, "networks")

    @field_validator("temporal_kernel")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"temporal_kernel must be odd, so that the attention keeps the segments: got {value}")
        return value

    @model_validator(mode="after")
    def _two_networks(self) -> GenerativeDistillation:
        if self.teacher == self.student:
            raise ValueError(f"teacher and student must be two networks, both are {self.teacher!r}")
        return self
