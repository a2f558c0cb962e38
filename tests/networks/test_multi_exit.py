"""MultiExitNetwork: every exit in one forward, partial forwards, shared stage outputs, the cascade."""

from __future__ import annotations

import pytest
import torch

from pkd_toolkit.errors import UsageError
from pkd_toolkit.networks.building import build_exit_heads, build_network
from pkd_toolkit.networks.multi_exit import ExitHead, MultiExitNetwork

PAPER_EXITS = [
    {"name": "paper_ic", "at": "layer1"},
    {"name": "paper_ic", "at": 2},
    {"name": "paper_ic", "at": "layer3"},
]


@pytest.fixture
def network(resnet18, network_section, toy_plugins):
    section = network_section({"model": "resnet18"}, PAPER_EXITS)
    return MultiExitNetwork(
        resnet18, build_exit_heads(section, resnet18, num_classes=5, registry=toy_plugins.registry)
    ).eval()


@pytest.fixture
def clips():
    return torch.randn(2, 3, 2, 32, 32)  # batch 2, 3 segments, 2 channels (motion vectors)


def stage_modules(backbone):
    """The modules of each stage's segment, and of the head, by name, to count their calls."""
    named = {
        f"{info.name}/{i}": m for info in backbone.stages for i, m in enumerate(backbone.segment_modules(info.name))
    }
    return named | {f"head/{i}": m for i, m in enumerate(backbone.head_modules())}


def test_one_forward_gives_every_exit_per_segment_and_their_consensus(network, clips):
    with torch.no_grad():
        outputs = network(clips)
    assert network.exit_names == ["ic1", "ic2", "ic3", "final"]
    assert [network.exit_stage(name) for name in network.exit_names] == ["layer1", "layer2", "layer3", "layer4"]
    assert list(outputs.logits) == network.exit_names
    assert all(logits.shape == (2, 3, 5) for logits in outputs.logits.values())
    assert {name: tuple(f.shape) for name, f in outputs.features.items()} == {
        "layer1": (6, 64, 8, 8), "layer2": (6, 128, 4, 4), "layer3": (6, 256, 2, 2), "layer4": (6, 512, 1, 1)
    }  # fmt: skip
    consensus = outputs.consensus()
    assert torch.allclose(consensus["ic2"], outputs.logits["ic2"].mean(dim=1))
    # The final exit is the backbone's own classifier, frame by frame.
    assert torch.allclose(outputs.logits["final"][1, 2], network.backbone(clips[1, 2:3])[0], atol=1e-5)


def test_a_partial_forward_equals_the_full_forward_s_prefix_and_computes_nothing_more(network, clips, count_calls):
    with torch.no_grad():
        full = network(clips)
        with count_calls(stage_modules(network.backbone)) as calls:
            partial = network(clips, upto="ic2")
    assert list(partial.logits) == ["ic1", "ic2"] and list(partial.features) == ["layer1", "layer2"]
    assert all(torch.equal(partial.logits[name], full.logits[name]) for name in partial.logits)
    assert {name.split("/")[0] for name in calls} == {"layer1", "layer2"}
    with pytest.raises(KeyError, match="no exit 'ic9'; exits: ic1, ic2, ic3, final"):
        network(clips, upto="ic9")


def test_a_second_head_set_reuses_the_stage_outputs_of_the_first(
    network, network_section, toy_plugins, clips, count_calls
):
    """As in the engine: CE and PKD heads on one frozen backbone, one backbone pass per batch."""
    section = network_section({"model": "resnet18"}, PAPER_EXITS)
    second = MultiExitNetwork(
        network.backbone, build_exit_heads(section, network.backbone, num_classes=5, registry=toy_plugins.registry)
    ).eval()
    assert not {id(p) for p in second.heads.parameters()} & {id(p) for p in network.heads.parameters()}
    with torch.no_grad():
        first = network(clips)
        with count_calls(stage_modules(network.backbone)) as calls:
            again = second(clips, features=first.features)
    assert set(calls) == {"head/0", "head/1"}  # the final head only (global_pool, fc): no stage ran again
    assert torch.equal(again.logits["final"], first.logits["final"])
    assert not torch.equal(again.logits["ic1"], first.logits["ic1"])  # its own, independently initialised, heads


