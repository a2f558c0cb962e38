"""The report's tables as plain data (title, headers, rows of text): what report.md and the terminal both show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkd_toolkit.report.formatting import pct


@dataclass(frozen=True)
class TableData:
    """A table ready for any renderer: the first ``text_columns`` columns are text, the others numbers."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    text_columns: int


def exits_table(report: dict[str, Any]) -> TableData:
    rows = [
        [r["schedule"], r["network"], r["exit"], pct(r["top1"]), pct(r["top5"]), pct(r["mean_class_accuracy"]), f"{r['gmacs']:.3f}"]
        for r in report["exits"]
    ]
    headers = ["schedule", "network", "exit", "top-1", "top-5", "mean class", "GMACs/frame"]
    return TableData("Accuracy per exit (test split)", headers, rows, text_columns=3)


def comparison_table(report: dict[str, Any]) -> TableData:
    """The comparison as a wide table: a row per exit, the baseline then each schedule with its difference."""
    comparison = report["comparison"]
    schedules = list(dict.fromkeys(row["schedule"] for row in comparison))
    base = comparison[0]["base"] if comparison else ""
    headers = ["network", "exit", base] + [f"{name} ({name} - {base})" for name in schedules]
    cells: dict[tuple[str, str], dict[str, Any]] = {}
    for row in comparison:
        cell = cells.setdefault((row["network"], row["exit"]), {"base": row["base_top1"]})
        cell[row["schedule"]] = f"{pct(row['top1'])} ({100 * row['difference']:+.2f})"
    body = [
        [network, exit_name, pct(cell["base"]), *(cell.get(name, "") for name in schedules)]
        for (network, exit_name), cell in cells.items()
    ]
    if comparison:
        means = []
        for name in schedules:
            differences = [r["difference"] for r in comparison if r["schedule"] == name]
            means.append(f"{100 * sum(differences) / len(differences):+.2f}")
        body.append(["mean difference", "", "", *means])
    title = f"Early exits: {base} against the other schedules (top-1, test split)"
    return TableData(title, headers, body, text_columns=2)


def ensembles_table(sections: dict[str, Any]) -> TableData:
    """Each ensemble's full ensemble: every exit of its order."""
    rows = [
        [
            e["schedule"], e["name"] if e["name"] == e["component"] else f"{e['name']} ({e['component']})",
            str(len(e["stages"])), pct(e["top1"]), pct(e["top5"]), pct(e["mean_class_accuracy"]),
            f"{e['gmacs_per_video']:.2f}",
        ]  # fmt: skip
        for e in sections["ensembles"]
    ]
    headers = ["schedule", "ensemble", "exits", "top-1", "top-5", "mean class", "GMACs/video"]
    return TableData("Full ensembles (test split)", headers, rows, text_columns=2)

