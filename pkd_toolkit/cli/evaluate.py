"""``pkd eval RUN_DIR``: rebuild a run's whole report from its score files, without training."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, command_line, plugins_of, show_report
from pkd_toolkit.recipe.overrides import split_overrides
from pkd_toolkit.run_folder.derived import new_output_folder
from pkd_toolkit.run_folder.lock import RunLock
from pkd_toolkit.run_folder.opening import load_run_recipe

REFITTED_KEYS = (("ensembles",), ("early_exit",), ("report",))
"""The recipe keys ``pkd eval`` honours: it refits ensembles on score files, nothing else is recomputed."""


def evaluate(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A run folder written by `pkd run`.", show_default=False, metavar="RUN_DIR"),
    overrides: list[str] = OVERRIDES,
    out: Path | None = typer.Option(
        None, "--out", help="Write the report into this new (or empty) folder instead of replacing the run's."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Recompute every report of a run from its score files: exits, ensembles, early exit.

    Nothing is retrained or scored again: --set may change the ensembles, early
    exit and report sections (e.g. --set ensembles.2.clamp_negative=true); other
    keys are ignored with a warning (re-score the test split with `pkd test`).
    The report, plots and fitted ensemblers are replaced in the run folder, or
    written into --out; the report records the command and its overrides.
    """
    from pkd_toolkit.report.build import rebuild_report

    applied, ignored = split_overrides(overrides, REFITTED_KEYS)
    for text in ignored:
        console.warning(
            f"--set {text}: ignored; pkd eval refits ensembles on the run's score files and honours only keys under "
            "ensembles, early_exit and report (`pkd test` scores the test split again)"
        )
    registry = plugins_of(ctx).registry
    recipe = load_run_recipe(run_dir, registry, applied)
    if out is not None:
        new_output_folder(out, "--out")
    if not recipe.ensembles:
        console.info("the recipe lists no ensembles; add some with --set 'ensembles=[{name: sum}, {name: wise}]'")
    evaluation = {
        "command": command_line(),
        "overrides": applied,
        "ignored": ignored,
        "run": str(run_dir),
        "at": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    # It reads score files and (re)writes reports and fitted ensembles: not while a run writes into either folder.
    RunLock(run_dir).check_free()
    target = out or run_dir
    target.mkdir(parents=True, exist_ok=True)
    with RunLock(target):
        report = rebuild_report(run_dir, recipe, registry, out=out, evaluation=evaluation, progress=console.info)
    show_report(report, target, as_json)


def register(cli: typer.Typer) -> None:
    cli.command("eval")(evaluate)
