"""Ensembles of exits: the Ensembler protocol, the order of exits, and the recipe's ensembles on score files.

An ensembler takes the exits of every network in an *order*; stage k is the
k-th exit of that order, and the ensemble of stage k combines the raw
(segment-consensus) logits of the first k exits, so a video can stop at any
stage with everything computed so far. Exits are named by keys
``"network/exit"`` (``"residual/ic1"``, ``"iframe/final"``).

:func:`evaluate_ensembles` is what the engine and ``pkd eval`` call: it fits
every ensemble of the recipe on a schedule's train scores, evaluates it and its
early-exit policy on the test scores, and writes the artefacts of that schedule
under ``<run>/ensembles/<schedule>/``::

    fitted/<label>.json   each fitted ensembler (component, settings, state): what ``pkd predict`` loads
    report.json           the report sections returned
    early_exit.md         the accuracy-versus-cost table
    early_exit.png        the accuracy-versus-cost plot
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from pkd_toolkit import atomic, early_exit
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.metrics import classification_metrics, topk_accuracy
from pkd_toolkit.registry import ComponentConfig, ComponentRegistry, unknown_name_message
from pkd_toolkit.scores import ExitScores, ScoreSet, score_path
from pkd_toolkit.settings import RecipeBase

ENSEMBLES_DIR = "ensembles"
FITTED_DIR = "fitted"
REPORT_NAME = "report.json"
TABLE_NAME = "early_exit.md"
PLOT_NAME = "early_exit.png"
REPORT_SECTIONS = ("ensembles", "early_exit", "early_exit_summary")  # what the run's report.json gets
SUMMARY_KEYS = ("threshold", "segments", "top1", "gmacs_per_video", "gmacs_fraction")  # of the cheapest point
POLICY_DEFAULT = "wise"  # the ensemble the early-exit policy uses when the recipe does not say


class Ensembler(Protocol):
    """What an ensembler component's factory returns.

    A component's config may have a ``label`` field naming the ensemble in
    reports (default: the component name).
    """

    order: list[str]
    """Exit keys in stage order; set by :meth:`fit` or :meth:`load_state_dict`."""

    def fit(self, scores: ScoreSet) -> None:
        """Choose the order among the exits ``scores`` holds; learn from their logits and labels (train split)."""

    def stage_logits(self, exit_logits: np.ndarray) -> np.ndarray:
        """The ensemble logits of every stage.

        ``exit_logits`` ``[m, videos, classes]`` holds the consensus logits of
        the first ``m`` exits of :attr:`order` (``m`` may be less than all of
        them); the result has the same shape, and its row k depends on exits
        ``0..k`` only.
        """

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`fit` learned, as JSON-able data (the order included)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; raise ``ValueError`` when ``state`` does not fit."""


# -- exits and their order ------------------------------------------------------------


def exits_by_network(scores: ScoreSet) -> dict[str, list[ExitScores]]:
    """Each network's exits, shallowest (cheapest) first; networks in score-file order."""
    grouped: dict[str, list[ExitScores]] = {network: [] for network in scores.networks}
    for exit_scores in scores.exits:
        grouped[exit_scores.network].append(exit_scores)
    return {network: sorted(exits, key=lambda e: e.gmacs) for network, exits in grouped.items()}


def default_order(scores: ScoreSet, networks: Sequence[str] = (), *, deepest_only: bool = False) -> list[str]:
    """Every exit of every network, each network's shallowest first, networks one after the other.

    The networks come in the order ``networks`` when it names exactly the score
    set's networks, else by increasing cost of their deepest exit (ties in
    score-file order). ``deepest_only`` keeps only each network's deepest exit.
    """
    by_network = exits_by_network(scores)
    if sorted(networks) == sorted(by_network):
        ordered = list(networks)
    else:
        ordered = sorted(by_network, key=lambda network: by_network[network][-1].gmacs)
    return [e.key for network in ordered for e in (by_network[network][-1:] if deepest_only else by_network[network])]


def resolve_order(entries: Sequence[str], scores: ScoreSet) -> list[str]:
    """Expand an order written in a recipe: ``"network/exit"`` keys, or a network name for all its exits.

    Raises :class:`UsageError` for an unknown network or exit and for an exit listed twice.
    """
    by_network = exits_by_network(scores)
    order: list[str] = []
    for entry in entries:
        network, slash, exit_name = entry.partition("/")
        if network not in by_network:
            raise UsageError(f"order: {unknown_name_message('network', network, list(by_network))}")
        exits = [e.exit for e in by_network[network]]
        if slash and exit_name not in exits:
            raise UsageError(f"order: {unknown_name_message(f'exit of network {network!r}', exit_name, exits)}")
        for name in [exit_name] if slash else exits:
            key = f"{network}/{name}"
            if key in order:
                raise UsageError(f"order: exit {key} is listed twice")
            order.append(key)
    return order


