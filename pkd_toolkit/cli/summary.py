"""``pkd summary``: each network of a recipe, exit by exit: stage, parameters and cumulative cost per frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, RECIPE, plugins_of
from pkd_toolkit.recipe.loading import load_recipe


def summary(
    ctx: typer.Context,
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Print each network's exits: stage, parameters and cumulative GMACs per frame at the recipe's input size."""
    from pkd_toolkit.networks.description import describe_networks  # torch: only once a recipe is read

    registry = plugins_of(ctx).registry
    networks = describe_networks(load_recipe(recipe, registry, overrides), registry)
    if as_json:
        typer.echo(json.dumps({"networks": networks}, indent=2))
        return
    for network in networks:
        console.print_table(_table(network))
    console.out.print(
        "params and GMACs are cumulative: the backbone up to the exit's stage and every head run so far", soft_wrap=True
    )


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
