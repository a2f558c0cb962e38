"""``pkd list-plugins``: what is installed, what it adds, and what failed to load."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from rich.text import Text

from pkd_toolkit import console
from pkd_toolkit.cli.options import plugins_of


def list_plugins(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the loaded plugins: version, origin, the components they add, and load errors."""
    plugins = plugins_of(ctx)
    infos = list(plugins.infos.values())
    for line in plugins.warnings:  # problems of no plugin in the list (a blocked name that matches none, ...)
        console.warning(line)
    if as_json:
        typer.echo(json.dumps([info.as_json() for info in infos], indent=2))
        return
    table = Table(title="pkd-toolkit plugins")
    for column in ("plugin", "version", "origin", "components", "error"):
        table.add_column(column, overflow="fold")
    for info in infos:
        components = "\n".join(f"{kind}: {', '.join(names)}" for kind, names in info.components.items())
        table.add_row(
            info.name,
            info.version or "",
            info.origin,
            Text(components or ("(hooks: " + ", ".join(info.hooks) + ")" if info.hooks else "")),
            Text(("skipped: " if info.skipped else "") + (info.error or ""), style="red"),
        )
    console.print_table(table)


def register(cli: typer.Typer) -> None:
    cli.command("list-plugins")(list_plugins)
