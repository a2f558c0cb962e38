"""``pkd validate``, ``pkd schema`` and ``pkd run``: everything that starts from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, RECIPE, plugins_of
from pkd_toolkit.recipe.loading import dump_recipe, load_recipe
from pkd_toolkit.recipe.model import recipe_schema


def validate(
    ctx: typer.Context,
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    show: bool = typer.Option(False, "--print", help="Print the resolved recipe, every default written out."),
    recipe_only: bool = typer.Option(
        False, "--recipe-only", help="Check the recipe alone, not the files, folders and stages it names."
    ),
) -> None:
    """Check a recipe: its keys and values, and what a run would trip on before training (data folders,
    weights files, exits at stages the backbone lacks)."""
    resolved = load_recipe(recipe, plugins_of(ctx).registry, overrides)
    if not recipe_only:
        from pkd_toolkit.pipeline.preflight import check_before_run  # torch: only for these checks

        check_before_run(resolved)
    if show:
        typer.echo(dump_recipe(resolved), nl=False)
    else:
        console.out.print(f"{recipe}: valid recipe {resolved.name!r}")


def schema(
    ctx: typer.Context,
    markdown: bool = typer.Option(False, "--markdown", help="A key-by-key reference in Markdown instead."),
) -> None:
    """Print the JSON Schema of recipes, including the sections of the loaded plugins."""
    if markdown:
        from pkd_toolkit.recipe.reference import recipe_reference

        typer.echo(recipe_reference(plugins_of(ctx).registry), nl=False)
    else:
        typer.echo(json.dumps(recipe_schema(plugins_of(ctx).registry), indent=2))


def run(
    ctx: typer.Context,
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run folder (default: OUTPUT_DIR/NAME/TIMESTAMP)."),
    resume: str | None = typer.Option(
        None, "--resume", help="'auto' (newest unfinished run of this recipe) or a run folder or checkpoint."
    ),
    deterministic: bool = typer.Option(False, "--deterministic", help="Use deterministic algorithms (slower)."),
) -> None:
    """Run a recipe: train, write score files, evaluate, report; everything goes into one run folder."""
    from pkd_toolkit.pipeline.train import start_run

    plugins = plugins_of(ctx)
    resolved = load_recipe(recipe, plugins.registry, overrides)
    if deterministic:
        resolved.train.deterministic = True
    start_run(resolved, plugins, run_dir=run_dir, resume=resume)


def register(cli: typer.Typer) -> None:
    cli.command()(validate)
    cli.command()(schema)
    cli.command()(run)
