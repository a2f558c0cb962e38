"""Stage (a): every network without given weights learns its own head with cross entropy."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
import torch.nn.functional as F

from pkd_toolkit.engine.stages import Objective, Stage, StepContext
from pkd_toolkit.networks.multi_exit import MultiExitNetwork
from pkd_toolkit.recipe.settings import RecipeBase

BACKBONE_STAGE = "backbones"


def backbone_stage(recipe: RecipeBase, networks: Mapping[str, MultiExitNetwork]) -> Stage | None:
    """The stage that trains the networks' backbones, or None when none is to be trained."""
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
