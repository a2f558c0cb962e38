"""Opening a run folder: a new one, one to resume, or a finished one to read; its recipe.

A folder is opened locked (:mod:`~pkd_toolkit.run_folder.lock`) for the whole
run, and nothing is written into an existing folder before every check has
passed: a refused ``--run-dir`` or ``--resume`` leaves the folder as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from pkd_toolkit import atomic
from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.manager import Plugins
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.loading import dump_recipe, load_recipe
from pkd_toolkit.recipe.resuming import check_same_recipe
from pkd_toolkit.recipe.settings import RecipeBase
from pkd_toolkit.recipe.yaml_source import read_yaml
from pkd_toolkit.run_folder.layout import (
    CHECKPOINTS_DIR,
    LAST_CHECKPOINT,
    LOCK_FILE,
    RECIPE_FILE,
    REPORT_FILE,
    last_checkpoint,
)
from pkd_toolkit.run_folder.lock import RunLock
from pkd_toolkit.run_folder.run import Run


def open_run(recipe: RecipeBase, plugins: Plugins, *, run_dir: Path | None = None, resume: str | None = None) -> Run:
    """Create (or reopen, when resuming) the run folder, locked, with the resolved recipe written into it.

    ``resume`` is ``auto``, a run folder or a checkpoint file. A run folder
    without a checkpoint (the run stopped before its first one) starts again
    from the beginning, with the recipe it was started with. The returned run
    holds the folder's lock until :meth:`Run.close`.
    """
    checkpoint, existing = None, False
    if resume is not None:
        run_dir, checkpoint, existing = _resume_target(recipe, resume, run_dir)
    fresh = checkpoint is None and not existing
    if run_dir is not None and run_dir.is_dir():
        RunLock(run_dir).check_free()  # a folder in use is that, whatever it holds
    if run_dir is not None and existing:
        _check_folder_recipe(run_dir, recipe)
    elif run_dir is not None and fresh:
        _check_empty(run_dir)
    lock = _create_locked(run_dir if run_dir is not None else _new_run_dir(recipe))
    try:
        if fresh:
            _check_empty(lock.run_dir)  # again, now that no other process can be writing into it
        _write(lock.run_dir / RECIPE_FILE, dump_recipe(recipe))
    except BaseException:
        lock.release()
        raise
    return Run(lock.run_dir, recipe, plugins, resume_from=checkpoint, lock=lock)


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


def _create_locked(run_dir: Path) -> RunLock:
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"{run_dir}: is a file, not a run folder; choose a new or empty folder for --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{run_dir}: cannot create the run folder: {error.strerror or error}") from None
    return RunLock(run_dir).acquire()


def _write(path: Path, text: str) -> None:
    try:
        atomic.write_text(path, text)
    except OSError as error:
        raise UsageError(f"{path.parent}: cannot write the run folder: {error.strerror or error}") from None


def _check_empty(run_dir: Path) -> None:
    """Refuse a --run-dir that holds anything (but a lock file), saying what to do with what it holds."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"{run_dir}: is a file, not a run folder; choose a new or empty folder for --run-dir")
    if not run_dir.is_dir() or not [entry for entry in run_dir.iterdir() if entry.name != LOCK_FILE]:
        return
    if (run_dir / REPORT_FILE).exists():
        state = "holds a finished run; choose another --run-dir (`pkd eval` re-evaluates this one)"
    elif last_checkpoint(run_dir).is_file():
        state = (
            f"holds an unfinished run; continue it with `pkd run RECIPE --resume {run_dir}`, "
            "or choose another --run-dir"
        )
    elif (run_dir / RECIPE_FILE).is_file():
        state = (
            "holds a run that stopped before its first checkpoint; start it again from the beginning with "
            f"`pkd run RECIPE --resume {run_dir}`, or choose another --run-dir"
        )
    else:
        state = "already holds files that are not a run; choose a new or empty folder for --run-dir"
    raise UsageError(f"{run_dir}: {state}")


def _check_folder_recipe(run_dir: Path, recipe: RecipeBase) -> None:
    """Refuse to resume a folder another recipe started (read only: nothing is written yet)."""
    recipe_file = run_dir / RECIPE_FILE
    if recipe_file.is_file():
        check_same_recipe(recipe_file, read_yaml(recipe_file).data or {}, recipe.model_dump(mode="json"))


def _resume_target(recipe: RecipeBase, resume: str, run_dir: Path | None) -> tuple[Path | None, Path | None, bool]:
    """(run folder, checkpoint to continue from, whether the folder is an existing run's) for ``--resume``."""
    if resume == "auto":
        unfinished = [
            last.parent.parent
            for last in runs_of(recipe).glob(f"*/{CHECKPOINTS_DIR}/{LAST_CHECKPOINT}")
            if not (last.parent.parent / REPORT_FILE).exists()
        ]
        if run_dir is not None:
            unfinished = [folder for folder in unfinished if folder.resolve() == run_dir.resolve()]
        if not unfinished:
            return run_dir, None, False
        newest = max(unfinished, key=lambda folder: last_checkpoint(folder).stat().st_mtime)
        return newest, last_checkpoint(newest), True
    target = Path(resume)
    if target.is_dir():
        checkpoint = last_checkpoint(target)
        if checkpoint.is_file():
            return target, checkpoint, True
        if (target / RECIPE_FILE).is_file():  # stopped before its first checkpoint: start it again
            return target, None, True
        raise UsageError(f"--resume {resume}: not a run folder (it has neither {RECIPE_FILE} nor a checkpoint)")
    if not target.is_file():
        raise UsageError(f"--resume {resume}: no such run folder or checkpoint file")
    inside_run = target.parent.name == CHECKPOINTS_DIR
    return (target.parent.parent if inside_run else run_dir), target, inside_run
