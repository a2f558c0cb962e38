"""Loading a recipe: read the YAML safely, apply ``--set`` overrides, validate; and writing one back out."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pkd_toolkit.errors import UsageError, with_article
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.model import recipe_model
from pkd_toolkit.recipe.overrides import apply_override
from pkd_toolkit.recipe.problems import RecipeError, problem_of
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.recipe.yaml_source import YamlSource, read_yaml

# The order sections are written in a resolved recipe.
SECTION_ORDER = (
    "name", "description", "seed", "output_dir", "data", "modalities", "networks",
    "train", "backbones", "schedules", "ensembles", "early_exit", "selection", "report",
)  # fmt: skip


def load_recipe(path: Path | str, registry: ComponentRegistry, overrides: Iterable[str] = ()) -> RecipeBase:
    """Read, override and validate a recipe file; raise :class:`RecipeError` or ``UsageError``."""
    source = read_yaml(Path(path))
    return validate_source(source, registry, overrides)


def validate_source(source: YamlSource, registry: ComponentRegistry, overrides: Iterable[str] = ()) -> RecipeBase:
    if not isinstance(source.data, dict):
        kind = with_article(type(source.data).__name__)
        raise UsageError(f"{source.path}:1: a recipe is a mapping of sections (name:, data:, networks:, ...), not {kind}")
    model = recipe_model(registry)
    data = dict(source.data)
    data.setdefault("name", source.path.stem)
    set_by = {}
    for text in overrides:
        set_by[apply_override(data, text, model)] = text
    context = {section: _keys(data.get(section)) for section in ("networks", "modalities")}
    context["schedules"] = _labels(data.get("schedules"))
    context["weight_sources"] = registry.names("weight_sources")
    try:
        recipe = model.model_validate(data, context=context)
    except ValidationError as error:
        raise RecipeError([problem_of(e, data, source, set_by, model) for e in error.errors()]) from None
    recipe._origin = (source, set_by)
    return recipe


def _keys(section: Any) -> list[str] | None:
    return [str(key) for key in section] if isinstance(section, dict) else None


def _labels(sections: Any) -> list[str] | None:
    """The labels of a raw list of component sections (``label``, else ``name``), as validation will see them."""
    if not isinstance(sections, list):
        return None
    return [str(s.get("label") or s.get("name")) for s in sections if isinstance(s, dict)]


def dump_recipe(recipe: BaseModel) -> str:
    """The resolved recipe as YAML: every default written out, ``name`` first in components."""
    data = recipe.model_dump(mode="json")
    ordered = {key: data[key] for key in SECTION_ORDER if key in data}
    ordered.update({key: value for key, value in data.items() if key not in ordered})
    return yaml.safe_dump(_name_first(ordered), sort_keys=False, allow_unicode=True)


def _name_first(value: Any) -> Any:
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda item: item[0] != "name") if isinstance(value.get("name"), str) else value.items()
        return {key: _name_first(item) for key, item in items}
    if isinstance(value, list):
        return [_name_first(item) for item in value]
    return value
