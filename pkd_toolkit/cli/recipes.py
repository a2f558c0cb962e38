"""``pkd validate``, ``pkd schema`` and ``pkd run``: everything that starts from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, RECIPE, command_line, plugins_of
from pkd_toolkit.recipe.loading import dump_recipe, load_recipe
from pkd_toolkit.recipe.model import recipe_schema


def validate(
    ctx: typer.Context,
    recipe: Path = RECIPE,
    overrides: list[str] = OVERRIDES,
    show: bool = typer.Option(False, "--print", help="Print the resolved recipe, every default written out."),
) -> None:
    """Check a recipe against the loaded plugins' config models."""
    resolved = load_recipe(recipe, plugins_of(ctx).registry, overrides)
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
    """Run a recipe: train, write score files, evaluate, report; everything goes into one run folder.

    RECIPE is a YAML file or a packaged recipe's name (`pkd run quickstart`).
    The run folder holds report.md (how it was produced, every table, the
    plots), run.log, metrics.jsonl and TensorBoard scalars in tensorboard/
    (watch with `tensorboard --logdir RUN_DIR`). Off a terminal, progress is a
    line every 30 s (PKD_PROGRESS_EVERY=50 for every 50 batches, =10s for every
    10 seconds). Re-test a finished run with other test views with `pkd test RUN_DIR`.
    """
    from pkd_toolkit.pipeline.train import start_run

    plugins = plugins_of(ctx)
    resolved = load_recipe(recipe, plugins.registry, overrides)
    if deterministic:
        resolved.train.deterministic = True
    start_run(resolved, plugins, run_dir=run_dir, resume=resume, command=command_line(), overrides=overrides)


def register(cli: typer.Typer) -> None:
    cli.command()(validate)
    cli.command()(schema)
    cli.command()(run)
