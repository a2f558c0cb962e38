"""The run report as data: ``report.json``'s content, built from the score files.

Everything is computed from the score files (and metrics.jsonl for the
training curves), so ``pkd eval`` rebuilds exactly what ``pkd run`` wrote,
without training: each exit's accuracy (top-1, top-5, mean class accuracy),
every schedule's exits against the baseline schedule's, and the ensembles with
their early-exit curves (:mod:`pkd_toolkit.ensembles`). What only the run
knew, its provenance (:mod:`pkd_toolkit.report.provenance`) and skipped
samples, is given by the caller and kept by ``pkd eval``. :func:`build_report`
then has the renderers write report.md and the files beside it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pkd_toolkit import atomic
from pkd_toolkit.ensembles.evaluation import REPORT_SECTIONS, Progress, evaluate_ensembles
from pkd_toolkit.errors import PkdError
from pkd_toolkit.networks import FINAL
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import RecipeBase, section_label
from pkd_toolkit.report.curves import read_epochs, stage_wall_times, training_curves
from pkd_toolkit.report.files import (
    write_confusion_matrices,
    write_ensemble_confusions,
    write_schedule_files,
    write_training_curves,
)
from pkd_toolkit.report.markdown import markdown
from pkd_toolkit.run_folder.layout import (
    BACKBONE_SCHEDULE,
    MARKDOWN_FILE,
    NOTES_FILE,
    REPORT_FILE,
    SCORES_DIR,
    score_path,
)
from pkd_toolkit.scores.files import ScoreSet
from pkd_toolkit.scores.metrics import classification_metrics

SPLITS = ("train", "val", "test")  # val: only when the run carved a validation split
RUN_ONLY = ("provenance", "skipped")  # what pkd run knew and the score files do not: pkd eval keeps it

ScoreSets = Mapping[str, Mapping[str, ScoreSet]]  # schedule -> split -> scores


def build_report(
    run_dir: Path,
    recipe: RecipeBase,
    registry: ComponentRegistry,
    score_sets: ScoreSets,
    seconds: float | None,
    extra: dict[str, Any] | None = None,
    *,
    trained_in: Path | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate every schedule's score files; write report.json, report.md and the files they link.

    ``extra`` holds what only the caller knew (``provenance``, ``skipped``: the
    samples the dataset could not read, ``evaluation``, ``test``); it is kept as
    it is, except that a provenance's ``wall_time`` gets the training stages'
    times and the ensembles' time where it has none. The training curves come
    from ``trained_in``'s metrics.jsonl (default: ``run_dir``); ``progress``
    gets a line as each ensemble is fitted.
    """
    started = time.monotonic()
    epochs = read_epochs(trained_in or run_dir)
    rows = exit_rows(score_sets)
    report: dict[str, Any] = {
        "recipe": recipe.name,
        **(extra or {}),
        "notes": read_notes(trained_in or run_dir),
        "exits": rows,
        "comparison": comparison_rows(rows, baseline_schedule(recipe)),
        **{section: [] for section in REPORT_SECTIONS},
        "artefacts": {},
        "seconds": seconds,
    }
    figures: dict[str, Any] = {
        "training_curves": write_training_curves(run_dir, training_curves(epochs), f"{recipe.name}: training"),
        "confusion": write_confusion_matrices(run_dir, score_sets),
        "ensemble_confusion": {},
    }
    selection = recipe.selection.resolved(has_val=all("val" in splits for splits in score_sets.values()))
    report["selection"] = selection
    if recipe.ensembles:
        for schedule, splits in score_sets.items():
            fit, chooser = splits[selection["ensembles"]], splits[selection["threshold"]]
            sections = evaluate_ensembles(recipe, registry, fit, splits["test"], run_dir, chooser, progress)
            predicted = sections.pop("predicted")  # arrays, not report data: for the confusion matrices
            figures["ensemble_confusion"][schedule] = write_ensemble_confusions(run_dir, splits["test"], predicted)
            for section in REPORT_SECTIONS:
                report[section] += sections[section]
            report["artefacts"][schedule] = write_schedule_files(run_dir, recipe, schedule, sections)
    report["figures"] = figures
    wall_time = report.get("provenance", {}).get("wall_time")
    if wall_time is not None and "ensembles" not in wall_time:  # a new report: this time counts in the run's
        wall_time["stages"] = stage_wall_times(epochs)
        wall_time["ensembles"] = round(time.monotonic() - started, 1)
        report["seconds"] = round((seconds or 0.0) + wall_time["ensembles"], 1)
    atomic.write_json(run_dir / REPORT_FILE, report)
    atomic.write_text(run_dir / MARKDOWN_FILE, markdown(report))
    return report


