"""The files beside report.md: each schedule's ensemble report, table and plot, the confusion matrices (per
exit and per ensemble) and the training curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pkd_toolkit import atomic
from pkd_toolkit.ensembles.evaluation import REPORT_SECTIONS
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.report.markdown import ensembles_markdown
from pkd_toolkit.report.plots import plot_confusion, plot_early_exit, plot_training_curves
from pkd_toolkit.run_folder.layout import (
    EARLY_EXIT_PLOT,
    EARLY_EXIT_TABLE,
    ENSEMBLES_REPORT,
    TRAINING_CURVES,
    confusion_stem,
    ensemble_confusion_stem,
    ensembles_dir,
)
from pkd_toolkit.scores.files import ScoreSet
from pkd_toolkit.scores.metrics import confusion_matrix

if TYPE_CHECKING:
    import numpy as np


def write_schedule_files(run_dir: Path, recipe: RecipeBase, schedule: str, sections: dict[str, Any]) -> dict[str, str]:
    """``ensembles/<schedule>/``: the ensembles' report sections as JSON, their tables and plot; returns the
    paths written, relative to ``run_dir``."""
    folder = ensembles_dir(run_dir, schedule)
    paths = {"report": folder / ENSEMBLES_REPORT, "table": folder / EARLY_EXIT_TABLE, "plot": folder / EARLY_EXIT_PLOT}
    artefacts = {name: path.relative_to(run_dir).as_posix() for name, path in paths.items()}
    # The settings are kept with the results: `pkd eval --set` may have changed them from the run's recipe.
    settings = recipe.model_dump(mode="json", include={"ensembles", "early_exit"})
    written = {key: sections[key] for key in REPORT_SECTIONS}  # not ``predicted``: arrays, for the matrices
    atomic.write_json(paths["report"], {**written, "artefacts": artefacts, "settings": settings})
    atomic.write_text(paths["table"], ensembles_markdown(sections))
    plot_early_exit(sections["early_exit"], sections["ensembles"], paths["plot"], title=f"{recipe.name}, {schedule}")
    return artefacts


def write_confusion_matrices(
    run_dir: Path, score_sets: Mapping[str, Mapping[str, ScoreSet]]
) -> dict[str, dict[str, str]]:
    """``confusion/<schedule>/<network>-<exit>.csv`` and ``.png`` (rows: true class, columns: predicted);
    returns the PNGs written, schedule -> exit key -> path relative to ``run_dir``."""
    written: dict[str, dict[str, str]] = {}
    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            stem = confusion_stem(run_dir, schedule, scores.network, scores.exit)
            _write_matrix(stem, scores.consensus().argmax(axis=1), test, f"{schedule}: {scores.key}")
            written.setdefault(schedule, {})[scores.key] = _relative(stem, run_dir)
    return written


def write_ensemble_confusions(run_dir: Path, test: ScoreSet, predicted: Mapping[str, np.ndarray]) -> dict[str, str]:
    """``confusion/<schedule>/ensembles/<ensemble>.csv`` and ``.png`` of each full ensemble; returns the PNGs
    written, ensemble -> path relative to ``run_dir``."""
    written = {}
    for label, classes in predicted.items():
        stem = ensemble_confusion_stem(run_dir, test.schedule, label)
        _write_matrix(stem, classes, test, f"{test.schedule}: ensemble {label}")
        written[label] = _relative(stem, run_dir)
    return written


def write_training_curves(run_dir: Path, curves: Sequence[dict[str, Any]], title: str) -> str | None:
    """``training_curves.png`` when there were epochs to plot; returns its path relative to ``run_dir``."""
    if not curves:
        return None
    plot_training_curves(curves, run_dir / TRAINING_CURVES, title=title)
    return TRAINING_CURVES


def _write_matrix(stem: Path, predicted: np.ndarray, test: ScoreSet, title: str) -> None:
    matrix = confusion_matrix(predicted, test.labels, len(test.classes))
    lines = ["true\\predicted," + ",".join(test.classes)]
    lines += [f"{name}," + ",".join(map(str, row)) for name, row in zip(test.classes, matrix, strict=True)]
    atomic.write_text(stem.with_suffix(".csv"), "\n".join(lines) + "\n")
    plot_confusion(matrix, test.classes, stem.with_suffix(".png"), title=title)


def _relative(stem: Path, run_dir: Path) -> str:
    return stem.with_suffix(".png").relative_to(run_dir).as_posix()
