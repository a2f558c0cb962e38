"""``pkd test``: score a trained run's test split again from one of its checkpoints, with other test views
(``--set data.test_segments=25``), into a report of its own; mmaction2's ``tools/test.py``.

The report goes into a new folder (``tests/<date-time>-<checkpoint>`` in the
run folder, or ``--out``), never over the training report. Ensembles are
fitted (and the early-exit point chosen) as in the run, on scores of the same
weights: the run's own train (and validation) score files when the checkpoint
is the run's final one (a finished ``last.pt``), else those splits are scored
again with the checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pkd_toolkit import atomic
from pkd_toolkit.data.validation import has_validation, with_validation
from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.assembly import assemble
from pkd_toolkit.engine.loaders import resolve_workers
from pkd_toolkit.engine.monitor import Monitor
from pkd_toolkit.engine.runtime import start_runtime, stop_runtime
from pkd_toolkit.engine.scoring import write_score_files
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.pipeline.provenance import run_provenance
from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.recipe.loading import dump_recipe
from pkd_toolkit.recipe.resuming import check_same_recipe
from pkd_toolkit.report.build import build_report
from pkd_toolkit.run_folder.derived import new_output_folder, retest_folder
from pkd_toolkit.run_folder.layout import CHECKPOINTS_DIR, RECIPE_FILE, best_checkpoint, last_checkpoint, score_path
from pkd_toolkit.run_folder.lock import RunLock
from pkd_toolkit.run_folder.opening import load_run_recipe
from pkd_toolkit.run_folder.run import Run
from pkd_toolkit.scores.files import ScoreSet

TESTED_KEYS = (
    ("data",),
    ("modalities",),
    ("train", "device"),
    ("train", "amp"),
    ("train", "eval_batch_size"),
    ("train", "num_workers"),
    ("train", "deterministic"),
    ("ensembles",),
    ("early_exit",),
    ("report",),
)
"""The recipe keys ``pkd test`` honours: what a test scores (data and its test views, modalities), how it
computes, and how it is ensembled and reported. The others would need training."""


def retest(
    run_dir: Path,
    plugins: Plugins,
    *,
    checkpoint_name: str = "last",
    overrides: Sequence[str] = (),
    ignored: Sequence[str] = (),
    out: Path | None = None,
    command: str = "",
) -> tuple[Path, dict[str, Any]]:
    """Score the run's test split from a checkpoint; returns the test folder and its report.

    ``overrides`` change the run's recipe for the test (keys under
    :data:`TESTED_KEYS`: ``split_overrides`` sorts them); ``ignored`` are
    recorded in the report. Everything the user can get wrong is checked
    before anything is written.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UsageError("pkd test runs in one process: start it without torchrun")
    registry = plugins.registry
    trained = load_run_recipe(run_dir, registry)
    recipe = load_run_recipe(run_dir, registry, overrides)
    path = checkpoint_path(run_dir, checkpoint_name)
    state = checkpoint.load(path)
    if "model" not in state or "position" not in state:
        raise UsageError(f"{path}: not a checkpoint of a pkd-toolkit run (no model and position in it)")
    check_same_recipe(
        path, state.get("recipe", {}), trained.model_dump(mode="json"), "test it from the run folder that wrote it"
    )
    RunLock(run_dir).check_free()  # its checkpoints and score files are read: not while a run writes them
    label = Path(checkpoint_name).stem if checkpoint_name not in ("last", "best") else checkpoint_name
    folder = new_output_folder(out, "--out") if out is not None else retest_folder(run_dir, label)
    final = path.resolve() == last_checkpoint(run_dir).resolve() and bool(state.get("complete"))
    runtime = start_runtime(recipe.train)
    try:
        dataset = with_validation(registry.build("datasets", recipe.data), recipe)
        classes = list(dataset.classes)
        assembly = assemble(recipe, registry, len(classes))
        try:
            assembly.model.load_state_dict(state["model"])
        except RuntimeError as error:
            raise PkdError(f"{path}: does not fit the run's recipe ({str(error).strip().splitlines()[0]})") from None
        assembly.model.to(runtime.device).eval()
        folder.mkdir(parents=True, exist_ok=True)
        run = Run(folder, recipe, plugins, command=command, overrides=list(overrides), lock=RunLock(folder).acquire())
        try:
            atomic.write_text(folder / RECIPE_FILE, dump_recipe(recipe))
            report = _score_and_report(
                run, run_dir, state, path, final, assembly, dataset, classes, runtime, list(ignored)
            )
        finally:
            run.close()
    finally:
        stop_runtime(runtime)
    return folder, report


