"""What every core recipe section is made of: strict models, and checks that a name is declared elsewhere."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

from pkd_toolkit.plugin.registry import choices_hint

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


def known_names(info: ValidationInfo, what: str) -> list[str] | None:
    """Names declared elsewhere in the recipe (``networks``, ``modalities``, ``schedules``' labels), from the
    validation context."""
    return (info.context or {}).get(what)


def check_known(value: str, info: ValidationInfo, section: str) -> str:
    """Refuse ``value`` unless the recipe's ``section`` names it (``networks``, ``modalities`` or ``schedules``)."""
    names = known_names(info, section)
    if names is not None and value not in names:
        raise ValueError(f"{value!r} is not one of the recipe's {section}: " + choices_hint(value, names))
    return value
