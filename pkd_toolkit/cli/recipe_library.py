"""``pkd recipes``: the ready-made recipes that come with the toolkit; ``pkd recipes copy`` writes one out to edit."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from pkd_toolkit import console
from pkd_toolkit.recipe.packaged import copy_recipe, describe, packaged_recipes

recipes_cli = typer.Typer(
    help="The ready-made recipes: list them (no subcommand), or copy one out to edit.",
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
)


@recipes_cli.callback()
def list_recipes(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the packaged recipes; `pkd run NAME` runs one, `pkd recipes copy NAME` writes it out to edit."""
    if ctx.invoked_subcommand is not None:
        return
    recipes = packaged_recipes()
    if as_json:
        typer.echo(
            json.dumps([{"name": n, "description": describe(p), "path": str(p)} for n, p in recipes.items()], indent=2)
        )
        return
    table = Table(title="Packaged recipes", title_justify="left")
    table.add_column("name", no_wrap=True)
    table.add_column("description")
    for name, path in recipes.items():
        table.add_row(name, describe(path))
    console.print_table(table)
    console.info("run one with `pkd run NAME`; copy one to edit with `pkd recipes copy NAME [DST]`")


@recipes_cli.command("copy")
def copy(
    name: str = typer.Argument(..., help="A packaged recipe (see `pkd recipes`).", show_default=False, metavar="NAME"),
    destination: Path | None = typer.Argument(
        None, help="File or folder to write it to (default: ./NAME.yaml).", show_default=False, metavar="DST"
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite DST if it exists."),
) -> None:
    """Write a packaged recipe out (comments included) to edit and run with `pkd run FILE`."""
    written = copy_recipe(name, destination, force=force)
    console.info(f"wrote {written}; run it with `pkd run {written}`")


def register(cli: typer.Typer) -> None:
    cli.add_typer(recipes_cli, name="recipes")