def _score_and_report(run, run_dir, state, path, final, assembly, dataset, classes, runtime, ignored) -> dict[str, Any]:
    monitor = Monitor(run.dir, tensorboard=False)
    try:
        monitor.info(f"testing {run_dir} from {path} ({position_text(state)}) into {run.dir}")
        started = time.monotonic()
        # The run's train (and validation) scores come from these very weights when the checkpoint is its final one.
        kept = ("train", "val") if has_validation(dataset) else ("train",)
        final = final and all(score_path(run_dir, s, split).is_file() for s in assembly.scored() for split in kept)
        workers = resolve_workers(run.recipe.train.num_workers, runtime).count
        splits = ("test",) if final else None
        score_sets = write_score_files(run, assembly, dataset, classes, runtime, monitor, workers, splits)
        if final:
            for schedule, sets in score_sets.items():
                sets.update({split: ScoreSet.load(score_path(run_dir, schedule, split)) for split in kept})
        scoring = round(time.monotonic() - started, 1)
        skipped = list(dataset.skipped())
        test = {
            "run": str(run_dir),
            "checkpoint": str(path),
            "position": position_text(state),
            "scored": ["test"] if final else [*kept, "test"],
            "ensembles_fitted_on": f"the run's own {' and '.join(kept)} score files (the same weights)"
            if final
            else f"the {' and '.join(kept)} split(s) scored again from this checkpoint",
            "ignored": ignored,
        }
        provenance = run_provenance(run, runtime, dataset, skipped, {"scores": scoring})
        extra = {"provenance": provenance, "skipped": skipped, "test": test}
        return build_report(
            run.dir, run.recipe, run.plugins.registry, score_sets, scoring, extra, progress=monitor.info
        )
    finally:
        monitor.close()


def checkpoint_path(run_dir: Path, name: str) -> Path:
    """The checkpoint ``--checkpoint`` names: ``last``, ``best`` (the last stage's best), ``best-<stage>``, or
    a file."""
    folder = run_dir / CHECKPOINTS_DIR
    present = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
    if name in ("last", "best") or name.startswith("best-"):
        if not present:
            raise UsageError(f"{run_dir}: has no checkpoints ({CHECKPOINTS_DIR}/ is missing or empty): nothing to test")
        if name == "last":
            path = last_checkpoint(run_dir)
        elif name == "best":
            bests = sorted(folder.glob("best-*.pt"), key=lambda p: p.stat().st_mtime)
            path = bests[-1] if bests else best_checkpoint(run_dir, "<stage>")
        else:
            path = folder / f"{name.removesuffix('.pt')}.pt"
        if not path.is_file():
            raise UsageError(f"--checkpoint {name}: {run_dir} has no such checkpoint (it has: {', '.join(present)})")
        return path
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"--checkpoint {name}: no such file (last, best, best-<stage> or a checkpoint file)")
    return path


def position_text(state: dict[str, Any]) -> str:
    """``the run's final weights``, or ``stage 2, after epoch 15 (its evaluation: 61.20)``."""
    if state.get("complete"):
        return "the run's final weights"
    position = state.get("position", {})
    record = state.get("metrics") or {}
    evaluation = f" (its validation top-1: {100 * record['val_top1']:.2f})" if "val_top1" in record else ""
    return f"stage {position.get('stage_index', 0) + 1}, after epoch {position.get('epoch')}{evaluation}"
