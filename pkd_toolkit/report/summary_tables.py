"""The tables of the pages that gather several runs, as plain data: several seeds of one recipe (seeds.md)
and runs side by side (``pkd compare``); drawn like the run report's by ``markdown`` and ``terminal``."""

from __future__ import annotations

from typing import Any

from pkd_toolkit.report.formatting import format_threshold, mean_sd, pct, segments_label
from pkd_toolkit.report.tables import TableData

# -- several seeds (pkd run --seeds) ------------------------------------------------------------


def seed_tables(summary: dict[str, Any]) -> list[TableData]:
    """The tables of seeds.md: exits, schedules against the baseline, ensembles, early exit; mean ± sd."""
    over = f"mean ± sd over {len(summary['seeds'])} seeds"
    exits = [
        [r["schedule"], r["network"], r["exit"], mean_sd(r["top1"]), f"{r['gmacs']:.3f}"] for r in summary["exits"]
    ]
    tables = [
        TableData(
            f"Accuracy per exit (top-1 %, {over})", ["schedule", "network", "exit", "top-1", "GMACs/frame"], exits, 3
        )
    ]
    if summary["comparison"]:
        tables.append(_seed_comparison(summary, over))
    # The last ensemble against each other one: a column "wise minus it", on the other ensembles' rows.
    versus = {(d["schedule"], d["minus"]): d for d in summary["ensemble_differences"]}
    last = next(iter(versus.values()))["ensemble"] if versus else ""
    ensembles = [
        [
            e["schedule"],
            e["name"],
            mean_sd(e["top1"]),
            f"{e['gmacs_per_video']:.3f}",
            mean_sd(versus[(e["schedule"], e["name"])]["difference"], signed=True)
            if (e["schedule"], e["name"]) in versus
            else "",
        ]
        for e in summary["ensembles"]
    ]
    if ensembles:
        headers = ["schedule", "ensemble", "top-1", "GMACs/video", f"{last} minus it" if last else "difference"]
        tables.append(TableData(f"Full ensembles (top-1 %, {over})", headers, ensembles, 2))
    points = [
        [
            p["schedule"],
            p["ensembler"],
            segments_label(p["segments"]),
            format_threshold(p["threshold"]),
            mean_sd(p["top1"]),
            f"{p['gmacs_per_video']['mean']:.3f}",
            f"{100 * p['gmacs_fraction']['mean']:.0f}%",
        ]
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
    body = [
        [network, exit_name, *(cell.get(name, "") for name in [base, *schedules])]
        for (network, exit_name), cell in cells.items()
    ]
    means = summary["comparison_means"]
    body.append(
        [
            f"mean over exits, minus {base}",
            "",
            "",
            *(mean_sd(means[name], signed=True) if name in means else "" for name in schedules),
        ]
    )
    return TableData(
        f"Early exits: {base} against the other schedules (top-1 %, {over})",
        ["network", "exit", base, *schedules],
        body,
        2,
    )


# -- runs side by side (pkd compare) -------------------------------------------------------------


def compare_tables(comparison: dict[str, Any]) -> list[TableData]:
    """The tables of ``pkd compare``: the runs, then each figure per run and each run minus run A."""
    labels = [run["label"] for run in comparison["runs"]]
    differences = [f"{label} - {labels[0]}" for label in labels[1:]]
    runs = [
        [
            run["label"],
            run["folder"],
            str(run["recipe"]),
            str(run["seed"]),
            " ".join(run["overrides"]) or "none",
            run["test"] or "",
        ]
        for run in comparison["runs"]
    ]
    tables = [TableData("Runs", ["run", "folder", "recipe", "seed", "overrides", "re-test of checkpoint"], runs, 6)]
    exits = [
        [r["schedule"], r["network"], r["exit"], *_with_differences(r["values"], labels)] for r in comparison["exits"]
    ]
    headers = ["schedule", "network", "exit", *labels, *differences]
    tables.append(TableData("Accuracy per exit (top-1, test split)", headers, exits, 3))
    if comparison["ensembles"]:
        ensembles = [
            [r["schedule"], r["name"], *_with_differences(r["values"], labels)] for r in comparison["ensembles"]
        ]
        headers = ["schedule", "ensemble", *labels, *differences]
        tables.append(TableData("Full ensembles (top-1, test split)", headers, ensembles, 2))
    if comparison["early_exit"]:
        early = [
            [r["schedule"], r["ensembler"], *(_cheapest(r["values"].get(label)) for label in labels)]
            for r in comparison["early_exit"]
        ]
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
