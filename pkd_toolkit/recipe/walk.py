"""Walking the recipe model's types alongside raw recipe data.

``--set`` overrides and validation messages both need to know, at a place in
the raw data, which keys the model allows there and what type the next step
has; component unions are resolved by the section's ``name``.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

from pkd_toolkit.recipe.model import section_name


def unwrap(annotation: Any) -> Any:
    """``Annotated[T, ...]`` -> ``T``."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def union_member(annotation: Any, node: Any) -> Any:
    """The member of a (possibly discriminated) union that describes ``node``."""
    name = section_name(node)
    candidates = []
    for member in get_args(annotation):
        tags = [meta.tag for meta in getattr(member, "__metadata__", ()) if isinstance(meta, Tag)]
        if tags and tags[0] == name:
            return unwrap(member)
        if not tags and unwrap(member) is not type(None):
            candidates.append(unwrap(member))
    return candidates[0] if len(candidates) == 1 else None


def resolve(annotation: Any, node: Any) -> Any:
    annotation = unwrap(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        annotation = union_member(annotation, node)
    return annotation


def field_names(annotation: Any, node: Any) -> list[str] | None:
    """Keys a mapping may hold here: the model's fields, or None for a free-form dict."""
    annotation = resolve(annotation, node)
    return list(annotation.model_fields) if is_model(annotation) else None


def child_annotation(annotation: Any, key: str | int, node: Any) -> Any:
    """The type of ``node[key]`` when ``node`` has type ``annotation`` (None where the model does not say)."""
    annotation = resolve(annotation, node)
    if is_model(annotation):
        field = annotation.model_fields.get(str(key))
        return field.annotation if field is not None else None
    origin = get_origin(annotation)
    if origin is dict:
        return get_args(annotation)[1]
    if origin is list:
        return get_args(annotation)[0]
    return None


def keys_hint(wrong: str, valid: Sequence[str]) -> str:
    """``did you mean 'batch_size'? valid: a, b``: for a key the model does not have at a place."""
    close = difflib.get_close_matches(wrong, list(valid), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}valid: {', '.join(valid)}" if valid else "it is empty"
