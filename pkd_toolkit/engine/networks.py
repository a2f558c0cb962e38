"""The run's networks: built from the recipe, loaded from given weights, and trained in stage (a)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pkd_toolkit.engine import checkpoint
from pkd_toolkit.engine.runtime import seeded
from pkd_toolkit.engine.stages import Objective, Stage, StepContext
from pkd_toolkit.errors import PkdError
from pkd_toolkit.exits import MultiExitNetwork, build_exit_heads
from pkd_toolkit.settings import RecipeBase

BACKBONE_STAGE = "backbones"


class RunModel(nn.Module):
    """Every module of a run, under one state dict: ``networks.<name>`` and ``schedules.<label>``."""

    def __init__(self, networks: Mapping[str, MultiExitNetwork]):
        super().__init__()
        self.networks = nn.ModuleDict(networks)
        self.schedules = nn.ModuleDict()


def build_networks(
    recipe: RecipeBase, registry: Any, modalities: Mapping[str, Any], num_classes: int
) -> dict[str, MultiExitNetwork]:
    """One base network (backbone and its own head, no early exits yet) per recipe network."""
    networks = {}
    for index, (name, section) in enumerate(recipe.networks.items()):
        with seeded(recipe.seed + index):
            component = registry.get("backbones", section.backbone.name)
            backbone = component.build(
                section.backbone, in_chans=modalities[section.modality].channels, num_classes=num_classes
            )
        networks[name] = MultiExitNetwork(backbone, [])
        if section.weights is not None:
            load_weights(name, networks[name], section.weights)
    return networks


def load_weights(name: str, network: MultiExitNetwork, path: Path) -> None:
    """Load a trained network: from a pkd-toolkit checkpoint (same network name) or a plain state dict."""
    state = checkpoint.load(path)
    if "model" in state and "format" in state:
        prefix = f"networks.{name}."
        found = {key[len(prefix) :]: value for key, value in state["model"].items() if key.startswith(prefix)}
        if not found:
            present = sorted({key.split(".")[1] for key in state["model"] if key.startswith("networks.")})
            raise PkdError(f"{path}: holds no network {name!r} (it holds: {', '.join(present) or 'none'})")
        state = found
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise PkdError(f"{path}: does not fit network {name!r}: {first}") from None


def exit_maker(
    recipe: RecipeBase, registry: Any, networks: Mapping[str, MultiExitNetwork], num_classes: int
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


def backbone_stage(recipe: RecipeBase, networks: Mapping[str, MultiExitNetwork]) -> Stage | None:
    """Stage (a): every network without given weights learns its own head with cross entropy."""
    # A backbone component freezes what its config asks by turning requires_grad off when it is built.
    trainable = {name: [p for p in net.parameters() if p.requires_grad] for name, net in networks.items()}
    to_train = {
        name: net for name, net in networks.items() if recipe.networks[name].weights is None and trainable[name]
    }
    settings = recipe.backbones
    if not to_train or settings.epochs == 0:
        return None
    objectives = [
        Objective(
            name=f"{BACKBONE_STAGE}/{name}",
            parameters=trainable[name],
            loss=_final_cross_entropy(name, network),
            optimizer=settings.optimizer,
            scheduler=settings.scheduler,
            lr=settings.optimizer.lr_per_network.get(name, settings.optimizer.lr),
        )
        for name, network in to_train.items()
    ]
    return Stage(
        name=BACKBONE_STAGE,
        epochs=settings.epochs,
        objectives=objectives,
        train_modules=list(to_train.values()),
        evaluate={f"{BACKBONE_STAGE}/{name}": network for name, network in to_train.items()},
    )


def _final_cross_entropy(name: str, network: MultiExitNetwork) -> Callable[[StepContext], torch.Tensor]:
    def loss(context: StepContext) -> torch.Tensor:
        logits = context.outputs(name, network).consensus()["final"]
        value = F.cross_entropy(logits, context.labels)
        context.record(f"{BACKBONE_STAGE}/{name}/top1", (logits.argmax(1) == context.labels).float().mean())
        return value

    return loss
