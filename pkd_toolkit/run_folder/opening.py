"""Opening a run folder: a new one, one to resume, or a finished one to read; its recipe."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from pkd_toolkit import atomic
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.loading import dump_recipe, load_recipe
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.run_folder.layout import CHECKPOINTS_DIR, LAST_CHECKPOINT, RECIPE_FILE, REPORT_FILE, last_checkpoint
from pkd_toolkit.run_folder.run import Run


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


def load_run_recipe(run_dir: Path, registry: ComponentRegistry, overrides: Iterable[str] = ()) -> RecipeBase:
    """The resolved recipe of an existing run folder, with ``--set`` overrides applied."""
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run folder")
    recipe_file = run_dir / RECIPE_FILE
    if not recipe_file.is_file():
        raise UsageError(f"{run_dir}: not a run folder (it has no {RECIPE_FILE}, which `pkd run` writes first)")
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
            for last in runs_of(recipe).glob(f"*/{CHECKPOINTS_DIR}/{LAST_CHECKPOINT}")
            if not (last.parent.parent / REPORT_FILE).exists()
        ]
        if run_dir is not None:
            unfinished = [folder for folder in unfinished if folder.resolve() == run_dir.resolve()]
        if not unfinished:
            return run_dir, None
        newest = max(unfinished, key=lambda folder: last_checkpoint(folder).stat().st_mtime)
        return newest, last_checkpoint(newest)
    target = Path(resume)
    if target.is_dir():
        checkpoint = last_checkpoint(target)
        if not checkpoint.is_file():
            raise UsageError(f"--resume {resume}: no {CHECKPOINTS_DIR}/{LAST_CHECKPOINT} in that folder")
        return target, checkpoint
    if not target.is_file():
        raise UsageError(f"--resume {resume}: no such run folder or checkpoint file")
    inside_run = target.parent.name == CHECKPOINTS_DIR
    return (target.parent.parent if inside_run else run_dir), target
