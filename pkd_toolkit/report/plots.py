"""Plots of the run report, drawn with matplotlib's Agg canvas (no display, no pyplot state).

matplotlib is imported inside the function, so importing this module does not load it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

from pkd_toolkit.atomic import atomic_path
from pkd_toolkit.report.curves import MEAN
from pkd_toolkit.report.formatting import segments_label

FULL_MARKERS = ("*", "D", "s", "^", "v", "P", "X")


def plot_early_exit(
    points: Iterable[dict[str, Any]], ensembles: Iterable[dict[str, Any]], path: Path, *, title: str = ""
) -> None:
    """Write a PNG of top-1 accuracy against GMACs per video to ``path`` (atomically).

    ``points`` are early-exit points (``ensembler``, ``segments``, ``threshold``,
    ``top1``, ``gmacs_per_video``): one line per ensemble and segment setting,
    through its thresholds. ``ensembles`` are full-ensemble entries (``name``,
    ``top1``, ``gmacs_per_video``), each marked as a point of its own.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    curves: dict[str, list[dict[str, Any]]] = {}
    for point in points:
        curves.setdefault(f"{point['ensembler']}, {segments_label(point['segments'])}", []).append(point)
    for label, curve in curves.items():
        curve = sorted(curve, key=lambda p: p["gmacs_per_video"])
        cost, accuracy = [p["gmacs_per_video"] for p in curve], [100 * p["top1"] for p in curve]
        axes.plot(cost, accuracy, marker="o", markersize=3, label=label)
    for marker, entry in zip(cycle(FULL_MARKERS), ensembles, strict=False):
        axes.scatter(
            entry["gmacs_per_video"], 100 * entry["top1"], marker=marker, s=90, color="black", zorder=3,
            label=f"{entry['name']} (full ensemble)",
        )  # fmt: skip
    axes.set_xlabel("GMACs per video")
    axes.set_ylabel("top-1 accuracy (%)")
    axes.set_title(title or "Early exit: accuracy against cost")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize="small", loc="lower right")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def plot_confusion(matrix: Any, classes: list[str], path: Path, *, title: str = "") -> None:
    """Write a PNG of a confusion matrix (rows: true class, columns: predicted), row-normalised colours."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    size = min(12.0, 2.5 + 0.3 * len(classes))
    figure = Figure(figsize=(size, size), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(matrix / totals, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, shrink=0.8, label="share of the true class")
    if len(classes) <= 30:  # beyond that the labels are unreadable anyway
        axes.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        axes.set_yticks(range(len(classes)), classes, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")


def plot_training_curves(curves: Sequence[dict[str, Any]], path: Path, *, title: str = "") -> None:
    """Write a PNG of every stage's training: losses per objective (left), periodic top-1 (right).

    ``curves`` are :func:`pkd_toolkit.report.curves.training_curves` entries, one row of plots per stage;
    the mean over every exit, which picks the best checkpoint, is the thick black line.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(11, 3.2 * max(len(curves), 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    rows = figure.subplots(max(len(curves), 1), 2, squeeze=False)
    for (losses, evaluations), stage in zip(rows, curves, strict=False):
        for objective, values in stage["losses"].items():
            losses.plot(stage["epochs"][-len(values) :], values, marker="o", markersize=2, label=objective)
        losses.set_title(f"{stage['stage']}: training loss per objective", fontsize="medium")
        losses.set_ylabel("loss")
        for network, curve in stage["evaluations"].items():
            mean = network == MEAN
            evaluations.plot(
                curve["epochs"], [100 * value for value in curve["top1"]], marker="o", markersize=3, label=network,
                color="black" if mean else None, linewidth=2.5 if mean else 1.2,
            )  # fmt: skip
        evaluations.set_title(f"{stage['stage']}: periodic top-1 per network (mean of its exits)", fontsize="medium")
        evaluations.set_ylabel(f"top-1 on the {stage.get('split') or 'test'} split (%)")
        for axes in (losses, evaluations):
            axes.set_xlabel("epoch")
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))
            axes.grid(True, alpha=0.3)
            if axes.has_data():
                axes.legend(fontsize="x-small", loc="best")
    if title:
        figure.suptitle(title)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format="png")
