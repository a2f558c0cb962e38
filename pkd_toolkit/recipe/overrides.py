"""``--set key.path=value`` and ``--set key.path+=item``: changes to raw recipe data before validation,
checked against the model."""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.walk import child_annotation, field_names, keys_hint, resolve, unwrap
from pkd_toolkit.recipe.yaml_source import Location, load_value

APPEND = "+"
"""``KEY.PATH+=VALUE`` appends to a list instead of replacing it."""


def apply_override(data: dict[str, Any], text: str, model: type[BaseModel]) -> Location:
    """Apply ``--set key.path=value`` (or ``key.path+=item``) to raw recipe data; return the location it set.

    The path must follow the recipe's structure: sections and keys the model
    knows (a missing section is created), existing dictionary entries and list
    items. The value is read as YAML (``3`` is a number, ``[1, 2]`` a list).
    With ``+=`` the key must hold a list (or be a list the recipe left out, which
    starts from its default): a YAML list value is added item by item, any other
    value as one item (``schedules+={name: pkd, label: pkd2}``).
    """
    where = f"--set {text}"
    key, equals, raw = text.partition("=")
    append = key.endswith(APPEND)
    parts = key.removesuffix(APPEND).split(".")
    if not equals or not all(part.strip() for part in parts):
        raise UsageError(
            f"{where}: expected KEY.PATH=VALUE, for example --set train.batch_size=8 "
            "(or KEY.PATH+=ITEM to append to a list)"
        )
    value = load_value(raw, where)
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
            fields = field_names(annotation, node)
            if fields is not None and part not in fields:
                raise UsageError(f"{where}: {done} has no key {part!r} ({keys_hint(part, fields)})")
            if fields is None and part not in node and not last:
                raise UsageError(f"{where}: {done} has no entry {part!r} ({keys_hint(part, [str(k) for k in node])})")
            step = part
        else:
            raise UsageError(f"{where}: {done} is a value ({node!r}), not a section with keys")
        location.append(step)
        parent_annotation = annotation
        annotation = child_annotation(annotation, step, node)
        if last:
            path = ".".join(parts)
            node[step] = _appended(where, path, node, step, parent_annotation, annotation, value) if append else value
        else:
            if isinstance(node, dict) and node.get(step) is None:
                node[step] = {}
            node = node[step]
    return tuple(location)


def _appended(where: str, path: str, node: Any, step: str | int, parent: Any, annotation: Any, value: Any) -> list:
    """The list at ``node[step]`` with ``value`` added (a list value item by item)."""
    items = value if isinstance(value, list) else [value]
    present = node[step] if isinstance(node, list) or step in node else None
    if isinstance(present, list):
        return [*present, *items]
    if present is None and _is_list_type(annotation):
        return [*_default_list(parent, node, step), *items]
    shown = "a section" if isinstance(present, dict) else "not set" if present is None else repr(present)
    raise UsageError(f"{where}: {path} is {shown}, not a list; += appends to lists only (use = to replace a value)")


def _is_list_type(annotation: Any) -> bool:
    """Whether ``annotation`` (or a member of a union) is a list type."""
    annotation = unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_list_type(member) for member in get_args(annotation))
    return annotation is list or get_origin(annotation) is list


def _default_list(parent: Any, node: Any, step: str | int) -> list:
    """The model's default for a list key the recipe leaves out (``[]`` when the model gives none)."""
    model = resolve(parent, node)
    field = getattr(model, "model_fields", {}).get(str(step))
    default = field.get_default(call_default_factory=True) if field is not None and not field.is_required() else None
    return list(default) if isinstance(default, list) else []


def override_key(text: str) -> tuple[str, ...]:
    """The key path an override sets: ``("train", "batch_size")`` for ``train.batch_size=2``."""
    return tuple(text.partition("=")[0].removesuffix(APPEND).split("."))


def split_overrides(overrides: Iterable[str], honoured: Iterable[tuple[str, ...]]) -> tuple[list[str], list[str]]:
    """(overrides under one of the ``honoured`` key prefixes, the others): for commands that use only part
    of a recipe (``pkd eval`` refits ensembles and nothing else), which must say what they ignore."""
    prefixes = list(honoured)
    applied, ignored = [], []
    for text in overrides:
        key = override_key(text)
        (applied if any(key[: len(prefix)] == prefix for prefix in prefixes) else ignored).append(text)
    return applied, ignored
