"""Checks before a run: what a valid recipe's components say would fail, with the recipe's file and line.

A recipe can validate and still fail minutes into a run: a weights file that
is not there, a data folder never unpacked, an exit after a stage its backbone
does not have. Only the components know (the core knows nothing of timm or
video), so the core asks each component section through a small optional
protocol and adds the lines:

- ``config.preflight()`` (every component, :class:`~pkd_toolkit.plugin.registry.ComponentConfig`):
  ``(key inside the section, message)`` pairs;
- ``config.stage_names()`` (backbone sections): the names of the stages the
  backbone will have, shallow to deep, or None when it cannot tell without
  building it; the core checks every exit's ``at`` against them.

``pkd validate`` and the start of ``pkd run`` run these checks (with the
engine's own, the networks' ``weights:`` files: :mod:`pkd_toolkit.pipeline.preflight`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pkd_toolkit.recipe.problems import Problem, problem_at
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.recipe.yaml_source import Location

Found = tuple[Location, str]


def component_problems(recipe: RecipeBase) -> list[Problem]:
    """What the recipe's components and the exits' stages say would fail, each with its place in the recipe."""
    found: list[Found] = []
    for location, section in component_sections(recipe):
        found.extend(_asked(location, section))
    found.extend(exit_stage_problems(recipe))
    return [problem_at(recipe, location, message) for location, message in found]


def component_sections(recipe: RecipeBase) -> Iterator[tuple[Location, Any]]:
    """Every component section of a validated recipe with its location."""
    yield ("data",), recipe.data  # type: ignore[attr-defined]
    for key, section in recipe.modalities.items():  # type: ignore[attr-defined]
        yield ("modalities", key), section
    for name, network in recipe.networks.items():  # type: ignore[attr-defined]
        yield ("networks", name, "backbone"), network.backbone
        for index, section in enumerate(network.exits):
            yield ("networks", name, "exits", index), section
    for kind in ("schedules", "ensembles"):
        for index, section in enumerate(getattr(recipe, kind)):
            yield (kind, index), section


def exit_stage_problems(recipe: RecipeBase) -> Iterator[Found]:
    """Exits whose ``at`` names a stage (or number) their backbone does not have, when the backbone can tell."""
    for name, network in recipe.networks.items():  # type: ignore[attr-defined]
        stage_names = getattr(network.backbone, "stage_names", None)
        stages = _called(stage_names) if callable(stage_names) else None
        if not stages:
            continue
        listed = ", ".join(f"{number}: {stage}" for number, stage in enumerate(stages, start=1))
        backbone = getattr(network.backbone, "model", None) or network.backbone.name
        for index, section in enumerate(network.exits):
            for at in section.at if isinstance(section.at, list) else [section.at]:
                number = isinstance(at, int) and not isinstance(at, bool) and 1 <= at <= len(stages)
                if not (number or at in stages):
                    message = f"backbone {backbone} has no stage {at!r}; its stages are {listed}"
                    yield ("networks", name, "exits", index, "at"), message


def _asked(location: Location, section: Any) -> list[Found]:
    """The section's own ``preflight()`` answers, located; a check that raises is reported, not raised."""
    try:
        answers = list(section.preflight())
    except Exception as error:  # a plugin's check is the plugin's: the user still learns what it said
        return [(location, f"the {section.name!r} component's check failed: {type(error).__name__}: {error}")]
    return [((*location, *_key_path(key)), message) for key, message in answers]


def _called(stage_names: Any) -> list[str] | None:
    try:
        return stage_names()
    except Exception:  # cannot tell: building the backbone will say what is wrong
        return None


def _key_path(key: str) -> Location:
    return tuple(int(part) if part.isdigit() else part for part in key.split(".") if part)
