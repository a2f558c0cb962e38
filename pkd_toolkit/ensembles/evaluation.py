"""Evaluating the recipe's ensembles on a schedule's score files: fit, full-ensemble accuracy, early-exit curves.

:func:`evaluate_ensembles` is what the report builder calls for each schedule:
it fits every ensemble of the recipe on the train split's scores, evaluates it
and its early-exit policy on the test scores, saves the fitted ensemblers
(``run_folder.layout.fitted_path``) and returns the report sections; the
report renders them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from pkd_toolkit.ensembles import early_exit
from pkd_toolkit.ensembles.fitted import remove_stale_fitted, save_fitted
from pkd_toolkit.ensembles.planning import PlannedEnsemble, plan_ensembles, policy_ensembles
from pkd_toolkit.ensembles.protocol import available_segments, member_logits
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.run_folder.layout import FITTED_DIR, ensembles_dir, fitted_path, score_path
from pkd_toolkit.scores.files import ScoreSet
from pkd_toolkit.scores.metrics import classification_metrics, topk_accuracy

REPORT_SECTIONS = ("ensembles", "early_exit", "early_exit_summary")  # what the run's report.json gets
SUMMARY_KEYS = ("threshold", "segments", "top1", "gmacs_per_video", "gmacs_fraction")  # of the cheapest point
HEARTBEAT_SECONDS = 60.0
"""While an ensemble fits (WISE on UCF-101 takes minutes), a line this often says it still runs."""

Progress = Callable[[str], None]
"""Where progress lines go (the run's log, or the terminal for ``pkd eval``)."""


def check_score_sets(train: ScoreSet, test: ScoreSet, run_dir: Path) -> None:
    """Refuse the score files of two splits (``train``: the fitting or choosing one) that cannot be used together:
    other classes, other exits, bad shapes."""
    train_file, test_file = (score_path(run_dir, s.schedule, s.split) for s in (train, test))
    if train.schedule != test.schedule:
        raise PkdError(f"{train_file} and {test_file} are scores of different schedules")
    if train.classes != test.classes:
        differ = f"{len(train.classes)} classes vs {len(test.classes)}"
        if len(train.classes) == len(test.classes):
            first = next(i for i, (a, b) in enumerate(zip(train.classes, test.classes, strict=True)) if a != b)
            differ = f"class {first} is {train.classes[first]!r} vs {test.classes[first]!r}"
        raise PkdError(f"{train_file} and {test_file} are scores of different class lists ({differ})")
    train_keys, test_keys = [s.key for s in train.exits], [s.key for s in test.exits]
    if sorted(train_keys) != sorted(test_keys):
        missing = sorted(set(train_keys) ^ set(test_keys))
        raise PkdError(f"{train_file} and {test_file} hold different exits (only in one: {', '.join(missing)})")
    for scores, path in ((train, train_file), (test, test_file)):
        _check_shapes(scores, path)


def _check_shapes(scores: ScoreSet, path: Path) -> None:
    videos, classes = len(scores.labels), len(scores.classes)
    if videos == 0:
        raise PkdError(f"{path}: holds no videos")
    if scores.labels.min() < 0 or scores.labels.max() >= classes:
        raise PkdError(f"{path}: labels outside the {classes} classes of its class list")
    for exit_scores in scores.exits:
        shape = exit_scores.logits.shape
        if len(shape) != 3 or shape[0] != videos or shape[2] != classes or shape[1] == 0:
            raise PkdError(
                f"{path}: logits of {exit_scores.key} have shape {shape}, expected "
                f"[{videos} videos, segments, {classes} classes] (scores of a different class list?)"
            )


def evaluate_ensembles(
    recipe: RecipeBase,
    registry: ComponentRegistry,
    train: ScoreSet,
    test: ScoreSet,
    run_dir: Path,
    chooser: ScoreSet | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Fit the recipe's ensembles on ``train`` (the split that fits them: validation or train), evaluate them and
    the early-exit policy on ``test``; the cheapest point within the tolerance is chosen on ``chooser`` (default:
    ``test``) and reported with its ``test`` accuracy and cost.

    Saves the fitted ensemblers (``fitted_path``) once everything is computed
    (atomically, file by file: a failure leaves the earlier files whole) and
    returns the report sections: ``ensembles`` (one entry per ensemble:
    top-1/top-5 of its full ensemble, its cost and every stage's),
    ``early_exit`` (one point per ensemble, segment setting and threshold) and
    ``early_exit_summary`` (the cheapest point within the tolerance, per ensemble),
    and ``predicted``: each ensemble's predicted class of every test video
    (numpy arrays by label, for confusion matrices; not part of the JSON report).
    ``progress`` gets a line as each ensemble is fitted, and one every
    :data:`HEARTBEAT_SECONDS` while a fit still runs.
    """
    chooser = chooser if chooser is not None else test
    check_score_sets(train, test, run_dir)
    check_score_sets(chooser, test, run_dir)
    planned = plan_ensembles(recipe, registry)
    if not planned:
        return {**{key: [] for key in REPORT_SECTIONS}, "predicted": {}}
    schedule = test.schedule
    entries, predicted = [], {}
    for number, plan in enumerate(planned, 1):
        what = f"fitting ensemble {plan.label} ({number}/{len(planned)}) on the {schedule} exits' {train.split} scores"
        with reported(progress, what):
            try:
                plan.ensembler.fit(train)
            except UsageError as error:
                raise UsageError(f"ensemble {plan.label!r}: {error}") from None
        entry, predicted[plan.label] = _ensemble_entry(plan, test, run_dir)
        entries.append(entry)
    full = {entry["name"]: entry for entry in entries}
    points, summaries = [], []
    for plan in policy_ensembles(recipe, planned):
        curve = _early_exit_points(plan, test, recipe, full[plan.label]["gmacs_per_video"])
        points += curve
        choices = curve if chooser is test else _early_exit_points(plan, chooser, recipe, full[plan.label]["gmacs_per_video"])
        entry_on_chooser = full[plan.label] if chooser is test else _ensemble_entry(plan, chooser, run_dir)[0]
        chosen_full = entry_on_chooser["top1"]
        summaries.append(_summary(plan.label, schedule, full[plan.label], curve, choices, chosen_full, chooser.split, recipe))
    for plan in planned:
        save_fitted(fitted_path(run_dir, schedule, plan.label), plan, train.classes)
    remove_stale_fitted(ensembles_dir(run_dir, schedule) / FITTED_DIR, {plan.label for plan in planned})
    return {"ensembles": entries, "early_exit": points, "early_exit_summary": summaries, "predicted": predicted}


@contextmanager
def reported(progress: Progress | None, what: str) -> Iterator[None]:
    """Tell ``progress`` every :data:`HEARTBEAT_SECONDS` that ``what`` still runs, and the time it took.

    The heartbeat is a thread because a fit is one call into a plugin, which
    reports nothing itself; the ensembler protocol stays free of progress.
    """
    if progress is None:
        yield
        return
    started = time.monotonic()
    finished = threading.Event()

    def beat() -> None:
        while not finished.wait(HEARTBEAT_SECONDS):
            progress(f"{what}: still running after {time.monotonic() - started:.0f} s")

    heartbeat = threading.Thread(target=beat, name="pkd-heartbeat", daemon=True)
    heartbeat.start()
    try:
        yield
    finally:
        finished.set()
        heartbeat.join()
    progress(f"{what}: done in {time.monotonic() - started:.1f} s")  # one line for a quick fit


def _ensemble_entry(plan: PlannedEnsemble, test: ScoreSet, run_dir: Path) -> tuple[dict[str, Any], np.ndarray]:
    order = plan.ensembler.order
    segments = available_segments(test, order)
    stages = plan.ensembler.stage_logits(member_logits(test, order))
    costs = early_exit.stage_costs(order, {s.key: s.gmacs for s in test.exits}, segments)
    last = stages[-1]
    entry = {
        "name": plan.label,
        "component": plan.component,
        "schedule": test.schedule,
        **classification_metrics(last, test.labels),
        "gmacs_per_video": float(costs[-1]),
        "segments": segments,
        "stages": [
            {
                "exit": key,
                "top1": topk_accuracy(logits, test.labels, 1),
                "top5": topk_accuracy(logits, test.labels, 5),
                "gmacs_per_video": float(cost),
            }
            for key, logits, cost in zip(order, stages, costs, strict=True)
        ],
        "fitted": fitted_path(run_dir, test.schedule, plan.label).relative_to(run_dir).as_posix(),
    }
    return entry, last.argmax(axis=1)


def _early_exit_points(plan: PlannedEnsemble, test: ScoreSet, recipe: RecipeBase, full_gmacs: float) -> list[dict]:
    order = plan.ensembler.order
    gmacs = {s.key: s.gmacs for s in test.exits}
    points = []
    for segments in early_exit.resolve_segments(recipe.early_exit.segments, available_segments(test, order)):
        stages = plan.ensembler.stage_logits(member_logits(test, order, segments))
        costs = early_exit.stage_costs(order, gmacs, segments)
        confidence = early_exit.confidences(stages)
        for threshold in recipe.early_exit.thresholds:
            point = early_exit.policy_point(stages, test.labels, costs, order, threshold, confidence)
            point["gmacs_fraction"] = point["gmacs_per_video"] / full_gmacs if full_gmacs else 1.0
            points.append({"schedule": test.schedule, "ensembler": plan.label, "segments": segments, **point})
    return points


def _summary(
    label: str,
    schedule: str,
    full: dict,
    points: list[dict],
    choices: list[dict],
    chosen_full_top1: float,
    chosen_on: str,
    recipe: RecipeBase,
) -> dict[str, Any]:
    """The cheapest point within the tolerance of the full ensemble, chosen among ``choices`` (on ``chosen_on``),
    given with its test accuracy and cost (``points``)."""
    tolerance = recipe.early_exit.tolerance
    best = early_exit.cheapest_within(choices, chosen_full_top1, tolerance)
    if best is not None and choices is not points:  # the same setting, on the test split
        best = next(p for p in points if (p["threshold"], p["segments"]) == (best["threshold"], best["segments"]))
    return {
        "schedule": schedule,
        "ensembler": label,
        "full_top1": full["top1"],
        "full_gmacs_per_video": full["gmacs_per_video"],
        "tolerance": tolerance,
        "chosen_on": chosen_on,
        "cheapest_within": best and {key: best[key] for key in SUMMARY_KEYS},
    }
