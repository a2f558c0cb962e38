"""A local weights file for ``pretrained:``: what it must hold, checked before a run (``preflight``).

timm's own loader (``timm.models.load_state_dict``) takes a ``.safetensors``
file or anything ``torch.save`` wrote that is a state dict, or a dict holding
one under ``state_dict_ema``, ``model_ema``, ``state_dict`` or ``model``. This
reads the file the same way, lazily (``mmap``: tensors stay on disk), and says
what is wrong with it: missing, unreadable, or holding something that is not
a state dict (a tensor, a list). Whether the keys fit the model is told when
the backbone is built, where timm compares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pkd_toolkit.api import with_article

# Where timm's loader looks for the state dict inside a checkpoint dict, in its order.
STATE_DICT_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model")


def weights_file_problem(path: Path) -> str | None:
    """None when ``path`` holds a state dict timm can load; else what is wrong, starting with the path."""
    if not path.exists():
        return f"{path}: no such file"
    if not path.is_file():
        return f"{path}: is a folder, not a weights file"
    try:
        content = _read_safetensors(path) if path.suffix == ".safetensors" else _read(path)
    except Exception as error:  # torch and safetensors raise many types for a file of another kind
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{path}: cannot be read as weights ({first})"
    if content is _SAFETENSORS:
        return None
    if isinstance(content, Mapping):
        content = next((content[key] for key in STATE_DICT_KEYS if isinstance(content.get(key), Mapping)), content)
    if not _is_state_dict(content):
        kind = type(content).__name__
        return f"{path}: holds {with_article(kind)}, not a state dict of weights" + (" (it is empty)" if kind == "dict" else "")
    return None


_SAFETENSORS = object()  # a safetensors file with tensors in it: a state dict by construction


def _read_safetensors(path: Path) -> Any:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return _SAFETENSORS if list(handle.keys()) else {}


def _read(path: Path) -> Any:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as error:
        if "mmap" not in str(error):  # torch's old file format cannot be mapped: read it whole
            raise
        return torch.load(path, map_location="cpu", weights_only=True)


def _is_state_dict(content: Any) -> bool:
    if not isinstance(content, Mapping) or not content:
        return False
    import torch

    return all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in content.items())
