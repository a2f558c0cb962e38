"""A run's modules, assembled from its recipe: base networks, every schedule's plan, one state dict, the stages.

``pkd run`` assembles them to train; ``pkd predict`` assembles them again from
a run folder and loads the final checkpoint into them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.backbone_stage import backbone_stage
from pkd_toolkit.engine.run_model import RunModel, build_networks, exit_maker
from pkd_toolkit.engine.stages import ScheduleContext, SchedulePlan, Stage
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.networks.multi_exit import MultiExitNetwork
from pkd_toolkit.plugin.registry import ComponentRegistry, file_name_problem
from pkd_toolkit.recipe.settings import RecipeBase, section_label
from pkd_toolkit.run_folder.layout import BACKBONE_SCHEDULE, last_checkpoint


@dataclass
class Assembly:
    """Everything a run trains, and what each schedule produces."""

    recipe: RecipeBase
    modalities: dict[str, Any]  # modality key -> built modality component
    model: RunModel
    plans: dict[str, SchedulePlan]  # schedule label -> plan (stages named per schedule)

    @property
    def networks(self) -> dict[str, MultiExitNetwork]:
        return dict(self.model.networks)

    def scored(self) -> dict[str, dict[str, MultiExitNetwork]]:
        """The networks of each schedule's score files, the base networks' own heads first."""
        return {BACKBONE_SCHEDULE: self.networks, **{label: dict(plan.networks) for label, plan in self.plans.items()}}

    def modality_of(self, network: str) -> str:
        return self.recipe.networks[network].modality

    def used_modalities(self) -> dict[str, Any]:
        """The modalities some network sees, in recipe order (datasets may draw random numbers per modality in it)."""
        return {key: self.modalities[key] for key in dict.fromkeys(map(self.modality_of, self.recipe.networks))}

    def stages(self) -> list[Stage]:
        """The run's stages in order: stage (a), then every schedule's, merged where they run in lockstep."""
        first = backbone_stage(self.recipe, self.networks)
        return ([first] if first is not None else []) + _lockstep(self.plans)


@dataclass(frozen=True)
class RunServices:
    """What a training run offers schedules beyond the networks (see ``ScheduleContext``); absent when a finished
    run is only loaded."""

    network_accuracies: Callable[[], dict[str, float]]
    note: Callable[[str, Any, str], None]


def assemble(
    recipe: RecipeBase, registry: ComponentRegistry, num_classes: int, services: RunServices | None = None
) -> Assembly:
    """Build the networks and plan every schedule (nothing trained, nothing read from disk but given weights)."""
    modalities = {key: registry.build("modalities", section) for key, section in recipe.modalities.items()}
    networks = build_networks(recipe, registry, modalities, num_classes)
    model = RunModel(networks)
    plans = plan_schedules(recipe, registry, networks, num_classes, services)
    for label, plan in plans.items():
        model.schedules[label] = plan.modules
    return Assembly(recipe, modalities, model, plans)


def plan_schedules(
    recipe: RecipeBase,
    registry: ComponentRegistry,
    networks: Mapping[str, MultiExitNetwork],
    num_classes: int,
    services: RunServices | None = None,
) -> dict[str, SchedulePlan]:
    """Each schedule's plan, its objectives and evaluations named ``<label>/...``."""
    make_exits = exit_maker(recipe, registry, networks, num_classes)
    plans: dict[str, SchedulePlan] = {}
    for index, section in enumerate(recipe.schedules):
        label = section_label(section)
        if label in plans or label == BACKBONE_SCHEDULE:
            raise UsageError(f"schedules: two schedules are labelled {label!r}; give one a different 'label'")
        schedule = registry.build("schedules", section)
        context = ScheduleContext(label, recipe, dict(networks), num_classes, make_exits, registry)
        if services is not None:
            context.network_accuracies = services.network_accuracies
            context.note = _labelled_note(label, services.note)
        plan = schedule.plan(context)
        for name in [name for stage in plan.stages for name in (stage.name, stage.lockstep) if name is not None]:
            problem = file_name_problem(name)  # stages name checkpoint files (best-<stage>.pt)
            if problem is not None:
                raise UsageError(f"schedules[{index}] ({section.name}): its stage {problem}")
        plans[label] = _namespaced(label, plan)
    return plans


def _labelled_note(label: str, note: Callable[[str, Any, str], None]) -> Callable[[str, Any, str], None]:
    return lambda key, value, message: note(f"{label}.{key}", value, message)


def _namespaced(label: str, plan: SchedulePlan) -> SchedulePlan:
    """Prefix objective and evaluation names with the schedule's label, so merged stages keep them apart; a stage
    that may run in lockstep is named ``<label>-<name>`` too (the name it keeps if it runs alone)."""
    stages = []
    for stage in plan.stages:
        objectives = [replace(o, name=f"{label}/{o.name}") for o in stage.objectives]
        evaluate = {f"{label}/{key}": network for key, network in stage.evaluate.items()}
        name = f"{label}-{stage.name}" if stage.lockstep else stage.name
        stages.append(replace(stage, name=name, objectives=objectives, evaluate=evaluate))
    return replace(plan, stages=stages)


def _lockstep(plans: Mapping[str, SchedulePlan]) -> list[Stage]:
    """Each schedule's stages in order; stages sharing a lockstep key and length become one.

    A merged stage is named by its lockstep key (``exits``) when it is the only
    stage with that key; stages with the key that cannot merge (other epochs:
    e.g. the published 150 CE and 300 PKD epochs) keep their labelled names.
    """
    groups: list[list[Stage]] = []
    for plan in plans.values():
        for stage in plan.stages:
            twin = next((g for g in groups if stage.lockstep and g[0].lockstep == stage.lockstep and g[0].epochs == stage.epochs), None)
            if twin is None:
                groups.append([stage])
            else:
                twin.append(stage)
    keys = [group[0].lockstep for group in groups if group[0].lockstep]
    merged = []
    for group in groups:
        first = group[0]
        name = first.lockstep if first.lockstep and keys.count(first.lockstep) == 1 else first.name
        merged.append(
            replace(
                first,
                name=name,
                objectives=[o for stage in group for o in stage.objectives],
                train_modules=[m for stage in group for m in stage.train_modules],
                evaluate={key: network for stage in group for key, network in stage.evaluate.items()},
                setup=[call for stage in group for call in stage.setup],
            )
        )
    names = [stage.name for stage in merged]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise UsageError(f"schedules: several stages are named {', '.join(duplicated)}; give the schedules labels")
    return merged


def load_trained(run_dir: Path, recipe: RecipeBase, registry: ComponentRegistry, num_classes: int) -> Assembly:
    """The modules of a finished run (its recipe: ``load_run_recipe``), in eval mode, with its final weights."""
    path = last_checkpoint(run_dir)
    if not path.is_file():
        raise PkdError(f"{run_dir}: no {path.relative_to(run_dir)}; the run has not trained yet")
    state = checkpoint.load(path)
    if not state.get("complete"):
        raise PkdError(f"{path}: the run has not finished training; finish it with `pkd run RECIPE --resume {run_dir}`")
    assembly = assemble(recipe, registry, num_classes)
    try:
        assembly.model.load_state_dict(state["model"])
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise PkdError(f"{path}: does not fit the run's recipe ({first})") from None
    assembly.model.eval()
    return assembly
