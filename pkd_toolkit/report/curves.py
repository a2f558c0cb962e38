"""The training curves as data, read back from metrics.jsonl: each stage's losses and periodic evaluations.

metrics.jsonl holds one line per finished epoch (``stage``, ``epoch``,
``loss/<objective>``, ``<split>/<schedule>/<network>/<exit>`` and
``<split>_top1`` where ``<split>`` is the evaluated split, ``val`` or ``test``,
``seconds``, ...). :func:`training_curves` turns them into one entry per
stage for :func:`pkd_toolkit.report.plots.plot_training_curves`, and
:func:`stage_wall_times` into the wall time each stage took.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pkd_toolkit.run_folder.layout import METRICS_FILE

LOSS = "loss/"
EVALUATED = ("val", "test")  # the splits a periodic evaluation may score
MEAN = "mean of all exits"


def read_epochs(run_dir: Path) -> list[dict[str, Any]]:
    """The epoch lines of metrics.jsonl in the order they ran (the last line of an epoch run twice wins)."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return []
    epochs: dict[tuple[Any, Any], dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if isinstance(record, dict) and "stage" in record and "epoch" in record:
            epochs.pop((record["stage"], record["epoch"]), None)
            epochs[(record["stage"], record["epoch"])] = record
    return list(epochs.values())


def training_curves(epochs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per stage: ``epochs``, ``losses`` (objective -> value per epoch) and ``evaluations``
    (evaluated network -> (epochs, top-1 averaged over its exits), and :data:`MEAN`, the mean that picks
    the best checkpoint when the split is ``val``); ``split`` is the split evaluated."""
    stages: dict[str, dict[str, Any]] = {}
    for record in epochs:
        stage = stages.setdefault(
            record["stage"],
            {"stage": record["stage"], "epochs": [], "losses": defaultdict(list), "evaluations": {}, "split": None},
        )

        stage["epochs"].append(record["epoch"])
        for key, value in record.items():
            if key.startswith(LOSS):
                stage["losses"][key.removeprefix(LOSS)].append(value)
        by_network: dict[str, list[float]] = defaultdict(list)
        for split in EVALUATED:
            for key, value in record.items():
                if key.startswith(f"{split}/"):
                    by_network[key.removeprefix(f"{split}/").rpartition("/")[0]].append(value)
            if f"{split}_top1" in record:
                by_network[MEAN] = [record[f"{split}_top1"]]
                stage["split"] = split
        for network, values in by_network.items():
            curve = stage["evaluations"].setdefault(network, {"epochs": [], "top1": []})
            curve["epochs"].append(record["epoch"])
            curve["top1"].append(sum(values) / len(values))
    return [{**stage, "losses": dict(stage["losses"])} for stage in stages.values()]


def stage_wall_times(epochs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each training stage's epochs and seconds (evaluations included), in the order they ran."""
    times: dict[str, dict[str, float]] = {}
    for record in epochs:
        entry = times.setdefault(record["stage"], {"epochs": 0, "seconds": 0.0})
        entry["epochs"] += 1
        entry["seconds"] += float(record.get("seconds", 0.0))
    return times
