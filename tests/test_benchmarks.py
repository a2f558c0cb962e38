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


def test_the_real_data_benchmark_writes_valid_recipes_for_every_configuration(toy_plugins, tmp_path):
    bench = load_benchmark("bench_real")
    data = bench.data_section("weizmann", tmp_path, tmp_path / "videos", fold=2)
    recipes = {
        "scratch": bench.pkd_recipe("scratch", data, tmp_path, pretrained=False),
        "imagenet": bench.pkd_recipe("imagenet", data, tmp_path, pretrained=True),
        "gkd": bench.gkd_recipe("gkd", data, tmp_path),
    }
    loaded = {}
    for name, recipe in recipes.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(recipe))
        loaded[name] = load_recipe(path, toy_plugins.registry)
    labels = [schedule.label or schedule.name for schedule in loaded["imagenet"].schedules]
    assert labels == ["ce", *bench.PKD_VARIANTS]
    assert [schedule.label or schedule.name for schedule in loaded["scratch"].schedules] == ["ce", "pkd"]
    assert {network.backbone.pretrained for network in loaded["imagenet"].networks.values()} == {"efficientnet_lite"}
    assert {network.backbone.pretrained for network in loaded["scratch"].networks.values()} == {None}
    assert loaded["imagenet"].data.val.group == bench.DATA["weizmann"]["group"]
    assert loaded["gkd"].schedules[0].name == "gkd"


def test_the_real_data_benchmark_explains_with_the_train_and_val_splits_only(finished_run):
    import numpy as np

    bench = load_benchmark("bench_real")
    from pkd_toolkit.report.build import load_score_sets

    fits = bench.fit_off_test(load_score_sets(finished_run.dir))
    assert list(fits) == ["train", "val"]  # never the test split
    schedules = sorted(p.name for p in (finished_run.dir / "scores").iterdir() if p.name != "backbone")
    for split, row in fits.items():
        with np.load(finished_run.dir / "scores" / "backbone" / f"{split}.npz") as archive:
            networks = [key.split("/")[1] for key in archive.files if key.endswith("/final")]
            for network in networks:
                expected = (archive[f"logits/{network}/final"].mean(axis=1).argmax(axis=1) == archive["labels"]).mean()
                assert row[f"head {network}"] == expected
        assert sorted(key.removeprefix("exits ") for key in row if key.startswith("exits ")) == schedules
