"""``pkd run``: a run's way through its components, from recipe to report.

recipe -> dataset and modalities -> one network per modality -> stage (a),
the backbones -> each schedule's stages (lockstep where they allow it) ->
score files per schedule and split -> ensembles and early exit -> report.
Each arrow is one call to the package that owns it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pkd_toolkit.data.protocol import Dataset
from pkd_toolkit.data.validation import WithValidation, has_validation, with_validation
from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.assembly import Assembly, RunServices, assemble
from pkd_toolkit.engine.loaders import eval_loader, resolve_workers
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.predictions import head_accuracies
from pkd_toolkit.engine.run_model import RunModel
from pkd_toolkit.engine.runtime import (
    Runtime,
    Stopped,
    absent_processes,
    is_communication_error,
    seed_everything,
    share_from_main,
    start_runtime,
    stop_runtime,
)
from pkd_toolkit.engine.scoring import write_score_files
from pkd_toolkit.engine.trainer import Splits, Trainer, restore
from pkd_toolkit.errors import Interrupted, PkdError
from pkd_toolkit.pipeline.preflight import check_before_run
from pkd_toolkit.pipeline.provenance import run_provenance
from pkd_toolkit.plugin.failures import HookFailed
from pkd_toolkit.plugin.manager import BLOCK_ENV, Plugins
from pkd_toolkit.recipe.resuming import check_same_recipe
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.report.build import build_report
from pkd_toolkit.report.terminal import print_tables
from pkd_toolkit.run_folder.opening import open_run
from pkd_toolkit.run_folder.run import Run


def start_run(
    recipe: RecipeBase,
    plugins: Plugins,
    *,
    run_dir: Path | None = None,
    resume: str | None = None,
    command: str = "",
    overrides: Sequence[str] = (),
) -> Run:
    """Check the recipe, open the run folder (rank 0 does; torchrun's other processes are told where) and run
    the pipeline. ``command`` and ``overrides`` (the command line and its ``--set`` values) go into the report."""
    check_before_run(recipe)  # a recipe that would fail before training leaves no run folder behind
    runtime = start_runtime(recipe.train)
    try:
        # The data first: a recipe whose data are missing (or cannot spare a validation split) leaves no run folder.
        dataset = with_validation(plugins.registry.build("datasets", recipe.data), recipe)
        classes = list(dataset.classes)
        opened, payload = None, None
        if runtime.is_main:
            try:
                opened = open_run(recipe, plugins, run_dir=run_dir, resume=resume)
                payload = (opened.dir, opened.resume_from)
            except PkdError as error:
                payload = error
        shared = share_from_main(runtime, payload)
        if isinstance(shared, PkdError):
            raise shared
        run = opened or Run(shared[0], recipe, plugins, resume_from=shared[1])
        run.command, run.overrides = command, list(overrides)
        try:
            run_pipeline(run, runtime, dataset, classes)
        finally:
            run.close()
    finally:
        stop_runtime(runtime)
    return run


def run_pipeline(run: Run, runtime: Runtime, dataset: Dataset, classes: list[str]) -> dict[str, Any]:
    state = _resume_state(run)  # before anything is written: a refused checkpoint leaves the folder as it was
    monitor = Monitor(run.dir, enabled=runtime.is_main)
    try:
        monitor.info(f"run {run.recipe.name} in {run.dir} on {runtime.device} ({runtime.world_size} process(es))")
        run.hook.pkd_run_start(run=run)
        report = _run(run, runtime, monitor, dataset, classes, state)
        run.hook.pkd_run_end(run=run, report=report)
        monitor.info(f"done: {run.dir}")
        return report
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted; {_kept(run)}") from None
    except HookFailed as failure:  # a plugin's logger or callback: stop, keep what was written (docs/hooks.md)
        raise PkdError(f"{failure}; the run stopped: fix the plugin (or block it with {BLOCK_ENV}); {_kept(run)}") from failure
    except Stopped as stopped:
        raise Stopped(f"{stopped.message}; {_kept(run)}") from None
    except RuntimeError as error:
        # A collective failed because another process is gone: name it. Anything else is a bug.
        absent = absent_processes(runtime.rank, runtime.world_size) if is_communication_error(error, runtime) else None
        if absent is None:
            raise
        raise Stopped(f"process {runtime.rank} stops: {absent}; {_kept(run)}") from error
    finally:
        monitor.close()


def _kept(run: Run) -> str:
    return f"{run.dir} keeps its last checkpoint: continue with `pkd run RECIPE --resume {run.dir}`"


def _run(
    run: Run, runtime: Runtime, monitor: Monitor, dataset: Dataset, classes: list[str], state: dict[str, Any] | None
) -> dict[str, Any]:
    recipe = run.recipe
    seed_everything(recipe.seed)
    selection = recipe.selection.resolved(has_validation(dataset))
    if isinstance(dataset, WithValidation):
        carving = dataset.carving
        monitor.note(
            "validation", {"train": len(carving.train), "val": len(carving.val), "groups": carving.groups},
            f"validation split: {len(carving.val)} of the {len(carving.train) + len(carving.val)} training videos "
            f"({carving.groups} group(s), grouped by {carving.grouped_by})",
        )  # fmt: skip
    resolved = resolve_workers(recipe.train.num_workers, runtime)
    if resolved.note:
        monitor.info(resolved.note)
    workers = resolved.count
    accuracies: dict[str, float] = {}

    def network_accuracies() -> dict[str, float]:
        """Measured once, when a stage first asks for them (after stage (a) trained the networks)."""
        if not accuracies:
            accuracies.update(_measure_networks(assembly, dataset, run, runtime, monitor, selection["teachers"], workers))
        return accuracies

    assembly = assemble(recipe, run.plugins.registry, len(classes), RunServices(network_accuracies, monitor.note))
    modalities = assembly.used_modalities()
    evaluated = "val" if selection["checkpoints"] == "val" else "test"
    splits = Splits(
        train=_non_empty(dataset.split("train", modalities=modalities, training=True), "train", recipe),
        evaluation=_non_empty(dataset.split(evaluated, modalities=modalities, training=False), evaluated, recipe),
        evaluation_name=evaluated,
        select_best=selection["checkpoints"] != "none",
    )
    stages = assembly.stages()
    if state is not None:
        _restore(run, state, assembly.model, monitor)
    assembly.model.to(runtime.device)
    Trainer(run, assembly.model, runtime, monitor, splits, network_modality(assembly), workers).fit(stages, state)
    scoring_started = time.monotonic()
    score_sets = write_score_files(run, assembly, dataset, classes, runtime, monitor, workers)
    scoring = round(time.monotonic() - scoring_started, 1)
    if not runtime.is_main:
        return {}
    # Samples the dataset could not read were scored as zeros or replaced: the report names them.
    skipped = list(dataset.skipped())
    if skipped:
        monitor.info(f"{len(skipped)} sample(s) could not be read and were skipped: see 'skipped' in the report")
    provenance = run_provenance(run, runtime, dataset, skipped, {"scores": scoring})
    report = build_report(
        run.dir,
        recipe,
        run.plugins.registry,
        score_sets,
        round(time.time() - run.started, 1),
        extra={"provenance": provenance, "skipped": skipped},
        progress=monitor.info,
    )
    print_tables(report)
    return report


def _measure_networks(
    assembly: Assembly, dataset: Dataset, run: Run, runtime: Runtime, monitor: Monitor, split: str, workers: int
) -> dict[str, float]:
    """Each base network's top-1 on ``split`` (``val``, or ``train`` with test-time transforms)."""
    chooser = dataset.split(split, modalities=assembly.used_modalities(), training=False)
    loader = eval_loader(chooser, run.recipe.train, runtime, workers)
    accuracies = head_accuracies(assembly.networks, loader, runtime, network_modality(assembly), monitor)
    shown = ", ".join(f"{name} {100 * value:.1f}%" for name, value in accuracies.items())
    monitor.note("network_accuracy", {"split": split, **accuracies}, f"the networks' own heads, top-1 on the {split} split: {shown}")
    return accuracies


def network_modality(assembly: Assembly) -> dict[str, str]:
    return {name: assembly.modality_of(name) for name in assembly.recipe.networks}


def _non_empty(split: Any, name: str, recipe: RecipeBase) -> Any:
    if len(split) == 0:
        raise PkdError(f"the {name} split of dataset {recipe.data.name!r} is empty: check data.root and the split settings")
    return split


def _resume_state(run: Run) -> dict[str, Any] | None:
    """The checkpoint the run resumes from, refused when another recipe wrote it."""
    if run.resume_from is None:
        return None
    state = checkpoint.load(run.resume_from)
    check_same_recipe(run.resume_from, state.get("recipe", {}), run.recipe.model_dump(mode="json"))
    return state


def _restore(run: Run, state: dict[str, Any], model: RunModel, monitor: Monitor) -> None:
    restore(model, state)
    run.started = time.time() - state.get("elapsed", 0.0)  # the report's wall time: both parts of the run
    position = state["position"]
    monitor.resume_at(position["stage_index"], position["epoch"], state.get("metrics"))
    monitor.info(f"resuming from {run.resume_from} (stage {position['stage_index'] + 1}, epoch {position['epoch']})")
