"""The recipe's ``ensembles`` list, built; and which of them the early-exit policy uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pkd_toolkit.ensembles.protocol import Ensembler
from pkd_toolkit.errors import UsageError
from pkd_toolkit.plugin.registry import ComponentConfig, ComponentRegistry, unknown_name_message
from pkd_toolkit.recipe.settings import RecipeBase, section_label


@dataclass
class PlannedEnsemble:
    """One entry of the recipe's ``ensembles`` list, built."""

    label: str
    section: ComponentConfig
    ensembler: Ensembler

    @property
    def component(self) -> str:
        return self.section.name  # type: ignore[attr-defined]


def plan_ensembles(recipe: RecipeBase, registry: ComponentRegistry) -> list[PlannedEnsemble]:
    """Build the recipe's ensembles; refuse two with one label and early-exit labels that name none.

    Cheap (nothing is fitted): the engine may call it before training to fail early.
    """
    planned: list[PlannedEnsemble] = []
    for index, section in enumerate(recipe.ensembles):  # type: ignore[attr-defined]
        label = section_label(section)
        for earlier, other in enumerate(planned):
            if other.label == label:
                raise UsageError(
                    f"ensembles[{earlier}] and ensembles[{index}] are both labelled {label!r}: "
                    "give one of them another 'label'"
                )
        planned.append(PlannedEnsemble(label, section, registry.get("ensemblers", section.name).build(section)))
    labels = [plan.label for plan in planned]
    for label in recipe.early_exit.ensemblers or ():
        if label not in labels:
            raise UsageError(f"early_exit.ensemblers: {unknown_name_message('ensemble', label, labels)}")
    return planned


def policy_ensembles(recipe: RecipeBase, planned: Sequence[PlannedEnsemble]) -> list[PlannedEnsemble]:
    """The ensembles the early-exit policy is evaluated with: ``early_exit.ensemblers``, else the recipe's last one."""
    chosen = recipe.early_exit.ensemblers
    if chosen is not None:
        return [plan for plan in planned if plan.label in chosen]
    return list(planned[-1:])
