"""The run report: ``report.json`` for programs, ``report.md`` for people, tables on the terminal.

Everything is computed from the score files, so ``pkd eval`` rebuilds exactly
what ``pkd run`` wrote, without training: each exit's accuracy (top-1, top-5,
mean class accuracy, confusion matrix), CE against PKD exits side by side, and
the ensembles with their early-exit curves (:mod:`pkd_toolkit.ensemble`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from pkd_toolkit import atomic, console
from pkd_toolkit.errors import PkdError
from pkd_toolkit.registry import ComponentRegistry
from pkd_toolkit.run import REPORT_FILE
from pkd_toolkit.scores import BACKBONE_SCHEDULE, SCORES_DIR, ScoreSet, score_path
from pkd_toolkit.settings import RecipeBase

MARKDOWN_FILE = "report.md"
CONFUSION_DIR = "confusion"
FINAL_EXIT = "final"  # pkd_toolkit.exits.FINAL, without importing torch
SPLITS = ("train", "test")
ENSEMBLE_SECTIONS = ("ensembles", "early_exit", "early_exit_summary")
RUN_ONLY = ("bad_videos",)  # what pkd run knew and the score files do not: pkd eval keeps it

ScoreSets = Mapping[str, Mapping[str, ScoreSet]]  # schedule -> split -> scores


# -- building -----------------------------------------------------------------------------


def build_report(
    run_dir: Path,
    recipe: RecipeBase,
    registry: ComponentRegistry,
    score_sets: ScoreSets,
    seconds: float | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate every schedule's score files and write report.json, report.md and the confusion matrices.

    ``extra`` holds what only the run knew (``bad_videos``); it is kept as it is.
    """
    from pkd_toolkit.ensemble import evaluate_ensembles

    rows = exit_rows(score_sets)
    report: dict[str, Any] = {
        "recipe": recipe.name,
        "exits": rows,
        "comparison": comparison_rows(rows),
        **{section: [] for section in ENSEMBLE_SECTIONS},
        "artefacts": {},
        "seconds": seconds,
        **(extra or {}),
    }
    if recipe.ensembles:
        for schedule, splits in score_sets.items():
            sections = evaluate_ensembles(recipe, registry, splits["train"], splits["test"], run_dir)
            for section in ENSEMBLE_SECTIONS:
                report[section] += sections[section]
            report["artefacts"][schedule] = sections["artefacts"]
    write_confusion_matrices(run_dir, score_sets)
    atomic.write_json(run_dir / REPORT_FILE, report)
    atomic.write_text(run_dir / MARKDOWN_FILE, markdown(report))
    return report


def load_score_sets(run_dir: Path) -> dict[str, dict[str, ScoreSet]]:
    """Every schedule's train and test score files in a run folder."""
    schedules = sorted(path.parent.name for path in (run_dir / SCORES_DIR).glob("*/test.npz"))
    if not schedules:
        raise PkdError(
            f"{run_dir}: no score files ({SCORES_DIR}/<schedule>/test.npz); they are written by the engine's "
            "score-file stage, which `pkd run` runs once training is done"
        )
    score_sets = {}
    for schedule in schedules:
        train = score_path(run_dir, schedule, "train")
        if not train.is_file():
            raise PkdError(f"{train}: missing; the ensemblers are fitted on the train split's scores")
        score_sets[schedule] = {split: ScoreSet.load(score_path(run_dir, schedule, split)) for split in SPLITS}
    return score_sets


def rebuild_report(run_dir: Path, recipe: RecipeBase, registry: ComponentRegistry) -> dict[str, Any]:
    """``pkd eval``: the whole report again from the score files (the recipe may differ from the run's)."""
    previous = read_report(run_dir) or {}  # first: a damaged report stops before anything is written
    kept = {key: previous[key] for key in RUN_ONLY if key in previous}
    return build_report(run_dir, recipe, registry, load_score_sets(run_dir), previous.get("seconds"), extra=kept)


