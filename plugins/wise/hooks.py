"""Hooks of the ``wise`` plugin: registers ``sum``, ``fusion`` and ``wise``."""

from __future__ import annotations

from functools import partial

from pkd_plugins.wise.config import CONFIGS, OrderedEnsemblerConfig
from pkd_toolkit.api import Registrar, hookimpl


def _build(name: str, config: OrderedEnsemblerConfig):
    """Build the built-in ensembler ``name``; its implementation (numpy, torch) is imported only now."""
    from pkd_plugins.wise.ensemblers import IMPLEMENTATIONS

    return IMPLEMENTATIONS[name](config)


@hookimpl
def pkd_add_ensemblers(registry: Registrar) -> None:
    for name, config in CONFIGS.items():
        registry.add(name, partial(_build, name), config=config, help=config.__doc__.splitlines()[0])
