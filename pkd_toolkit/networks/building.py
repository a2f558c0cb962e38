"""Building a network from a recipe's ``networks.<name>`` section: the one place that calls backbone and exit components."""

from __future__ import annotations

from pkd_toolkit.errors import UsageError
from pkd_toolkit.networks.multi_exit import Backbone, ExitHead, MultiExitNetwork
from pkd_toolkit.networks.weight_sources import WeightSources
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import NetworkBase


def build_network(
    section: NetworkBase,
    *,
    in_chans: int,
    num_classes: int,
    registry: ComponentRegistry,
    label: str | None = None,
    exits: bool = True,
    load_pretrained: bool = True,
) -> MultiExitNetwork:
    """The network a recipe section describes: its backbone component, and its exits unless ``exits=False``.

    The backbone is built with ``factory(config, in_chans=..., num_classes=...,
    load_pretrained=..., weight_sources=...)``; ``load_pretrained=False`` skips
    the pretrained weights a backbone names (the architecture is enough to
    count costs).
    ``label`` (the network's key in the recipe) names it in error messages.
    """
    backbone = registry.build(
        "backbones", section.backbone, in_chans=in_chans, num_classes=num_classes, load_pretrained=load_pretrained,
        weight_sources=WeightSources(registry),
    )  # fmt: skip
    heads = build_exit_heads(section, backbone, num_classes=num_classes, registry=registry, label=label) if exits else []
    return MultiExitNetwork(backbone, heads)


def build_exit_heads(
    section: NetworkBase, backbone: Backbone, *, num_classes: int, registry: ComponentRegistry, label: str | None = None
) -> list[ExitHead]:
    """The exits of a recipe network section (``networks.<name>.exits``), freshly built.

    Each is built by its registered exit component with
    ``factory(config, channels=..., num_classes=...)``, sized from the stage it
    reads; ``at`` is a stage name or 1-based number. Named ``ic1``, ``ic2``, ...
    in depth order (exits at one stage keep the recipe's order); an exit whose ``at``
    is a list is placed after each stage listed. Call it again
    for a second, independent head set on the same backbone. An unknown stage
    raises UsageError listing the backbone's stages; ``label`` (the network's
    key) prefixes that message.
    """
    placed = []
    for index, config in enumerate(section.exits):  # type: ignore[attr-defined]
        for at in config.at if isinstance(config.at, list) else [config.at]:
            try:
                stage = backbone.stage(at)
            except UsageError as error:
                where = f"networks.{label}.exits[{index}]" if label else f"exits[{index}]"
                raise UsageError(f"{where}: at: {error}") from None
            placed.append((backbone.depth(stage.name), index, config, stage))
    heads = []
    for number, (_, _, config, stage) in enumerate(sorted(placed, key=lambda item: item[:2]), start=1):
        module = registry.build("exits", config, channels=stage.channels, num_classes=num_classes)
        heads.append(ExitHead(f"ic{number}", stage.name, module))
    return heads
