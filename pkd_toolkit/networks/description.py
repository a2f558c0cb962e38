"""A recipe's networks described exit by exit: stage, parameters and cumulative cost per frame (``pkd summary``)."""

from __future__ import annotations

from typing import Any

from pkd_toolkit.networks.building import build_network
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import RecipeBase


def describe_networks(recipe: RecipeBase, registry: ComponentRegistry) -> list[dict[str, Any]]:
    """Build the recipe's networks at its input size and count the cost of each exit (JSON-able)."""
    dataset = registry.build("datasets", recipe.data)
    described = []
    for name, section in recipe.networks.items():
        channels = registry.build("modalities", recipe.modalities[section.modality]).channels
        network = build_network(
            section, in_chans=channels, num_classes=dataset.num_classes, registry=registry, label=name,
            load_pretrained=False,  # costs need the architecture, not the weights file
        )  # fmt: skip
        input_size = (channels, *dataset.input_size)
        described.append(
            {
                "name": name,
                "backbone": network.backbone.architecture,
                "input_size": list(input_size),
                "exits": [
                    {
                        "name": cost.name,
                        "stage": cost.stage,
                        "params": cost.params,
                        "gmacs": round(cost.gmacs, 6),
                        "head_params": cost.head_params,
                        "head_gmacs": round(cost.head_gmacs, 6),
                    }
                    for cost in exit_costs(network, input_size)
                ],
            }
        )
    return described
