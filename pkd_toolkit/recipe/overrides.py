"""``--set key.path=value``: changes to raw recipe data before validation, checked against the model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.walk import child_annotation, field_names, keys_hint
from pkd_toolkit.recipe.yaml_source import Location, load_value


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
        annotation = child_annotation(annotation, step, node)
        if last:
            node[step] = value
        else:
            if isinstance(node, dict) and node.get(step) is None:
                node[step] = {}
            node = node[step]
    return tuple(location)
