"""Everything checked before a run folder exists (``pkd validate``, the start of ``pkd run``).

The components' own checks and the exits' stages (:mod:`pkd_toolkit.recipe.preflight`), and the engine's:
each ``networks.<name>.weights`` file must hold that network's state dict. Every problem is listed at once,
each with the recipe's file and line.
"""

from __future__ import annotations

from collections.abc import Iterator

from pkd_toolkit.engine.run_model import weights_problem
from pkd_toolkit.recipe.preflight import component_problems
from pkd_toolkit.recipe.problems import Problem, RecipeError, problem_at
from pkd_toolkit.recipe.settings import RecipeBase


def check_before_run(recipe: RecipeBase) -> None:
    """Raise :class:`RecipeError` (exit status 2) listing what would make a run of ``recipe`` fail before it trains."""
    problems = [*component_problems(recipe), *weights_problems(recipe)]
    if problems:
        raise RecipeError(problems)


def weights_problems(recipe: RecipeBase) -> Iterator[Problem]:
    for name, network in recipe.networks.items():  # type: ignore[attr-defined]
        if network.weights is not None:
            problem = weights_problem(name, network.weights)
            if problem is not None:
                yield problem_at(recipe, ("networks", name, "weights"), problem)
