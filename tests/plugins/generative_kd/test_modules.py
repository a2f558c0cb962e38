"""GKD's modules: shapes with one and several segments, the width adapter, and the attended network."""

from __future__ import annotations

import pytest
import torch

from pkd_plugins.generative_kd.modules import (
    AttendedBackbone,
    AttendedNetwork,
    AttentionHead,
    ConditionalVAE,
    WidthAdapter,
    frozen,
    mass_preserving_reweight,
)
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.networks.multi_exit import MultiExitNetwork

from .tiny import TinyBackbone, assert_close


@pytest.mark.parametrize("segments", [1, 3])
def test_attention_is_in_zero_one_per_clip_segment_and_channel(segments):
    torch.manual_seed(0)
    head = AttentionHead(6, hidden=4)
    attention = head(torch.randn(2 * segments, 6, 5, 5), segments)
    assert attention.shape == (2, segments, 6)
    assert ((attention > 0) & (attention < 1)).all()


def test_the_temporal_convolution_mixes_neighbouring_segments_only_when_its_kernel_does():
    torch.manual_seed(0)
    feature = torch.randn(3, 4, 2, 2)  # one clip of 3 segments
    moved = feature.clone()
    moved[2] += 1.0  # change the last segment only
    temporal, per_frame = AttentionHead(4, temporal_kernel=3), AttentionHead(4, temporal_kernel=1)
    assert not torch.allclose(temporal(feature, 3)[0, 1], temporal(moved, 3)[0, 1])
    assert_close(per_frame(feature, 3)[0, :2], per_frame(moved, 3)[0, :2])
    # with one segment the attention is per channel: each frame is its own clip
    assert_close(temporal(feature, 1)[:2], temporal(moved, 1)[:2])
    with pytest.raises(ValueError, match="odd"):
        AttentionHead(4, temporal_kernel=2)


@pytest.mark.parametrize("segments", [1, 2])
def test_the_cvae_encodes_per_segment_and_channel_and_decodes_any_map_size(segments):
    torch.manual_seed(0)
    cvae = ConditionalVAE(6, hidden=8, template_size=3)
    feature, attention = torch.randn(2 * segments, 6, 4, 5), torch.rand(2, segments, 6)
    output = cvae(feature, attention)
    assert output.mean.shape == output.log_var.shape == (2, segments, 6)
    assert output.reconstruction.shape == feature.shape
    assert cvae.generate(attention, (1, 1)).shape == (2 * segments, 6, 1, 1)
    assert cvae.generate(attention, (3, 3)).shape == (2 * segments, 6, 3, 3)  # the template's own size


def test_the_cvae_prior_is_centred_on_the_attention(monkeypatch):
    cvae = ConditionalVAE(2, hidden=4, template_size=1)
    attention = torch.tensor([0.2, 0.9]).expand(4000, 1, 2)  # 4000 clips with one attention
    codes = []
    decode = cvae.decode

    def recording(code, attention, size):
        codes.append(code)
        return decode(code, attention, size)

    monkeypatch.setattr(cvae, "decode", recording)
    torch.manual_seed(0)
    cvae.generate(attention, (1, 1))
    (drawn,) = codes
    assert_close(drawn.mean(0), attention[0], atol=0.05, rtol=0)
    assert_close(drawn.std(0), torch.ones(1, 2), atol=0.05, rtol=0)


def test_the_adapter_maps_a_narrower_student_to_the_teachers_width():
    adapter = WidthAdapter(student_channels=4, teacher_channels=10)
    feature, attention = adapter(torch.randn(6, 4, 3, 3), torch.randn(2, 3, 4))
    assert feature.shape == (6, 10, 3, 3) and attention.shape == (2, 3, 10)
    assert ((attention > 0) & (attention < 1)).all()
    assert sum(p.numel() for p in adapter.parameters()) == (4 * 10 + 10) * 2  # two 1x1 maps with biases


def test_the_adapter_of_equal_widths_is_the_identity_without_parameters():
    adapter = WidthAdapter(8, 8)
    feature, logits = torch.randn(2, 8, 1, 1), torch.randn(1, 2, 8)
    adapted, attention = adapter(feature, logits)
    assert adapted is feature
    assert_close(attention, torch.sigmoid(logits))
    assert not list(adapter.parameters())


def test_frozen_keeps_gradients_from_a_modules_parameters_but_not_from_its_inputs():
    layer = torch.nn.Linear(2, 2)
    x = torch.randn(1, 2, requires_grad=True)
    with frozen(layer):
        layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is None
    assert layer.weight.requires_grad  # restored afterwards


# -- the attended network -----------------------------------------------------------------------


def attended(layer: str = "block1") -> AttendedNetwork:
    torch.manual_seed(0)
    inner = TinyBackbone((4, 6))
    return AttendedNetwork(AttendedBackbone(inner, layer, AttentionHead(inner.stage(layer).channels)), [])


@pytest.mark.parametrize("layer", ["block1", "block2"])
def test_the_attended_network_classifies_the_reweighted_feature(layer):
    network = attended(layer)
    inner, attention = network.backbone.inner, network.backbone.attention
    clips = torch.randn(2, 3, 3, 8, 8)
    frames = clips.flatten(0, 1)
    feature = inner.forward_stages(frames, upto=layer)[layer]
    reweighted = mass_preserving_reweight(feature, attention(feature, 3))
    last = reweighted if layer == "block2" else inner.forward_stages(frames, start=(layer, reweighted))["block2"]
    expected = inner.forward_head(last).unflatten(0, (2, 3))
    outputs = network(clips)
    assert_close(outputs.logits["final"], expected)
    assert_close(outputs.features[layer], reweighted)
    # the segment count matters: the same frames as 6 one-segment clips are another attention
    one_segment_clips = network(clips.flatten(0, 1)[:, None]).logits["final"]
    assert not torch.allclose(one_segment_clips.flatten(0, 1), expected.flatten(0, 1))


def test_the_attended_cascade_gives_the_forward_logits_and_shallow_stages_skip_the_attention():
    network = attended("block2")
    clips = torch.randn(2, 3, 3, 8, 8)
    ((name, logits),) = list(network.cascade(clips))
    assert name == "final"
    assert_close(logits, network(clips).consensus()["final"])
    frames = clips.flatten(0, 1)
    assert_close(
        network.backbone.forward_stages(frames, upto="block1")["block1"],
        network.backbone.inner.forward_stages(frames, upto="block1")["block1"],
    )


def test_the_attention_is_part_of_its_stage_for_costs_and_freezing():
    network = attended("block2")
    assert network.backbone.attention in network.backbone.segment_modules("block2")
    assert network.backbone.attention not in network.backbone.segment_modules("block1")
    (plain,) = exit_costs(MultiExitNetwork(network.backbone.inner, []), (3, 8, 8))
    (with_attention,) = exit_costs(network, (3, 8, 8))
    attention_parameters = sum(p.numel() for p in network.backbone.attention.parameters())
    assert with_attention.params == plain.params + attention_parameters
    assert with_attention.gmacs > plain.gmacs
