"""The run report: ``report.json`` for programs, ``report.md`` for people, tables on the terminal.

Everything here is computed from the score files, so ``pkd eval`` can rebuild
it without training.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from rich.table import Table

from pkd_toolkit import atomic, console
from pkd_toolkit.metrics import classification_metrics, confusion_matrix
from pkd_toolkit.run import REPORT_FILE, Run
from pkd_toolkit.scores import ScoreSet

MARKDOWN_FILE = "report.md"
CONFUSION_DIR = "confusion"


def exit_rows(score_sets: Mapping[str, Mapping[str, ScoreSet]]) -> list[dict[str, Any]]:
    """One row per (schedule, network, exit) with its test accuracy and cost."""
    rows = []
    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            metrics = classification_metrics(scores.consensus(), test.labels)
            rows.append(
                {"network": scores.network, "exit": scores.exit, "schedule": schedule, **metrics, "gmacs": scores.gmacs}
            )
    return rows


def comparison_rows(rows: list[dict[str, Any]], base: str = "ce", other: str = "pkd") -> list[dict[str, Any]]:
    """Side by side top-1 of two schedules' exits (PKD against CE by default), with the difference."""
    by_key = {(r["schedule"], r["network"], r["exit"]): r["top1"] for r in rows}
    paired = []
    for row in rows:
        if row["schedule"] != base or (other, row["network"], row["exit"]) not in by_key:
            continue
        theirs = by_key[(other, row["network"], row["exit"])]
        paired.append(
            {"network": row["network"], "exit": row["exit"], base: row["top1"], other: theirs, "difference": theirs - row["top1"]}
        )
    return paired


def write_confusion_matrices(run_dir: Path, score_sets: Mapping[str, Mapping[str, ScoreSet]]) -> None:
    """``confusion/<schedule>/<network>-<exit>.csv`` (rows: true class, columns: predicted)."""
    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            matrix = confusion_matrix(scores.consensus().argmax(axis=1), test.labels, len(test.classes))
            header = "true\\predicted," + ",".join(test.classes)
            lines = [header] + [f"{name}," + ",".join(map(str, row)) for name, row in zip(test.classes, matrix, strict=True)]
            atomic.write_text(run_dir / CONFUSION_DIR / schedule / f"{scores.network}-{scores.exit}.csv", "\n".join(lines) + "\n")


def write_report(run: Run, score_sets: Mapping[str, Mapping[str, ScoreSet]]) -> dict[str, Any]:
    """Evaluate everything from the score files, write report.json and report.md, print the tables."""
    rows = exit_rows(score_sets)
    report: dict[str, Any] = {
        "recipe": run.recipe.name,
        "exits": rows,
        "comparison": comparison_rows(rows),
        "ensembles": [],
        "early_exit": [],
        "seconds": round(time.time() - run.started, 1),
    }
    write_confusion_matrices(run.dir, score_sets)
    atomic.write_json(run.path(REPORT_FILE), _plain(report))
    atomic.write_text(run.path(MARKDOWN_FILE), markdown(report))
    print_tables(report)
    return report


def print_tables(report: dict[str, Any]) -> None:
    table = Table(title="accuracy per exit (test split)")
    for column in ("schedule", "network", "exit", "top-1", "top-5", "mean class", "GMACs/frame"):
        table.add_column(column, justify="right" if column[0].isupper() or "-" in column else "left")
    for row in report["exits"]:
        table.add_row(
            row["schedule"], row["network"], row["exit"], _pct(row["top1"]), _pct(row["top5"]),
            _pct(row["mean_class_accuracy"]), f"{row['gmacs']:.3f}",
        )  # fmt: skip
    console.out.print(table)
    if report["comparison"]:
        side = Table(title="exits trained with CE and with PKD (top-1, test split)")
        for column in ("network", "exit", "ce", "pkd", "difference"):
            side.add_column(column)
        for row in report["comparison"]:
            side.add_row(row["network"], row["exit"], _pct(row["ce"]), _pct(row["pkd"]), f"{100 * row['difference']:+.2f}")
        console.out.print(side)


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Run report: {report['recipe']}", "", f"Wall time: {report['seconds']:.0f} s", ""]
    lines += ["## Accuracy per exit (test split)", "", "| schedule | network | exit | top-1 | top-5 | mean class | GMACs/frame |"]
    lines += ["|---|---|---|---:|---:|---:|---:|"]
    for r in report["exits"]:
        lines.append(
            f"| {r['schedule']} | {r['network']} | {r['exit']} | {_pct(r['top1'])} | {_pct(r['top5'])} "
            f"| {_pct(r['mean_class_accuracy'])} | {r['gmacs']:.3f} |"
        )
    if report["comparison"]:
        lines += ["", "## CE against PKD exits", "", "| network | exit | CE | PKD | difference |", "|---|---|---:|---:|---:|"]
        for r in report["comparison"]:
            lines.append(f"| {r['network']} | {r['exit']} | {_pct(r['ce'])} | {_pct(r['pkd'])} | {100 * r['difference']:+.2f} |")
    return "\n".join(lines) + "\n"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _plain(value: Any) -> Any:
    """JSON-ready copy (numpy scalars to Python numbers)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
