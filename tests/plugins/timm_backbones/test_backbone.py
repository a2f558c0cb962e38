"""The ``timm`` backbone: stages of any family, run one at a time, in_chans, names, freezing."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from pkd_plugins.timm_backbones.config import TimmBackboneConfig
from pkd_toolkit.errors import UsageError

# A tiny ViT whose stages can be feature maps: no class token, mean-pooled head, 32x32 input.
TINY_VIT = {"model_kwargs": {"img_size": 32, "class_token": False, "global_pool": "avg"}}
FAMILIES = {
    "resnet18": {},
    "mobilenetv3_small_050": {},
    "efficientnet_b0": {},
    "regnetx_002": {},
    "convnext_atto": {},
    "test_vit": TINY_VIT,
}


@pytest.mark.parametrize("model", FAMILIES)
def test_each_family_runs_stage_by_stage_as_timm_runs_it_whole(model, timm_backbone):
    backbone = timm_backbone(model, in_chans=2, **FAMILIES[model]).eval()
    x = torch.randn(2, 2, 32, 32)
    names = [info.name for info in backbone.stages]
    with torch.no_grad():
        outputs = backbone.forward_stages(x)
        assert list(outputs) == names
        # Stages are timm's feature_info levels: channels and size from it, no count written here.
        info = {i["module"]: i for i in backbone.model.feature_info}
        for stage in backbone.stages:
            assert stage.channels == info[stage.name]["num_chs"]
            expected = (2, stage.channels, 32 // stage.reduction, 32 // stage.reduction)
            assert tuple(outputs[stage.name].shape) == expected
        assert torch.allclose(backbone(x), backbone.model(x), atol=1e-5)  # stem, stages and head = timm's forward

        # Resuming from a saved stage output gives what one pass gives.
        resumed = backbone.forward_stages(x, start=(names[1], outputs[names[1]]))
        assert list(resumed) == names[2:]
        assert torch.allclose(resumed[names[-1]], outputs[names[-1]], atol=1e-5)


@pytest.mark.parametrize("model", ["resnet18", "test_vit"])
def test_a_partial_forward_computes_nothing_beyond_its_stage(model, timm_backbone, count_calls):
    backbone = timm_backbone(model, **FAMILIES[model]).eval()
    deeper = {
        f"{info.name}/{i}": module
        for info in backbone.stages[2:]
        for i, module in enumerate(backbone.segment_modules(info.name))
    }
    deeper |= {f"head/{i}": module for i, module in enumerate(backbone.head_modules())}
    with torch.no_grad(), count_calls(deeper) as calls:
        outputs = backbone.forward_stages(torch.randn(1, 3, 32, 32), upto=backbone.stages[1].name)
    assert list(outputs) == [info.name for info in backbone.stages[:2]]
    assert not calls


@pytest.mark.parametrize("model", ["resnet18", "convnext_atto", "test_vit"])
def test_stage_segments_and_head_share_out_every_parameter_once(model, timm_backbone):
    backbone = timm_backbone(model, input_norm=True, **FAMILIES[model])
    groups = [backbone.segment_parameters(info.name) for info in backbone.stages] + [backbone.head_parameters()]
    ids = [id(p) for group in groups for p in group]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in backbone.parameters()}


@pytest.mark.parametrize("in_chans", [2, 3])
def test_in_chans_sets_the_stem_and_the_input_norm(in_chans, timm_backbone):
    backbone = timm_backbone("resnet18", in_chans=in_chans, input_norm=True)
    assert backbone.model.conv1.in_channels == in_chans
    assert backbone.input_norm.num_features == in_chans
    assert backbone.segment_modules("layer1")[0] is backbone.input_norm  # the first segment starts with it
    assert backbone.eval()(torch.randn(1, in_chans, 32, 32)).shape == (1, 5)


def test_stage_one_of_a_cnn_is_its_first_stage_after_the_stem(timm_backbone):
    assert [s.name for s in timm_backbone("resnet18").stages] == ["layer1", "layer2", "layer3", "layer4"]
    with_stem = timm_backbone("resnet18", min_reduction=2).stages
    assert [(s.name, s.reduction) for s in with_stem[:2]] == [("act1", 2), ("layer1", 4)]


RECIPE = """\
name: names
data: {name: toy}
modalities: {mv: {name: toy, channels: 2}}
networks:
  mv:
    modality: mv
    backbone: {name: timm, model: resnet81}
"""


def test_a_model_timm_lacks_is_refused_with_the_closest_names(cli, write, toy_plugins):
    result = cli("validate", write("recipe.yaml", RECIPE), plugins=toy_plugins)
    assert result.code == 2 and "Traceback" not in result.err
    assert (
        "recipe.yaml:7: networks.mv.backbone.model: timm has no model 'resnet81': did you mean resnet18" in result.err
    )
    with pytest.raises(ValidationError, match="did you mean mobilenetv3_large_075, mobilenetv3_large_100"):
        TimmBackboneConfig(model="mobilenetv3")
    with pytest.raises(ValidationError, match=r"no pretrained tag 'nope' \(tags: .*resnet18\.a1_in1k"):
        TimmBackboneConfig(model="resnet18.nope")
    assert TimmBackboneConfig(model="resnet18.a1_in1k").model == "resnet18.a1_in1k"


def test_a_vit_with_a_class_token_is_refused_with_the_fix(timm_backbone):
    with pytest.raises(UsageError, match=r"class or register tokens.*class_token: false, global_pool: avg"):
        timm_backbone("test_vit")


def test_create_model_arguments_the_component_sets_are_refused(network_section):
    with pytest.raises(ValidationError, match="in_chans cannot be set here"):
        network_section({"model": "resnet18", "model_kwargs": {"in_chans": 3}})


def test_a_frozen_backbone_gets_no_gradient_and_keeps_its_statistics(timm_backbone):
    backbone = timm_backbone("resnet18", input_norm=True, freeze=True).train()
    statistics = {k: v.clone() for k, v in backbone.state_dict().items() if "running" in k}
    x = (torch.randn(2, 3, 32, 32) * 3 + 1).requires_grad_()
    backbone(x).sum().backward()
    assert x.grad is not None  # gradients still flow through it, to whatever comes before
    assert all(not p.requires_grad and p.grad is None for p in backbone.parameters())
    assert all(torch.equal(v, backbone.state_dict()[k]) for k, v in statistics.items())
    assert backbone.training  # the backbone says training; its frozen modules stay in eval mode


def test_freezing_up_to_a_stage_leaves_the_deeper_stages_training(timm_backbone, network_section):
    section = network_section({"model": "resnet18", "input_norm": True, "freeze": "layer2"})
    backbone = timm_backbone("resnet18", **section.backbone.model_dump(exclude={"name", "model"})).train()
    frozen = {id(p) for stage in ("layer1", "layer2") for p in backbone.segment_parameters(stage)}
    backbone(torch.randn(2, 3, 32, 32)).sum().backward()
    for parameter in backbone.parameters():
        assert (parameter.grad is None) == (id(parameter) in frozen)
    assert not backbone.input_norm.training and not backbone.model.layer2.training
    assert backbone.model.layer3.training and backbone.model.fc.training
    with pytest.raises(UsageError, match=r"backbone\.freeze: resnet18 has no stage 'layer9'; its stages are 1: layer1"):
        timm_backbone("resnet18", freeze="layer9")
