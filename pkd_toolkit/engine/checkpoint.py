"""Checkpoints: everything needed to continue a run exactly, loadable with ``weights_only=True``.

A checkpoint holds the state of every module of the run (backbones, every
schedule's exits and extra modules), the current stage's optimizers and
schedulers, where the run is (stage, finished epochs, finished stages), the
random number generators and the resolved recipe. Files are written
atomically: a killed run keeps its previous checkpoint intact.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pkd_toolkit.atomic import atomic_path
from pkd_toolkit.errors import PkdError

def save(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path, durable=True) as temporary:  # a run resumes from it
        torch.save(state, temporary)


def load(path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """A checkpoint (or any file torch.save wrote) loaded with ``weights_only``; ``mmap``: tensors stay on disk
    until used (cheap for a look at what the file holds; files of torch's old format are read whole)."""
    try:
        if mmap:
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as error:
                if "mmap" not in str(error):
                    raise
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PkdError(f"{path}: no such checkpoint") from None
    except Exception as error:  # torch raises many types for a corrupt or foreign file
        raise PkdError(f"{path}: not a readable pkd-toolkit checkpoint ({type(error).__name__}: {error})") from None


def rng_state() -> dict[str, Any]:
    """The generators' states in types ``weights_only`` loading accepts (no numpy objects)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": position, "has_gauss": has_gauss, "gauss": gauss},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, list | tuple) else value
