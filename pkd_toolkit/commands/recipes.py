"""``pkd validate``, ``pkd schema`` and ``pkd run``: everything that starts from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.plugins import get_plugins
from pkd_toolkit.recipe import dump_recipe, load_recipe, recipe_schema

RECIPE = typer.Argument(..., help="Recipe YAML file.", show_default=False, metavar="RECIPE")
OVERRIDES = typer.Option(
    [], "--set", "-s", metavar="KEY.PATH=VALUE", help="Override a recipe value before validation (repeatable)."
)


def validate(
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    show: bool = typer.Option(False, "--print", help="Print the resolved recipe, every default written out."),
) -> None:
    """Check a recipe against the loaded plugins' config models."""
    resolved = load_recipe(recipe, get_plugins().registry, overrides)
    if show:
        typer.echo(dump_recipe(resolved), nl=False)
    else:
        console.out.print(f"{recipe}: valid recipe {resolved.name!r}")


def schema(
    markdown: bool = typer.Option(False, "--markdown", help="A key-by-key reference in Markdown instead."),
) -> None:
    """Print the JSON Schema of recipes, including the sections of the loaded plugins."""
    if markdown:
        from pkd_toolkit.recipe_reference import recipe_reference

        typer.echo(recipe_reference(get_plugins().registry), nl=False)
    else:
        typer.echo(json.dumps(recipe_schema(get_plugins().registry), indent=2))


def run(
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run folder (default: OUTPUT_DIR/NAME/TIMESTAMP)."),
    resume: str | None = typer.Option(
        None, "--resume", help="'auto' (newest unfinished run of this recipe) or a run folder or checkpoint."
    ),
    deterministic: bool = typer.Option(False, "--deterministic", help="Use deterministic algorithms (slower)."),
) -> None:
    """Run a recipe: train, write score files, evaluate, report; everything goes into one run folder."""
    from pkd_toolkit.run import start_run

    plugins = get_plugins()
    resolved = load_recipe(recipe, plugins.registry, overrides)
    if deterministic:
        resolved.train.deterministic = True
    start_run(resolved, plugins, run_dir=run_dir, resume=resume)


def register(cli: typer.Typer) -> None:
    cli.command()(validate)
    cli.command()(schema)
    cli.command()(run)
