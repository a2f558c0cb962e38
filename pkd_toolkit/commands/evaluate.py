"""``pkd eval RUN_DIR``: recompute a run's ensemble and early-exit reports from its score files."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from pkd_toolkit import console
from pkd_toolkit.commands.recipes import OVERRIDES
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugins import get_plugins
from pkd_toolkit.recipe import load_recipe
from pkd_toolkit.run import RECIPE_FILE

ENSEMBLE_COLUMNS = ("schedule", "ensemble", "exits", "top-1", "top-5", "mean class", "GMACs")
POINT_COLUMNS = ("segments", "threshold", "top-1", "GMACs", "of full", "stopped at")
NUMERIC_COLUMNS = {"exits", "threshold", "top-1", "top-5", "mean class", "GMACs", "of full"}


def evaluate(
    run_dir: Path = typer.Argument(
        ..., help="A run folder written by `pkd run`.", show_default=False, metavar="RUN_DIR"
    ),
    overrides: list[str] = OVERRIDES,
    schedules: list[str] = typer.Option(
        [], "--schedule", metavar="NAME", help="Evaluate only this schedule (repeatable; default: all with scores)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report sections as JSON instead of tables."),
) -> None:
    """Refit the ensembles on the run's train scores and re-evaluate them and early exit on its test scores.

    Nothing is retrained. --set changes the run's recipe for this evaluation
    (e.g. --set ensembles.2.clamp_negative=true); the reports and fitted
    ensemblers in the run folder are replaced.
    """
    from pkd_toolkit.ensemble import evaluate_run

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run folder")
    recipe_file = run_dir / RECIPE_FILE
    if not recipe_file.is_file():
        raise PkdError(f"{run_dir}: not a run folder (it has no {RECIPE_FILE}, which `pkd run` writes first)")
    registry = get_plugins().registry
    sections = evaluate_run(run_dir, load_recipe(recipe_file, registry, overrides), registry, schedules)
    if as_json:
        typer.echo(json.dumps(sections, indent=2))
        return
    print_sections(sections)
    for schedule, files in sections["artefacts"].items():
        console.info(f"{schedule}: wrote " + ", ".join(str(run_dir / path) for path in files.values()))


def print_sections(sections: dict[str, Any]) -> None:
    """The ensembles, then each early-exit curve with its summary, as rich tables."""
    from pkd_toolkit.early_exit import exits_summary, format_threshold, segments_label  # numpy: not at start-up

    ensembles = _table("Full ensembles (test split, GMACs per video)", ENSEMBLE_COLUMNS)
    for entry in sections["ensembles"]:
        name = entry["name"] if entry["name"] == entry["component"] else f"{entry['name']} ({entry['component']})"
        ensembles.add_row(
            entry["schedule"], name, str(len(entry["stages"])), _pct(entry["top1"]), _pct(entry["top5"]),
            _pct(entry["mean_class_accuracy"]), f"{entry['gmacs_per_video']:.2f}",
        )  # fmt: skip
    console.out.print(ensembles)
    for summary in sections["early_exit_summary"]:
        schedule, label = summary["schedule"], summary["ensembler"]
        curve = _table(f"Early exit with {label}, schedule {schedule} (GMACs per video)", POINT_COLUMNS)
        for point in sections["early_exit"]:
            if point["schedule"] == schedule and point["ensembler"] == label:
                curve.add_row(
                    segments_label(point["segments"]), format_threshold(point["threshold"]), _pct(point["top1"]),
                    f"{point['gmacs_per_video']:.2f}", f"{100 * point['gmacs_fraction']:.0f}%",
                    exits_summary(point["exits"], separator="\n"),
                )  # fmt: skip
        console.out.print(curve)
        console.out.print(summary_line(summary))


def summary_line(summary: dict[str, Any]) -> str:
    """``cheapest within 1 point(s) of the full ensemble (90.00 at 40.00 GMACs): ...``."""
    from pkd_toolkit.early_exit import format_threshold, segments_label

    head = (
        f"cheapest within {summary['tolerance']:g} point(s) of the full ensemble "
        f"({_pct(summary['full_top1'])} at {summary['full_gmacs_per_video']:.2f} GMACs): "
    )
    best = summary["cheapest_within"]
    if best is None:
        return head + "none"
    return head + (
        f"{_pct(best['top1'])} at {best['gmacs_per_video']:.2f} GMACs ({100 * best['gmacs_fraction']:.0f}%), "
        f"threshold {format_threshold(best['threshold'])}, {segments_label(best['segments'])}"
    )


def _table(title: str, columns: Iterable[str]) -> Table:
    """A table whose numbers are never cut: they keep at least the width of "100.00"."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        if column in NUMERIC_COLUMNS:
            table.add_column(column, justify="right", no_wrap=True, min_width=6)
        else:
            table.add_column(column)
    return table


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def register(cli: typer.Typer) -> None:
    cli.command("eval")(evaluate)