def read_report(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / REPORT_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PkdError(f"{path}: cannot update the report, it is not readable JSON ({error})") from None
    if not isinstance(report, dict):
        raise PkdError(f"{path}: cannot update the report, it is not a JSON object")
    return report


def exit_rows(score_sets: ScoreSets) -> list[dict[str, Any]]:
    """One row per (schedule, network, exit) with its test accuracy and cost."""
    from pkd_toolkit.metrics import classification_metrics

    rows = []
    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            metrics = classification_metrics(scores.consensus(), test.labels)
            rows.append(
                {"network": scores.network, "exit": scores.exit, "schedule": schedule, **metrics, "gmacs": scores.gmacs}
            )
    return rows


def comparison_rows(rows: list[dict[str, Any]], base: str = "ce") -> list[dict[str, Any]]:
    """Every other schedule's early exits against the same exits trained by ``base`` (cross entropy).

    One row per (schedule, network, exit) that ``base`` also trained: ``top1``,
    ``base_top1`` and ``difference``. The final exits are left out: exit schedules
    share the networks' own heads.
    """
    by_key = {(r["schedule"], r["network"], r["exit"]): r["top1"] for r in rows}
    paired = []
    for row in rows:
        reference = by_key.get((base, row["network"], row["exit"]))
        if row["schedule"] in (base, BACKBONE_SCHEDULE) or row["exit"] == FINAL_EXIT or reference is None:
            continue
        paired.append(
            {
                "schedule": row["schedule"],
                "network": row["network"],
                "exit": row["exit"],
                "top1": row["top1"],
                "base": base,
                "base_top1": reference,
                "difference": row["top1"] - reference,
            }
        )
    return paired


def comparison_table(comparison: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The comparison as a wide table: a row per exit, CE then each schedule with its difference."""
    schedules = list(dict.fromkeys(row["schedule"] for row in comparison))
    base = comparison[0]["base"].upper() if comparison else "CE"
    headers = ["network", "exit", base] + [f"{name} ({name} - {base.lower()})" for name in schedules]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in comparison:
        cell = cells.setdefault((row["network"], row["exit"]), {"base": row["base_top1"]})
        cell[row["schedule"]] = f"{_pct(row['top1'])} ({100 * row['difference']:+.2f})"
    body = [
        [network, exit_name, _pct(cell["base"]), *(cell.get(name, "") for name in schedules)]
        for (network, exit_name), cell in cells.items()
    ]
    if comparison:
        means = [
            f"{100 * sum(r['difference'] for r in comparison if r['schedule'] == name) / sum(r['schedule'] == name for r in comparison):+.2f}"
            for name in schedules
        ]
        body.append(["mean difference", "", "", *means])
    return headers, body


def write_confusion_matrices(run_dir: Path, score_sets: ScoreSets) -> None:
    """``confusion/<schedule>/<network>-<exit>.csv`` and ``.png`` (rows: true class, columns: predicted)."""
    from pkd_toolkit.metrics import confusion_matrix
    from pkd_toolkit.plots import plot_confusion

    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            matrix = confusion_matrix(scores.consensus().argmax(axis=1), test.labels, len(test.classes))
            lines = ["true\\predicted," + ",".join(test.classes)]
            lines += [f"{name}," + ",".join(map(str, row)) for name, row in zip(test.classes, matrix, strict=True)]
            stem = run_dir / CONFUSION_DIR / schedule / f"{scores.network}-{scores.exit}"
            atomic.write_text(stem.with_suffix(".csv"), "\n".join(lines) + "\n")
            plot_confusion(matrix, test.classes, stem.with_suffix(".png"), title=f"{schedule}: {scores.key}")


# -- presenting ---------------------------------------------------------------------------


def print_tables(report: dict[str, Any]) -> None:
    """Per-exit accuracy, CE against PKD, the ensembles and the early-exit curves, as rich tables."""
    table = _table("Accuracy per exit (test split)", ("schedule", "network", "exit"), ("top-1", "top-5", "mean class", "GMACs/frame"))
    for row in report["exits"]:
        table.add_row(
            row["schedule"], row["network"], row["exit"], _pct(row["top1"]), _pct(row["top5"]),
            _pct(row["mean_class_accuracy"]), f"{row['gmacs']:.3f}",
        )  # fmt: skip
    console.out.print(table)
    if report["comparison"]:
        headers, body = comparison_table(report["comparison"])
        side = _table("Early exits: CE against the other schedules (top-1, test split)", headers[:2], headers[2:])
        for cells in body:
            side.add_row(*cells)
        console.out.print(side)
    if report["ensembles"]:
        _print_ensembles(report)


def _print_ensembles(report: dict[str, Any]) -> None:
    from pkd_toolkit.early_exit import exits_summary, format_threshold, segments_label

    ensembles = _table("Full ensembles (test split)", ("schedule", "ensemble"), ("exits", "top-1", "top-5", "mean class", "GMACs/video"))
    for entry in report["ensembles"]:
        name = entry["name"] if entry["name"] == entry["component"] else f"{entry['name']} ({entry['component']})"
        ensembles.add_row(
            entry["schedule"], name, str(len(entry["stages"])), _pct(entry["top1"]), _pct(entry["top5"]),
            _pct(entry["mean_class_accuracy"]), f"{entry['gmacs_per_video']:.2f}",
        )  # fmt: skip
    console.out.print(ensembles)
    for summary in report["early_exit_summary"]:
        schedule, label = summary["schedule"], summary["ensembler"]
        points = [p for p in report["early_exit"] if p["schedule"] == schedule and p["ensembler"] == label]
        first = segments_label(points[0]["segments"]) if points else ""  # the other settings: report.md
        curve = _table(
            f"Early exit with {label}, schedule {schedule}, {first}", ("segments",), ("threshold", "top-1", "GMACs/video", "of full")
        )
        curve.add_column("stopped at")
        for point in points:
            if segments_label(point["segments"]) == first:
                curve.add_row(
                    segments_label(point["segments"]), format_threshold(point["threshold"]), _pct(point["top1"]),
                    f"{point['gmacs_per_video']:.2f}", f"{100 * point['gmacs_fraction']:.0f}%",
                    exits_summary(point["exits"], separator="\n"),
                )  # fmt: skip
        console.out.print(curve)
        console.out.print(summary_line(summary), soft_wrap=True)
    console.out.print("Every segment setting's curve, and the plots: report.md", soft_wrap=True)


def summary_line(summary: dict[str, Any]) -> str:
    """``cheapest within 1 point(s) of the full ensemble (90.00 at 40.00 GMACs): ...``."""
    from pkd_toolkit.early_exit import format_threshold, segments_label

    head = (
        f"{summary['schedule']}, {summary['ensembler']}: cheapest within {summary['tolerance']:g} point(s) of the "
        f"full ensemble ({_pct(summary['full_top1'])} at {summary['full_gmacs_per_video']:.2f} GMACs): "
    )
    best = summary["cheapest_within"]
    if best is None:
        return head + "none"
    return head + (
        f"{_pct(best['top1'])} at {best['gmacs_per_video']:.2f} GMACs ({100 * best['gmacs_fraction']:.0f}%), "
        f"threshold {format_threshold(best['threshold'])}, {segments_label(best['segments'])}"
    )


def markdown(report: dict[str, Any]) -> str:
    """report.md: the tables, and links to the plots."""
    from pkd_toolkit.early_exit import markdown_table, points_markdown

    seconds = report.get("seconds")
    lines = [f"# Run report: {report['recipe']}", ""]
    if seconds is not None:
        lines += [f"Wall time: {seconds:.0f} s", ""]
    if report.get("bad_videos"):
        lines += [f"{len(report['bad_videos'])} video(s) could not be read and were skipped:", ""]
        lines += [f"- `{bad['video']}`: {bad['problem']}" for bad in report["bad_videos"]] + [""]
    lines += ["## Accuracy per exit (test split)", ""]
    lines.append(
        markdown_table(
            ("schedule", "network", "exit", "top-1", "top-5", "mean class", "GMACs/frame"),
            [
                (r["schedule"], r["network"], r["exit"], _pct(r["top1"]), _pct(r["top5"]), _pct(r["mean_class_accuracy"]), f"{r['gmacs']:.3f}")
                for r in report["exits"]
            ],
        )
    )
    if report["comparison"]:
        lines += ["## Early exits: CE against the other schedules (top-1, test split)", ""]
        lines.append(markdown_table(*comparison_table(report["comparison"])))
    if report["ensembles"]:
        lines += ["## Ensembles", ""]
        lines.append(
            markdown_table(
                ("schedule", "ensemble", "exits", "top-1", "top-5", "GMACs/video"),
                [
                    (e["schedule"], e["name"], len(e["stages"]), _pct(e["top1"]), _pct(e["top5"]), f"{e['gmacs_per_video']:.2f}")
                    for e in report["ensembles"]
                ],
            )
        )
        lines += ["## Early exit", "", *(summary_line(s) + "\n" for s in report["early_exit_summary"])]
        for schedule, files in report["artefacts"].items():
            lines += [f"![early exit, {schedule}]({files['plot']})", ""]
        lines.append(points_markdown(report["early_exit"]))
    return "\n".join(lines).rstrip() + "\n"


def _table(title: str, text_columns: Iterable[str], number_columns: Iterable[str]) -> Table:
    """A table whose numbers are right-aligned and never cut."""
    table = Table(title=title, title_justify="left")
    for column in text_columns:
        table.add_column(column)
    for column in number_columns:
        table.add_column(column, justify="right", no_wrap=True, min_width=6)
    return table


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.2f}"
