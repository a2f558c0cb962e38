"""A run's way through its components.

recipe -> dataset and modalities -> one network per modality -> stage (a),
the backbones -> each schedule's stages (lockstep where they allow it) ->
score files per schedule and split -> ensembles and early exit -> report.
Each arrow is one call to the component that owns it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.assembly import Assembly, assemble
from pkd_toolkit.engine.evaluate import predict
from pkd_toolkit.engine.loaders import eval_loader
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.networks import RunModel, backbone_stage
from pkd_toolkit.engine.runtime import Runtime, seed_everything
from pkd_toolkit.engine.stages import SchedulePlan, Stage
from pkd_toolkit.engine.trainer import Splits, Trainer, restore
from pkd_toolkit.errors import Interrupted, PkdError, UsageError
from pkd_toolkit.run import Run
from pkd_toolkit.scores import ExitScores, ScoreSet, score_path


def run_pipeline(run: Run, runtime: Runtime, dataset: Any, classes: list[str]) -> dict[str, Any]:
    monitor = Monitor(run.dir, enabled=runtime.is_main)
    try:
        monitor.info(f"run {run.recipe.name} in {run.dir} on {runtime.device} ({runtime.world_size} process(es))")
        run.hook.pkd_run_start(run=run)
        report = _run(run, runtime, monitor, dataset, classes)
        run.hook.pkd_run_end(run=run, report=report)
        monitor.info(f"done: {run.dir}")
        return report
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; {run.dir} keeps its last checkpoint: continue with "
            f"`pkd run RECIPE --resume {run.dir}`"
        ) from None
    finally:
        monitor.close()


def _run(run: Run, runtime: Runtime, monitor: Monitor, dataset: Any, classes: list[str]) -> dict[str, Any]:
    recipe, registry = run.recipe, run.plugins.registry
    seed_everything(recipe.seed)
    assembly = assemble(recipe, registry, len(classes))
    # in recipe order (not a set's): datasets may draw random numbers per modality in this order
    used = {key: assembly.modalities[key] for key in dict.fromkeys(map(assembly.modality_of, recipe.networks))}
    splits = Splits(
        train=_non_empty(dataset.split("train", modalities=used, training=True), "train", recipe),
        test=_non_empty(dataset.split("test", modalities=used, training=False), "test", recipe),
    )
    stages = [s for s in [backbone_stage(recipe, assembly.networks)] if s is not None] + _lockstep(assembly.plans)
    state = _resume_state(run, assembly.model, monitor)
    assembly.model.to(runtime.device)
    network_modality = {name: assembly.modality_of(name) for name in recipe.networks}
    Trainer(run, assembly.model, runtime, monitor, splits, network_modality).fit(stages, state)
    score_sets = write_score_files(run, assembly, dataset, used, classes, runtime, monitor)
    if not runtime.is_main:
        return {}
    from pkd_toolkit.report import build_report, print_tables

    # Videos the dataset could not read were scored as zeros or replaced: the report names them.
    bad = list(getattr(dataset, "bad_videos", lambda: [])())
    if bad:
        monitor.info(f"{len(bad)} video(s) could not be read and were skipped: see bad_videos in the report")
    report = build_report(
        run.dir, recipe, registry, score_sets, round(time.time() - run.started, 1), extra={"bad_videos": bad}
    )
    print_tables(report)
    return report


def _non_empty(split: Any, name: str, recipe: Any) -> Any:
    if len(split) == 0:
        raise PkdError(f"the {name} split of dataset {recipe.data.name!r} is empty: check data.root and the split settings")
    return split


def _lockstep(plans: Mapping[str, SchedulePlan]) -> list[Stage]:
    """Each schedule's stages in order; stages sharing a lockstep key and length become one."""
    merged: list[Stage] = []
    for plan in plans.values():
        for stage in plan.stages:
            twin = next(
                (s for s in merged if stage.lockstep and s.lockstep == stage.lockstep and s.epochs == stage.epochs), None
            )
            if twin is None:
                merged.append(replace(stage, name=stage.lockstep or stage.name))
            else:
                twin.objectives = [*twin.objectives, *stage.objectives]
                twin.train_modules = [*twin.train_modules, *stage.train_modules]
                twin.evaluate = {**twin.evaluate, **stage.evaluate}
    names = [stage.name for stage in merged]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise UsageError(f"schedules: several stages are named {', '.join(duplicated)}; give the schedules labels")
    return merged


def _resume_state(run: Run, model: RunModel, monitor: Monitor) -> dict[str, Any] | None:
    if run.resume_from is None:
        return None
    state = checkpoint.load(run.resume_from)
    checkpoint.check_same_recipe(run.resume_from, state.get("recipe", {}), run.recipe.model_dump(mode="json"))
    restore(model, state)
    run.started = time.time() - state.get("elapsed", 0.0)  # the report's wall time: both parts of the run
    position = state["position"]
    monitor.resume_at(position["stage_index"], position["epoch"], state.get("metrics"))
    monitor.info(f"resuming from {run.resume_from} (stage {position['stage_index'] + 1}, epoch {position['epoch']})")
    return state


def write_score_files(
    run: Run,
    assembly: Assembly,
    dataset: Any,
    modalities: Mapping[str, Any],
    classes: list[str],
    runtime: Runtime,
    monitor: Monitor,
) -> dict[str, dict[str, ScoreSet]]:
    """Per-exit logits of the train split (test-time transforms) and the test split, for every schedule."""
    from pkd_toolkit.cost import exit_costs

    scored = assembly.scored()
    keyed = {f"{label}/{name}": (name, net) for label, networks in scored.items() for name, net in networks.items()}
    height, width = dataset.input_size
    costs = {
        key: {c.name: c.gmacs for c in exit_costs(net, (modalities[assembly.modality_of(name)].channels, height, width))}
        for key, (name, net) in keyed.items()
    }
    network_modality = {name: assembly.modality_of(name) for name in run.recipe.networks}
    results: dict[str, dict[str, ScoreSet]] = {label: {} for label in scored}
    for split in ("train", "test"):
        data = dataset.split(split, modalities=modalities, training=False)
        loader = eval_loader(data, run.recipe.train, runtime)
        predictions = predict(keyed, loader, runtime, network_modality, monitor, f"scores {split}")
        videos = list(dataset.videos(split))
        for label, networks in scored.items():
            exits = [
                ExitScores(name, exit_name, net.exit_stage(exit_name), logits, costs[f"{label}/{name}"][exit_name])
                for name, net in networks.items()
                for exit_name, logits in predictions.logits[f"{label}/{name}"].items()
            ]
            scores = ScoreSet(label, split, classes, [videos[i] for i in predictions.indices], predictions.labels, exits)
            if runtime.is_main:
                scores.save(score_path(run.dir, label, split))
            results[label][split] = scores
    return results
