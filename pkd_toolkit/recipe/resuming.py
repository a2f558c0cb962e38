"""Resuming a run with a recipe: which differences from the recipe that started it are allowed.

A run folder's ``recipe.yaml`` and every checkpoint hold the resolved recipe
that started the run; resuming with any other recipe is refused, except for a
few engine settings that change where or how fast a run computes, not what.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pkd_toolkit.errors import UsageError

# Keys of the recipe that may differ between a run and its resumption.
RESUMABLE_DIFFERENCES = {
    ("description",),
    ("output_dir",),
    ("train", "device"),
    ("train", "num_workers"),
    ("train", "prefetch"),
    ("train", "persistent_workers"),
    ("train", "process_group_timeout"),
    ("train", "eval_batch_size"),
}


def check_same_recipe(
    written_in: Path,
    saved: dict[str, Any],
    current: dict[str, Any],
    advice: str = "resume with the recipe that started the run, or start a new run",
) -> None:
    """Refuse to resume what another recipe started (``written_in``: its checkpoint or recipe.yaml); a few
    engine settings may differ. ``advice`` ends the message (``pkd test`` gives its own)."""
    differences = [path for path in _differences(saved, current) if path[:2] not in RESUMABLE_DIFFERENCES and path[:1] not in RESUMABLE_DIFFERENCES]
    if differences:
        shown = "; ".join(
            f"{'.'.join(map(str, path))}: {_get(saved, path)!r} in {written_in.name}, {_get(current, path)!r} now"
            for path in differences[:3]
        )
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise UsageError(
            f"{written_in}: written by a different recipe: {shown}{more}; {advice}"
        )


def _differences(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b), key=str) for d in _differences(a.get(key), b.get(key), (*path, key))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, (*path, i))]
    return [] if a == b else [path]


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else data[key]
    return data
