"""GKD's losses against values computed independently, with numpy and by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pkd_plugins.generative_kd.modules import (
    CvaeOutput,
    attention_distillation_loss,
    cvae_loss,
    generative_weight,
    mass_preserving_reweight,
)
from pkd_plugins.generative_kd.schedule import gkd_epoch, in_engine_epochs, is_cvae_epoch, is_network_epoch
from pkd_toolkit.recipe.settings import SchedulerSettings

from .tiny import assert_close

# One clip of two segments, two channels, 1x2 maps: feature [B*S, C, H, W], attention [B, S, C].
FEATURE = np.array([[[[1.0, 2.0]], [[0.5, -1.0]]], [[[3.0, 0.0]], [[2.0, 1.0]]]])
RECONSTRUCTION = np.array([[[[1.5, 2.0]], [[0.0, -1.0]]], [[[2.0, 1.0]], [[2.0, 0.5]]]])
MEAN = np.array([[[0.2, -0.4], [1.0, 0.3]]])
LOG_VAR = np.array([[[0.0, 0.5], [-1.0, 0.2]]])
ATTENTION = np.array([[[0.5, 0.9], [0.1, 0.3]]])


def tensor(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float32)


def kl_to_shifted_prior(mean: np.ndarray, log_var: np.ndarray, prior_mean: np.ndarray) -> np.ndarray:
    """KL(N(mean, var) || N(prior_mean, 1)) per element, in the textbook form log(1/s) + (s^2 + d^2)/2 - 1/2."""
    sigma = np.exp(log_var / 2)
    return np.log(1 / sigma) + (sigma**2 + (mean - prior_mean) ** 2) / 2 - 0.5


def test_cvae_loss_is_the_mean_squared_error_plus_a_tenth_of_the_mean_kl_to_n_of_a():
    output = CvaeOutput(tensor(MEAN), tensor(LOG_VAR), tensor(RECONSTRUCTION))
    expected = np.mean((FEATURE - RECONSTRUCTION) ** 2) + 0.1 * np.mean(kl_to_shifted_prior(MEAN, LOG_VAR, ATTENTION))
    loss = cvae_loss(tensor(FEATURE), output, tensor(ATTENTION))
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    weighted = cvae_loss(tensor(FEATURE), output, tensor(ATTENTION), kl_weight=2.0)
    kl = np.mean(kl_to_shifted_prior(MEAN, LOG_VAR, ATTENTION))
    assert float(weighted) == pytest.approx(np.mean((FEATURE - RECONSTRUCTION) ** 2) + 2.0 * kl, rel=1e-6)


def test_cvae_loss_by_hand():
    # a code distributed as its prior costs nothing; a mean one off the prior's costs 1/2 per element
    feature = torch.zeros(1, 1, 1, 1)
    on_prior = CvaeOutput(torch.full((1, 1, 1), 0.7), torch.zeros(1, 1, 1), torch.full((1, 1, 1, 1), 2.0))
    assert float(cvae_loss(feature, on_prior, torch.full((1, 1, 1), 0.7))) == pytest.approx(4.0)
    off_prior = CvaeOutput(torch.full((1, 1, 1), 1.7), torch.zeros(1, 1, 1), torch.zeros(1, 1, 1, 1))
    assert float(cvae_loss(feature, off_prior, torch.full((1, 1, 1), 0.7))) == pytest.approx(0.1 * 0.5)


def test_mass_preserving_reweight_weights_channels_and_keeps_each_clips_sum():
    # two clips of two segments; the attention weights each (segment, channel)
    feature = np.arange(1, 33, dtype=float).reshape(4, 2, 2, 2) / 10
    attention = np.array([[[0.2, 0.8], [0.5, 0.5]], [[1.0, 0.1], [0.3, 0.6]]])
    expected = []
    for clip in range(2):
        frames = feature[2 * clip : 2 * clip + 2]
        weighted = frames * attention[clip][:, :, None, None]
        expected.append(weighted * frames.sum() / weighted.sum())
    result = mass_preserving_reweight(tensor(feature), tensor(attention)).numpy()
    np.testing.assert_allclose(result, np.concatenate(expected), rtol=1e-6)
    np.testing.assert_allclose(result.reshape(2, -1).sum(1), feature.reshape(2, -1).sum(1), rtol=1e-6)


def test_mass_preserving_reweight_by_hand():
    # channel masses 1 and 3, attention 1 and 0: everything moves to the first channel, mass 4 kept
    feature = torch.tensor([[[[1.0]], [[3.0]]]])
    result = mass_preserving_reweight(feature, torch.tensor([[[1.0, 0.0]]]))
    assert result.flatten().tolist() == pytest.approx([4.0, 0.0])


def test_mass_preserving_reweight_stays_finite_when_the_feature_vanishes():
    zero = torch.zeros(1, 2, 1, 1)
    result = mass_preserving_reweight(zero, torch.full((1, 1, 2), 0.5))
    assert torch.isfinite(result).all() and float(result.abs().sum()) == 0.0


@pytest.mark.parametrize("attention", [[0.9, 0.1], [0.1, 0.9], [0.5, 0.5]])
def test_mass_preserving_reweight_keeps_signed_features_signs_and_absolute_mass(attention):
    # A batch-normed stage: the signed sum nearly cancels (0.001), so the published ratio sum(F) / sum(F * A)
    # would scale this clip by 0.00125 (attention 0.9, 0.1) or by a negative number (0.1, 0.9).
    feature = torch.tensor([[[[1.0]], [[-0.999]]]])
    weights = torch.tensor([[attention]])
    result = mass_preserving_reweight(feature, weights)
    factor = result / (feature * weights[0, 0, :, None, None])
    assert torch.allclose(factor, factor.flatten()[0]) and float(factor.flatten()[0]) > 0
    assert float(factor.flatten()[0]) <= 1 / min(attention) + 1e-6
    assert float(result.abs().sum()) == pytest.approx(float(feature.abs().sum()))


def test_mass_preserving_reweight_sums_half_precision_clips_without_overflow():
    feature = torch.full((2, 64, 16, 16), 4.0, dtype=torch.float16)  # a clip's mass, 131072, is beyond float16's range
    result = mass_preserving_reweight(feature, torch.full((1, 2, 64), 0.5))
    assert torch.isfinite(result).all()
    assert_close(result.float(), feature.float())


def test_attention_distillation_is_the_mean_squared_difference_and_leaves_the_teacher_alone():
    student = torch.tensor([[[0.2, 0.9], [0.4, 0.5]]], requires_grad=True)
    teacher = torch.tensor([[[0.1, 0.5], [0.4, 0.8]]], requires_grad=True)
    loss = attention_distillation_loss(student, teacher)
    assert float(loss.detach()) == pytest.approx((0.01 + 0.16 + 0.0 + 0.09) / 4)
    loss.backward()
    assert student.grad is not None and teacher.grad is None
    with pytest.raises(ValueError, match="differ"):
        attention_distillation_loss(student, teacher[:, :1])


def test_the_generative_weight_ramps_to_a_half_over_twenty_epochs():
    assert [generative_weight(epoch) for epoch in (1, 2, 10, 19, 20, 21, 100)] == pytest.approx(
        [0.025, 0.05, 0.25, 0.475, 0.5, 0.5, 0.5]
    )
    assert generative_weight(3, weight=2.0, ramp_epochs=4) == pytest.approx(1.5)
    assert generative_weight(1, weight=0.3, ramp_epochs=0) == pytest.approx(0.3)


def test_phase_two_alternates_cvae_and_network_epochs_within_each_gkd_epoch():
    engine_epochs = range(6)
    assert [gkd_epoch(e) for e in engine_epochs] == [1, 1, 2, 2, 3, 3]
    assert [is_cvae_epoch(e) for e in engine_epochs] == [True, False, True, False, True, False]
    assert [is_network_epoch(e) for e in engine_epochs] == [False, True, False, True, False, True]
    # the recipe's milestones count GKD epochs; the engine steps schedulers per engine epoch
    settings = in_engine_epochs(SchedulerSettings(name="step", milestones=[3, 10], warmup_epochs=1))
    assert settings.milestones == [6, 20] and settings.warmup_epochs == 2 and settings.name == "step"
