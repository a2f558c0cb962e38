"""The built-in ensemblers: order of exits, sum, fusion and WISE, and their saved state."""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic_scores import PUBLISHED_ORDER

from pkd_plugins.wise.config import FusionConfig, SumConfig, WiseConfig
from pkd_toolkit.ensembles.protocol import member_logits
from pkd_toolkit.errors import UsageError
from pkd_toolkit.scores.metrics import topk_accuracy


def build(wise_plugins, name, **settings):
    component = wise_plugins.registry.get("ensemblers", name)
    return component.build(component.config(**settings))


def stage_top1(ensembler, scores):
    stages = ensembler.stage_logits(member_logits(scores, ensembler.order))
    return np.array([topk_accuracy(logits, scores.labels) for logits in stages])


# -- order -----------------------------------------------------------------------------------


def test_default_order_is_the_published_one(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "wise", iterations=0)
    ensembler.fit(train_scores)
    assert ensembler.order == PUBLISHED_ORDER


def test_generic_order_puts_cheaper_networks_first_and_shallow_exits_first(wise_plugins, make_scores):
    networks = {"rgb": (1.0, (2.0, 4.0, 6.0, 8.0)), "flow": (1.0, (1.0, 2.0, 3.0, 4.0))}
    scores = make_scores("train", networks=networks)
    scores.exits.reverse()  # the score file's order must not matter
    ensembler = build(wise_plugins, "sum")
    ensembler.fit(scores)
    assert ensembler.order == [f"flow/{e}" for e in ("ic1", "ic2", "ic3", "final")] + [
        f"rgb/{e}" for e in ("ic1", "ic2", "ic3", "final")
    ]


def test_an_order_may_name_whole_networks(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "sum", order=["mv", "iframe/final"])
    ensembler.fit(train_scores)
    assert ensembler.order == ["mv/ic1", "mv/ic2", "mv/ic3", "mv/final", "iframe/final"]


@pytest.mark.parametrize(
    ("order", "message"),
    [
        (["rgb/ic1"], "unknown network 'rgb'"),
        (["mv/ic9"], "unknown exit of network 'mv' 'ic9'"),
        (["mv", "mv/ic2"], "exit mv/ic2 is listed twice"),
    ],
)
def test_a_wrong_order_is_refused(wise_plugins, train_scores, order, message):
    ensembler = build(wise_plugins, "wise", order=order)
    with pytest.raises(UsageError, match=message):
        ensembler.fit(train_scores)


# -- sum and fusion ----------------------------------------------------------------------------


def test_sum_adds_the_raw_logits_of_every_exit_so_far(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "sum")
    ensembler.fit(train_scores)
    members = member_logits(train_scores, ensembler.order)
    expected = np.cumsum(members.astype(np.float64), axis=0)
    np.testing.assert_allclose(ensembler.stage_logits(members), expected, rtol=1e-12)


def test_a_prefix_of_the_exits_gives_the_same_stages(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "fusion", weights={"mv": 3})
    ensembler.fit(train_scores)
    members = member_logits(train_scores, ensembler.order)
    np.testing.assert_allclose(ensembler.stage_logits(members[:2]), ensembler.stage_logits(members)[:2])


def test_fusion_defaults_to_coviar_late_fusion_of_the_final_exits(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "fusion")
    ensembler.fit(train_scores)
    assert ensembler.order == ["residual/final", "mv/final", "iframe/final"]
    finals = {network: train_scores.get(network, "final").consensus() for network in ("iframe", "mv", "residual")}
    expected = 2 * finals["iframe"] + finals["mv"] + finals["residual"]
    stages = ensembler.stage_logits(member_logits(train_scores, ensembler.order))
    np.testing.assert_allclose(stages[-1], expected, rtol=1e-5, atol=1e-6)


def test_fusion_weighs_networks_left_out_by_one(wise_plugins, train_scores):
    ensembler = build(wise_plugins, "fusion", weights={"iframe": 0.5})
    ensembler.fit(train_scores)
    assert ensembler.weights[-1].tolist() == [1.0, 1.0, 0.5]


# -- WISE ----------------------------------------------------------------------------------------


def test_wise_with_every_weight_at_one_equals_sum(wise_plugins, train_scores, test_scores):
    plain = build(wise_plugins, "sum")
    plain.fit(train_scores)
    unfitted = build(wise_plugins, "wise", iterations=0)
    unfitted.fit(train_scores)
    loaded = build(wise_plugins, "wise")
    loaded.load_state_dict(plain.state_dict())
    members = member_logits(test_scores, plain.order)
    for wise in (unfitted, loaded):
        assert wise.order == plain.order
        np.testing.assert_array_equal(wise.stage_logits(members), plain.stage_logits(members))


