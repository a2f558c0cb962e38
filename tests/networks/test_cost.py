"""Cost per exit: cumulative MACs per frame from torch's FLOP counter, checked against the well-known figures."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from pkd_plugins.exit_heads.config import PaperICConfig
from pkd_plugins.exit_heads.heads import build_paper_ic
from pkd_toolkit.networks.cost import exit_costs
from pkd_toolkit.networks.multi_exit import ExitHead, MultiExitNetwork


def paper_network(timm_backbone, model: str, in_chans: int, ics: list[dict]) -> MultiExitNetwork:
    """``model`` with paper ICs, built on the meta device: counting needs shapes, not weights."""
    with torch.device("meta"):
        backbone = timm_backbone(model, in_chans=in_chans, num_classes=51)
        heads = []
        for number, options in enumerate(ics, start=1):
            config = PaperICConfig(**options)
            stage = backbone.stage(config.at)
            heads.append(
                ExitHead(f"ic{number}", stage.name, build_paper_ic(config, channels=stage.channels, num_classes=51))
            )
    return MultiExitNetwork(backbone, heads)


def gmacs(network: MultiExitNetwork, in_chans: int) -> list[float]:
    return [cost.gmacs for cost in exit_costs(network, (in_chans, 224, 224))]


@pytest.mark.parametrize(("model", "known"), [("resnet18", 1.82), ("resnet50", 4.11)])
def test_the_final_exit_of_a_plain_resnet_costs_its_well_known_gmacs(timm_backbone, model, known):
    (final,) = gmacs(paper_network(timm_backbone, model, 3, []), 3)
    assert final == pytest.approx(known, rel=0.03)


def test_resnet50_with_the_published_ics_costs_what_the_paper_publishes(timm_backbone):
    ics = [{"at": 1, "out_channels": 64}, {"at": 2, "out_channels": 256}, {"at": 3}]
    assert gmacs(paper_network(timm_backbone, "resnet50", 3, ics), 3) == pytest.approx(
        [1.26, 3.22, 6.54, 7.35], rel=0.03
    )


def test_the_published_resnet18_costs_are_the_mv_network_s_with_a_7x7_conv_at_ic2(timm_backbone):
    """docs/methods.md lists a 3x3 conv at IC2; the published 1.97 GMACs there need the 7x7 (padding 1) of IC1."""
    listed = [{"at": 1, "kernel_size": 7, "padding": 1}, {"at": 2}, {"at": 3}]
    as_published = [{"at": 1, "kernel_size": 7, "padding": 1}, {"at": 2, "kernel_size": 7, "padding": 1}, {"at": 3}]
    published = [1.09, 1.97, 2.49, 2.90]
    assert gmacs(paper_network(timm_backbone, "resnet18", 2, as_published), 2) == pytest.approx(published, rel=0.03)
    with_listed = gmacs(paper_network(timm_backbone, "resnet18", 2, listed), 2)
    assert with_listed[0] == pytest.approx(published[0], rel=0.03)
    assert with_listed[1] < published[1] * 0.9


def test_the_cost_of_an_exit_is_the_backbone_up_to_its_stage_and_every_head_run_so_far(resnet18):
    heads = [
        ExitHead(
            f"ic{n}",
            stage,
            build_paper_ic(PaperICConfig(at=stage), channels=resnet18.stage(stage).channels, num_classes=5),
        )
        for n, stage in enumerate(["layer1", "layer2"], start=1)
    ]
    network = MultiExitNetwork(resnet18, heads).eval()
    costs = exit_costs(network, (2, 64, 64))

    def macs(function, *args, **kwargs):  # counted here on real tensors, independently of exit_costs
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            result = function(*args, **kwargs)
        return counter.get_total_flops() / 2, result

    backbone_to_layer2, stages = macs(resnet18.forward_stages, torch.randn(1, 2, 64, 64), upto="layer2")
    head1, _ = macs(network.heads["ic1"], stages["layer1"])
    head2, _ = macs(network.heads["ic2"], stages["layer2"])
    assert [c.name for c in costs] == ["ic1", "ic2", "final"] and costs[1].stage == "layer2"
    assert costs[1].gmacs * 1e9 == pytest.approx(backbone_to_layer2 + head1 + head2)
    assert costs[1].head_gmacs * 1e9 == pytest.approx(head2)
    assert costs[-1].params == sum(p.numel() for p in network.parameters())  # the final exit has paid for everything
    assert costs[0].head_params == sum(p.numel() for p in network.heads["ic1"].parameters())
    assert costs[0].params == costs[0].head_params + sum(p.numel() for p in resnet18.segment_parameters("layer1"))
