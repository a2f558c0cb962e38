"""Modality components: what a network sees of a clip, and the representation the decoder computes for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pkd_toolkit.api import UsageError

Kind = Literal["iframe", "mv", "residual", "rgb"]
Precision = Literal["integer", "subpixel"]
CHANNELS: dict[str, int] = {"iframe": 3, "mv": 2, "residual": 3, "rgb": 3}
MOTION_KINDS = ("mv", "residual")


@dataclass(frozen=True)
class Representation:
    """What to compute for a modality: its kind and, for motion and residuals, how."""

    kind: Kind
    accumulate: bool = True
    precision: Precision = "integer"

    @property
    def channels(self) -> int:
        return CHANNELS[self.kind]

    @property
    def uses_motion(self) -> bool:
        return self.kind in MOTION_KINDS


@dataclass(frozen=True)
class VideoModality:
    """A built modality component (:class:`pkd_toolkit.data.Modality`): ``name``, ``channels`` and its representation."""

    name: str
    representation: Representation

    @property
    def channels(self) -> int:
        return self.representation.channels


def build_modality(kind: Kind, config: object) -> VideoModality:
    """The modality ``kind`` with the options of its recipe section (``accumulate``, ``precision`` where it has them)."""
    options = {option: getattr(config, option) for option in ("accumulate", "precision") if hasattr(config, option)}
    return VideoModality(kind, Representation(kind, **options))


def representations_of(modalities: Mapping[str, object]) -> dict[str, Representation]:
    """The representation each modality asks for; refuses modalities no video dataset produces."""
    wanted = {}
    for key, modality in modalities.items():
        representation = getattr(modality, "representation", None)
        if not isinstance(representation, Representation):
            name = getattr(modality, "name", type(modality).__name__)
            raise UsageError(
                f"modalities.{key}: the video datasets produce iframe, mv, residual and rgb, not {name!r}"
            )
        wanted[key] = representation
    return wanted