def load_score_sets(run_dir: Path) -> dict[str, dict[str, ScoreSet]]:
    """Every schedule's train, test (and validation, when the run had one) score files in a run folder."""
    schedules = sorted(path.parent.name for path in (run_dir / SCORES_DIR).glob("*/test.npz"))
    if not schedules:
        raise PkdError(
            f"{run_dir}: no score files ({SCORES_DIR}/<schedule>/test.npz); they are written by the engine's "
            "score-file stage, which `pkd run` runs once training is done"
        )
    score_sets = {}
    for schedule in schedules:
        train = score_path(run_dir, schedule, "train")
        if not train.is_file():
            raise PkdError(f"{train}: missing; the ensemblers are fitted on the train split's scores")
        score_sets[schedule] = {
            split: ScoreSet.load(score_path(run_dir, schedule, split))
            for split in SPLITS
            if split != "val" or score_path(run_dir, schedule, split).is_file()
        }
    return score_sets


def rebuild_report(
    run_dir: Path,
    recipe: RecipeBase,
    registry: ComponentRegistry,
    *,
    out: Path | None = None,
    evaluation: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``pkd eval``: the whole report again from the score files (the recipe may differ from the run's).

    It is written into ``out`` (default: the run folder, replacing its report);
    ``evaluation`` (the command, its overrides) is recorded in it.
    """
    previous = read_report(run_dir) or {}  # first: a damaged report stops before anything is written
    kept = {key: previous[key] for key in RUN_ONLY if key in previous}
    if evaluation is not None:
        kept["evaluation"] = evaluation
    score_sets = load_score_sets(run_dir)
    seconds = previous.get("seconds")
    return build_report(
        out or run_dir, recipe, registry, score_sets, seconds, extra=kept, trained_in=run_dir, progress=progress
    )


def read_notes(run_dir: Path) -> dict[str, Any]:
    """The decisions taken while training (``notes.json``; empty when none was)."""
    path = run_dir / NOTES_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError) as error:
        raise PkdError(f"{path}: not readable JSON ({error})") from None


def read_report(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / REPORT_FILE
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PkdError(f"{path}: cannot update the report, it is not readable JSON ({error})") from None
    if not isinstance(report, dict):
        raise PkdError(f"{path}: cannot update the report, it is not a JSON object")
    return report


def exit_rows(score_sets: ScoreSets) -> list[dict[str, Any]]:
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


def baseline_schedule(recipe: RecipeBase) -> str | None:
    """The schedule the others are compared with: ``report.baseline``, else the recipe's first schedule."""
    labels = [section_label(section) for section in recipe.schedules]  # type: ignore[attr-defined]
    return recipe.report.baseline or (labels[0] if labels else None)


def comparison_rows(rows: list[dict[str, Any]], base: str | None) -> list[dict[str, Any]]:
    """Every other schedule's early exits against the same exits trained by the ``base`` schedule.

    One row per (schedule, network, exit) that ``base`` also trained: ``top1``,
    ``base_top1`` and ``difference``. The final exits are left out: exit schedules
    share the networks' own heads.
    """
    by_key = {(r["schedule"], r["network"], r["exit"]): r["top1"] for r in rows}
    paired = []
    for row in rows:
        reference = by_key.get((base, row["network"], row["exit"]))
        if row["schedule"] in (base, BACKBONE_SCHEDULE) or row["exit"] == FINAL or reference is None:
            continue
        paired.append(
            {
                "schedule": row["schedule"],
                "network": row["network"],
                "exit": row["exit"],
                "top1": row["top1"],
                "base": base,
                "base_top1": reference,
                "difference": row["top1"] - reference,
            }
        )
    return paired
