"""What produced a report, as data: versions, device, seed, command line, data set, wall times.

report.md opens with it (rendered by :mod:`pkd_toolkit.report.markdown`), so
that a report read on its own says how to reproduce it. The pipeline fills in
what only a running process knows (device, processes, command line);
versions are read from the installed distributions' metadata, so nothing
heavy is imported here.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pkd_toolkit import __version__
from pkd_toolkit.recipe.settings import RecipeBase

PACKAGES = ("torch", "torchvision", "timm", "av", "numpy")
"""The libraries whose versions change results; PyAV's is the package ``av``."""


def package_versions() -> dict[str, str | None]:
    """Python's and each of :data:`PACKAGES`' version (None when one is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def describe_data(
    recipe: RecipeBase, videos: Mapping[str, int], classes: int, skipped: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The data set a report is about: its component and settings (``root`` made absolute), the number of
    videos per split, classes and skipped samples."""
    settings = recipe.data.model_dump(mode="json")  # type: ignore[attr-defined]
    root = getattr(recipe.data, "root", None)
    return {
        "dataset": settings.get("name"),
        "root": str(Path(root).resolve()) if root is not None else None,
        "split": settings.get("split"),
        "videos": dict(videos),
        "classes": classes,
        "skipped": len(skipped),
        "settings": settings,
    }


def provenance(
    recipe: RecipeBase,
    *,
    plugins: Mapping[str, str | None],
    device: str,
    world_size: int,
    command: str,
    overrides: Sequence[str],
    data: Mapping[str, Any],
    wall_time: Mapping[str, Any],
) -> dict[str, Any]:
    """The provenance block of report.json."""
    return {
        "toolkit": __version__,
        "plugins": dict(plugins),
        "packages": package_versions(),
        "device": device,
        "world_size": world_size,
        "seed": recipe.seed,
        "command": command,
        "overrides": list(overrides),
        "data": dict(data),
        "wall_time": dict(wall_time),
        "host": platform.node(),
        "finished": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def same_data(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """How the data sets of two provenance blocks differ (empty when they are the same): the component,
    its root and split, and the number of classes and of test videos, where both say. Test-time views may
    differ: they are how a data set is tested, not another one."""
    pairs = {key: (first.get(key), second.get(key)) for key in ("dataset", "root", "split", "classes")}
    pairs["test videos"] = tuple((data.get("videos") or {}).get("test") for data in (first, second))
    return [f"{key} {a!r} vs {b!r}" for key, (a, b) in pairs.items() if a is not None and b is not None and a != b]
