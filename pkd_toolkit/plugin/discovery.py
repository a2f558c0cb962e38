"""Finding plugins: the entry points of the group ``pkd_toolkit`` in every installed distribution, which of
them are built-in, and the environment variables that choose what loads (see :mod:`.manager`)."""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, distributions

from pkd_toolkit import PROJECT_NAME, __version__

ENTRY_POINT_GROUP = PROJECT_NAME
BUILTIN_DISTRIBUTION = "pkd-toolkit"
BUILTIN_PACKAGE = "pkd_plugins"
AUTOLOAD_ENV = "PKD_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "PKD_BLOCK_PLUGINS"


def entry_points() -> list[EntryPoint]:
    """Every entry point of the group, of every distribution found (``entry_points()`` would hide a
    distribution behind an earlier one of the same name); the same install found twice counts once."""
    found: dict[tuple[str, str], EntryPoint] = {}
    for distribution in distributions():
        for entry_point in distribution.entry_points.select(group=ENTRY_POINT_GROUP):
            found.setdefault((entry_point.name, entry_point.value), entry_point)
    return list(found.values())


def is_builtin(entry_point: EntryPoint) -> bool:
    """An entry point of the toolkit's own distribution: named pkd-toolkit, and naming a module of its plugins."""
    return distribution_named(entry_point) and entry_point.module.split(".")[0] == BUILTIN_PACKAGE


def distribution_named(entry_point: EntryPoint) -> bool:
    return entry_point.dist is not None and entry_point.dist.name == BUILTIN_DISTRIBUTION


def builtins_first(entry_point: EntryPoint) -> tuple[bool, str]:
    return (not is_builtin(entry_point), entry_point.name)


def origin(entry_point: EntryPoint) -> str:
    if is_builtin(entry_point):
        return "built-in"
    if distribution_named(entry_point):
        return f"{BUILTIN_DISTRIBUTION} {entry_point.dist.version} (not the installed toolkit)"
    return entry_point.dist.name if entry_point.dist is not None else "unknown distribution"


def version(entry_point: EntryPoint) -> str | None:
    if is_builtin(entry_point):
        return __version__
    return entry_point.dist.version if entry_point.dist is not None else None


def autoload_from_env() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "") in ("", "0")


def blocked_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()]
