"""Exit components: the paper's IC head, sized from the stage, its published convs expressible; the light head."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from pkd_plugins.exit_heads.config import LightExitConfig, PaperICConfig
from pkd_plugins.exit_heads.heads import build_light_exit, build_paper_ic

# docs/methods.md, "Early exits": the convs of the published ICs, as recipe options.
PUBLISHED = {
    "resnet18": [({"kernel_size": 7, "padding": 1}, 64, (64, 7, 1)), ({}, 128, (128, 3, 1)), ({}, 256, (256, 3, 1))],
    "resnet50": [
        ({"out_channels": 64}, 256, (64, 3, 1)),
        ({"out_channels": 256}, 512, (256, 3, 1)),
        ({}, 1024, (1024, 3, 1)),
    ],
}


@pytest.mark.parametrize("network", PUBLISHED)
def test_the_published_ic_convs_are_expressible(network):
    for options, channels, (out_channels, kernel, padding) in PUBLISHED[network]:
        head = build_paper_ic(PaperICConfig(at=1, **options), channels=channels, num_classes=51)
        assert [type(m).__name__ for m in head] == ["Conv2d", "BatchNorm2d", "AdaptiveAvgPool2d", "Flatten", "Linear"]
        conv, norm, pool, _, linear = head
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (
            channels, out_channels, (kernel, kernel), (padding, padding)
        )  # fmt: skip
        assert norm.num_features == out_channels and pool.output_size == 4
        assert (linear.in_features, linear.out_features) == (out_channels * 16, 51)


@pytest.mark.parametrize("size", [56, 7, 2])
def test_the_paper_ic_maps_any_feature_map_size_to_logits(size):
    head = build_paper_ic(PaperICConfig(at="layer1"), channels=8, num_classes=3)
    assert head(torch.randn(2, 8, size, size)).shape == (2, 3)


def test_the_light_exit_pools_globally_then_classifies():
    head = build_light_exit(LightExitConfig(at=2, pool="max"), channels=8, num_classes=3)
    assert sum(p.numel() for p in head.parameters()) == 8 * 3 + 3  # one linear layer, nothing else
    x = torch.randn(2, 8, 5, 5)
    expected = head.fc(x.amax(dim=(2, 3)))
    assert torch.allclose(head(x), expected)


def test_exit_configs_default_to_stages_one_to_three_and_refuse_unknown_keys():
    assert PaperICConfig().at == [1, 2, 3]  # the paper's placement
    with pytest.raises(ValidationError, match="kernel"):
        PaperICConfig(at=1, kernel=3)
    with pytest.raises(ValidationError):
        PaperICConfig(at=0)  # stages count from 1
    with pytest.raises(ValidationError):
        PaperICConfig(at=[1, 0])
