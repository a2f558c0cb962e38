"""``pkd predict RUN_DIR VIDEO...``: classify videos with a trained run, stopping at the earliest confident exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from pkd_toolkit import console
from pkd_toolkit.cli.options import plugins_of


def predict(
    ctx: typer.Context,
    run_dir: Path = typer.Argument(..., help="A finished run folder.", show_default=False, metavar="RUN_DIR"),
    videos: list[Path] = typer.Argument(..., help="Video files to classify.", show_default=False, metavar="VIDEO..."),
    schedule: str | None = typer.Option(None, help="Whose exits to use (default: the recipe's last schedule)."),
    ensemble: str | None = typer.Option(None, help="Fitted ensemble to use (default: the early-exit policy's)."),
    threshold: float | None = typer.Option(
        None, help="Confidence needed to stop early; 1 never stops early (default: the report's cheapest point "
        "within the tolerance of the full ensemble)."
    ),
    segments: int | None = typer.Option(
        None, min=1, help="Segments per network (default: that point's, or all when --threshold is given)."
    ),
    top: int = typer.Option(5, min=1, help="How many classes to print."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """Decode each video, run the exits in order until the ensemble is confident, print the top classes.

    An unreadable video is reported and the others are still classified; the
    exit status is then 1.
    """
    from pkd_toolkit.pipeline.predictor import PredictionRequest, predict_videos

    request = PredictionRequest(schedule, ensemble, threshold, segments, top)
    predictions = predict_videos(run_dir, videos, plugins_of(ctx).registry, request)
    for result in predictions.results:
        if "error" in result:
            console.error(result["error"])
    if as_json:
        typer.echo(json.dumps(predictions.results, indent=2))
    else:
        _print(predictions.results, predictions.schedule, predictions.ensemble, predictions.threshold)
    if any("error" in result for result in predictions.results):
        raise typer.Exit(1)


def _print(results: list[dict[str, Any]], schedule: str, label: str, threshold: float) -> None:
    table = Table(title=f"Predictions ({schedule} exits, {label} ensemble, threshold {threshold:g})", title_justify="left")
    for column in ("video", "top classes", "exit", "stage", "GMACs"):
        table.add_column(column, justify="right" if column in ("stage", "GMACs") else "left")
    for result in results:
        if "error" in result:
            table.add_row(result["video"], Text("could not be read", style="red"), "", "", "")
            continue
        classes = "\n".join(f"{entry['class']} {100 * entry['probability']:.1f}%" for entry in result["top"])
        table.add_row(
            result["video"], classes, result["exit"], f"{result['stage']}/{result['stages']}", f"{result['gmacs']:.2f}"
        )
    console.print_table(table)


def register(cli: typer.Typer) -> None:
    cli.command()(predict)
