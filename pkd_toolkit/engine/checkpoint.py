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
from pkd_toolkit.errors import PkdError, UsageError

# Keys of the recipe that may differ between a checkpoint and the run resuming from it.
RESUMABLE_DIFFERENCES = {
    ("description",),
    ("output_dir",),
    ("train", "device"),
    ("train", "num_workers"),
    ("train", "prefetch"),
    ("train", "persistent_workers"),
    ("train", "process_group_timeout"),
    ("train", "eval_batch_size"),
}


def save(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as temporary:
        torch.save(state, temporary)


def load(path: Path) -> dict[str, Any]:
    try:
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


def check_same_recipe(checkpoint_path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    """Refuse to resume from a checkpoint another recipe wrote (a few engine settings may differ)."""
    differences = [path for path in _differences(saved, current) if path[:2] not in RESUMABLE_DIFFERENCES and path[:1] not in RESUMABLE_DIFFERENCES]
    if differences:
        shown = "; ".join(
            f"{'.'.join(map(str, path))}: {_get(saved, path)!r} in the checkpoint, {_get(current, path)!r} now"
            for path in differences[:3]
        )
        more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
        raise UsageError(
            f"{checkpoint_path}: written by a different recipe: {shown}{more}; "
            "resume with the recipe that started the run, or start a new run"
        )


def _differences(a: Any, b: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for key in sorted(set(a) | set(b), key=str) for d in _differences(a.get(key), b.get(key), (*path, key))]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in _differences(x, y, (*path, i))]
    return [] if a == b else [path]


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else data[key]
    return data
