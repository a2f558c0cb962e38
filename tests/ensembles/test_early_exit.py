"""The early-exit policy, its costs, its settings and its tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_scores import PUBLISHED_ORDER, R18, R50, recipe_data

from pkd_toolkit.ensembles import early_exit
from pkd_toolkit.ensembles.protocol import available_segments, member_logits
from pkd_toolkit.recipe.loading import validate_source
from pkd_toolkit.recipe.problems import RecipeError
from pkd_toolkit.recipe.yaml_source import YamlSource
from pkd_toolkit.scores.metrics import topk_accuracy


def test_policy_stops_at_the_first_confident_stage():
    # Confidence of 3 stages (rows) for 4 videos (columns).
    confidence = np.array([[0.95, 0.5, 0.5, 0.99], [0.2, 0.92, 0.5, 0.99], [0.99, 0.99, 0.6, 0.99]])
    np.testing.assert_array_equal(early_exit.exit_stages(confidence, 0.9), [0, 1, 2, 0])
    np.testing.assert_array_equal(early_exit.exit_stages(confidence, 0.98), [2, 2, 2, 0])
    np.testing.assert_array_equal(early_exit.exit_stages(confidence, 1.0), [2, 2, 2, 2])


def test_confidence_is_the_largest_softmax_probability_even_near_one():
    logits = np.array([[[0.0, np.log(3.0)]], [[0.0, 20.0]]], dtype=np.float32)
    confidence = early_exit.confidences(logits)
    np.testing.assert_allclose(confidence[0], [0.75])
    # 1 - 2e-9: above the published 0.99999995 threshold, which float32 could not tell from 1.
    assert 0.99999995 < confidence[1, 0] < 1.0


def test_a_stage_costs_the_deepest_exit_of_each_network_times_its_segments():
    order = ["residual/ic1", "residual/ic2", "mv/final", "residual/final", "iframe/ic1"]
    gmacs = {"residual/ic1": 1.0, "residual/ic2": 2.0, "residual/final": 3.0, "mv/final": 5.0, "iframe/ic1": 7.0}
    segments = {"residual": 2, "mv": 3, "iframe": 1}
    costs = early_exit.stage_costs(order, gmacs, segments)
    np.testing.assert_allclose(costs, [2.0, 4.0, 4.0 + 15.0, 6.0 + 15.0, 6.0 + 15.0 + 7.0])


def test_a_policy_that_never_exits_early_costs_the_full_ensemble(wise_plugins, test_scores):
    wise = wise_plugins.registry.get("ensemblers", "wise").build()
    wise.load_state_dict({"order": PUBLISHED_ORDER, "weights": np.tril(np.ones((12, 12))).tolist()})
    segments = available_segments(test_scores, wise.order)
    stages = wise.stage_logits(member_logits(test_scores, wise.order))
    costs = early_exit.stage_costs(wise.order, {s.key: s.gmacs for s in test_scores.exits}, segments)
    point = early_exit.policy_point(stages, test_scores.labels, costs, wise.order, threshold=1.0)
    full_cost = 5 * (R18[-1] + R18[-1] + R50[-1])  # every network's final exit, 5 segments each
    assert point["gmacs_per_video"] == pytest.approx(full_cost)
    assert point["top1"] == topk_accuracy(stages[-1], test_scores.labels)
    assert point["exits"]["iframe/final"] == len(test_scores.labels)
    assert sum(point["exits"].values()) == len(test_scores.labels)


def test_lower_thresholds_stop_earlier_and_cost_less(wise_plugins, test_scores):
    plain = wise_plugins.registry.get("ensemblers", "sum").build()
    plain.fit(test_scores)
    stages = plain.stage_logits(member_logits(test_scores, plain.order))
    gmacs = {s.key: s.gmacs for s in test_scores.exits}
    costs = early_exit.stage_costs(plain.order, gmacs, {"residual": 5, "mv": 5, "iframe": 5})
    thresholds = (0.3, 0.6, 0.9, 0.999, 1.0)
    points = [early_exit.policy_point(stages, test_scores.labels, costs, plain.order, t) for t in thresholds]
    spent = [p["gmacs_per_video"] for p in points]
    assert spent == sorted(spent) and spent[0] < spent[-1]
    assert points[0]["exits"]["residual/ic1"] > 0


def test_segment_settings_resolve_per_network_and_drop_repeats():
    available = {"residual": 5, "mv": 5, "iframe": 3}
    settings = ["all", 3, 25, {"mv": 1}, {"iframe": "all", "mv": 1, "residual": 5}, 1]
    assert early_exit.resolve_segments(settings, available) == [
        {"residual": 5, "mv": 5, "iframe": 3},
        {"residual": 3, "mv": 3, "iframe": 3},
        {"residual": 5, "mv": 1, "iframe": 3},
        {"residual": 1, "mv": 1, "iframe": 1},
    ]


def test_the_summary_picks_the_cheapest_point_within_the_tolerance():
    points = [{"top1": top1, "gmacs_per_video": gmacs} for top1, gmacs in ((0.90, 50.0), (0.892, 20.0), (0.85, 5.0))]
    assert early_exit.cheapest_within(points, 0.90, 1.0) == points[1]
    assert early_exit.cheapest_within(points, 0.99, 1.0) is None
    assert early_exit.cheapest_within(points, 0.91, 1.0) == points[0]  # exactly 1 point below counts


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("early_exit.thresholds=[0.9, 0]", "greater than 0"),
        ("early_exit.thresholds=[1.5]", "less than or equal to 1"),
        ("early_exit.segments=[{rgb: 1}]", "'rgb'.*networks"),
        ("early_exit.segments=[0]", "greater than 0"),
    ],
)
def test_early_exit_settings_refuse_bad_values(wise_plugins, override, message):
    source = YamlSource(Path("recipe.yaml"), recipe_data())
    with pytest.raises(RecipeError, match=message) as failure:
        validate_source(source, wise_plugins.registry, [override])
    assert f"--set {override}" in str(failure.value)
