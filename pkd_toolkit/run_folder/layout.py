"""What a run folder holds, and the path of each part: the one description of the layout.

::

    recipe.yaml                       the resolved recipe (every default written out)
    run.lock                          locked while a process writes into the folder; holds its process id
    run.log                           the log
    metrics.jsonl                     one JSON object per epoch and evaluation
    tensorboard/                      the same scalars for TensorBoard (`tensorboard --logdir RUN_DIR`)
    checkpoints/last.pt               the latest checkpoint (everything needed to resume)
    checkpoints/best-<stage>.pt       the checkpoint of the stage's best evaluation
    scores/<schedule>/<split>.npz     per-exit logits of each split (what ensembles fit on)
    ensembles/<schedule>/fitted/<ensemble>.json   each fitted ensembler (what `pkd predict` loads)
    ensembles/<schedule>/report.json  that schedule's ensembles and early-exit points
    ensembles/<schedule>/early_exit.md, early_exit.png   its accuracy-versus-cost table and plot
    confusion/<schedule>/<network>-<exit>.csv, .png       confusion matrices of the test split, per exit
    confusion/<schedule>/ensembles/<ensemble>.csv, .png   ... and per full ensemble
    training_curves.png               loss per objective and the periodic evaluation, per stage
    notes.json                        decisions taken while training (e.g. a teacher order chosen from accuracies)
    report.json, report.md            the run's report (it opens with how it was produced)
    tests/<name>/                     `pkd test`: the test split scored again from a checkpoint, with its
                                      own recipe.yaml, scores/, ensembles/, confusion/ and report (never
                                      the training report's files)

A folder of several seeds (``pkd run RECIPE --seeds 0,1,2``) holds one run
folder per seed, ``seed-<seed>/``, and their summary, ``seeds.json`` and
``seeds.md`` (mean and standard deviation over the seeds).

``<schedule>`` is a schedule's label, or ``backbone`` for the networks' own
heads after stage (a). Every name that becomes part of a path here (labels,
stage, network and exit names, which plugins may define) is checked: a name
that would climb out of the run folder or hide in it raises :class:`PkdError`
(recipes and schedules are checked before a run starts; this is the last guard).
"""

from __future__ import annotations

from pathlib import Path

from pkd_toolkit.errors import PkdError
from pkd_toolkit.plugin.registry import file_name_problem

RECIPE_FILE = "recipe.yaml"
LOCK_FILE = "run.lock"
LOG_FILE = "run.log"
METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"
CHECKPOINTS_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"
SCORES_DIR = "scores"
ENSEMBLES_DIR = "ensembles"
FITTED_DIR = "fitted"
ENSEMBLES_REPORT = "report.json"
EARLY_EXIT_TABLE = "early_exit.md"
EARLY_EXIT_PLOT = "early_exit.png"
CONFUSION_DIR = "confusion"
NOTES_FILE = "notes.json"
REPORT_FILE = "report.json"
MARKDOWN_FILE = "report.md"
TRAINING_CURVES = "training_curves.png"
TESTS_DIR = "tests"
SEEDS_REPORT = "seeds.json"
SEEDS_MARKDOWN = "seeds.md"

BACKBONE_SCHEDULE = "backbone"
"""The schedule name of the networks' own heads after stage (a): the baseline every schedule is compared with."""


def last_checkpoint(run_dir: Path) -> Path:
    return run_dir / CHECKPOINTS_DIR / LAST_CHECKPOINT


def best_checkpoint(run_dir: Path, stage: str) -> Path:
    return run_dir / CHECKPOINTS_DIR / f"best-{_part('stage', stage)}.pt"


def score_path(run_dir: Path, schedule: str, split: str) -> Path:
    return run_dir / SCORES_DIR / _part("schedule", schedule) / f"{_part('split', split)}.npz"


def ensembles_dir(run_dir: Path, schedule: str) -> Path:
    return run_dir / ENSEMBLES_DIR / _part("schedule", schedule)


def fitted_path(run_dir: Path, schedule: str, label: str) -> Path:
    """Where the fitted ensembler ``label`` of ``schedule`` is saved."""
    return ensembles_dir(run_dir, schedule) / FITTED_DIR / f"{_part('ensemble', label)}.json"


def confusion_stem(run_dir: Path, schedule: str, network: str, exit_name: str) -> Path:
    """``confusion/<schedule>/<network>-<exit>``: add ``.csv`` or ``.png``."""
    return run_dir / CONFUSION_DIR / _part("schedule", schedule) / f"{_part('network', network)}-{_part('exit', exit_name)}"


def ensemble_confusion_stem(run_dir: Path, schedule: str, label: str) -> Path:
    """``confusion/<schedule>/ensembles/<label>``: add ``.csv`` or ``.png``."""
    return run_dir / CONFUSION_DIR / _part("schedule", schedule) / ENSEMBLES_DIR / _part("ensemble", label)


def tests_dir(run_dir: Path) -> Path:
    """Where ``pkd test`` puts its reports, one sub-folder each."""
    return run_dir / TESTS_DIR


def seed_run_dir(parent: Path, seed: int) -> Path:
    """The run folder of one seed in a folder of several seeds."""
    return parent / f"seed-{seed}"


def _part(what: str, name: str) -> str:
    problem = file_name_problem(name)
    if problem is not None:
        raise PkdError(f"the {what} name {problem}")
    return name