@pytest.mark.parametrize(("seed", "noisy_exit"), [(0, None), (1, None), (2, "mv/ic1")])
def test_fitted_wise_is_never_worse_than_sum_on_its_fitting_logits(wise_plugins, make_scores, seed, noisy_exit):
    scores = make_scores("train", seed=seed, noisy_exit=noisy_exit)
    plain, wise = build(wise_plugins, "sum"), build(wise_plugins, "wise")
    plain.fit(scores)
    wise.fit(scores)
    assert np.all(stage_top1(wise, scores) >= stage_top1(plain, scores))
    assert not np.allclose(wise.weights, plain.weights)  # it did learn something


def test_wise_learns_to_silence_a_noisy_exit(wise_plugins, make_scores):
    train, test = (make_scores(split, noisy_exit="mv/ic1") for split in ("train", "test"))
    plain, wise = build(wise_plugins, "sum"), build(wise_plugins, "wise", iterations=200)
    plain.fit(train)
    wise.fit(train)
    noisy = wise.order.index("mv/ic1")
    assert np.all(np.abs(wise.weights[noisy:, noisy]) < 0.2)
    assert stage_top1(wise, test)[-1] >= stage_top1(plain, test)[-1] + 0.05


def test_wise_l1_weight_depends_on_ensemble_size(wise_plugins, train_scores):
    settings = {"iterations": 100, "keep_sum_if_worse": False}
    free = build(wise_plugins, "wise", l1_small=0, l1_large=0, **settings)
    shrunk = build(wise_plugins, "wise", l1_small=0, l1_large=1.0, small_members=5, **settings)
    free.fit(train_scores)
    shrunk.fit(train_scores)
    np.testing.assert_allclose(shrunk.weights[:5], free.weights[:5])  # up to 5 members: no L1
    assert np.all(np.abs(shrunk.weights[5:]).sum(axis=1) < np.abs(free.weights[5:]).sum(axis=1))


def test_wise_may_clamp_negative_weights(wise_plugins, train_scores):
    settings = {"iterations": 100, "keep_sum_if_worse": False}
    free, clamped = build(wise_plugins, "wise", **settings), build(wise_plugins, "wise", clamp_negative=True, **settings)
    free.fit(train_scores)
    clamped.fit(train_scores)
    assert free.weights.min() < -0.1  # the free fit does use negative weights here
    assert clamped.weights.min() >= 0


def test_wise_keeps_the_sum_of_a_stage_it_fits_worse(wise_plugins, train_scores):
    # A huge learning rate makes SGD diverge: the stages it ruins must fall back to the sum.
    wise = build(wise_plugins, "wise", lr=1e4, iterations=20)
    wise.fit(train_scores)
    reverted = [wise.order.index(key) for key in wise.kept_sum]
    assert reverted
    np.testing.assert_array_equal(wise.weights[reverted], np.tril(np.ones((12, 12)))[reverted])


# -- state ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "fusion", "wise"])
def test_state_survives_json(wise_plugins, train_scores, test_scores, name):
    fitted = build(wise_plugins, name, **({"iterations": 50} if name == "wise" else {}))
    fitted.fit(train_scores)
    restored = build(wise_plugins, name)
    restored.load_state_dict(json.loads(json.dumps(fitted.state_dict())))
    members = member_logits(test_scores, fitted.order)
    assert restored.order == fitted.order
    np.testing.assert_array_equal(restored.stage_logits(members), fitted.stage_logits(members))


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ({"order": ["a/x", "b/y"], "weights": [[1.0]]}, "do not fit an order of 2"),
        ({"order": ["a/x", "b/y"], "weights": [[1.0, 1.0], [1.0, 1.0]]}, "above the diagonal"),
    ],
)
def test_a_state_that_does_not_fit_is_refused(wise_plugins, state, message):
    with pytest.raises(ValueError, match=message):
        build(wise_plugins, "sum").load_state_dict(state)


def test_config_models_refuse_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match="extra"):
        SumConfig(weights={"iframe": 2})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        FusionConfig(weights={"iframe": -1})
    with pytest.raises(ValueError, match="greater than 0"):
        WiseConfig(lr=0)
