"""The recipe's sections on what chooses what: the validation split (``data.val``, for any data set), which split
chooses checkpoints, ensembles, thresholds and teachers (``selection``), and what the report compares (``report``)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.registry import ComponentConfig
from pkd_toolkit.recipe.base import StrictModel, check_known


class ValidationSettings(StrictModel):
    """A validation split carved out of the training videos, by group: the core does it for any data set."""

    size: Annotated[float, Field(gt=0, lt=1)] | Annotated[int, Field(ge=1)] = Field(
        default=0.2, description="a fraction of the training videos (0.2), or a number of videos (20)"
    )
    group: str | None = Field(
        default=None,
        description="regular expression over the videos' names whose first group (else its match) says what must "
        "stay on one side, e.g. '^(p\\d+)_' for actors; default: the data set's own groups (UCF-101: gNN), else "
        "one group per video",
    )
    seed: int = Field(default=0, description="which groups are drawn")

    @field_validator("group")
    @classmethod
    def _a_regular_expression(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"{value!r} is not a regular expression: {error}") from None
        return value


class DatasetConfig(ComponentConfig):
    """Base of dataset components' configs: what the core does with any data set's splits."""

    val: ValidationSettings | None = Field(
        default=None,
        description="carve a validation split out of the training videos, by group; it then chooses checkpoints, "
        "fits the ensembles and the early-exit threshold, and the test split is only reported (see selection)",
    )


class SelectionSettings(StrictModel):
    """Which split chooses what. ``auto``: the validation split when data.val carves one, else as noted."""

    checkpoints: Literal["auto", "val", "test", "none"] = Field(
        default="auto",
        description="the split whose periodic evaluation picks best-<stage>.pt; auto: val, else none (the test split "
        "is then evaluated for the log only)",
    )
    ensembles: Literal["auto", "val", "train"] = Field(
        default="auto", description="the score files ensembles are fitted on; auto: val, else train"
    )
    threshold: Literal["auto", "val", "test"] = Field(
        default="auto",
        description="the split on which the report picks the cheapest early-exit point within the tolerance; "
        "auto: val, else test (then said to be optimistic)",
    )
    teachers: Literal["auto", "val", "train"] = Field(
        default="auto", description="the split the networks' accuracies (teachers: auto) are measured on; auto: val, else train"
    )

    def resolved(self, has_val: bool) -> dict[str, str]:
        """Each choice with ``auto`` replaced by what it means for a run with (or without) a validation split."""
        defaults = {"checkpoints": "none", "ensembles": "train", "threshold": "test", "teachers": "train"}
        chosen = {}
        for key, value in self.model_dump().items():
            value = ("val" if has_val else defaults[key]) if value == "auto" else value
            if value == "val" and not has_val:
                raise UsageError(f"selection.{key}: val, but the recipe carves no validation split (set data.val)")
            chosen[key] = value
        return chosen


class ReportSettings(StrictModel):
    """What the report compares."""

    baseline: str | None = Field(
        default=None,
        description="label of the schedule whose exits every other schedule's exits are compared with "
        "(e.g. 'ce'); default: the first schedule of the recipe",
    )

    @field_validator("baseline")
    @classmethod
    def _schedule_exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        return value if value is None else check_known(value, info, "schedules")
