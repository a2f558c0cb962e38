"""The run's networks: one per recipe network, built from the recipe, loaded from given weights, given fresh exits."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.runtime import seeded
from pkd_toolkit.errors import PkdError, with_article
from pkd_toolkit.networks.building import build_exit_heads, build_network
from pkd_toolkit.networks.multi_exit import MultiExitNetwork
from pkd_toolkit.plugin.registry import ComponentRegistry
from pkd_toolkit.recipe.settings import RecipeBase


class RunModel(nn.Module):
    """Every module of a run, under one state dict: ``networks.<name>`` and ``schedules.<label>``."""

    def __init__(self, networks: Mapping[str, MultiExitNetwork]):
        super().__init__()
        self.networks = nn.ModuleDict(networks)
        self.schedules = nn.ModuleDict()


def build_networks(
    recipe: RecipeBase, registry: ComponentRegistry, modalities: Mapping[str, Any], num_classes: int
) -> dict[str, MultiExitNetwork]:
    """One base network (backbone and its own head, no early exits yet) per recipe network."""
    networks = {}
    for index, (name, section) in enumerate(recipe.networks.items()):
        with seeded(recipe.seed + index):
            networks[name] = build_network(
                section,
                in_chans=modalities[section.modality].channels,
                num_classes=num_classes,
                registry=registry,
                label=name,
                exits=False,
            )
        if section.weights is not None:
            load_weights(name, networks[name], section.weights)
    return networks


def load_weights(name: str, network: MultiExitNetwork, path: Path) -> None:
    """Load a trained network: from a pkd-toolkit checkpoint (same network name) or a plain state dict."""
    state = network_state(name, path)
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise PkdError(f"{path}: does not fit network {name!r}: {first}") from None


def network_state(name: str, path: Path, *, mmap: bool = False) -> dict[str, Any]:
    """The state dict of network ``name`` in ``path`` (a pkd-toolkit checkpoint holding that network, or a
    plain state dict); :class:`PkdError` naming the file when it is missing or holds something else."""
    if not Path(path).is_file():
        raise PkdError(f"{path}: no such file")
    state: Any = checkpoint.load(path, mmap=mmap)
    if isinstance(state, Mapping) and "model" in state and "format" in state:
        prefix = f"networks.{name}."
        found = {key[len(prefix) :]: value for key, value in state["model"].items() if key.startswith(prefix)}
        if not found:
            present = sorted({key.split(".")[1] for key in state["model"] if key.startswith("networks.")})
            raise PkdError(f"{path}: holds no network {name!r} (it holds: {', '.join(present) or 'none'})")
        state = found
    if not _is_state_dict(state):
        raise PkdError(f"{path}: holds {with_article(type(state).__name__)}, not a state dict of weights")
    return dict(state)


def weights_problem(name: str, path: Path) -> str | None:
    """Why ``path`` cannot give network ``name`` its weights, or None; reads what the file holds, no more."""
    try:
        network_state(name, path, mmap=True)
    except PkdError as error:
        return str(error)
    return None


def _is_state_dict(state: Any) -> bool:
    return (
        isinstance(state, Mapping)
        and len(state) > 0
        and all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items())
    )


def exit_maker(
    recipe: RecipeBase, registry: ComponentRegistry, networks: Mapping[str, MultiExitNetwork], num_classes: int
) -> Callable[[str], MultiExitNetwork]:
    """``make(name)``: the network's backbone with fresh exits from the recipe.

    Every call for one network gives identically initialised exits, so that
    schedules compared side by side start from the same heads.
    """

    def make(name: str) -> MultiExitNetwork:
        base = networks[name]
        with seeded(recipe.seed + 7919 * (1 + list(networks).index(name))):
            heads = build_exit_heads(
                recipe.networks[name], base.backbone, num_classes=num_classes, registry=registry, label=name
            )
        return MultiExitNetwork(base.backbone, heads)

    return make
