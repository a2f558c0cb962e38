"""Plugin manager: built-in and third-party plugins, found the same way, failures isolated.

Every plugin, built-in or not, is a module named by an entry point of the group
``pkd_toolkit``. A plugin that fails to import, implements a hook that does not
exist, raises in a registration hook or registers a name already taken is
recorded with its error in :attr:`Plugins.infos` and skipped; the others keep
working.

Registration hooks run one plugin at a time, in load order (built-ins first,
then the others by entry-point name), so that the first registration of a name
wins. pluggy's ordering options move an implementation within that order:
``tryfirst=True`` runs it before the others, ``trylast=True`` after them. A
registration hook cannot be a wrapper (``hookwrapper``/``wrapper``): there is
no result to wrap; such an implementation is reported and not called.

Environment:

``PKD_DISABLE_PLUGIN_AUTOLOAD``
    When set (to anything but ``""``/``0``), only the built-in plugins load.
``PKD_BLOCK_PLUGINS``
    Comma-separated plugin names (entry-point names) that are not loaded.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from pkd_toolkit import PROJECT_NAME, __version__
from pkd_toolkit.plugin import hookspecs
from pkd_toolkit.plugin.registry import KINDS, ComponentRegistry, DuplicateComponentError, Registrar

ENTRY_POINT_GROUP = PROJECT_NAME
BUILTIN_DISTRIBUTION = "pkd-toolkit"
AUTOLOAD_ENV = "PKD_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "PKD_BLOCK_PLUGINS"


@dataclass
class PluginInfo:
    """What ``pkd list-plugins`` shows of one plugin."""

    name: str
    version: str | None
    origin: str  # "built-in", the distribution's name, or "in-process"
    errors: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) if self.errors else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "origin": self.origin,
            "components": self.components,
            "hooks": self.hooks,
            "error": self.error,
        }


class Plugins:
    """The loaded plugins: the pluggy manager, the component registry and a record per plugin."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.registry = ComponentRegistry()
        self.infos: dict[str, PluginInfo] = {}

    @property
    def hook(self) -> Any:
        return self.manager.hook

    def broken(self) -> list[PluginInfo]:
        return [info for info in self.infos.values() if info.errors]

    # -- loading --------------------------------------------------------------

    def load_entry_points(self, *, autoload: bool | None = None, blocked: Iterable[str] | None = None) -> None:
        """Import and register every plugin of the entry-point group, built-ins first."""
        autoload = _autoload_from_env() if autoload is None else autoload
        blocked = set(_blocked_from_env() if blocked is None else blocked)
        for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=_builtins_first):
            builtin = _is_builtin(entry_point)
            if not (builtin or autoload) or entry_point.name in blocked:
                continue
            if entry_point.name in self.infos:
                self._info(entry_point.name, _version(entry_point), _origin(entry_point)).errors.append(
                    f"another plugin named {entry_point.name!r} is already loaded; {entry_point.value} is skipped"
                )
                continue
            info = PluginInfo(entry_point.name, _version(entry_point), _origin(entry_point))
            self.infos[info.name] = info
            try:
                module = entry_point.load()
            except Exception as error:  # an import error is the plugin's, not ours
                info.errors.append(f"failed to import {entry_point.value}: {type(error).__name__}: {error}")
                continue
            self._register(module, info)

    def register(self, plugin: object, name: str, *, version: str | None = None) -> PluginInfo:
        """Register an in-process plugin object (a module or any object with hook implementations)."""
        info = PluginInfo(name, version, "in-process")
        self.infos[name] = info
        self._register(plugin, info)
        return info

    def _register(self, plugin: object, info: PluginInfo) -> None:
        unknown = _unknown_hooks(plugin, self.manager)
        if unknown:
            info.errors.extend(unknown)
            return
        try:
            self.manager.register(plugin, name=info.name)
        except Exception as error:  # pluggy's validation: wrong hook arguments and the like
            info.errors.append(f"invalid plugin: {error}")
            return
        info.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(plugin) or ())

    def collect_components(self) -> None:
        """Run every registration hook, one plugin at a time, recording failures per plugin."""
        for kind in KINDS:
            for impl in self._impls(f"pkd_add_{kind}"):
                info = self.infos[impl.plugin_name]
                registrar = _RecordingRegistrar(self.registry, kind, impl.plugin_name, info)
                self._call(impl, registry=registrar)
        for info in self.infos.values():
            info.components = self.registry.by_plugin(info.name)

    def add_commands(self, cli: Any) -> None:
        for impl in self._impls("pkd_add_commands"):
            self._call(impl, cli=cli)

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """The implementations of a registration hook in calling order; wrappers are reported, not returned."""
        order = list(self.infos)
        impls = []
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                self.infos[impl.plugin_name].errors.append(f"{hook_name} cannot be a hook wrapper; it is not called")
            else:
                impls.append(impl)
        return sorted(impls, key=lambda impl: (_ordering_rank(impl), order.index(impl.plugin_name)))

    def _call(self, impl: pluggy.HookImpl, **kwargs: Any) -> None:
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except Exception as error:
            self.infos[impl.plugin_name].errors.append(f"{impl.function.__name__} raised {type(error).__name__}: {error}")

    def _info(self, name: str, version: str | None, origin: str) -> PluginInfo:
        return self.infos.setdefault(name, PluginInfo(name, version, origin))


