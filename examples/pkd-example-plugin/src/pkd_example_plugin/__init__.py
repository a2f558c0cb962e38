"""An example pkd-toolkit plugin: the ``max_confidence`` ensembler.

At each stage of the exit order, the ensemble answers with the logits of the
most confident exit computed so far, instead of combining them. It shows the
three parts of a component: a config model, a factory, and a registration hook.

The module stays light (no numpy or torch at import) so that ``pkd --help`` and
``pkd list-plugins`` stay fast; the ensembler imports what it needs when used.
"""

from __future__ import annotations

from pydantic import Field

from pkd_toolkit.api import ComponentConfig, Registrar, hookimpl


class MaxConfidenceConfig(ComponentConfig):
    """Settings of the max-confidence ensembler (the recipe section, minus its ``name``)."""

    label: str | None = Field(default=None, description="names this ensemble in reports (default: max_confidence)")
    order: list[str] | None = Field(
        default=None, description="exit keys 'network/exit' in stage order (default: the toolkit's default order)"
    )
    temperature: float = Field(default=1.0, gt=0, description="softmax temperature used to compare confidences")


def build_max_confidence(config: MaxConfidenceConfig):
    """Each stage answers with its most confident exit so far."""
    from pkd_example_plugin.ensembler import MaxConfidenceEnsembler

    return MaxConfidenceEnsembler(config)


@hookimpl
def pkd_add_ensemblers(registry: Registrar) -> None:
    registry.add("max_confidence", build_max_confidence, config=MaxConfidenceConfig)
