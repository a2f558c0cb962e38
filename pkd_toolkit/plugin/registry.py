"""Named components: ``(kind, name) -> factory + config model + owning plugin``.

Plugins fill the registry from their ``pkd_add_<kind>`` hooks through a
:class:`Registrar`; recipes name components, and the recipe validator uses each
component's config model to check its section.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from pkd_toolkit.errors import UnknownComponentError

# kind -> the singular used in messages. The hook of a kind is ``pkd_add_<kind>``.
KINDS: dict[str, str] = {
    "datasets": "dataset",
    "modalities": "modality",
    "backbones": "backbone",
    "exits": "exit",
    "schedules": "schedule",
    "ensemblers": "ensembler",
    "weight_sources": "weight source",
}

# What a name that becomes a file or folder name may be (component names, labels, stage names): one path
# part that climbs nowhere, hides nothing and fits every file system.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def file_name_problem(name: object) -> str | None:
    """None when ``name`` can name a file or folder inside a run folder; else why not (for a message)."""
    if isinstance(name, str) and _FILE_NAME.fullmatch(name):
        return None
    return (
        f"{name!r} cannot name a file: use at most 100 letters, digits, '_', '-' and '.', "
        "starting with a letter or digit"
    )


Preflight = Iterable[tuple[str, str]]


class ComponentConfig(BaseModel):
    """Base of every component's config model: unknown keys are refused, and so are infinite and NaN numbers.

    The optional checks a component can add (see docs/hooks.md, "Checks before a run"):
    :meth:`preflight`, and ``stage_names()`` on a backbone's config.
    """

    # Unknown keys are typos; infinity and NaN are no setting. A config that needs them can say so.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    def preflight(self) -> Preflight:
        """What would make a run of this section fail before it trains, told before a run folder exists.

        ``pkd validate`` and the start of ``pkd run`` call it. Yield ``(key, message)`` pairs: ``key`` is
        the key path inside this section (``"root"``, ``"model_kwargs.img_size"``, ``""`` for the whole
        section), ``message`` says what is wrong (``"data/hmdb51: no such folder"``); the core adds the
        recipe's file and line. Check cheaply what a run would trip on (files and folders the section
        names, what a library knows without building anything heavy); never write or download.
        """
        return ()


@dataclass(frozen=True)
class Component:
    kind: str
    name: str
    factory: Callable[..., Any]
    config: type[ComponentConfig]
    plugin: str
    help: str

    def build(self, config: ComponentConfig | None = None, **context: Any) -> Any:
        """Call the factory with a validated config (the defaults when None)."""
        return self.factory(config if config is not None else self.config(), **context)


class DuplicateComponentError(ValueError):
    pass


class ComponentRegistry:
    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def add(self, component: Component) -> None:
        taken = self._components[component.kind].get(component.name)
        if taken is not None:
            raise DuplicateComponentError(
                f"{KINDS[component.kind]} {component.name!r} is already registered by plugin {taken.plugin!r}"
            )
        self._components[component.kind][component.name] = component

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def components(self, kind: str) -> list[Component]:
        return [self._components[kind][name] for name in self.names(kind)]

    def get(self, kind: str, name: str) -> Component:
        try:
            return self._components[kind][name]
        except KeyError:
            raise UnknownComponentError(unknown_name_message(KINDS[kind], name, self.names(kind))) from None

    def build(self, kind: str, section: ComponentConfig, **context: Any) -> Any:
        """Build the component a validated recipe section names (its ``name`` key) with that section.

        ``context`` is what the component's factory takes besides its config
        (``in_chans=`` for a backbone, ``channels=`` for an exit, ...; see the hook specs).
        """
        return self.get(kind, section.name).build(section, **context)  # type: ignore[attr-defined]

    def withdraw(self, plugin: str) -> None:
        """Remove every component ``plugin`` registered (the plugin is skipped)."""
        for components in self._components.values():
            for name in [name for name, component in components.items() if component.plugin == plugin]:
                del components[name]

    def by_plugin(self, plugin: str) -> dict[str, list[str]]:
        """The names a plugin registered, by kind (kinds it did not use are left out)."""
        found = {kind: [c.name for c in self.components(kind) if c.plugin == plugin] for kind in KINDS}
        return {kind: names for kind, names in found.items() if names}


class Registrar:
    """What a ``pkd_add_<kind>`` hook receives: adds components of one kind for one plugin."""

    def __init__(self, registry: ComponentRegistry, kind: str, plugin: str) -> None:
        self._registry = registry
        self.kind = kind
        self.plugin = plugin

    def add(
        self,
        name: str,
        factory: Callable[..., Any],
        *,
        config: type[ComponentConfig] = ComponentConfig,
        help: str | None = None,
    ) -> None:
        """Register ``name``; ``factory(config, **context)`` builds the component.

        ``config`` is a pydantic model (derive from :class:`ComponentConfig` so
        unknown keys are refused) validating the component's recipe section,
        minus its ``name`` key. ``help`` defaults to the factory's docstring.
        """
        if not isinstance(config, type) or not issubclass(config, BaseModel):
            raise TypeError(f"config of {name!r} must be a pydantic model class, not {config!r}")
        if "name" in config.model_fields:
            raise TypeError(f"config of {name!r} must not define 'name': it selects the component")
        problem = file_name_problem(name)
        if problem is not None:  # it names score, ensemble and report folders when no label is given
            raise ValueError(f"component name {problem}")
        summary = help if help is not None else (factory.__doc__ or "").strip().split("\n")[0]
        self._registry.add(Component(self.kind, name, factory, config, self.plugin, summary))


def unknown_name_message(what: str, name: object, choices: list[str]) -> str:
    """``unknown backbone 'resnet': did you mean 'timm'? (choices: a, b)``."""
    if not choices:
        return f"unknown {what} {name!r}: none is registered: is the plugin that provides one installed?"
    return f"unknown {what} {name!r}: {choices_hint(name, choices)}"


def choices_hint(name: object, choices: list[str]) -> str:
    """``did you mean 'timm'? (choices: a, b)``: the closest choices first, then all of them."""
    close = difflib.get_close_matches(str(name), choices, n=3)
    guess = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"{guess}(choices: {', '.join(choices)})"
