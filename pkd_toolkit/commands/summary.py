"""``pkd summary``: each network of a recipe, exit by exit: stage, parameters and cumulative cost per frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pkd_toolkit import console
from pkd_toolkit.commands.recipes import OVERRIDES, RECIPE
from pkd_toolkit.plugins import get_plugins
from pkd_toolkit.recipe import load_recipe


def summary(
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Print each network's exits: stage, parameters and cumulative GMACs per frame at the recipe's input size."""
    networks = describe_networks(recipe, overrides)
    if as_json:
        typer.echo(json.dumps({"networks": networks}, indent=2))
        return
    for network in networks:
        console.out.print(_table(network))
    console.out.print("params and GMACs are cumulative: the backbone up to the exit's stage and every head run so far")


def describe_networks(recipe_path: Path, overrides: list[str]) -> list[dict[str, Any]]:
    """Build the recipe's networks at its input size and count the cost of each exit."""
    from pkd_toolkit.cost import exit_costs  # torch: only once a recipe is read
    from pkd_toolkit.exits import build_network

    registry = get_plugins().registry
    recipe = load_recipe(recipe_path, registry, overrides)
    dataset = registry.get("datasets", recipe.data.name).build(recipe.data)
    described = []
    for name, section in recipe.networks.items():
        modality_section = recipe.modalities[section.modality]
        channels = registry.get("modalities", modality_section.name).build(modality_section).channels
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


def _table(network: dict[str, Any]) -> Table:
    size = "x".join(str(n) for n in network["input_size"])
    table = Table(title=f"{network['name']}: {network['backbone']}, {size} per frame", title_justify="left")
    for column in ("exit", "stage", "head params", "params", "GMACs"):
        table.add_column(column, justify="left" if column in ("exit", "stage") else "right")
    for row in network["exits"]:
        table.add_row(
            row["name"], row["stage"], _millions(row["head_params"]), _millions(row["params"]), f"{row['gmacs']:.3f}"
        )
    return table


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f} M"


def register(cli: typer.Typer) -> None:
    cli.command()(summary)
