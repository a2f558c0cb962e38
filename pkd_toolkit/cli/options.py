"""What the commands share: recipe and ``--set`` arguments, the plugins ``main`` loaded, how a report is shown."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import typer

from pkd_toolkit import console
from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.recipe.packaged import recipe_path
from pkd_toolkit.run_folder.layout import MARKDOWN_FILE


def _recipe_file(value: Path | None) -> Path | None:
    """A recipe file, or the name of a packaged one (``pkd run quickstart``)."""
    return None if value is None else recipe_path(value)


RECIPE = typer.Argument(
    ...,
    help="Recipe YAML file, or the name of a packaged recipe (`pkd recipes` lists them).",
    show_default=False,
    metavar="RECIPE",
    callback=_recipe_file,
)
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


_ARGUMENTS: list[str] = []


def remember_arguments(arguments: list[str]) -> None:
    """Keep the arguments ``pkd`` was started with (``main`` calls it), for reports to name their command."""
    _ARGUMENTS[:] = arguments


def command_line() -> str:
    """The command being run, as a shell would read it: ``pkd run recipes/quickstart.yaml --set seed=1``."""
    return shlex.join(["pkd", *_ARGUMENTS])


def show_report(report: dict[str, Any], folder: Path, as_json: bool) -> None:
    """A report a command wrote into ``folder``: as JSON (``--json``), or as tables and where the files are."""
    from pkd_toolkit.report.terminal import print_tables  # not at import: `pkd --help` stays quick

    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    print_tables(report)
    console.info(f"wrote {folder / MARKDOWN_FILE} and the files it links")
