"""One run = one folder: the resolved recipe, logs, metrics, checkpoints, score files and the report.

Layout of a run folder::

    recipe.yaml         the resolved recipe (every default written out)
    run.log             the log
    metrics.jsonl       one JSON object per epoch and evaluation
    checkpoints/        last.pt and best.pt per stage
    scores/             per-exit logits of each split (for ensemblers)
    report.json         the results; report.md and plots beside it
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pkd_toolkit import atomic
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugins import Plugins
from pkd_toolkit.recipe import dump_recipe, load_recipe
from pkd_toolkit.settings import RecipeBase

RECIPE_FILE = "recipe.yaml"
REPORT_FILE = "report.json"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.pt"


@dataclass
class Run:
    """A run in progress: its folder, its recipe and the plugins it was started with."""

    dir: Path
    recipe: RecipeBase
    plugins: Plugins
    resume_from: Path | None = None
    started: float = field(default_factory=time.time)

    @property
    def hook(self) -> Any:
        return self.plugins.hook

    def path(self, *parts: str) -> Path:
        return self.dir.joinpath(*parts)


def start_run(
    recipe: RecipeBase, plugins: Plugins, *, run_dir: Path | None = None, resume: str | None = None
) -> Run:
    """Open the run folder (rank 0 does; torchrun's other processes are told where) and run the pipeline."""
    from pkd_toolkit.engine.runtime import share_from_main, start_runtime, stop_runtime
    from pkd_toolkit.pipeline import run_pipeline

    runtime = start_runtime(recipe.train)
    try:
        # The data first: a recipe whose data are missing leaves no run folder behind.
        dataset = plugins.registry.get("datasets", recipe.data.name).build(recipe.data)
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
        run_pipeline(run, runtime, dataset, classes)
    finally:
        stop_runtime(runtime)
    return run


def open_run(recipe: RecipeBase, plugins: Plugins, *, run_dir: Path | None = None, resume: str | None = None) -> Run:
    """Create (or reopen, when resuming) the run folder and write the resolved recipe into it."""
    checkpoint = None
    if resume is not None:
        run_dir, checkpoint = _resume_target(recipe, resume, run_dir)
    if run_dir is None:
        run_dir = _new_run_dir(recipe)
    elif checkpoint is None and run_dir.exists() and any(run_dir.iterdir()):
        raise UsageError(
            f"{run_dir}: the folder already holds files; choose another --run-dir, "
            "or continue that run with --resume"
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic.write_text(run_dir / RECIPE_FILE, dump_recipe(recipe))
    except OSError as error:
        raise PkdError(f"{run_dir}: cannot write the run folder: {error.strerror or error}") from None
    return Run(run_dir, recipe, plugins, resume_from=checkpoint)


def load_run_recipe(run_dir: Path, registry: Any, overrides: Iterable[str] = ()) -> RecipeBase:
    """The resolved recipe of an existing run folder, with ``--set`` overrides applied."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run folder")
    recipe_file = run_dir / RECIPE_FILE
    if not recipe_file.is_file():
        raise PkdError(f"{run_dir}: not a run folder (it has no {RECIPE_FILE}, which `pkd run` writes first)")
    return load_recipe(recipe_file, registry, overrides)


def runs_of(recipe: RecipeBase) -> Path:
    return recipe.output_dir / recipe.name


def _new_run_dir(recipe: RecipeBase) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate, count = runs_of(recipe) / stamp, 1
    while candidate.exists():
        count += 1
        candidate = runs_of(recipe) / f"{stamp}-{count}"
    return candidate


def _resume_target(recipe: RecipeBase, resume: str, run_dir: Path | None) -> tuple[Path | None, Path | None]:
    """(run folder, checkpoint) to continue from; ``(run_dir, None)`` when ``auto`` finds nothing."""
    if resume == "auto":
        unfinished = [
            last.parent.parent
            for last in runs_of(recipe).glob(f"*/{CHECKPOINTS}/{LAST_CHECKPOINT}")
            if not (last.parent.parent / REPORT_FILE).exists()
        ]
        if run_dir is not None:
            unfinished = [folder for folder in unfinished if folder.resolve() == run_dir.resolve()]
        if not unfinished:
            return run_dir, None
        newest = max(unfinished, key=lambda folder: (folder / CHECKPOINTS / LAST_CHECKPOINT).stat().st_mtime)
        return newest, newest / CHECKPOINTS / LAST_CHECKPOINT
    target = Path(resume)
    if target.is_dir():
        checkpoint = target / CHECKPOINTS / LAST_CHECKPOINT
        if not checkpoint.is_file():
            raise UsageError(f"--resume {resume}: no {CHECKPOINTS}/{LAST_CHECKPOINT} in that folder")
        return target, checkpoint
    if not target.is_file():
        raise UsageError(f"--resume {resume}: no such run folder or checkpoint file")
    inside_run = target.parent.name == CHECKPOINTS
    return (target.parent.parent if inside_run else run_dir), target