class _RecordingRegistrar(Registrar):
    """A registrar whose name clashes are recorded on the plugin instead of aborting its hook."""

    def __init__(self, registry: ComponentRegistry, kind: str, plugin: str, info: PluginInfo) -> None:
        super().__init__(registry, kind, plugin)
        self._info = info

    def add(self, name: str, factory: Any, **options: Any) -> None:
        try:
            super().add(name, factory, **options)
        except DuplicateComponentError as clash:
            self._info.errors.append(f"{clash}; this plugin's {name!r} is ignored")


def load_plugins(extra: Iterable[tuple[str, object]] = (), **options: Any) -> Plugins:
    """Load the entry-point plugins (and ``extra`` ``(name, plugin)`` pairs) and collect their components."""
    plugins = Plugins()
    plugins.load_entry_points(**options)
    for name, plugin in extra:
        plugins.register(plugin, name)
    plugins.collect_components()
    return plugins


def _unknown_hooks(plugin: object, manager: pluggy.PluginManager) -> list[str]:
    """Hook implementations whose name matches no spec (a typo would otherwise be silently ignored)."""
    known = [name for name in dir(manager.hook) if name.startswith("pkd_")]
    problems = []
    for attribute in dir(plugin):
        if attribute.startswith("pkd_") and manager.parse_hookimpl_opts(plugin, attribute) is not None:
            if attribute not in known:
                close = difflib.get_close_matches(attribute, known, n=1)
                guess = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"implements unknown hook {attribute}{guess}")
    return problems


def _ordering_rank(impl: pluggy.HookImpl) -> int:
    """0 for ``tryfirst`` implementations, 2 for ``trylast`` ones, 1 for the rest."""
    return 0 if impl.tryfirst else 2 if impl.trylast else 1


def _is_builtin(entry_point: EntryPoint) -> bool:
    return entry_point.dist is not None and entry_point.dist.name == BUILTIN_DISTRIBUTION


def _builtins_first(entry_point: EntryPoint) -> tuple[bool, str]:
    return (not _is_builtin(entry_point), entry_point.name)


def _origin(entry_point: EntryPoint) -> str:
    if _is_builtin(entry_point):
        return "built-in"
    return entry_point.dist.name if entry_point.dist is not None else "unknown distribution"


def _version(entry_point: EntryPoint) -> str | None:
    if _is_builtin(entry_point):
        return __version__
    return entry_point.dist.version if entry_point.dist is not None else None


def _autoload_from_env() -> bool:
    return os.environ.get(AUTOLOAD_ENV, "") in ("", "0")


def _blocked_from_env() -> list[str]:
    return [name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()]