def test_stage_outputs_given_in_part_are_completed_from_the_deepest_useful_one(network, clips, count_calls):
    with torch.no_grad():
        full = network(clips)
        with count_calls(stage_modules(network.backbone)) as calls:
            completed = network(clips, features={"layer2": full.features["layer2"]})
    # layer1 must be recomputed from the input (ic1 reads it); layer3 and layer4 resume from layer1's run.
    assert {name.split("/")[0] for name in calls} == {"layer1", "layer2", "layer3", "layer4", "head"}
    assert torch.allclose(completed.logits["final"], full.logits["final"], atol=1e-5)


def test_the_cascade_yields_exit_by_exit_running_each_stage_once(network, clips, count_calls):
    with torch.no_grad():
        expected = network(clips).consensus()
        with count_calls(stage_modules(network.backbone)) as calls:
            cascade = network.cascade(clips)
            name, logits = next(cascade)
            assert name == "ic1" and torch.allclose(logits, expected["ic1"], atol=1e-5)
            assert {n.split("/")[0] for n in calls} == {"layer1"}  # nothing deeper until asked
            rest = list(cascade)
    assert [name for name, _ in rest] == ["ic2", "ic3", "final"]
    assert all(torch.allclose(logits, expected[name], atol=1e-5) for name, logits in rest)
    assert set(calls.values()) == {1}  # every stage module and the head ran exactly once


def test_exits_are_named_in_depth_order_whatever_the_recipe_order(resnet18, network_section, toy_plugins):
    exits = [{"name": "light", "at": 3}, {"name": "paper_ic", "at": "layer1"}, {"name": "paper_ic", "at": 3}]
    heads = build_exit_heads(
        network_section({"model": "resnet18"}, exits), resnet18, num_classes=5, registry=toy_plugins.registry
    )
    assert [(h.name, h.stage, type(h.module).__name__) for h in heads] == [
        ("ic1", "layer1", "Sequential"), ("ic2", "layer3", "ClassifierHead"), ("ic3", "layer3", "Sequential")
    ]  # fmt: skip
    assert MultiExitNetwork(resnet18, [heads[2], heads[0]]).exit_names == ["ic1", "ic3", "final"]  # depth order


def test_one_exit_entry_placed_at_several_stages_defaults_to_the_papers_three(resnet18, network_section, toy_plugins):
    heads = build_exit_heads(
        network_section({"model": "resnet18"}, [{"name": "paper_ic"}, {"name": "light", "at": [2]}]),
        resnet18, num_classes=5, registry=toy_plugins.registry,
    )  # fmt: skip
    assert [(h.name, h.stage) for h in heads] == [("ic1", "layer1"), ("ic2", "layer2"), ("ic3", "layer2"), ("ic4", "layer3")]
    assert heads[1].module is not heads[3].module  # one head per stage, sized from that stage
    assert heads[0].module[0].in_channels == 64 and heads[3].module[0].in_channels == 256


def test_an_exit_at_an_unknown_stage_lists_the_stages(resnet18, network_section, toy_plugins):
    section = network_section(
        {"model": "resnet18"}, [{"name": "paper_ic", "at": 1}, {"name": "paper_ic", "at": "layer5"}]
    )
    message = r"networks\.mv\.exits\[1\]: at: resnet18 has no stage 'layer5'; its stages are 1: layer1, 2: layer2"
    with pytest.raises(UsageError, match=message):
        build_exit_heads(section, resnet18, num_classes=5, registry=toy_plugins.registry, label="mv")
    with pytest.raises(UsageError, match="has no stage 5"):
        resnet18.stage(5)


def test_build_network_sizes_backbone_and_exits_from_the_recipe(network_section, toy_plugins):
    section = network_section(
        {"model": "test_resnet", "input_norm": True}, [{"name": "paper_ic", "at": 2, "out_channels": 16}]
    )
    network = build_network(section, in_chans=2, num_classes=7, registry=toy_plugins.registry)
    assert network.backbone.model.conv1[0].in_channels == 2 and network.backbone.input_norm.num_features == 2
    assert network.heads["ic1"][0].in_channels == network.backbone.stage(2).channels  # from feature_info
    assert network.eval()(torch.randn(1, 2, 2, 32, 32)).logits["ic1"].shape == (1, 2, 7)


def test_exit_names_must_be_unique_and_not_final(resnet18):
    head = torch.nn.Linear(1, 1)
    with pytest.raises(ValueError, match="unique"):
        MultiExitNetwork(resnet18, [ExitHead("ic1", "layer1", head), ExitHead("ic1", "layer2", head)])
    with pytest.raises(ValueError, match="unique"):
        MultiExitNetwork(resnet18, [ExitHead("final", "layer1", head)])
