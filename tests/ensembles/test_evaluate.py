"""evaluate_ensembles: the recipe's ensembles fitted, evaluated and written into the run folder."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from synthetic_scores import recipe_data

from pkd_toolkit.ensembles import evaluation
from pkd_toolkit.ensembles.evaluation import evaluate_ensembles
from pkd_toolkit.ensembles.fitted import load_fitted
from pkd_toolkit.ensembles.protocol import member_logits
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.recipe.loading import validate_source
from pkd_toolkit.recipe.yaml_source import YamlSource
from pkd_toolkit.run_folder.layout import fitted_path
from pkd_toolkit.scores.metrics import topk_accuracy


def recipe(wise_plugins, **sections):
    return validate_source(YamlSource(Path("recipe.yaml"), recipe_data(**sections)), wise_plugins.registry)


def test_every_ensemble_is_fitted_evaluated_and_written(wise_plugins, train_scores, test_scores, tmp_path):
    sections = evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path)

    assert [e["name"] for e in sections["ensembles"]] == ["sum", "fusion", "wise"]
    wise = sections["ensembles"][2]
    assert wise["gmacs_per_video"] == pytest.approx(5 * (2.90 + 2.90 + 7.35))
    assert [stage["exit"] for stage in wise["stages"]][-1] == "iframe/final"
    assert wise["top1"] == wise["stages"][-1]["top1"]

    # The early-exit policy uses the recipe's last ensemble by default (wise): 4 thresholds x 2 segment settings.
    assert {p["ensembler"] for p in sections["early_exit"]} == {"wise"}
    assert len(sections["early_exit"]) == 8
    never_early = [p for p in sections["early_exit"] if p["threshold"] == 1.0 and p["segments"]["mv"] == 5]
    assert never_early[0]["top1"] == wise["top1"]
    assert never_early[0]["gmacs_fraction"] == pytest.approx(1.0)
    one_segment = [p for p in sections["early_exit"] if p["threshold"] == 1.0 and p["segments"]["mv"] == 1]
    assert one_segment[0]["gmacs_fraction"] == pytest.approx(0.2)

    assert sorted(path.name for path in (tmp_path / "ensembles" / "pkd" / "fitted").iterdir()) == [
        "fusion.json", "sum.json", "wise.json"
    ]  # fmt: skip
    summary = sections["early_exit_summary"][0]
    assert summary["ensembler"] == "wise" and summary["full_top1"] == wise["top1"]
    assert summary["cheapest_within"]["top1"] >= wise["top1"] - 0.01


def test_the_saved_ensemblers_reproduce_the_report(wise_plugins, train_scores, test_scores, tmp_path):
    sections = evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path)
    for entry in sections["ensembles"]:
        ensembler, classes = load_fitted(tmp_path / entry["fitted"], wise_plugins.registry)
        assert classes == test_scores.classes
        stages = ensembler.stage_logits(member_logits(test_scores, ensembler.order))
        assert topk_accuracy(stages[-1], test_scores.labels) == entry["top1"]


def test_the_policy_may_use_several_ensembles_by_label(wise_plugins, train_scores, test_scores, tmp_path):
    clamped = {"name": "wise", "label": "wise-clamped", "iterations": 20, "clamp_negative": True}
    ensembles = [{"name": "sum"}, {"name": "wise", "iterations": 20}, clamped]
    policy = {"ensemblers": ["sum", "wise-clamped"], "thresholds": [0.9, 1.0], "segments": ["all"]}
    chosen = recipe(wise_plugins, ensembles=ensembles, early_exit=policy)
    sections = evaluate_ensembles(chosen, wise_plugins.registry, train_scores, test_scores, tmp_path)
    assert [p["ensembler"] for p in sections["early_exit"]] == ["sum", "sum", "wise-clamped", "wise-clamped"]
    assert fitted_path(tmp_path, "pkd", "wise-clamped").is_file()


def test_a_second_evaluation_drops_ensemblers_no_longer_listed(wise_plugins, train_scores, test_scores, tmp_path):
    evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path)
    only_sum = recipe(wise_plugins, ensembles=[{"name": "sum"}])
    evaluate_ensembles(only_sum, wise_plugins.registry, train_scores, test_scores, tmp_path)
    assert fitted_path(tmp_path, "pkd", "sum").is_file()
    assert not fitted_path(tmp_path, "pkd", "wise").exists()


def test_score_files_of_another_class_list_are_refused(wise_plugins, train_scores, test_scores, tmp_path):
    test_scores.classes[2] = "somersault"
    with pytest.raises(PkdError, match=r"scores/pkd/train\.npz and .*scores/pkd/test\.npz are scores of different "
                       r"class lists \(class 2 is 'class2' vs 'somersault'\)"):
        evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path)
    assert not (tmp_path / "ensembles").exists()


def test_logits_that_do_not_match_the_class_list_are_refused(wise_plugins, train_scores, test_scores, tmp_path):
    exit_scores = test_scores.get("mv", "ic2")
    exit_scores.logits = exit_scores.logits[:, :, :4]
    with pytest.raises(PkdError, match=r"test\.npz: logits of mv/ic2 have shape \(150, 5, 4\), expected \[150 videos"):
        evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path)


def test_an_unknown_exit_in_an_order_is_refused_and_nothing_written(wise_plugins, train_scores, test_scores, tmp_path):
    bad = recipe(wise_plugins, ensembles=[{"name": "sum"}, {"name": "wise", "order": ["mv/ic7"]}])
    with pytest.raises(UsageError, match=r"ensemble 'wise': order: unknown exit of network 'mv' 'ic7'"):
        evaluate_ensembles(bad, wise_plugins.registry, train_scores, test_scores, tmp_path)
    assert not (tmp_path / "ensembles").exists()  # not even the sum, fitted before the failure


def test_an_order_naming_an_unknown_network_is_refused_with_the_recipe(wise_plugins):
    with pytest.raises(UsageError, match=r"ensembles\[0\]\.order: .*'rgb'.*networks"):
        recipe(wise_plugins, ensembles=[{"name": "wise", "order": ["rgb/ic1"]}])


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"ensembles": [{"name": "wise"}, {"name": "wise"}]}, r"ensembles\[0\] and ensembles\[1\] are both labelled"),
        ({"early_exit": {"ensemblers": ["wsie"]}}, r"early_exit.ensemblers: unknown ensemble 'wsie': did you mean"),
    ],
)
def test_ensemble_labels_must_be_unique_and_known(wise_plugins, train_scores, test_scores, tmp_path, sections, message):
    with pytest.raises(UsageError, match=message):
        evaluate_ensembles(recipe(wise_plugins, **sections), wise_plugins.registry, train_scores, test_scores, tmp_path)


def test_a_fitted_ensembler_file_that_is_damaged_is_named(wise_plugins, tmp_path):
    path = tmp_path / "wise.json"
    damaged = {"component": "wise", "config": {"name": "wise"}, "classes": [], "state": {"order": []}}
    path.write_text(json.dumps(damaged))
    with pytest.raises(PkdError, match=r"wise\.json: not a readable fitted ensembler \(KeyError: 'weights'\)"):
        load_fitted(path, wise_plugins.registry)
    with pytest.raises(PkdError, match=r"nothing\.json: no fitted ensembler here"):
        load_fitted(tmp_path / "nothing.json", wise_plugins.registry)


def test_no_ensembles_means_empty_sections(wise_plugins, train_scores, test_scores, tmp_path):
    sections = evaluate_ensembles(recipe(wise_plugins, ensembles=[]), wise_plugins.registry, train_scores, test_scores, tmp_path)
    assert sections == {"ensembles": [], "early_exit": [], "early_exit_summary": [], "predicted": {}}
    assert not any(tmp_path.iterdir())


def test_fitting_tells_its_progress_one_line_per_ensemble(wise_plugins, train_scores, test_scores, tmp_path):
    lines: list[str] = []
    evaluate_ensembles(recipe(wise_plugins), wise_plugins.registry, train_scores, test_scores, tmp_path, progress=lines.append)
    assert [line.partition(": done in ")[0] for line in lines] == [
        f"fitting ensemble {name} ({number}/3) on the pkd exits' train scores"
        for number, name in enumerate(("sum", "fusion", "wise"), 1)
    ]


def test_a_long_fit_says_every_so_often_that_it_still_runs(monkeypatch):
    monkeypatch.setattr(evaluation, "HEARTBEAT_SECONDS", 0.02)
    lines: list[str] = []
    with evaluation.reported(lines.append, "fitting ensemble wise"):
        time.sleep(0.15)
    assert len(lines) >= 3 and all(line.startswith("fitting ensemble wise: still running after") for line in lines[:-1])
    assert lines[-1].startswith("fitting ensemble wise: done in 0.")
