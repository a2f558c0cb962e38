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


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder written by `pkd run`.", show_default=False, metavar="RUN_DIR"),
    overrides: list[str] = OVERRIDES,
    schedules: list[str] = typer.Option(
        [], "--schedule", metavar="NAME", help="Evaluate this schedule only (repeatable; default: all with score files)."
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
    from pkd_toolkit.early_exit import exits_summary, format_threshold, segments_label

    console.out.print(_table(
        "Ensembles (full)",
        ("schedule", "ensemble", "component", "exits", "top-1", "top-5", "mean class", "GMACs/video"),
        [(e["schedule"], e["name"], e["component"], len(e["stages"]), _pct(e["top1"]), _pct(e["top5"]),
          _pct(e["mean_class_accuracy"]), f"{e['gmacs_per_video']:.2f}") for e in sections["ensembles"]],
    ))  # fmt: skip
    for summary in sections["early_exit_summary"]:
        schedule, label = summary["schedule"], summary["ensembler"]
        points = [p for p in sections["early_exit"] if p["schedule"] == schedule and p["ensembler"] == label]
        console.out.print(_table(
            f"Early exit: {label} ({schedule})",
            ("segments", "threshold", "top-1", "top-5", "GMACs/video", "of full", "videos per exit"),
            [(segments_label(p["segments"]), format_threshold(p["threshold"]), _pct(p["top1"]), _pct(p["top5"]),
              f"{p['gmacs_per_video']:.2f}", f"{100 * p['gmacs_fraction']:.0f}%", exits_summary(p["exits"]))
             for p in points],
        ))  # fmt: skip
        console.out.print(summary_line(summary))


def summary_line(summary: dict[str, Any]) -> str:
    """``cheapest within 1 point of the full ensemble (90.00 at 40.0 GMACs): ...``."""
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


def _table(title: str, columns: Iterable[str], rows: Iterable[Iterable[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    return table


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def register(cli: typer.Typer) -> None:
    cli.command("eval")(evaluate)
