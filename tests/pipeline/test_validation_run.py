"""A run with a validation split: it chooses checkpoints, teachers, ensembles and the threshold; test only reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pkd_toolkit.ensembles.fitted import load_fitted
from pkd_toolkit.run_folder.layout import best_checkpoint, fitted_path, score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains a tiny run

EXTRA = """\
ensembles: [{name: sum}, {name: wise, iterations: 50}]
early_exit: {thresholds: [0.6, 0.9, 1.0]}
"""


@pytest.fixture(scope="module")
def validated_run(tmp_path_factory, run_in_process, tiny_recipe_for):
    import toy_plugin

    from pkd_toolkit.plugin.manager import load_plugins

    folder = tmp_path_factory.mktemp("validated")
    text = tiny_recipe_for(folder / "runs", backbone_epochs=2, exit_epochs=3, extra=EXTRA)
    text = text.replace("size: 16, segments: 2}", "size: 16, segments: 2, group_size: 2, val: {size: 6, seed: 1}}")
    text = text.replace("switch_epochs: [1, 2]}", "teachers: auto}")
    recipe = folder / "recipe.yaml"
    recipe.write_text(text)
    run_in_process(recipe, folder / "run", load_plugins([("toy", toy_plugin)]))
    return folder / "run", load_plugins([("toy", toy_plugin)])


def test_the_validation_split_is_scored_and_chooses_everything(validated_run):
    run_dir, _ = validated_run
    val = ScoreSet.load(score_path(run_dir, "pkd", "val"))
    assert len(val.labels) == 6 and len(ScoreSet.load(score_path(run_dir, "pkd", "train")).labels) == 18
    assert all(video.startswith("train/") for video in val.videos)
    report = json.loads((run_dir / "report.json").read_text())
    assert report["selection"] == {"checkpoints": "val", "ensembles": "val", "threshold": "val", "teachers": "val"}
    assert {summary["chosen_on"] for summary in report["early_exit_summary"]} == {"val"}
    assert "Chosen on: checkpoints: val; ensembles fitted on: val" in (run_dir / "report.md").read_text()


def test_checkpoints_are_chosen_on_the_validation_split(validated_run):
    run_dir, _ = validated_run
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert all("val_top1" in line and "test_top1" not in line for line in lines)
    assert best_checkpoint(run_dir, "exits").is_file()


def test_teachers_auto_are_ordered_by_validation_accuracy(validated_run):
    run_dir, _ = validated_run
    notes = json.loads((run_dir / "notes.json").read_text())
    accuracy = notes["network_accuracy"]
    assert accuracy.pop("split") == "val"
    order = notes["pkd.teachers"]
    assert sorted(order) == ["iframe", "mv", "residual"]
    assert [accuracy[name] for name in order] == sorted(accuracy[name] for name in order)  # weakest first
    assert notes["validation"] == {"train": 18, "val": 6, "groups": 3}


def test_the_ensembles_are_fitted_on_the_validation_scores(validated_run):
    run_dir, plugins = validated_run
    saved, _ = load_fitted(fitted_path(run_dir, "pkd", "wise"), plugins.registry)
    component = plugins.registry.get("ensemblers", "wise")
    refitted = component.build(component.config(iterations=50))
    refitted.fit(ScoreSet.load(score_path(run_dir, "pkd", "val")))
    np.testing.assert_allclose(saved.weights, refitted.weights)
    on_train = component.build(component.config(iterations=50))
    on_train.fit(ScoreSet.load(score_path(run_dir, "pkd", "train")))
    assert not np.allclose(saved.weights, on_train.weights)

