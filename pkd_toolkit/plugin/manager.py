"""Plugin manager: built-in and third-party plugins, found the same way, failures isolated.

Every plugin, built-in or not, is a module named by an entry point of the group
``pkd_toolkit``. What goes wrong in a plugin is recorded against it in
:attr:`Plugins.infos` (``pkd list-plugins`` shows it, other commands warn once),
and the other plugins keep working:

- A plugin is **skipped whole** when it fails to import (any exception,
  ``SystemExit`` included; only ``KeyboardInterrupt`` passes), implements a hook
  that does not exist, fails pluggy's checks, or raises in a registration hook
  (``pkd_add_*``, ``pkd_add_commands``, which cannot be hook wrappers either).
  Skipped means none of its hooks is called again, the components it
  registered are withdrawn and the commands it added are dropped.
- A component name another plugin registered first costs the plugin that one
  component (a warning); its other components stay.
- A lifecycle hook that raises, called through :attr:`Plugins.guarded_hook`,
  becomes :class:`HookFailed`: one message naming the plugin and the hook (the
  run stops; docs/hooks.md says why).

Registration hooks run one plugin at a time, in load order (built-ins first,
then the others by entry-point name), so that the first registration of a name
wins. pluggy's ordering options move an implementation within that order:
``tryfirst=True`` runs it before the others, ``trylast=True`` after them.

Built-in plugins are the entry points of the toolkit's own distribution
(``pkd-toolkit``) that name modules of its ``pkd_plugins`` package: metadata
that only calls itself ``pkd-toolkit`` makes nothing built-in. Every installed
distribution is read, even one whose name an earlier one on the path shadows.

Environment:

``PKD_DISABLE_PLUGIN_AUTOLOAD``
    When set (to anything but ``""``/``0``), only the built-in plugins load.
``PKD_BLOCK_PLUGINS``
    Comma-separated plugin names (entry-point names) that are not loaded; a
    name that matches no installed plugin is warned about.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from pkd_toolkit import PROJECT_NAME
from pkd_toolkit.plugin import hookspecs
from pkd_toolkit.plugin.discovery import (
    AUTOLOAD_ENV,
    BLOCK_ENV,
    autoload_from_env,
    blocked_from_env,
    builtins_first,
    entry_points,
    is_builtin,
    origin,
    version,
)
from pkd_toolkit.plugin.failures import GuardedHooks, describe
from pkd_toolkit.plugin.registry import KINDS, ComponentRegistry, DuplicateComponentError, Registrar, choices_hint

__all__ = ["AUTOLOAD_ENV", "BLOCK_ENV", "PluginInfo", "Plugins", "load_plugins"]


@dataclass
class PluginInfo:
    """What ``pkd list-plugins`` shows of one plugin."""

    name: str
    version: str | None
    origin: str  # "built-in", the distribution's name, or "in-process"
    errors: list[str] = field(default_factory=list)  # why it is skipped
    warnings: list[str] = field(default_factory=list)  # what went wrong without skipping it
    hooks: list[str] = field(default_factory=list)
    components: dict[str, list[str]] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        return bool(self.errors)

    @property
    def error(self) -> str | None:
        problems = self.errors + self.warnings
        return "; ".join(problems) if problems else None

    def problem_line(self) -> str | None:
        """What the CLI warns about this plugin, or None."""
        if self.skipped:
            return f"plugin {self.name!r} ({self.origin}) is skipped: {'; '.join(self.errors)}"
        if self.warnings:
            return f"plugin {self.name!r} ({self.origin}): {'; '.join(self.warnings)}"
        return None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "origin": self.origin,
            "components": self.components,
            "hooks": self.hooks,
            "skipped": self.skipped,
            "error": self.error,
        }


class Plugins:
    """The loaded plugins: the pluggy manager, the component registry and a record per plugin."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.registry = ComponentRegistry()
        self.infos: dict[str, PluginInfo] = {}
        self.warnings: list[str] = []  # problems that belong to no loaded plugin

    @property
    def hook(self) -> Any:
        """pluggy's hook caller: every implementation is called, exceptions propagate unchanged."""
        return self.manager.hook

    @property
    def guarded_hook(self) -> GuardedHooks:
        """Lifecycle hooks for the engine: ``guarded_hook.pkd_epoch_end(...)`` raises :class:`HookFailed`."""
        return GuardedHooks(self.manager)

    def broken(self) -> list[PluginInfo]:
        """Plugins with problems: skipped, or with warnings."""
        return [info for info in self.infos.values() if info.error]

    def problem_lines(self) -> list[str]:
        """One line per plugin with problems and per problem of no plugin: what commands warn about."""
        return [line for line in (info.problem_line() for info in self.infos.values()) if line] + self.warnings

    # -- loading --------------------------------------------------------------

    def load_entry_points(self, *, autoload: bool | None = None, blocked: Iterable[str] | None = None) -> None:
        """Import and register every plugin of the entry-point group, built-ins first."""
        autoload = autoload_from_env() if autoload is None else autoload
        blocked = set(blocked_from_env() if blocked is None else blocked)
        found = sorted(entry_points(), key=builtins_first)
        for entry_point in found:
            builtin = is_builtin(entry_point)
            if not (builtin or autoload) or entry_point.name in blocked:
                continue
            loaded = self.infos.get(entry_point.name)
            if loaded is not None:
                self.warnings.append(
                    f"entry point {entry_point.name!r} of {origin(entry_point)} ({entry_point.value}) is skipped: "
                    f"a plugin named {entry_point.name!r} is already loaded from {loaded.origin}"
                )
                continue
            info = PluginInfo(entry_point.name, version(entry_point), origin(entry_point))
            self.infos[info.name] = info
            try:
                module = entry_point.load()
            except KeyboardInterrupt:
                raise
            except BaseException as error:  # sys.exit() included: whatever the import does is the plugin's, not ours
                info.errors.append(f"failed to import {entry_point.value}: {describe(error)}")
                continue
            self._register(module, info)
        names = sorted({entry_point.name for entry_point in found})
        for name in sorted(blocked - set(names)):
            self.warnings.append(f"{BLOCK_ENV} names {name!r}, which is no installed plugin: {choices_hint(name, names)}")

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
        """Run every registration hook, one plugin at a time; a plugin whose hook raises is skipped whole."""
        for kind in KINDS:
            for impl in self._impls(f"pkd_add_{kind}"):
                info = self.infos[impl.plugin_name]
                registrar = _RecordingRegistrar(self.registry, kind, impl.plugin_name, info)
                self._call(impl, f"pkd_add_{kind}", registry=registrar)
        for info in self.infos.values():
            info.components = self.registry.by_plugin(info.name)

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add its commands to ``cli``; those of a plugin whose hook raises are dropped."""
        import typer  # the command line's own library, loaded only by the command line

        for impl in self._impls("pkd_add_commands"):
            staged = typer.Typer()
            if self._call(impl, "pkd_add_commands", cli=staged):
                cli.registered_commands.extend(staged.registered_commands)
                cli.registered_groups.extend(staged.registered_groups)

    def _impls(self, hook_name: str) -> list[pluggy.HookImpl]:
        """The implementations of a registration hook in calling order, skipped plugins left out; a wrapper
        skips its plugin."""
        order = list(self.infos)
        impls = []
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                self._skip(self.infos[impl.plugin_name], f"{hook_name} cannot be a hook wrapper")
            elif not self.infos[impl.plugin_name].skipped:
                impls.append(impl)
        return sorted(impls, key=lambda impl: (_ordering_rank(impl), order.index(impl.plugin_name)))

    def _call(self, impl: pluggy.HookImpl, hook_name: str, **kwargs: Any) -> bool:
        """Call one registration hook implementation; False (and the plugin skipped) when it raises."""
        info = self.infos[impl.plugin_name]
        if info.skipped:  # skipped by an earlier implementation of the same hook
            return False
        try:
            impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            self._skip(info, f"{hook_name} raised {describe(error)}")
            return False
        return True

    def _skip(self, info: PluginInfo, reason: str) -> None:
        """Record why ``info``'s plugin is skipped, and make it so: no hook of it is called again."""
        info.errors.append(reason)
        if self.manager.has_plugin(info.name):
            self.manager.unregister(name=info.name)
        self.registry.withdraw(info.name)


class _RecordingRegistrar(Registrar):
    """A registrar whose name clashes are recorded on the plugin instead of aborting its hook."""

    def __init__(self, registry: ComponentRegistry, kind: str, plugin: str, info: PluginInfo) -> None:
        super().__init__(registry, kind, plugin)
        self._info = info

    def add(self, name: str, factory: Any, **options: Any) -> None:
        try:
            super().add(name, factory, **options)
        except DuplicateComponentError as clash:
            self._info.warnings.append(f"{clash}; this plugin's {name!r} is ignored")


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
