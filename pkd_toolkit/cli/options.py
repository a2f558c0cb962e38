"""What the commands share: recipe and ``--set`` arguments, and the plugins ``main`` loaded."""

from __future__ import annotations

import typer

from pkd_toolkit.plugin.manager import Plugins

RECIPE = typer.Argument(..., help="Recipe YAML file.", show_default=False, metavar="RECIPE")
OVERRIDES = typer.Option(
    [],
    "--set",
    "-s",
    metavar="KEY.PATH=VALUE",
    help="Override a recipe value before validation (repeatable); KEY.PATH+=ITEM appends to a list, "
    "e.g. --set 'schedules+={name: pkd, label: pkd_rev, teachers: [iframe, residual, mv]}'.",
)


def plugins_of(ctx: typer.Context) -> Plugins:
    """The plugins this command line was built with (``main(plugins=...)``): the root context's object,
    which every command's context inherits."""
    return ctx.obj
