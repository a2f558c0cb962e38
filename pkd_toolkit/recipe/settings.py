"""The core's own recipe sections: networks, training, evaluation.

Component sections (``data``, ``modalities``, ``backbone``, ``exits``,
``schedules``, ``ensembles``) are validated by the config models their plugins
register; :mod:`pkd_toolkit.recipe` assembles the full model. Models here are
plain pydantic, refuse unknown keys, and import no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator

from pkd_toolkit.plugin.registry import ComponentConfig
from pkd_toolkit.recipe.base import (  # noqa: F401 - check_all_known, known_names, Presets: re-exported for plugins
    PositiveFloat,
    PositiveInt,
    Presets,
    StrictModel,
    check_all_known,
    check_known,
    known_names,
)
from pkd_toolkit.recipe.selection import ReportSettings, SelectionSettings


class OptimizerSettings(StrictModel):
    """An optimizer built by timm's ``create_optimizer_v2`` ('sgd' has plain momentum, 'nesterov' Nesterov's)."""

    name: Literal["sgd", "nesterov", "adam", "adamw", "nadam", "radam", "rmsprop", "lamb", "lion"] = Field(
        default="adam", description="the optimizer"
    )
    lr: PositiveFloat = Field(default=1e-3, description="learning rate (see lr_per_network)")
    weight_decay: Annotated[float, Field(ge=0)] = Field(default=0.0, description="weight decay")
    momentum: Annotated[float, Field(ge=0, lt=1)] = Field(default=0.9, description="momentum (SGD, RMSprop)")
    eps: PositiveFloat | None = Field(default=None, description="Adam-family epsilon; the published PKD code uses 1e-3")
    lr_per_network: dict[str, PositiveFloat] = Field(
        default_factory=dict, description="learning rate of each network's parameters, overriding lr"
    )

    @field_validator("lr_per_network")
    @classmethod
    def _networks_exist(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        for name in value:
            check_known(name, info, "networks")
        return value


class SchedulerSettings(StrictModel):
    """Learning-rate schedule, stepped once per epoch."""

    name: Literal["constant", "step", "cosine"] = Field(
        default="step", description="constant; step (multiply by gamma at each milestone); cosine (to 0 at the end)"
    )
    milestones: list[PositiveInt] = Field(default_factory=list, description="step: epochs where lr is multiplied by gamma")
    gamma: PositiveFloat = Field(default=0.1, description="step: the factor applied at each milestone")
    warmup_epochs: Annotated[int, Field(ge=0)] = Field(default=0, description="epochs of linear warm-up first")


class StageSettings(StrictModel):
    """How long and with what one training stage runs."""

    epochs: Annotated[int, Field(ge=0)] = Field(default=1, description="epochs of the stage (0 skips it)")
    optimizer: OptimizerSettings = Field(default_factory=OptimizerSettings, description="one optimizer per network")
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings, description="learning-rate schedule")


def section_label(section: ComponentConfig) -> str:
    """What names a component section in run folders and reports: its ``label``, else its component's name."""
    return getattr(section, "label", None) or section.name  # type: ignore[attr-defined]


class ScheduleConfig(ComponentConfig):
    """Base of schedule configs: a label (defaults to the component's name) naming its stages and score files."""

    label: str | None = Field(
        default=None,
        description="names this schedule's results (needed when one schedule is used twice); like every label, "
        "checked to name a file",
    )