def member_logits(scores: ScoreSet, order: Sequence[str], segments: dict[str, int] | None = None) -> np.ndarray:
    """Consensus logits of the exits of ``order``, ``[exits, videos, classes]``.

    ``segments`` maps networks to how many of their segments to average (all when left out).
    """
    segments = segments or {}
    logits = []
    for key in order:
        network, _, exit_name = key.partition("/")
        logits.append(scores.get(network, exit_name).consensus(segments.get(network)))
    return np.stack(logits)


def available_segments(scores: ScoreSet, order: Iterable[str]) -> dict[str, int]:
    """How many segments the score files hold for each network of ``order``."""
    available = {}
    for key in order:
        network, _, exit_name = key.partition("/")
        available[network] = scores.get(network, exit_name).logits.shape[1]
    return available


# -- the recipe's ensembles ---------------------------------------------------------------


@dataclass
class PlannedEnsemble:
    """One entry of the recipe's ``ensembles`` list, built."""

    label: str
    section: ComponentConfig
    ensembler: Ensembler

    @property
    def component(self) -> str:
        return self.section.name  # type: ignore[attr-defined]


def plan_ensembles(recipe: RecipeBase, registry: ComponentRegistry) -> list[PlannedEnsemble]:
    """Build the recipe's ensembles; refuse two with one label and early-exit labels that name none.

    Cheap (nothing is fitted): the engine may call it before training to fail early.
    """
    planned: list[PlannedEnsemble] = []
    for index, section in enumerate(recipe.ensembles):  # type: ignore[attr-defined]
        label = getattr(section, "label", None) or section.name
        for earlier, other in enumerate(planned):
            if other.label == label:
                raise UsageError(
                    f"ensembles[{earlier}] and ensembles[{index}] are both labelled {label!r}: "
                    "give one of them another 'label'"
                )
        planned.append(PlannedEnsemble(label, section, registry.get("ensemblers", section.name).build(section)))
    labels = [plan.label for plan in planned]
    for label in recipe.early_exit.ensemblers or ():
        if label not in labels:
            raise UsageError(f"early_exit.ensemblers: {unknown_name_message('ensemble', label, labels)}")
    return planned


def policy_ensembles(recipe: RecipeBase, planned: Sequence[PlannedEnsemble]) -> list[PlannedEnsemble]:
    """The ensembles the early-exit policy is evaluated with: the recipe's choice, else ``wise``, else the last."""
    chosen = recipe.early_exit.ensemblers
    if chosen is not None:
        return [plan for plan in planned if plan.label in chosen]
    defaults = [plan for plan in planned if plan.label == POLICY_DEFAULT]
    return defaults or list(planned[-1:])


# -- fitted state ---------------------------------------------------------------------------


def ensembles_dir(run_dir: Path, schedule: str) -> Path:
    return run_dir / ENSEMBLES_DIR / schedule


def fitted_path(run_dir: Path, schedule: str, label: str) -> Path:
    """Where the fitted ensembler ``label`` of ``schedule`` is saved."""
    return ensembles_dir(run_dir, schedule) / FITTED_DIR / f"{label}.json"


def save_fitted(path: Path, plan: PlannedEnsemble, classes: Sequence[str]) -> None:
    atomic.write_json(
        path,
        {
            "component": plan.component,
            "label": plan.label,
            "config": plan.section.model_dump(mode="json"),
            "classes": list(classes),
            "state": plan.ensembler.state_dict(),
        },
    )


