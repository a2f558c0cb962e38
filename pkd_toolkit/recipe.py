"""Recipes: YAML files, read safely, validated by pydantic models that the plugins provide.

The recipe model is assembled from the registry: each component section
(``data``, ``modalities.*``, ``networks.*.backbone``, ``networks.*.exits[]``,
``schedules[]``, ``ensembles[]``) is a union of the registered components of
its kind, chosen by its ``name`` key and validated by that component's own
config model. Errors name the file and line, the key path, what was expected
and, for an unknown name, the valid choices.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, Discriminator, Field, StringConstraints, Tag, ValidationError, create_model

from pkd_toolkit.errors import UsageError
from pkd_toolkit.registry import KINDS, ComponentRegistry, unknown_name_message
from pkd_toolkit.settings import ExitConfig, NetworkBase, RecipeBase
from pkd_toolkit.yaml_source import Location, YamlSource, read_yaml

SectionKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]

# The order sections are written in a resolved recipe.
SECTION_ORDER = (
    "name", "description", "seed", "output_dir", "data", "modalities", "networks",
    "train", "backbones", "schedules", "ensembles", "early_exit",
)  # fmt: skip


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


# -- the model -------------------------------------------------------------------


def component_union(registry: ComponentRegistry, kind: str) -> Any:
    """A type accepting a section of any registered component of ``kind``, chosen by ``name``."""
    members = []
    for component in registry.components(kind):
        named = create_model(
            f"{KINDS[kind]}:{component.name}",
            __base__=component.config,
            __doc__=component.help or component.config.__doc__,
            name=(Literal[component.name], Field(description=f"{KINDS[kind]} component")),
        )
        members.append(Annotated[named, Tag(component.name)])
    if not members:  # nothing registered: every value is refused with the same message
        members.append(Annotated[_NothingRegistered, Tag("<none registered>")])
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Discriminator(
            _section_name,
            custom_error_type="unknown_component",
            custom_error_message=f"unknown {KINDS[kind]}",
            custom_error_context={"kind": kind, "choices": ", ".join(registry.names(kind))},
        ),
    ]


class _NothingRegistered(BaseModel):
    pass


def _section_name(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("name")
        return name if isinstance(name, str) else None
    return getattr(value, "name", None)


def recipe_model(registry: ComponentRegistry) -> type[RecipeBase]:
    """The full recipe model for the components currently registered."""
    exit_union = component_union(registry, "exits")
    network = create_model(
        "Network",
        __base__=NetworkBase,
        backbone=(component_union(registry, "backbones"), ...),
        exits=(list[exit_union], Field(default_factory=list, description="early exits, shallowest first")),
    )
    return create_model(
        "Recipe",
        __base__=RecipeBase,
        data=(component_union(registry, "datasets"), ...),
        modalities=(dict[SectionKey, component_union(registry, "modalities")], Field(min_length=1)),
        networks=(dict[SectionKey, network], Field(min_length=1)),
        schedules=(list[component_union(registry, "schedules")], Field(default_factory=list)),
        ensembles=(list[component_union(registry, "ensemblers")], Field(default_factory=list)),
    )


def recipe_schema(registry: ComponentRegistry) -> dict[str, Any]:
    """JSON Schema of recipes, the loaded plugins' sections included."""
    schema = recipe_model(registry).model_json_schema()
    schema["title"] = "pkd-toolkit recipe"
    return schema


# -- loading -----------------------------------------------------------------------


def load_recipe(path: Path | str, registry: ComponentRegistry, overrides: Iterable[str] = ()) -> RecipeBase:
    """Read, override and validate a recipe file; raise :class:`RecipeError` or ``UsageError``."""
    source = read_yaml(Path(path))
    return validate_source(source, registry, overrides)


def validate_source(source: YamlSource, registry: ComponentRegistry, overrides: Iterable[str] = ()) -> RecipeBase:
    if not isinstance(source.data, dict):
        kind = type(source.data).__name__
        raise UsageError(f"{source.path}:1: a recipe is a mapping of sections (name:, data:, networks:, ...), not a {kind}")
    model = recipe_model(registry)
    data = dict(source.data)
    data.setdefault("name", source.path.stem)
    set_by = {}
    for text in overrides:
        set_by[apply_override(data, text, model)] = text
    context = {section: _keys(data.get(section)) for section in ("networks", "modalities")}
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise RecipeError([_problem(e, data, source, set_by, model) for e in error.errors()]) from None


def _keys(section: Any) -> list[str] | None:
    return [str(key) for key in section] if isinstance(section, dict) else None


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


