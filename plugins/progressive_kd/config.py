"""The ``ce`` and ``pkd`` schedules' recipe sections."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pkd_toolkit.api import ExitScheduleConfig, check_known


class CrossEntropyExits(ExitScheduleConfig):
    """Exits trained with cross entropy on the labels."""


class ProgressiveDistillation(ExitScheduleConfig):
    """Exits distilled from a sequence of teachers' final heads (PKD)."""

    teachers: list[str] = Field(
        default_factory=lambda: ["mv", "residual", "iframe"],
        min_length=1,
        description="networks whose final heads teach, in order (reverse it, or give one, for the ablations)",
    )
    switch_epochs: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="epoch at which each next teacher takes over (the published code: [50, 100] of 300); "
        "default: equal shares of the epochs",
    )
    temperature: float = Field(default=1.0, gt=0, description="softmax temperature T of teacher and student")
    alpha: float = Field(default=0.0, ge=0, le=1, description="weight of cross entropy with the labels (0: pure distillation)")
    scale_t2: bool = Field(default=False, description="multiply the distillation term by T^2 (Hinton et al.)")

    @field_validator("teachers")
    @classmethod
    def _teachers_are_networks(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for name in value:
            check_known(name, info, "networks")
        return value

    @model_validator(mode="after")
    def _switches_fit(self) -> ProgressiveDistillation:
        if self.switch_epochs is None:
            return self
        if len(self.switch_epochs) != len(self.teachers) - 1:
            raise ValueError(
                f"switch_epochs needs {len(self.teachers) - 1} epoch(s) for {len(self.teachers)} teachers, "
                f"got {len(self.switch_epochs)}"
            )
        if sorted(set(self.switch_epochs)) != self.switch_epochs or self.switch_epochs[-1:] >= [self.epochs]:
            raise ValueError(f"switch_epochs must increase and stay below epochs ({self.epochs}): {self.switch_epochs}")
        return self
