"""Fitted ensemblers on disk: saved per schedule for ``pkd predict``, loaded back with their settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pkd_toolkit import atomic
from pkd_toolkit.ensembles.planning import PlannedEnsemble
from pkd_toolkit.ensembles.protocol import Ensembler
from pkd_toolkit.errors import PkdError
from pkd_toolkit.plugin.registry import ComponentRegistry


def save_fitted(path: Path, plan: PlannedEnsemble, classes: Sequence[str]) -> None:
    atomic.write_json(
        path,
        {
            "component": plan.component,
            "label": plan.label,
            "config": plan.section.model_dump(mode="json"),
            "classes": list(classes),
            "state": plan.ensembler.state_dict(),
        },
    )


def load_fitted(path: Path, registry: ComponentRegistry) -> tuple[Ensembler, list[str]]:
    """The ensembler saved at ``path`` (settings and fitted state) and the class names it was fitted for."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        component = registry.get("ensemblers", saved["component"])
        config = component.config.model_validate({k: v for k, v in saved["config"].items() if k != "name"})
        ensembler = component.build(config)
        ensembler.load_state_dict(saved["state"])
        return ensembler, list(saved["classes"])
    except FileNotFoundError:
        raise PkdError(f"{path}: no fitted ensembler here; `pkd eval` or `pkd run` writes it") from None
    except PkdError as error:
        raise PkdError(f"{path}: {error}") from None
    except (OSError, ValueError, KeyError, TypeError) as error:  # pydantic's ValidationError is a ValueError
        raise PkdError(f"{path}: not a readable fitted ensembler ({type(error).__name__}: {error})") from None


def remove_stale_fitted(folder: Path, labels: set[str]) -> None:
    """Drop fitted ensemblers of an earlier evaluation that the recipe no longer lists."""
    for path in folder.glob("*.json"):
        if path.stem not in labels:
            path.unlink()
