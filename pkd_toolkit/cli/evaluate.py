"""``pkd eval RUN_DIR``: rebuild a run's whole report from its score files, without training."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, plugins_of
from pkd_toolkit.run_folder.layout import REPORT_FILE
from pkd_toolkit.run_folder.lock import RunLock
from pkd_toolkit.run_folder.opening import load_run_recipe


def evaluate(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run folder written by `pkd run`.", show_default=False, metavar="RUN_DIR"),
    overrides: list[str] = OVERRIDES,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Recompute every report of a run from its score files: exits, ensembles, early exit.

    Nothing is retrained. The ensembles are fitted again on the train split's
    scores: --set changes the run's recipe for this evaluation (e.g. --set
    ensembles.2.clamp_negative=true), and the report, plots and fitted
    ensemblers in the run folder are replaced.
    """
    from pkd_toolkit.report.build import rebuild_report
    from pkd_toolkit.report.terminal import print_tables

    registry = plugins_of(ctx).registry
    recipe = load_run_recipe(run_dir, registry, overrides)
    if not recipe.ensembles:
        console.info("the recipe lists no ensembles; add some with --set 'ensembles=[{name: sum}, {name: wise}]'")
    with RunLock(run_dir):  # it rewrites reports and fitted ensembles: not while a run writes there
        report = rebuild_report(run_dir, recipe, registry)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    print_tables(report)
    console.info(f"wrote {run_dir / REPORT_FILE} and the files it links")


def register(cli: typer.Typer) -> None:
    cli.command("eval")(evaluate)
