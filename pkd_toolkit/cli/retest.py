"""``pkd test RUN_DIR``: the test split scored again from a checkpoint, with other test views, into its own report."""

from __future__ import annotations

from pathlib import Path

import typer

from pkd_toolkit import console
from pkd_toolkit.cli.options import OVERRIDES, command_line, plugins_of, show_report


def retest(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(
        ..., help="A run folder written by `pkd run`.", show_default=False, metavar="RUN_DIR"
    ),
    checkpoint: str = typer.Option(
        "last",
        "--checkpoint",
        help="last (the run's final weights), best (the last stage's best evaluation on the validation split), "
        "best-<stage>, or a checkpoint file of this run.",
    ),
    overrides: list[str] = OVERRIDES,
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Folder for the test's report (new or empty; default: RUN_DIR/tests/<date-time>-<checkpoint>).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
) -> None:
    """Score the test split again from a checkpoint, e.g. with more test views, into a report of its own.

    As mmaction2's tools/test.py: --set data.test_segments=25 (and the data
    set's other test settings, the device, the ensembles, early exit) change
    the test; keys that would need training are ignored with a warning. The
    training report is never touched.
    """
    from pkd_toolkit.pipeline.retest import TESTED_KEYS
    from pkd_toolkit.pipeline.retest import retest as run_retest
    from pkd_toolkit.recipe.overrides import split_overrides

    applied, ignored = split_overrides(overrides, TESTED_KEYS)
    for text in ignored:
        console.warning(f"--set {text}: ignored; pkd test changes how a run is tested, not how it was trained")
    folder, report = run_retest(
        run_dir, plugins_of(ctx), checkpoint_name=checkpoint, overrides=applied, ignored=ignored, out=out,
        command=command_line(),
    )  # fmt: skip
    show_report(report, folder, as_json)


def register(cli: typer.Typer) -> None:
    cli.command("test")(retest)
