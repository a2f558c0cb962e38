"""``pkd predict RUN_DIR VIDEO...``: classify videos with a trained run, stopping at the earliest confident exit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from pkd_toolkit import console
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugins import get_plugins


def predict(
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
    from pkd_toolkit.engine.assembly import load_trained
    from pkd_toolkit.ensemble import fitted_path, load_fitted
    from pkd_toolkit.predict import EarlyExitPredictor
    from pkd_toolkit.report import read_report
    from pkd_toolkit.run import load_run_recipe

    if threshold is not None and not 0 < threshold <= 1:
        raise UsageError(f"--threshold {threshold}: a threshold is in (0, 1]")
    registry = get_plugins().registry
    recipe = load_run_recipe(run_dir, registry)
    schedule = schedule or _default_schedule(run_dir, recipe)
    policy = _policy_point(read_report(run_dir) or {}, schedule, ensemble)
    label = ensemble or (policy or {}).get("ensembler") or "wise"
    ensembler, classes = load_fitted(fitted_path(run_dir, schedule, label), registry)
    chosen = (policy or {}).get("cheapest_within") or {}
    assembly = load_trained(run_dir, recipe, registry, len(classes))
    dataset = registry.get("datasets", recipe.data.name).build(recipe.data)
    predictor = EarlyExitPredictor(
        assembly,
        schedule,
        ensembler,
        classes,
        threshold=threshold if threshold is not None else chosen.get("threshold", 1.0),
        input_size=dataset.input_size,
        segments=_segments(segments, threshold, chosen, recipe),
        top=top,
    )
    modalities = {key: assembly.modalities[key] for key in dict.fromkeys(map(assembly.modality_of, recipe.networks))}
    results: list[dict[str, Any]] = []
    for video in videos:
        try:
            inputs = dataset.load_file(video, modalities=modalities)
        except PkdError as error:
            console.error(str(error))
            results.append({"video": str(video), "error": str(error)})
            continue
        results.append(predictor.predict(str(video), inputs).as_json())
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    else:
        _print(results, schedule, label, predictor.threshold)
    if any("error" in result for result in results):
        raise typer.Exit(1)


def _default_schedule(run_dir: Path, recipe: Any) -> str:
    from pkd_toolkit.scores import BACKBONE_SCHEDULE
    from pkd_toolkit.ensemble import ensembles_dir

    labels = [getattr(s, "label", None) or s.name for s in recipe.schedules]
    fitted = [label for label in [BACKBONE_SCHEDULE, *labels] if ensembles_dir(run_dir, label).is_dir()]
    if not fitted:
        raise PkdError(f"{run_dir}: no fitted ensembles; `pkd run` (or `pkd eval`) with an 'ensembles:' section writes them")
    return fitted[-1]


def _segments(segments: int | None, threshold: float | None, chosen: dict[str, Any], recipe: Any) -> dict | None:
    """Segments per network: as asked, else those of the report's point when its threshold is used too."""
    if segments is not None:
        return {name: segments for name in recipe.networks}
    return chosen.get("segments") if threshold is None else None


def _policy_point(report: dict[str, Any], schedule: str, ensemble: str | None) -> dict[str, Any] | None:
    """The report's early-exit summary for this schedule (and ensemble, when one is asked for)."""
    for summary in report.get("early_exit_summary", []):
        if summary["schedule"] == schedule and ensemble in (None, summary["ensembler"]):
            return summary
    return None


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
    console.out.print(table)


def register(cli: typer.Typer) -> None:
    cli.command()(predict)