class ExitScheduleConfig(ScheduleConfig, StageSettings):
    """A schedule that trains early exits on frozen backbones."""

    networks: list[str] | None = Field(default=None, description="networks whose exits it trains (default: all)")

    @field_validator("networks")
    @classmethod
    def _networks_exist(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        for name in value or []:
            check_known(name, info, "networks")
        return value


class BackboneTraining(StageSettings):
    """Stage (a): each network's backbone trained with cross entropy on its final head."""


class TrainSettings(StrictModel):
    """Engine settings shared by every stage."""

    device: str = Field(
        default="auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$",
        description="auto (CUDA when there is a GPU), cpu, cuda, cuda:N or mps; under torchrun each process takes "
        "its local GPU",
    )
    amp: bool = Field(default=True, description="mixed precision (CUDA only; ignored on CPU)")
    batch_size: PositiveInt = Field(default=32, description="clips per batch, per process under torchrun")
    eval_batch_size: PositiveInt | None = Field(default=None, description="clips per evaluation batch (default: batch_size)")
    num_workers: Annotated[int, Field(ge=0)] | Literal["auto"] = Field(
        default=0,
        description="DataLoader worker processes per training process; auto: this machine's CPUs shared among the "
        "torchrun processes on it, less one each for training (more than the CPUs: a warning, and the CPU count is used)",
    )
    prefetch: PositiveInt = Field(default=2, description="batches each DataLoader worker loads ahead (prefetch_factor)")
    persistent_workers: bool = Field(
        default=True, description="keep the training DataLoader's workers from one epoch (and stage) to the next"
    )
    sync_bn: bool = Field(
        default=False,
        description="under torchrun on GPUs: BatchNorm statistics over the batches of every process (SyncBatchNorm)",
    )
    process_group_timeout: PositiveInt = Field(
        default=600,
        description="seconds the torchrun processes wait for each other: to form the process group, and in any "
        "collective (a process that died or hangs stops the others after this long)",
    )
    deterministic: bool = Field(default=False, description="deterministic algorithms only (slower); also --deterministic")
    eval_every: Annotated[int, Field(ge=0)] = Field(
        default=1,
        description="epochs between evaluations: top-1 of every exit of the stage's networks (frozen heads "
        "included) on the validation split, whose mean picks best-<stage>.pt, or, without one, on the test split "
        "for the log only (0: never)",
    )


StageRef = str | Annotated[int, Field(ge=1)]


class ExitConfig(ComponentConfig):
    """Base of every exit component's config: where the exit is attached.

    ``at`` has no default here: an exit component that has a usual place
    declares it by overriding the field (the built-in ones: after stages 1, 2
    and 3, as in the PKD paper).
    """

    at: StageRef | list[StageRef] = Field(
        description="backbone stage the exit reads: a stage name or its 1-based number; a list places one "
        "such exit after each",
    )


class NetworkBase(StrictModel):
    """One network per modality: a backbone, its exits and (optionally) trained weights."""

    modality: str = Field(description="key of the recipe's modalities section this network sees")
    weights: Path | None = Field(
        default=None, description="a checkpoint of this trained network: stage (a) is skipped for it"
    )

    @field_validator("modality")
    @classmethod
    def _modality_exists(cls, value: str, info: ValidationInfo) -> str:
        return check_known(value, info, "modalities")


AllSegments = Literal["all"]
SegmentCount = PositiveInt | AllSegments
SegmentSetting = SegmentCount | dict[str, SegmentCount]


class EarlyExitSettings(StrictModel):
    """How the early-exit policy is evaluated on the test split (see docs/ensembles.md).

    A video stops at the first stage whose ensemble confidence (largest softmax
    probability) exceeds the threshold. Every threshold is evaluated with every
    segment setting, giving top-1 accuracy against average GMACs per video.
    """

    ensemblers: list[str] | None = Field(
        default=None,
        min_length=1,
        description="labels of the ensembles (see ensembles[].label) the policy is evaluated with; "
        "default: the last ensemble of the recipe's list",
    )
    thresholds: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        default_factory=lambda: [0.5, 0.8, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 0.99999, 0.9999999, 0.99999995, 1.0],
        min_length=1,
        description="confidence thresholds in (0, 1]; 1 never exits early (the published range is 0.995 .. 0.99999995)",
    )
    segments: list[SegmentSetting] = Field(
        default_factory=lambda: ["all", 3, 1],
        min_length=1,
        description="segments per video to evaluate, each 'all' (every segment in the score files), a count for every "
        "network, or a mapping network -> count ('all' for the networks left out); counts above what the score "
        "files hold mean all of them",
    )
    tolerance: Annotated[float, Field(ge=0)] = Field(
        default=1.0,
        description="accuracy points the summary may lose: it reports the cheapest point within this of the full ensemble",
    )

    @field_validator("segments")
    @classmethod
    def _networks_exist(cls, value: list[SegmentSetting], info: ValidationInfo) -> list[SegmentSetting]:
        for setting in value:
            if isinstance(setting, dict):
                for name in setting:
                    check_known(name, info, "networks")
        return value


class RecipeBase(StrictModel):
    """The keys of a recipe; the component sections (data, modalities, networks, schedules, ensembles) are
    validated by the config models of the components they name (assembled by ``recipe.recipe_model``)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", description="names the run folder (default: the file's name)"
    )
    description: str = Field(default="", description="free text, kept in the run folder's recipe")
    seed: int = Field(default=0, description="seeds initialisation, sampling and augmentation: runs repeat exactly on CPU")
    output_dir: Path = Field(
        default=Path("runs"), description="run folders are created under it as <name>/<date-time>; relative to the working directory"
    )
    train: TrainSettings = Field(default_factory=TrainSettings, description="engine settings")
    backbones: BackboneTraining = Field(
        default_factory=BackboneTraining, description="stage (a): each network learns its own head with cross entropy"
    )
    early_exit: EarlyExitSettings = Field(
        default_factory=EarlyExitSettings, description="how the early-exit policy is evaluated"
    )
    report: ReportSettings = Field(default_factory=ReportSettings, description="what the report compares")
    selection: SelectionSettings = Field(
        default_factory=SelectionSettings, description="which split chooses checkpoints, ensembles, thresholds, teachers"
    )

    # Where the recipe was read from, for messages about it after validation (recipe.problems.problem_at):
    # (the YamlSource, the --set texts by the location they set). None for a recipe built in code.
    _origin: Any = PrivateAttr(default=None)
