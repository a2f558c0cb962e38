"""Several seeds of one recipe as data: the mean and spread of every figure of their reports.

``pkd run RECIPE --seeds 0,1,2`` writes ``seeds.json`` (this summary) and
``seeds.md`` (its tables, :func:`pkd_toolkit.report.tables.seed_tables`) into
the folder that holds the seeds' run folders.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pkd_toolkit.errors import UsageError
from pkd_toolkit.report.provenance import same_data

Key = tuple[Any, ...]


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min, max and count of ``values``."""
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def summarise_seeds(reports: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
    """The seeds' reports (seed -> report.json) summarised figure by figure; refused when they are of
    different data sets (they would not be seeds of one experiment)."""
    first_seed, first = next(iter(reports.items()))
    for seed, report in reports.items():
        differences = same_data(_data(first), _data(report))
        if differences:
            raise UsageError(
                f"seeds {first_seed} and {seed} are runs on different data sets ({'; '.join(differences)})"
            )
    runs = list(reports.values())
    return {
        "recipe": first["recipe"],
        "seeds": list(reports),
        "test_videos": _data(first).get("videos", {}).get("test"),
        "seconds": spread([r["seconds"] for r in runs if r.get("seconds") is not None] or [0.0]),
        "exits": _rows(runs, "exits", ("schedule", "network", "exit"), ("top1",), keep=("gmacs",)),
        "comparison": _rows(
            runs, "comparison", ("schedule", "network", "exit"), ("top1", "base_top1", "difference"), keep=("base",)
        ),
        "comparison_means": _comparison_means(runs),
        "ensembles": _rows(runs, "ensembles", ("schedule", "name"), ("top1",), keep=("component", "gmacs_per_video")),
        "ensemble_differences": _ensemble_differences(runs),
        "early_exit": _rows(
            runs,
            "early_exit",
            ("schedule", "ensembler", "segments", "threshold"),
            ("top1", "gmacs_per_video", "gmacs_fraction"),
        ),
    }


def _data(report: dict[str, Any]) -> dict[str, Any]:
    return (report.get("provenance") or {}).get("data") or {}


def _rows(
    runs: list[dict], section: str, keys: Sequence[str], figures: Sequence[str], keep: Sequence[str] = ()
) -> list[dict]:
    """One row per key of ``section``'s entries that every run has, each figure as a spread over the runs."""
    values: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    kept: dict[Key, dict[str, Any]] = {}
    for run in runs:
        for entry in run.get(section, []):
            key = tuple(json.dumps(entry[k], sort_keys=True) for k in keys)
            kept.setdefault(key, {k: entry[k] for k in (*keys, *keep) if k in entry})
            for figure in figures:
                values[key][figure].append(entry[figure])
    return [
        {**kept[key], **{figure: spread(series) for figure, series in figures_of.items()}}
        for key, figures_of in values.items()
        if all(len(series) == len(runs) for series in figures_of.values())
    ]


def _comparison_means(runs: list[dict]) -> dict[str, dict[str, float]]:
    """Per schedule: each run's mean difference over the exits against the baseline, as a spread over runs."""
    per_schedule: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        differences: dict[str, list[float]] = defaultdict(list)
        for row in run.get("comparison", []):
            differences[row["schedule"]].append(row["difference"])
        for schedule, values in differences.items():
            per_schedule[schedule].append(statistics.fmean(values))
    return {schedule: spread(values) for schedule, values in per_schedule.items()}


def _ensemble_differences(runs: list[dict]) -> list[dict[str, Any]]:
    """Per schedule, the recipe's last ensemble (the early-exit one: WISE in the ready-made recipes) minus each
    of the others (``wise - sum``, ``wise - mean``), as a spread over runs."""
    differences: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for run in runs:
        by_schedule: dict[str, list[dict]] = defaultdict(list)
        for entry in run.get("ensembles", []):
            by_schedule[entry["schedule"]].append(entry)
        for schedule, entries in by_schedule.items():
            last = entries[-1]
            for other in entries[:-1]:
                differences[(schedule, last["name"], other["name"])].append(last["top1"] - other["top1"])
    return [
        {"schedule": schedule, "ensemble": name, "minus": other, "difference": spread(values)}
        for (schedule, name, other), values in differences.items()
        if len(values) == len(runs)
    ]
