"""What is wrong with a recipe, in the user's terms: file and line (or ``--set``), key path, expectation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pkd_toolkit.errors import UsageError, with_article
from pkd_toolkit.plugin.registry import KINDS, unknown_name_message
from pkd_toolkit.recipe.model import section_name
from pkd_toolkit.recipe.walk import child_annotation, field_names, keys_hint
from pkd_toolkit.recipe.yaml_source import Location, YamlSource


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe."""

    where: str  # "recipe.yaml:12" or "--set train.epochs=x"
    path: str  # "networks.mv.backbone.model"
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else f"{self.where}: {self.message}"


class RecipeError(UsageError):
    """A recipe that does not validate; lists every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        head = "the recipe is not valid:" if len(problems) > 1 else "the recipe is not valid"
        lines = [str(p) for p in problems]
        super().__init__(f"{head}\n  " + "\n  ".join(lines) if len(lines) > 1 else f"{lines[0]}")


def problem_of(error: dict[str, Any], data: Any, source: YamlSource, set_by: dict[Location, str], model: Any) -> Problem:
    location, parent_annotation = _data_location(error["loc"], data, model)
    return Problem(_where(location, source, set_by), _format_path(location), _message(error, location, parent_annotation))


def problem_at(recipe: Any, location: Location, message: str) -> Problem:
    """A problem found after validation at ``location`` of a recipe ``load_recipe`` read: its file:line, or the
    ``--set`` that wrote the value."""
    origin = getattr(recipe, "_origin", None)
    where = _where(location, *origin) if origin is not None else "the recipe"
    return Problem(where, _format_path(location), message)


def _where(location: Location, source: YamlSource, set_by: dict[Location, str]) -> str:
    override = next((text for loc, text in set_by.items() if location[: len(loc)] == loc), None)
    if override is not None:
        return f"--set {override}"
    return f"{source.path}:{source.line_of(location) or 1}"


def _data_location(loc: tuple[Any, ...], data: Any, model: Any) -> tuple[Location, Any]:
    """Drop the union tags pydantic puts in error locations; also return the annotation of the parent."""
    location: list[Any] = []
    node, annotation, parent = data, model, model
    for element in loc:
        if isinstance(node, dict) and element not in node and element == section_name(node):
            continue  # a union tag, not a key
        parent = annotation
        annotation = child_annotation(annotation, element, node)
        location.append(element)
        node = node.get(element) if isinstance(node, dict) else (
            node[element] if isinstance(node, list) and isinstance(element, int) and element < len(node) else None
        )
    return tuple(location), (parent, _parent_node(data, location))


def _parent_node(data: Any, location: Location) -> Any:
    node = data
    for element in location[:-1]:
        try:
            node = node[element]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _format_path(location: Location) -> str:
    text = ""
    for element in location:
        text += f"[{element}]" if isinstance(element, int) else (f".{element}" if text else str(element))
    return text


def _message(error: dict[str, Any], location: Location, parent: tuple[Any, Any]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "unknown_component":
        what = KINDS[error["ctx"]["kind"]]
        choices = [name for name in error["ctx"]["choices"].split(", ") if name]
        if not isinstance(value, dict):
            return f"expected {with_article(what)} section (a mapping with a 'name' key), got {_show(value)}"
        if "name" not in value:
            return f"missing 'name': which {what}? (choices: {', '.join(choices) or 'none registered'})"
        return unknown_name_message(what, value["name"], choices)
    if kind == "extra_forbidden":
        fields = field_names(*parent)
        key = str(location[-1]) if location else "?"
        return f"unknown key {key!r} ({keys_hint(key, fields or [])})"
    if kind == "missing":
        return f"missing required key {str(location[-1])!r}" if location else "missing"
    if kind == "value_error":  # our validators' messages already show the value
        return error["msg"].removeprefix("Value error, ")
    message = error["msg"]
    if isinstance(value, dict | list):
        return message
    return f"{message}, got {_show(value)}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
