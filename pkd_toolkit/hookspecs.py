"""The plugin contract: every extension point of pkd-toolkit, one documented hook each.

Plugins implement these with ``@pkd_toolkit.hookimpl``. Registration hooks
(``pkd_add_*``) receive a :class:`~pkd_toolkit.registry.Registrar` and call
``registry.add(name, factory, config=Model)``; they run once, when plugins are
loaded, and must stay cheap: import torch and friends inside the factory, not at
module level, so that ``pkd --help`` and ``pkd list-plugins`` stay fast.
Lifecycle hooks are called by the engine during a run; every implementation is
called, and their return values are ignored.

``docs/hooks.md`` holds a section per hook; a test checks that it does.
"""

from __future__ import annotations

import pluggy

from pkd_toolkit import PROJECT_NAME

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -- registration hooks ------------------------------------------------------


@hookspec
def pkd_add_datasets(registry):
    """Register dataset components: where clips and labels come from.

    ``factory(config)`` returns an object with ``classes`` (list of class names)
    and ``split(name, *, modalities, training)`` returning a torch dataset of
    clips; see :mod:`pkd_toolkit.data` for the full protocol.
    """


@hookspec
def pkd_add_modalities(registry):
    """Register modality components: what a network sees of a clip.

    ``factory(config)`` returns an object with ``name`` and ``channels``; the
    dataset component decides how to produce it (a video dataset decodes I-frames,
    motion vectors or residuals).
    """


@hookspec
def pkd_add_backbones(registry):
    """Register backbone components: feature extractors with named stages.

    ``factory(config, *, in_chans, num_classes, load_pretrained=True)`` returns
    a :class:`pkd_toolkit.exits.Backbone`; with ``load_pretrained=False`` it
    builds the architecture without reading any weights file (``pkd summary``).
    """


@hookspec
def pkd_add_exits(registry):
    """Register exit components: internal classifiers attached to a backbone stage.

    ``factory(config, *, channels, num_classes)`` returns a ``torch.nn.Module``
    mapping a stage's feature map ``[N, channels, H, W]`` to logits ``[N, num_classes]``.
    The config model must derive from :class:`pkd_toolkit.settings.ExitConfig`,
    which carries the stage it is attached to (``at``).
    """


@hookspec
def pkd_add_schedules(registry):
    """Register distillation schedule components: how exits or networks are trained.

    ``factory(config)`` returns an object whose ``plan(context)`` gives the engine
    its stages; see :mod:`pkd_toolkit.engine.stages`.
    """


@hookspec
def pkd_add_ensemblers(registry):
    """Register ensembler components: how the exits' logits become one prediction.

    ``factory(config)`` returns an :class:`pkd_toolkit.ensemble.Ensembler`:
    ``order``, ``fit(scores)`` on the train split's score files,
    ``stage_logits(exit_logits)`` (the ensemble at each stage of the order) and
    a JSON-able ``state_dict()``/``load_state_dict()``.
    """


@hookspec
def pkd_add_commands(cli):
    """Add sub-commands to the ``pkd`` command line.

    ``cli`` is the :class:`typer.Typer` application; decorate functions with
    ``@cli.command()``. Keep heavy imports inside the command functions.
    """


# -- lifecycle hooks: loggers and callbacks ------------------------------------


@hookspec
def pkd_run_start(run):
    """A run starts; ``run`` is the :class:`pkd_toolkit.run.Run` (folder, recipe, logger)."""


@hookspec
def pkd_run_end(run, report):
    """A run finished; ``report`` is the dict written to ``report.json``."""


@hookspec
def pkd_stage_start(run, stage):
    """A training stage starts; ``stage`` is a :class:`pkd_toolkit.engine.stages.Stage`."""


@hookspec
def pkd_stage_end(run, stage, metrics):
    """A training stage finished; ``metrics`` holds its last epoch's metrics."""


@hookspec
def pkd_epoch_end(run, stage, epoch, metrics):
    """An epoch of ``stage`` ended; ``metrics`` maps names to floats (losses, accuracies, lr)."""


@hookspec
def pkd_checkpoint_saved(run, path, kind):
    """A checkpoint was written atomically to ``path``; ``kind`` is ``"last"`` or ``"best"``."""
