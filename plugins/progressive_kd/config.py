"""The ``ce`` and ``pkd`` schedules' recipe sections, and the PKD presets.

Two readings of the PKD paper exist, and both are offered by name:

- ``preset: published_code``: what the authors' released code does
  (``COVIAR_backbone/train_freeze_backbone_IC_KD_progressive.py``): the MV
  network's head teaches for the first sixth of the epochs, the residual
  network's for the second sixth, and then each network's ICs learn from that
  network's own final head (``self``) for the last two thirds.
- ``preset: paper_text``: the order the paper's text states (MV, residual,
  then the I-frame network for every network's ICs), with the same epoch shares.

Without a preset the teachers are ``[mv, residual, iframe]`` in equal shares.
See docs/fidelity.md.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from pkd_toolkit.api import ExitScheduleConfig, Presets, check_known

SELF = "self"
"""A teacher name: the final head of the network whose exits are trained."""
AUTO = "auto"
"""``teachers: auto``: every network of the recipe, from the weakest to the strongest (measured after stage (a))."""

# The released code: 300 epochs, switches at 50 and 100.
PUBLISHED_SHARES = (1 / 6, 1 / 6, 2 / 3)
PRESETS: dict[str, dict[str, Any]] = {
    "published_code": {"teachers": ["mv", "residual", SELF], "shares": "published"},
    "paper_text": {"teachers": ["mv", "residual", "iframe"], "shares": "published"},
}


class CrossEntropyExits(ExitScheduleConfig):
    """Exits trained with cross entropy on the labels."""


class ProgressiveDistillation(ExitScheduleConfig, Presets):
    """Exits distilled from a sequence of teachers' final heads (PKD)."""

    presets: ClassVar[dict[str, dict[str, Any]]] = PRESETS

    preset: Literal["published_code", "paper_text"] | None = Field(
        default=None,
        description="published_code: teachers [mv, residual, self] in the released code's shares (1/6, 1/6, 2/3); "
        "paper_text: teachers [mv, residual, iframe] in the same shares. Fills teachers and shares where the "
        "section does not give them (see docs/fidelity.md)",
    )
    teachers: list[str] | Literal["auto"] = Field(
        default_factory=lambda: ["mv", "residual", "iframe"],
        description="networks whose final heads teach, in order; 'self' is the final head of the network whose "
        "exits learn; 'auto' orders every network from the weakest to the strongest by its accuracy after "
        "stage (a) on the validation split (the train split without one)",
    )
    shares: Literal["equal", "published"] | list[Annotated[float, Field(gt=0)]] = Field(
        default="equal",
        description="how the epochs are shared among the teachers: equal; published (1/6, 1/6, 2/3 of three "
        "teachers, the released code's 50/100 of 300); or one weight per teacher",
    )
    switch_epochs: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None,
        description="epoch at which each next teacher takes over (e.g. [50, 100] of 300); overrides shares",
    )
    temperature: float = Field(default=1.0, gt=0, description="softmax temperature T of teacher and student")
    alpha: float = Field(default=0.0, ge=0, le=1, description="weight of cross entropy with the labels (0: pure distillation)")
    scale_t2: bool = Field(default=False, description="multiply the distillation term by T^2 (Hinton et al.)")

    @field_validator("teachers")
    @classmethod
    def _teachers_are_networks(cls, value: list[str] | str, info: ValidationInfo) -> list[str] | str:
        if value == AUTO:
            networks = (info.context or {}).get("networks")
            if networks is not None and len(networks) < 2:
                raise ValueError(
                    f"teachers: auto orders the recipe's networks from the weakest to the strongest, and it has "
                    f"{len(networks)} ({', '.join(networks)}): name the teacher(s) instead"
                )
            return value
        if not value:
            raise ValueError("teachers lists no network: give at least one (or 'auto')")
        known = (info.context or {}).get("networks") or []
        if SELF in known:
            raise ValueError(f"a network is named {SELF!r}, which PKD reads as 'the trained network itself': rename it")
        for name in value:
            if name != SELF:
                check_known(name, info, "networks")
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(
                f"teachers lists {', '.join(map(repr, repeated))} more than once: give a teacher a longer turn "
                "with shares or switch_epochs instead"
            )
        return value

    @model_validator(mode="after")
    def _switches_fit(self) -> ProgressiveDistillation:
        if self.teachers == AUTO:
            if self.switch_epochs is not None or isinstance(self.shares, list):
                raise ValueError("with teachers: auto the number of teachers is the recipe's networks: use shares "
                                 "'equal' or 'published', not a list or switch_epochs")
            return self
        count = len(self.teachers)
        if self.switch_epochs is not None:
            if len(self.switch_epochs) != count - 1:
                raise ValueError(
                    f"switch_epochs needs {count - 1} epoch(s) for {count} teachers, got {len(self.switch_epochs)}"
                )
            if sorted(set(self.switch_epochs)) != self.switch_epochs or self.switch_epochs[-1:] >= [self.epochs]:
                raise ValueError(f"switch_epochs must increase and stay below epochs ({self.epochs}): {self.switch_epochs}")
        else:
            share_fractions(self.shares, count)  # raises for a share list of another length
        return self


def share_fractions(shares: str | list[float], teachers: int) -> list[float]:
    """Each teacher's fraction of the epochs."""
    if shares == "equal":
        return [1 / teachers] * teachers
    if shares == "published":
        if teachers != len(PUBLISHED_SHARES):
            raise ValueError(
                f"shares 'published' are the released code's 1/6, 1/6, 2/3 of three teachers, and there are "
                f"{teachers}: give one share per teacher as a list"
            )
        return list(PUBLISHED_SHARES)
    if len(shares) != teachers:
        raise ValueError(f"shares lists {len(shares)} weight(s) for {teachers} teacher(s)")
    total = sum(shares)
    return [share / total for share in shares]
