"""The benchmarks call the toolkit's commands: their arguments must stay valid as the toolkit changes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from pkd_toolkit.recipe.loading import load_recipe
from pkd_toolkit.recipe.packaged import recipe_path

ROOT = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_quickstart_benchmark_appends_its_ablations_to_the_recipe_schedules(toy_plugins):
    bench = load_benchmark("bench_quickstart")
    overrides = bench.ablation_overrides()
    assert overrides[::2] == ["--set"] * len(bench.ABLATIONS) and all("schedules+=" in text for text in overrides[1::2])
    recipe = load_recipe(recipe_path(bench.RECIPE), toy_plugins.registry, overrides[1::2])
    schedules = {section.label or section.name: section for section in recipe.schedules}
    assert list(schedules) == ["ce", "pkd", *bench.ABLATIONS]  # the recipe's own schedules kept, not rewritten
    for label, settings in bench.ABLATIONS.items():
        for key, value in yaml.safe_load("{" + settings + "}").items():
            assert getattr(schedules[label], key) == value, label
        assert (schedules[label].epochs, schedules[label].scheduler) == (
            schedules["pkd"].epochs,
            schedules["pkd"].scheduler,
        )