def load_fitted(path: Path, registry: ComponentRegistry) -> tuple[Ensembler, list[str]]:
    """The ensembler saved at ``path`` (settings and fitted state) and the class names it was fitted for."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        component = registry.get("ensemblers", saved["component"])
        config = component.config.model_validate({k: v for k, v in saved["config"].items() if k != "name"})
        ensembler = component.build(config)
        ensembler.load_state_dict(saved["state"])
        return ensembler, list(saved["classes"])
    except FileNotFoundError:
        raise PkdError(f"{path}: no fitted ensembler here; `pkd eval` or `pkd run` writes it") from None
    except PkdError as error:
        raise PkdError(f"{path}: {error}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        raise PkdError(f"{path}: not a readable fitted ensembler ({type(error).__name__}: {error})") from None


# -- evaluation ---------------------------------------------------------------------------


def check_score_sets(train: ScoreSet, test: ScoreSet, run_dir: Path) -> None:
    """Refuse score files that cannot be used together: other classes, other exits, bad shapes."""
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
    recipe: RecipeBase, registry: ComponentRegistry, train: ScoreSet, test: ScoreSet, run_dir: Path
) -> dict[str, Any]:
    """Fit the recipe's ensembles on ``train``, evaluate them and the early-exit policy on ``test``.

    Writes the fitted ensemblers and the artefacts under
    ``run_dir/ensembles/<schedule>/`` once everything is computed (atomically,
    file by file: a failure leaves the earlier files whole) and returns the
    report sections: ``ensembles`` (one entry per ensemble: top-1/top-5 of its
    full ensemble, its cost and every stage's), ``early_exit`` (one point per
    ensemble, segment setting and threshold), ``early_exit_summary`` (the
    cheapest point within the tolerance, per ensemble) and ``artefacts`` (paths
    relative to ``run_dir``).
    """
    check_score_sets(train, test, run_dir)
    planned = plan_ensembles(recipe, registry)
    if not planned:
        return {**{key: [] for key in REPORT_SECTIONS}, "artefacts": {}}
    schedule = test.schedule
    entries = []
    for plan in planned:
        try:
            plan.ensembler.fit(train)
        except UsageError as error:
            raise UsageError(f"ensemble {plan.label!r}: {error}") from None
        entries.append(_ensemble_entry(plan, test, run_dir))
    full = {entry["name"]: entry for entry in entries}
    points, summaries = [], []
    for plan in policy_ensembles(recipe, planned):
        curve = _early_exit_points(plan, test, recipe, full[plan.label]["gmacs_per_video"])
        points += curve
        summaries.append(_summary(plan.label, schedule, full[plan.label], curve, recipe.early_exit.tolerance))
    sections = {"ensembles": entries, "early_exit": points, "early_exit_summary": summaries}
    sections["artefacts"] = _write_artefacts(sections, recipe, run_dir, schedule)
    for plan in planned:
        save_fitted(fitted_path(run_dir, schedule, plan.label), plan, train.classes)
    _remove_stale_fitted(ensembles_dir(run_dir, schedule) / FITTED_DIR, {plan.label for plan in planned})
    return sections


def _ensemble_entry(plan: PlannedEnsemble, test: ScoreSet, run_dir: Path) -> dict[str, Any]:
    order = plan.ensembler.order
    segments = available_segments(test, order)
    stages = plan.ensembler.stage_logits(member_logits(test, order))
    costs = early_exit.stage_costs(order, {s.key: s.gmacs for s in test.exits}, segments)
    last = stages[-1]
    return {
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


def _summary(label: str, schedule: str, full: dict, points: list[dict], tolerance: float) -> dict[str, Any]:
    best = early_exit.cheapest_within(points, full["top1"], tolerance)
    return {
        "schedule": schedule,
        "ensembler": label,
        "full_top1": full["top1"],
        "full_gmacs_per_video": full["gmacs_per_video"],
        "tolerance": tolerance,
        "cheapest_within": best and {key: best[key] for key in SUMMARY_KEYS},
    }


def _write_artefacts(sections: dict[str, Any], recipe: RecipeBase, run_dir: Path, schedule: str) -> dict[str, str]:
    from pkd_toolkit.plots import plot_early_exit

    folder = ensembles_dir(run_dir, schedule)
    paths = {"report": folder / REPORT_NAME, "table": folder / TABLE_NAME, "plot": folder / PLOT_NAME}
    artefacts = {name: path.relative_to(run_dir).as_posix() for name, path in paths.items()}
    # The settings are kept with the results: `pkd eval --set` may have changed them from the run's recipe.
    settings = recipe.model_dump(mode="json", include={"ensembles", "early_exit"})
    atomic.write_json(paths["report"], {**sections, "artefacts": artefacts, "settings": settings})
    atomic.write_text(paths["table"], ensembles_markdown(sections))
    plot_early_exit(sections["early_exit"], sections["ensembles"], paths["plot"], title=f"{recipe.name}, {schedule}")
    return artefacts


def _remove_stale_fitted(folder: Path, labels: set[str]) -> None:
    """Drop fitted ensemblers of an earlier evaluation that the recipe no longer lists."""
    for path in folder.glob("*.json"):
        if path.stem not in labels:
            path.unlink()


def ensembles_markdown(sections: dict[str, Any]) -> str:
    """The ensembles and the early-exit points of report sections as Markdown tables."""
    ensembles = early_exit.markdown_table(
        ("schedule", "ensemble", "exits", "top-1", "top-5", "GMACs/video"),
        [
            (e["schedule"], e["name"], len(e["stages"]), f"{100 * e['top1']:.2f}", f"{100 * e['top5']:.2f}",
             f"{e['gmacs_per_video']:.2f}")
            for e in sections["ensembles"]
        ],
    )
    return f"## Ensembles\n\n{ensembles}\n## Early exit\n\n{early_exit.points_markdown(sections['early_exit'])}"
