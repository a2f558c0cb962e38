"""What every core recipe section is made of: strict models, and checks that a name is declared elsewhere."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from pkd_toolkit.plugin.registry import choices_hint

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]


class StrictModel(BaseModel):
    # Infinity and NaN are no setting (a tolerance of .inf, a NaN learning rate): refused like any bad number.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


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


def check_all_known(values: Any, info: ValidationInfo, section: str) -> Any:
    """:func:`check_known` for every key (or item) of ``values``, which is returned."""
    for name in values or ():
        check_known(name, info, section)
    return values


class Presets(BaseModel):
    """A mixin: a section's ``preset`` key fills the settings the section does not give, from ``presets``.

    The resolved recipe then shows both the preset and what it means; a setting
    given beside the preset wins over it.
    """

    presets: ClassVar[dict[str, dict[str, Any]]] = {}

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset") in cls.presets:
            return {**cls.presets[data["preset"]], **data}
        return data
