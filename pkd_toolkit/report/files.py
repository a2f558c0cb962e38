"""The files beside report.md: each schedule's ensemble report, table and plot, and the confusion matrices."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pkd_toolkit import atomic
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.report.markdown import ensembles_markdown
from pkd_toolkit.report.plots import plot_confusion, plot_early_exit
from pkd_toolkit.run_folder.layout import (
    EARLY_EXIT_PLOT,
    EARLY_EXIT_TABLE,
    ENSEMBLES_REPORT,
    confusion_stem,
    ensembles_dir,
)
from pkd_toolkit.scores.files import ScoreSet
from pkd_toolkit.scores.metrics import confusion_matrix


def write_schedule_files(run_dir: Path, recipe: RecipeBase, schedule: str, sections: dict[str, Any]) -> dict[str, str]:
    """``ensembles/<schedule>/``: the ensembles' report sections as JSON, their tables and plot; returns the
    paths written, relative to ``run_dir``."""
    folder = ensembles_dir(run_dir, schedule)
    paths = {"report": folder / ENSEMBLES_REPORT, "table": folder / EARLY_EXIT_TABLE, "plot": folder / EARLY_EXIT_PLOT}
    artefacts = {name: path.relative_to(run_dir).as_posix() for name, path in paths.items()}
    # The settings are kept with the results: `pkd eval --set` may have changed them from the run's recipe.
    settings = recipe.model_dump(mode="json", include={"ensembles", "early_exit"})
    atomic.write_json(paths["report"], {**sections, "artefacts": artefacts, "settings": settings})
    atomic.write_text(paths["table"], ensembles_markdown(sections))
    plot_early_exit(sections["early_exit"], sections["ensembles"], paths["plot"], title=f"{recipe.name}, {schedule}")
    return artefacts


def write_confusion_matrices(run_dir: Path, score_sets: Mapping[str, Mapping[str, ScoreSet]]) -> None:
    """``confusion/<schedule>/<network>-<exit>.csv`` and ``.png`` (rows: true class, columns: predicted)."""
    for schedule, splits in score_sets.items():
        test = splits["test"]
        for scores in test.exits:
            matrix = confusion_matrix(scores.consensus().argmax(axis=1), test.labels, len(test.classes))
            lines = ["true\\predicted," + ",".join(test.classes)]
            lines += [f"{name}," + ",".join(map(str, row)) for name, row in zip(test.classes, matrix, strict=True)]
            stem = confusion_stem(run_dir, schedule, scores.network, scores.exit)
            atomic.write_text(stem.with_suffix(".csv"), "\n".join(lines) + "\n")
            plot_confusion(matrix, test.classes, stem.with_suffix(".png"), title=f"{schedule}: {scores.key}")
