"""The released code's variants of the ensembles: WISE's ``published_code`` preset and the ``mean`` baseline.

Each is checked against the definition in the authors' ``wise_ucf101_kinetics_pretrained.py``: the
first stage is the first exit's raw logits, the last stage a fixed weighted fusion of the three final
heads, every stage divided by how many logits it adds up; "no scaling" averages the exits so far.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from synthetic_scores import PUBLISHED_ORDER, recipe_data

from pkd_toolkit.ensembles.protocol import member_logits
from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.loading import validate_source
from pkd_toolkit.recipe.problems import RecipeError
from pkd_toolkit.recipe.yaml_source import YamlSource

FINALS = [PUBLISHED_ORDER.index(key) for key in ("residual/final", "mv/final", "iframe/final")]
# The released split-1 UCF-101 fusion weights (wise_ucf101_kinetics_pretrained.py).
RELEASED = {"iframe": 1.8532, "residual": 1.3720, "mv": 0.5565}


def build(plugins, name, **settings):
    component = plugins.registry.get("ensemblers", name)
    return component.build(component.config(**settings))


def test_the_published_preset_fills_what_the_section_does_not_say(wise_plugins):
    config = wise_plugins.registry.get("ensemblers", "wise").config
    preset = config.model_validate({"preset": "published_code"})
    assert (preset.fit_first_stage, preset.final_stage, preset.stage_mean, preset.keep_sum_if_worse) == (
        False, "fusion", True, False
    )  # fmt: skip
    assert config.model_validate({"preset": "published_code", "stage_mean": False}).stage_mean is False


def test_published_wise_stages_follow_the_released_definition(wise_plugins, train_scores, test_scores):
    wise = build(wise_plugins, "wise", preset="published_code", final_weights=RELEASED, iterations=30)
    wise.fit(train_scores)
    z = member_logits(test_scores, wise.order)
    stages = wise.stage_logits(z)
    np.testing.assert_allclose(stages[0], z[0])  # no beta at the first stage: the raw logits (divided by 1)
    fusion = (RELEASED["iframe"] * z[FINALS[2]] + RELEASED["residual"] * z[FINALS[0]] + RELEASED["mv"] * z[FINALS[1]]) / 3
    np.testing.assert_allclose(stages[-1], fusion, rtol=1e-5, atol=1e-6)
    # a middle stage is its fitted weights over the exits so far, divided by their number
    k = 5
    np.testing.assert_allclose(stages[k], np.einsum("j,jvc->vc", wise.weights[k, : k + 1], z[: k + 1]), rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(wise.weights[-1]) == 3
    unscaled = build(wise_plugins, "wise", preset="published_code", final_weights=RELEASED, iterations=30, stage_mean=False)
    unscaled.fit(train_scores)
    np.testing.assert_allclose(wise.weights[k] * (k + 1), unscaled.weights[k], rtol=1e-5, atol=1e-6)


def test_mean_averages_the_exits_so_far_and_ends_with_the_mean_of_the_final_heads(wise_plugins, test_scores):
    mean = build(wise_plugins, "mean")
    mean.fit(test_scores)
    assert mean.order == PUBLISHED_ORDER
    z = member_logits(test_scores, mean.order)
    stages = mean.stage_logits(z)
    for k in (0, 3, 10):
        np.testing.assert_allclose(stages[k], z[: k + 1].mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stages[-1], z[FINALS].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_mean_of_a_single_exit_is_refused(wise_plugins, test_scores):
    mean = build(wise_plugins, "mean", order=["mv/ic1"])
    with pytest.raises(UsageError, match=r"'mean' averages the exits of each stage, and its order holds one exit \(mv/ic1\)"):
        mean.fit(test_scores)


def test_fusion_weights_for_a_network_the_recipe_lacks_are_refused(wise_plugins):
    sections = {"ensembles": [{"name": "wise", "preset": "published_code", "final_weights": {"rgb": 2.0, "mv": 1.0}}]}
    with pytest.raises(RecipeError, match=r"ensembles\[0\]\.final_weights: 'rgb' is not one of the recipe's networks"):
        validate_source(YamlSource(Path("recipe.yaml"), recipe_data(**sections)), wise_plugins.registry)
