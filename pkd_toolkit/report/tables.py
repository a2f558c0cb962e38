"""The report's tables as plain data (title, headers, rows of text): what report.md and the terminal both show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pkd_toolkit.report.formatting import format_threshold, mean_sd, pct, segments_label


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


# -- several seeds (pkd run --seeds) ------------------------------------------------------------


def seed_tables(summary: dict[str, Any]) -> list[TableData]:
    """The tables of seeds.md: exits, schedules against the baseline, ensembles, early exit; mean ± sd."""
    over = f"mean ± sd over {len(summary['seeds'])} seeds"
    exits = [[r["schedule"], r["network"], r["exit"], mean_sd(r["top1"]), f"{r['gmacs']:.3f}"] for r in summary["exits"]]
    tables = [TableData(f"Accuracy per exit (top-1 %, {over})", ["schedule", "network", "exit", "top-1", "GMACs/frame"], exits, 3)]
    if summary["comparison"]:
        tables.append(_seed_comparison(summary, over))
    # The last ensemble against each other one: a column "wise minus it", on the other ensembles' rows.
    versus = {(d["schedule"], d["minus"]): d for d in summary["ensemble_differences"]}
    last = next(iter(versus.values()))["ensemble"] if versus else ""
    ensembles = [
        [
            e["schedule"], e["name"], mean_sd(e["top1"]), f"{e['gmacs_per_video']:.3f}",
            mean_sd(versus[(e["schedule"], e["name"])]["difference"], signed=True) if (e["schedule"], e["name"]) in versus else "",
        ]  # fmt: skip
        for e in summary["ensembles"]
    ]
    if ensembles:
        headers = ["schedule", "ensemble", "top-1", "GMACs/video", f"{last} minus it" if last else "difference"]
        tables.append(TableData(f"Full ensembles (top-1 %, {over})", headers, ensembles, 2))
    points = [
        [
            p["schedule"], p["ensembler"], segments_label(p["segments"]), format_threshold(p["threshold"]),
            mean_sd(p["top1"]), f"{p['gmacs_per_video']['mean']:.3f}", f"{100 * p['gmacs_fraction']['mean']:.0f}%",
        ]  # fmt: skip
        for p in summary["early_exit"]
    ]
    if points:
        headers = ["schedule", "ensemble", "segments", "threshold", "top-1", "GMACs/video", "of full"]
        tables.append(TableData(f"Early exit (top-1 %, {over}; cost: the mean)", headers, points, 4))
    return tables


def _seed_comparison(summary: dict[str, Any], over: str) -> TableData:
    rows = summary["comparison"]
    base = rows[0]["base"]
    schedules = list(dict.fromkeys(r["schedule"] for r in rows))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for r in rows:
        cell = cells.setdefault((r["network"], r["exit"]), {base: mean_sd(r["base_top1"])})
        cell[r["schedule"]] = mean_sd(r["top1"])
    body = [[network, exit_name, *(cell.get(name, "") for name in [base, *schedules])] for (network, exit_name), cell in cells.items()]
    means = summary["comparison_means"]
    body.append([f"mean over exits, minus {base}", "", "", *(mean_sd(means[name], signed=True) if name in means else "" for name in schedules)])
    return TableData(f"Early exits: {base} against the other schedules (top-1 %, {over})", ["network", "exit", base, *schedules], body, 2)


# -- runs side by side (pkd compare) -------------------------------------------------------------


def compare_tables(comparison: dict[str, Any]) -> list[TableData]:
    """The tables of ``pkd compare``: the runs, then each figure per run and each run minus run A."""
    labels = [run["label"] for run in comparison["runs"]]
    differences = [f"{label} - {labels[0]}" for label in labels[1:]]
    runs = [
        [run["label"], run["folder"], str(run["recipe"]), str(run["seed"]), " ".join(run["overrides"]) or "none", run["test"] or ""]
        for run in comparison["runs"]
    ]
    tables = [TableData("Runs", ["run", "folder", "recipe", "seed", "overrides", "re-test of checkpoint"], runs, 6)]
    exits = [[r["schedule"], r["network"], r["exit"], *_with_differences(r["values"], labels)] for r in comparison["exits"]]
    headers = ["schedule", "network", "exit", *labels, *differences]
    tables.append(TableData("Accuracy per exit (top-1, test split)", headers, exits, 3))
    if comparison["ensembles"]:
        ensembles = [[r["schedule"], r["name"], *_with_differences(r["values"], labels)] for r in comparison["ensembles"]]
        headers = ["schedule", "ensemble", *labels, *differences]
        tables.append(TableData("Full ensembles (top-1, test split)", headers, ensembles, 2))
    if comparison["early_exit"]:
        early = [[r["schedule"], r["ensembler"], *(_cheapest(r["values"].get(label)) for label in labels)] for r in comparison["early_exit"]]
        title = "Early exit: the cheapest point within the tolerance of each full ensemble"
        tables.append(TableData(title, ["schedule", "ensemble", *labels], early, 2 + len(labels)))
    return tables


def _with_differences(values: dict[str, float], labels: list[str]) -> list[str]:
    first = values.get(labels[0])
    shown = [pct(values[label]) if label in values else "" for label in labels]
    deltas = [
        f"{100 * (values[label] - first):+.2f}" if label in values and first is not None else "" for label in labels[1:]
    ]
    return shown + deltas


def _cheapest(point: dict[str, Any] | None) -> str:
    if not point:
        return ""
    return f"{pct(point['top1'])} at {point['gmacs_per_video']:.2f} GMACs ({100 * point['gmacs_fraction']:.0f}%)"
