"""Everything a plugin may import from pkd-toolkit's core, and nothing else.

Built-in plugins and third-party plugins use this module alone (a test checks
the built-ins and the example plugin); what is not here may change without
notice. Importing it stays light: the names that need torch or numpy
(networks, stages, score files, ensembles) are imported on first use, so a
plugin's hook module can import what it needs at the top and ``pkd --help``
still loads no torch.

The contract, by step of a run:

- hooks: :data:`hookimpl`; registrars (:class:`Registrar`) and config bases
  (:class:`ComponentConfig`, :class:`ExitConfig` with :data:`StageRef`, :class:`ScheduleConfig`,
  :class:`ExitScheduleConfig`, :class:`OptimizerSettings`,
  :class:`SchedulerSettings`, :func:`check_known`);
- data: :class:`Dataset`, :class:`FileInputs`, :class:`Modality`, :class:`Clip`,
  :class:`ClipBatch`, :class:`SkippedSample`;
- networks: :class:`Backbone`, :class:`StageInfo`, :class:`ExitHead`,
  :class:`ExitOutputs`, :class:`MultiExitNetwork`, :data:`FINAL`, :func:`meta_copy`,
  :class:`WeightSource`, :class:`WeightSources`;
- schedules: :class:`Objective`, :class:`Stage`, :class:`StepContext`,
  :class:`ScheduleContext`, :class:`SchedulePlan`, :func:`seeded`;
- ensembles: :class:`Ensembler`, :class:`ScoreSet`, :class:`ExitScores`,
  :func:`default_order`, :func:`resolve_order`, :func:`member_logits`,
  :func:`network_of`, :func:`topk_accuracy`;
- runs: :class:`Run` (what lifecycle hooks receive);
- the house: :class:`PkdError`, :class:`UsageError`, :class:`Interrupted`, :func:`with_article`, :mod:`console`,
  :func:`atomic_path`, :func:`write_text`, :func:`write_json`, :func:`writable_folder`,
  :func:`import_timm`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pkd_toolkit import __version__, console, hookimpl
from pkd_toolkit.atomic import atomic_path, writable_folder, write_json, write_text
from pkd_toolkit.data.protocol import Clip, ClipBatch, Dataset, FileInputs, Modality, SkippedSample, Split
from pkd_toolkit.errors import Interrupted, PkdError, UsageError, with_article
from pkd_toolkit.networks import FINAL
from pkd_toolkit.plugin.registry import ComponentConfig, Registrar, choices_hint
from pkd_toolkit.recipe.base import Presets
from pkd_toolkit.recipe.selection import DatasetConfig
from pkd_toolkit.recipe.settings import (
    ExitConfig,
    ExitScheduleConfig,
    OptimizerSettings,
    ScheduleConfig,
    SchedulerSettings,
    StageRef,
    check_all_known,
    check_known,
)
from pkd_toolkit.torch_compat import import_timm

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from pkd_toolkit.engine.runtime import seeded
    from pkd_toolkit.engine.stages import Objective, ScheduleContext, SchedulePlan, Stage, StepContext
    from pkd_toolkit.ensembles.protocol import Ensembler, default_order, member_logits, network_of, resolve_order
    from pkd_toolkit.networks.cost import meta_copy
    from pkd_toolkit.networks.multi_exit import Backbone, ExitHead, ExitOutputs, MultiExitNetwork, StageInfo
    from pkd_toolkit.networks.weight_sources import WeightSource, WeightSources
    from pkd_toolkit.run_folder.run import Run
    from pkd_toolkit.scores.files import ExitScores, ScoreSet
    from pkd_toolkit.scores.metrics import topk_accuracy

# Heavy names (torch, numpy): the module that defines each, imported on first use.
_LAZY = {
    "Backbone": "pkd_toolkit.networks.multi_exit",
    "StageInfo": "pkd_toolkit.networks.multi_exit",
    "ExitHead": "pkd_toolkit.networks.multi_exit",
    "ExitOutputs": "pkd_toolkit.networks.multi_exit",
    "MultiExitNetwork": "pkd_toolkit.networks.multi_exit",
    "meta_copy": "pkd_toolkit.networks.cost",
    "Objective": "pkd_toolkit.engine.stages",
    "Stage": "pkd_toolkit.engine.stages",
    "StepContext": "pkd_toolkit.engine.stages",
    "ScheduleContext": "pkd_toolkit.engine.stages",
    "SchedulePlan": "pkd_toolkit.engine.stages",
    "seeded": "pkd_toolkit.engine.runtime",
    "Ensembler": "pkd_toolkit.ensembles.protocol",
    "default_order": "pkd_toolkit.ensembles.protocol",
    "resolve_order": "pkd_toolkit.ensembles.protocol",
    "member_logits": "pkd_toolkit.ensembles.protocol",
    "network_of": "pkd_toolkit.ensembles.protocol",
    "ScoreSet": "pkd_toolkit.scores.files",
    "ExitScores": "pkd_toolkit.scores.files",
    "topk_accuracy": "pkd_toolkit.scores.metrics",
    "Run": "pkd_toolkit.run_folder.run",
    "WeightSource": "pkd_toolkit.networks.weight_sources",
    "WeightSources": "pkd_toolkit.networks.weight_sources",
}

__all__ = [  # the light names, then the heavy ones of _LAZY
    "__version__",
    "atomic_path",
    "check_all_known",
    "check_known",
    "choices_hint",
    "Clip",
    "ClipBatch",
    "ComponentConfig",
    "console",
    "Dataset",
    "DatasetConfig",
    "ExitConfig",
    "ExitScheduleConfig",
    "FileInputs",
    "FINAL",
    "hookimpl",
    "import_timm",
    "Interrupted",
    "Modality",
    "OptimizerSettings",
    "PkdError",
    "Presets",
    "Registrar",
    "ScheduleConfig",
    "SchedulerSettings",
    "SkippedSample",
    "Split",
    "StageRef",
    "UsageError",
    "with_article",
    "writable_folder",
    "write_json",
    "write_text",
    "Backbone",
    "StageInfo",
    "ExitHead",
    "ExitOutputs",
    "MultiExitNetwork",
    "meta_copy",
    "Objective",
    "Stage",
    "StepContext",
    "ScheduleContext",
    "SchedulePlan",
    "seeded",
    "Ensembler",
    "default_order",
    "resolve_order",
    "member_logits",
    "network_of",
    "ScoreSet",
    "ExitScores",
    "topk_accuracy",
    "Run",
    "WeightSource",
    "WeightSources",
]


def __getattr__(name: str) -> Any:
    """Import a heavy name's module the first time a plugin asks for it (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"pkd_toolkit.api has no {name!r}: a plugin may use only what it lists")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
