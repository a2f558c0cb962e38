"""Pretrained weights: a local file through timm's loader, adapted to the modality's channels; clear errors."""

from __future__ import annotations

import pytest
import torch

from pkd_toolkit.errors import PkdError
from pkd_toolkit.torch_compat import import_timm

MODEL = "test_resnet"  # timm's tiny ResNet: its first conv is "conv1.0", its classifier "fc"


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt of timm to fetch weights from a hub or URL fails the test."""
    builder = import_timm().models._builder

    def refuse(*args, **kwargs):
        raise AssertionError("timm tried to download weights")

    for name in ("load_state_dict_from_url", "load_state_dict_from_hf", "download_cached_file"):
        monkeypatch.setattr(builder, name, refuse)


@pytest.fixture(scope="module")
def imagenet_weights(tmp_path_factory):
    """A 3-channel, 1000-class checkpoint of MODEL, as a user would download it."""
    state = import_timm().create_model(MODEL, num_classes=1000).state_dict()
    path = tmp_path_factory.mktemp("weights") / f"{MODEL}.pth"
    torch.save(state, path)
    return path, state


def test_weights_load_with_the_input_conv_adapted_and_a_new_classifier(timm_backbone, imagenet_weights):
    path, saved = imagenet_weights
    backbone = timm_backbone(MODEL, in_chans=2, num_classes=5, pretrained=path)
    loaded = backbone.model.state_dict()
    for key, value in saved.items():
        if key == "conv1.0.weight":
            # timm's adaptation from 3 to 2 channels: the first two, scaled by 3/2 to keep the activation's size.
            assert torch.allclose(loaded[key], value[:, :2] * 1.5)
        elif key.startswith("fc."):
            assert loaded[key].shape[0] == 5
        else:
            assert torch.equal(loaded[key], value), key


def test_a_missing_weights_file_is_named(timm_backbone, tmp_path):
    with pytest.raises(PkdError, match=r"nowhere\.pth: pretrained weights for test_resnet not found"):
        timm_backbone(MODEL, pretrained=tmp_path / "nowhere.pth")


def test_weights_of_another_model_are_refused(timm_backbone, imagenet_weights):
    path, _ = imagenet_weights
    # No key in common: timm alone would load nothing, silently, as the class count differs.
    with pytest.raises(
        PkdError,
        match=r"test_resnet\.pth: does not fit test_byobnet: missing keys stem\.conv\.weight, .*"
        r"and \d+ more; unexpected keys conv1\.0\.weight",
    ):
        timm_backbone("test_byobnet", pretrained=path)
    with pytest.raises(
        PkdError, match=r"test_resnet\.pth: cannot load it as resnet18 weights: RuntimeError: .* size mismatch"
    ):
        timm_backbone("resnet18", pretrained=path)  # same keys, other shapes


def test_a_file_that_is_no_checkpoint_is_refused(timm_backbone, tmp_path):
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"these are not weights")
    with pytest.raises(PkdError, match=r"broken\.pth: cannot load it as test_resnet weights"):
        timm_backbone(MODEL, pretrained=broken)
