"""The recipe model, assembled from the components the plugins registered.

Each component section (``data``, ``modalities.*``, ``networks.*.backbone``,
``networks.*.exits[]``, ``schedules[]``, ``ensembles[]``) is a union of the
registered components of its kind, chosen by its ``name`` key and validated by
that component's own config model; the core's own sections are
:mod:`pkd_toolkit.recipe.settings`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, StringConstraints, Tag, create_model, field_validator

from pkd_toolkit.plugin.registry import KINDS, ComponentRegistry, file_name_problem
from pkd_toolkit.recipe.settings import NetworkBase, RecipeBase

SectionKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]


def component_union(registry: ComponentRegistry, kind: str) -> Any:
    """A type accepting a section of any registered component of ``kind``, chosen by ``name``."""
    members = []
    for component in registry.components(kind):
        named = create_model(
            f"{KINDS[kind]}:{component.name}",
            __base__=component.config,
            __doc__=component.help or component.config.__doc__,
            name=(Literal[component.name], Field(description=f"{KINDS[kind]} component")),
            __validators__=_LABEL_CHECK if "label" in component.config.model_fields else None,
        )
        members.append(Annotated[named, Tag(component.name)])
    if not members:  # nothing registered: every value is refused with the same message
        members.append(Annotated[_NothingRegistered, Tag("<none registered>")])
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Discriminator(
            section_name,
            custom_error_type="unknown_component",
            custom_error_message=f"unknown {KINDS[kind]}",
            custom_error_context={"kind": kind, "choices": ", ".join(registry.names(kind))},
        ),
    ]


def _label_names_a_file(cls: type, value: Any) -> Any:
    """A component's ``label`` names its folders and files (score files, fitted ensembles), whichever plugin
    defines the config: the core checks it for every component."""
    problem = None if value is None else file_name_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


_LABEL_CHECK = {"_label_names_a_file": field_validator("label")(_label_names_a_file)}


class _NothingRegistered(BaseModel):
    pass


def section_name(value: Any) -> str | None:
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