# -- overrides ------------------------------------------------------------------------


def apply_override(data: dict[str, Any], text: str, model: type[BaseModel]) -> Location:
    """Apply ``--set key.path=value`` to raw recipe data; return the location it set.

    The path must follow the recipe's structure: sections and keys the model
    knows (a missing section is created), existing dictionary entries and list
    items. The value is read as YAML (``3`` is a number, ``[1, 2]`` a list).
    """
    where = f"--set {text}"
    key, equals, raw = text.partition("=")
    parts = key.split(".")
    if not equals or not all(part.strip() for part in parts):
        raise UsageError(f"{where}: expected KEY.PATH=VALUE, for example --set train.batch_size=8")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise UsageError(f"{where}: the value is not valid YAML ({getattr(error, 'problem', error)})") from None
    node: Any = data
    annotation: Any = model
    location: list[str | int] = []
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        done = ".".join(parts[:depth]) or "the recipe"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise UsageError(f"{where}: {done} is a list of {len(node)} items; {part!r} is not an item number")
            step: str | int = int(part)
        elif isinstance(node, dict):
            fields = _field_names(annotation, node)
            if fields is not None and part not in fields:
                raise UsageError(f"{where}: {done} has no key {part!r} ({_choices(part, fields)})")
            if fields is None and part not in node and not last:
                raise UsageError(f"{where}: {done} has no entry {part!r} ({_choices(part, [str(k) for k in node])})")
            step = part
        else:
            raise UsageError(f"{where}: {done} is a value ({node!r}), not a section with keys")
        location.append(step)
        annotation = _step(annotation, step, node)
        if last:
            node[step] = value
        else:
            if isinstance(node, dict) and node.get(step) is None:
                node[step] = {}
            node = node[step]
    return tuple(location)


def _choices(wrong: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(wrong, list(valid), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}valid: {', '.join(valid)}" if valid else "it is empty"


# -- walking the model's types alongside the data ---------------------------------------


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _union_member(annotation: Any, node: Any) -> Any:
    """The member of a (possibly discriminated) union that describes ``node``."""
    name = _section_name(node)
    candidates = []
    for member in get_args(annotation):
        tags = [meta.tag for meta in getattr(member, "__metadata__", ()) if isinstance(meta, Tag)]
        if tags and tags[0] == name:
            return _unwrap(member)
        if not tags and _unwrap(member) is not type(None):
            candidates.append(_unwrap(member))
    return candidates[0] if len(candidates) == 1 else None


def _resolve(annotation: Any, node: Any) -> Any:
    annotation = _unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = _union_member(annotation, node)
    return annotation


def _field_names(annotation: Any, node: Any) -> list[str] | None:
    """Keys a mapping may hold here: the model's fields, or None for a free-form dict."""
    annotation = _resolve(annotation, node)
    return list(annotation.model_fields) if _is_model(annotation) else None


def _step(annotation: Any, key: str | int, node: Any) -> Any:
    annotation = _resolve(annotation, node)
    if _is_model(annotation):
        field = annotation.model_fields.get(str(key))
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0]
    return None


# -- error messages ------------------------------------------------------------------------


def _problem(error: dict[str, Any], data: Any, source: YamlSource, set_by: dict[Location, str], model: Any) -> Problem:
    location, parent_annotation = _data_location(error["loc"], data, model)
    override = next((text for loc, text in set_by.items() if location[: len(loc)] == loc), None)
    if override is not None:
        where = f"--set {override}"
    else:
        where = f"{source.path}:{source.line_of(location) or 1}"
    path = _format_path(location)
    return Problem(where, path, _message(error, location, parent_annotation))


def _data_location(loc: tuple[Any, ...], data: Any, model: Any) -> tuple[Location, Any]:
    """Drop the union tags pydantic puts in error locations; also return the annotation of the parent."""
    location: list[Any] = []
    node, annotation, parent = data, model, model
    for element in loc:
        if isinstance(node, dict) and element not in node and element == _section_name(node):
            continue  # a union tag, not a key
        parent = annotation
        annotation = _step(annotation, element, node)
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
            return f"expected a {what} section (a mapping with a 'name' key), got {_show(value)}"
        if "name" not in value:
            return f"missing 'name': which {what}? (choices: {', '.join(choices) or 'none registered'})"
        return unknown_name_message(what, value["name"], choices)
    if kind == "extra_forbidden":
        fields = _field_names(*parent)
        key = str(location[-1]) if location else "?"
        return f"unknown key {key!r} ({_choices(key, fields or [])})"
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
