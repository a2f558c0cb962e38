"""Fixtures for the multi-exit network tests: small timm backbones, recipe network sections, call counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
from torch import nn

from pkd_plugins._timm_backbone import TimmBackbone, build_timm_backbone
from pkd_plugins.timm_backbones import TimmBackboneConfig
from pkd_toolkit.recipe import recipe_model


def _timm_backbone(model: str, *, in_chans: int = 3, num_classes: int = 5, **options: Any) -> TimmBackbone:
    return build_timm_backbone(TimmBackboneConfig(model=model, **options), in_chans=in_chans, num_classes=num_classes)


@pytest.fixture(scope="session")
def timm_backbone() -> Callable[..., TimmBackbone]:
    """``timm_backbone(model, in_chans=3, num_classes=5, **config)``: a fresh ``timm`` backbone."""
    return _timm_backbone


@pytest.fixture(scope="module")
def resnet18() -> TimmBackbone:
    """A ResNet-18 for 2-channel inputs, 5 classes, in eval mode; tests must not change it."""
    return _timm_backbone("resnet18", in_chans=2).eval()


@pytest.fixture
def network_section(toy_plugins) -> Callable[..., Any]:
    """``network_section(backbone, exits)``: ``networks.net`` of a validated minimal recipe (toy data)."""

    def section(backbone: dict[str, Any], exits: Sequence[dict[str, Any]] = ()) -> Any:
        network = {"modality": "toy", "backbone": {"name": "timm", **backbone}, "exits": list(exits)}
        recipe = recipe_model(toy_plugins.registry).model_validate(
            {
                "name": "exits-test",
                "data": {"name": "toy"},
                "modalities": {"toy": {"name": "toy"}},
                "networks": {"net": network},
            }
        )
        return recipe.networks["net"]

    return section


@contextmanager
def _count_calls(modules: dict[str, nn.Module]) -> Iterator[Counter]:
    calls: Counter = Counter()
    handles = [
        module.register_forward_hook(lambda *_, name=name: calls.update([name])) for name, module in modules.items()
    ]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()


@pytest.fixture(scope="session")
def count_calls() -> Callable[[dict[str, nn.Module]], AbstractContextManager[Counter]]:
    """``with count_calls({name: module}) as calls``: how often each module's forward ran in the block."""
    return _count_calls
