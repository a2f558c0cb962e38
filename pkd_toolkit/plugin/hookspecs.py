"""The plugin contract: every extension point of pkd-toolkit, one documented, typed hook each.

Plugins implement these with ``@hookimpl`` from :mod:`pkd_toolkit.api`.
Registration hooks (``pkd_add_*``) receive a :class:`~pkd_toolkit.plugin.registry.Registrar`
and call ``registry.add(name, factory, config=Model)``; they run once, when
plugins are loaded, and must stay cheap: import torch and friends inside the
factory, not at module level, so that ``pkd --help`` and ``pkd list-plugins``
stay fast. Lifecycle hooks are called by the engine during a run; every
implementation is called, and their return values are ignored; one that raises
stops the run with a message naming its plugin (``docs/hooks.md`` says why).

``docs/hooks.md`` holds a section per hook whose heading lists the hook's
arguments; a test checks both against these specs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pluggy

from pkd_toolkit import PROJECT_NAME

if TYPE_CHECKING:  # types only: this module must stay importable without torch
    import typer

    from pkd_toolkit.engine.stages import Stage
    from pkd_toolkit.plugin.registry import Registrar
    from pkd_toolkit.run_folder.run import Run

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -- registration hooks ------------------------------------------------------


@hookspec
def pkd_add_datasets(registry: Registrar) -> None:
    """Register dataset components: where clips and labels come from.

    ``factory(config)`` returns a :class:`pkd_toolkit.api.Dataset`: ``classes``,
    ``split(name, *, modalities, training)`` returning a torch dataset of clips,
    ``videos(name)``, ``open_file(path, *, modalities)`` (a :class:`pkd_toolkit.api.FileInputs`:
    one file's test-time inputs, read when asked for) and ``skipped()``.
    """


@hookspec
def pkd_add_modalities(registry: Registrar) -> None:
    """Register modality components: what a network sees of a clip.

    ``factory(config)`` returns a :class:`pkd_toolkit.api.Modality` (``name``
    and ``channels``); the dataset component decides how to produce it (a
    video dataset decodes I-frames, motion vectors or residuals).
    """


@hookspec
def pkd_add_backbones(registry: Registrar) -> None:
    """Register backbone components: feature extractors with named stages.

    ``factory(config, *, in_chans, num_classes, load_pretrained=True,
    weight_sources)`` returns a :class:`pkd_toolkit.api.Backbone`; with
    ``load_pretrained=False`` it builds the architecture without reading any
    weights (``pkd summary``); ``weight_sources`` (a
    :class:`pkd_toolkit.api.WeightSources`) gives the registered weight sources
    by name.
    """


@hookspec
def pkd_add_exits(registry: Registrar) -> None:
    """Register exit components: internal classifiers attached to a backbone stage.

    ``factory(config, *, channels, num_classes)`` returns a ``torch.nn.Module``
    mapping a stage's feature map ``[N, channels, H, W]`` to logits ``[N, num_classes]``.
    The config model must derive from :class:`pkd_toolkit.api.ExitConfig`,
    which carries the stage it is attached to (``at``).
    """


@hookspec
def pkd_add_schedules(registry: Registrar) -> None:
    """Register distillation schedule components: how exits or networks are trained.

    ``factory(config)`` returns an object whose ``plan(context)`` takes a
    :class:`pkd_toolkit.api.ScheduleContext` and gives the engine a
    :class:`pkd_toolkit.api.SchedulePlan` (its stages).
    """


@hookspec
def pkd_add_ensemblers(registry: Registrar) -> None:
    """Register ensembler components: how the exits' logits become one prediction.

    ``factory(config)`` returns a :class:`pkd_toolkit.api.Ensembler`:
    ``order``, ``fit(scores)`` on a held-out or train split's score files,
    ``stage_logits(exit_logits)`` (the ensemble at each stage of the order) and
    a JSON-able ``state_dict()``/``load_state_dict()``.
    """


@hookspec
def pkd_add_weight_sources(registry: Registrar) -> None:
    """Register weight sources: named pretrained weights a backbone's ``pretrained:`` may ask for.

    ``factory(config)`` returns a :class:`pkd_toolkit.api.WeightSource`:
    ``state_dict(architecture)`` gives the weights for that architecture (a timm
    model name for the built-in backbone) in its key layout, or raises
    ``PkdError`` naming what is missing (a package to install, a file).
    """


@hookspec
def pkd_add_commands(cli: typer.Typer) -> None:
    """Add sub-commands to the ``pkd`` command line.

    ``cli`` is the :class:`typer.Typer` application; decorate functions with
    ``@cli.command()``. Keep heavy imports inside the command functions.
    """


# -- lifecycle hooks: loggers and callbacks ------------------------------------


@hookspec
def pkd_run_start(run: Run) -> None:
    """A run starts; ``run`` is the :class:`pkd_toolkit.api.Run` (folder, recipe, plugins)."""


@hookspec
def pkd_run_end(run: Run, report: dict[str, Any]) -> None:
    """A run finished; ``report`` is the dict written to ``report.json``."""


@hookspec
def pkd_stage_start(run: Run, stage: Stage) -> None:
    """A training stage starts; ``stage`` is a :class:`pkd_toolkit.api.Stage`."""


@hookspec
def pkd_stage_end(run: Run, stage: Stage, metrics: dict[str, float]) -> None:
    """A training stage finished; ``metrics`` holds its last epoch's metrics."""


@hookspec
def pkd_epoch_end(run: Run, stage: Stage, epoch: int, metrics: dict[str, float]) -> None:
    """An epoch of ``stage`` ended; ``metrics`` maps names to floats (losses, accuracies, lr)."""


@hookspec
def pkd_checkpoint_saved(run: Run, path: Path, kind: Literal["last", "best"]) -> None:
    """A checkpoint was written atomically to ``path``; ``kind`` is ``"last"`` or ``"best"``."""
