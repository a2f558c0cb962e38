"""Reports side by side as data: ``pkd compare RUN_A RUN_B ...``.

Runs are named A, B, C... in the order given; every figure is shown per run
and as the difference of each later run to A. Runs of different data sets
are refused: their figures are not comparable.
"""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pkd_toolkit.errors import UsageError
from pkd_toolkit.report.provenance import same_data
from pkd_toolkit.run_folder.layout import RECIPE_FILE, REPORT_FILE


def read_run(folder: Path) -> dict[str, Any]:
    """A run folder's (or a ``pkd test`` folder's) report.json; refused when there is none."""
    path = folder / REPORT_FILE
    if not folder.is_dir():
        raise UsageError(f"{folder}: no such run folder")
    if not path.is_file():
        raise UsageError(f"{folder}: has no {REPORT_FILE}; compare finished runs (or `pkd eval` this one first)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not readable JSON ({error})") from None
    if not isinstance(report, dict) or "exits" not in report:
        raise UsageError(f"{path}: not a pkd-toolkit report")
    return report


def data_of(folder: Path, report: dict[str, Any]) -> dict[str, Any]:
    """The data set a report is about: its provenance's, else (older runs) what its recipe.yaml names."""
    data = (report.get("provenance") or {}).get("data")
    if data:
        return data
    try:
        section = (yaml.safe_load((folder / RECIPE_FILE).read_text(encoding="utf-8")) or {}).get("data") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        section = {}
    return {"dataset": section.get("name"), "root": section.get("root"), "split": section.get("split")}


def compare_runs(folders: Sequence[Path]) -> dict[str, Any]:
    """The comparison of the runs in ``folders`` (at least two, of one data set)."""
    if len(folders) < 2:
        raise UsageError("pkd compare needs two runs or more")
    if len(folders) > len(string.ascii_uppercase):
        raise UsageError(f"pkd compare takes at most {len(string.ascii_uppercase)} runs")
    reports = [read_run(folder) for folder in folders]
    labels = list(string.ascii_uppercase[: len(folders)])
    first = data_of(folders[0], reports[0])
    for label, folder, report in zip(labels[1:], folders[1:], reports[1:], strict=True):
        differences = same_data(first, data_of(folder, report))
        if differences:
            raise UsageError(
                f"{folders[0]} and {folder} are runs on different data sets ({'; '.join(differences)}): "
                "their figures cannot be compared"
            )
    return {
        "runs": [
            _run_entry(label, folder, report) for label, folder, report in zip(labels, folders, reports, strict=True)
        ],
        "exits": _side_by_side(labels, reports, "exits", ("schedule", "network", "exit"), "top1"),
        "ensembles": _side_by_side(labels, reports, "ensembles", ("schedule", "name"), "top1"),
        "early_exit": _side_by_side(
            labels, reports, "early_exit_summary", ("schedule", "ensembler"), "cheapest_within"
        ),
    }


def _run_entry(label: str, folder: Path, report: dict[str, Any]) -> dict[str, Any]:
    provenance = report.get("provenance") or {}
    return {
        "label": label,
        "folder": str(folder),
        "recipe": report.get("recipe"),
        "seed": provenance.get("seed"),
        "overrides": provenance.get("overrides", []),
        "test": (report.get("test") or {}).get("checkpoint"),
        "seconds": report.get("seconds"),
    }


def _side_by_side(labels: list[str], reports: list[dict], section: str, keys: Sequence[str], figure: str) -> list[dict]:
    """One row per key found in any run: ``values`` maps a run's label to its figure (runs without it: absent)."""
    rows: dict[tuple, dict[str, Any]] = {}
    for label, report in zip(labels, reports, strict=True):
        for entry in report.get(section, []):
            row = rows.setdefault(tuple(entry[k] for k in keys), {**{k: entry[k] for k in keys}, "values": {}})
            row["values"][label] = entry[figure]
    return list(rows.values())
