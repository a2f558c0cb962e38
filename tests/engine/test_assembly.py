"""A run's stages, assembled from its schedules: which run in lockstep and what they are named."""

from __future__ import annotations

from pkd_toolkit.engine.assembly import assemble
from pkd_toolkit.recipe.loading import load_recipe


def stage_names(tiny_recipe, toy_plugins, *overrides: str) -> list[str]:
    recipe = load_recipe(tiny_recipe(), toy_plugins.registry, list(overrides))
    return [stage.name for stage in assemble(recipe, toy_plugins.registry, num_classes=3).stages()]


def test_exit_schedules_of_equal_length_run_as_one_stage(tiny_recipe, toy_plugins):
    assert stage_names(tiny_recipe, toy_plugins) == ["backbones", "exits"]


def test_exit_schedules_of_other_lengths_run_one_after_the_other_under_their_labels(tiny_recipe, toy_plugins):
    # the released code's baseline: 150 CE epochs against 300 PKD epochs
    names = stage_names(tiny_recipe, toy_plugins, "schedules.0.epochs=2", "schedules.1.epochs=4", "schedules.1.switch_epochs=null")
    assert names == ["backbones", "ce-exits", "pkd-exits"]


def test_a_lone_exit_schedule_keeps_the_plain_name(tiny_recipe, toy_plugins):
    assert stage_names(tiny_recipe, toy_plugins, "schedules=[{name: ce, epochs: 2}]") == ["backbones", "exits"]
