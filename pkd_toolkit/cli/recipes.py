"""``pkd validate``, ``pkd schema`` and ``pkd run``: everything that starts from a recipe."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, RECIPE, command_line, plugins_of
from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.manager import Plugins
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
        console.out.print(f"{recipe}: valid recipe {resolved.name!r}", soft_wrap=True)


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
    seeds: str | None = typer.Option(
        None,
        "--seeds",
        metavar="0,1,2",
        help="Run the recipe once per seed into one folder (--run-dir, default OUTPUT_DIR/NAME/<date-time>-seeds), "
        "one run folder each, and write the mean ± sd over the seeds (seeds.md, seeds.json). Run it again to finish "
        "unfinished seeds.",
    ),
) -> None:
    """Run a recipe: train, write score files, evaluate, report; everything goes into one run folder.

    RECIPE is a YAML file or a packaged recipe's name (`pkd run quickstart`; a
    quickstart.yaml in the working directory, e.g. an edited copy, comes first).
    The run folder holds report.md (how it was produced, every table, the
    plots), run.log, metrics.jsonl and TensorBoard scalars in tensorboard/
    (watch with `tensorboard --logdir RUN_DIR`). Off a terminal, progress is a
    line every 30 s (PKD_PROGRESS_EVERY=50 for every 50 batches, =10s for every
    10 seconds). Re-test a finished run with other test views with `pkd test RUN_DIR`.
    """
    from pkd_toolkit.pipeline.train import start_run

    plugins = plugins_of(ctx)
    if seeds is not None:
        _run_seeds(recipe, plugins, seeds, overrides, run_dir, resume, deterministic)
        return
    resolved = load_recipe(recipe, plugins.registry, overrides)
    if deterministic:
        resolved.train.deterministic = True
    start_run(resolved, plugins, run_dir=run_dir, resume=resume, command=command_line(), overrides=overrides)


def _run_seeds(
    recipe: Path,
    plugins: Plugins,
    seeds: str,
    overrides: list[str],
    parent: Path | None,
    resume: str | None,
    deterministic: bool,
) -> None:
    from pkd_toolkit.pipeline.seeds import parse_seeds, run_seeds
    from pkd_toolkit.report.summary_tables import seed_tables
    from pkd_toolkit.report.terminal import print_table_data
    from pkd_toolkit.run_folder.layout import SEEDS_MARKDOWN

    if resume is not None:
        raise UsageError("--resume and --seeds: give --run-dir the seeds' folder instead; unfinished seeds are resumed")
    folder, summary = run_seeds(
        recipe,
        plugins,
        parse_seeds(seeds),
        overrides=overrides,
        parent=parent,
        command=command_line(),
        deterministic=deterministic,
    )
    if summary:
        print_table_data(seed_tables(summary))
        console.info(f"wrote {folder / SEEDS_MARKDOWN} (and seeds.json); each seed's run is in {folder}/seed-<seed>/")


def register(cli: typer.Typer) -> None:
    cli.command()(validate)
    cli.command()(schema)
    cli.command()(run)
