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
from pkd_toolkit.engine.evaluate import predict
from pkd_toolkit.engine.loaders import eval_loader
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.networks import RunModel, backbone_stage, build_networks, exit_maker
from pkd_toolkit.engine.runtime import Runtime, seed_everything
from pkd_toolkit.engine.stages import SchedulePlan, ScheduleContext, Stage
from pkd_toolkit.engine.trainer import Splits, Trainer, restore
from pkd_toolkit.errors import Interrupted, PkdError, UsageError
from pkd_toolkit.run import Run
from pkd_toolkit.scores import ExitScores, ScoreSet, score_path

# Score files of the networks' own heads after stage (a): the baseline every schedule is compared with.
BACKBONE_SCHEDULE = "backbone"


def run_pipeline(run: Run, runtime: Runtime) -> dict[str, Any]:
    monitor = Monitor(run.dir, enabled=runtime.is_main)
    try:
        monitor.info(f"run {run.recipe.name} in {run.dir} on {runtime.device} ({runtime.world_size} process(es))")
        run.hook.pkd_run_start(run=run)
        report = _run(run, runtime, monitor)
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


def _run(run: Run, runtime: Runtime, monitor: Monitor) -> dict[str, Any]:
    recipe, registry = run.recipe, run.plugins.registry
    seed_everything(recipe.seed)
    dataset = registry.get("datasets", recipe.data.name).build(recipe.data)
    modalities = {key: registry.get("modalities", s.name).build(s) for key, s in recipe.modalities.items()}
    classes = list(dataset.classes)
    # in recipe order (not a set's): datasets may draw random numbers per modality in this order
    used = {key: modalities[key] for key in dict.fromkeys(section.modality for section in recipe.networks.values())}
    splits = Splits(
        train=_non_empty(dataset.split("train", modalities=used, training=True), "train", recipe),
        test=_non_empty(dataset.split("test", modalities=used, training=False), "test", recipe),
    )
    networks = build_networks(recipe, registry, modalities, len(classes))
    model = RunModel(networks)
    plans = _plan_schedules(run, networks, len(classes))
    for label, plan in plans.items():
        model.schedules[label] = plan.modules
    stages = [s for s in [backbone_stage(recipe, networks)] if s is not None] + _lockstep(plans)
    state = _resume_state(run, model, monitor)
    model.to(runtime.device)
    network_modality = {name: section.modality for name, section in recipe.networks.items()}
    trainer = Trainer(run, model, runtime, monitor, splits, network_modality)
    trainer.fit(stages, state)
    scored = {BACKBONE_SCHEDULE: SchedulePlan([], dict(networks), model.networks), **plans}
    score_sets = write_score_files(run, scored, dataset, used, classes, runtime, monitor)
    if not runtime.is_main:
        return {}
    from pkd_toolkit.report import build_report, print_tables

    report = build_report(run.dir, recipe, registry, score_sets, round(time.time() - run.started, 1))
    print_tables(report)
    return report


def _non_empty(split: Any, name: str, recipe: Any) -> Any:
    if len(split) == 0:
        raise PkdError(f"the {name} split of dataset {recipe.data.name!r} is empty: check data.root and the split settings")
    return split


def _plan_schedules(run: Run, networks: Mapping[str, Any], num_classes: int) -> dict[str, SchedulePlan]:
    recipe, registry = run.recipe, run.plugins.registry
    make_exits = exit_maker(recipe, registry, networks, num_classes)
    plans: dict[str, SchedulePlan] = {}
    for section in recipe.schedules:
        label = getattr(section, "label", None) or section.name
        if label in plans or label == BACKBONE_SCHEDULE:
            raise UsageError(f"schedules: two schedules are labelled {label!r}; give one a different 'label'")
        schedule = registry.get("schedules", section.name).build(section)
        context = ScheduleContext(label, recipe, dict(networks), num_classes, make_exits, registry)
        plans[label] = _namespaced(label, schedule.plan(context))
    return plans


def _namespaced(label: str, plan: SchedulePlan) -> SchedulePlan:
    """Prefix objective and evaluation names with the schedule's label, so merged stages keep them apart."""
    stages = []
    for stage in plan.stages:
        objectives = [replace(o, name=f"{label}/{o.name}") for o in stage.objectives]
        evaluate = {f"{label}/{key}": network for key, network in stage.evaluate.items()}
        stages.append(replace(stage, objectives=objectives, evaluate=evaluate))
    return replace(plan, stages=stages)


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
    position = state["position"]
    monitor.resume_at(position["stage_index"], position["epoch"], state.get("metrics"))
    monitor.info(f"resuming from {run.resume_from} (stage {position['stage_index'] + 1}, epoch {position['epoch']})")
    return state


def write_score_files(
    run: Run,
    plans: Mapping[str, SchedulePlan],
    dataset: Any,
    modalities: Mapping[str, Any],
    classes: list[str],
    runtime: Runtime,
    monitor: Monitor,
) -> dict[str, dict[str, ScoreSet]]:
    """Per-exit logits of the train split (test-time transforms) and the test split, for every schedule."""
    from pkd_toolkit.cost import exit_costs

    recipe = run.recipe
    network_modality = {name: section.modality for name, section in recipe.networks.items()}
    keyed = {f"{label}/{name}": (name, net) for label, plan in plans.items() for name, net in plan.networks.items()}
    height, width = dataset.input_size
    costs = {
        key: {c.name: c for c in exit_costs(net, (modalities[network_modality[name]].channels, height, width))}
        for key, (name, net) in keyed.items()
    }
    results: dict[str, dict[str, ScoreSet]] = {label: {} for label in plans}
    for split in ("train", "test"):
        data = dataset.split(split, modalities=modalities, training=False)
        loader = eval_loader(data, recipe.train, runtime)
        predictions = predict(keyed, loader, runtime, network_modality, monitor, f"scores {split}")
        videos = list(dataset.videos(split))
        for label, plan in plans.items():
            exits = [
                ExitScores(name, exit_name, net.exit_stage(exit_name), logits, costs[f"{label}/{name}"][exit_name].gmacs)
                for name, net in plan.networks.items()
                for exit_name, logits in predictions.logits[f"{label}/{name}"].items()
            ]
            scores = ScoreSet(label, split, classes, [videos[i] for i in predictions.indices], predictions.labels, exits)
            if runtime.is_main:
                scores.save(score_path(run.dir, label, split))
            results[label][split] = scores
    return results
