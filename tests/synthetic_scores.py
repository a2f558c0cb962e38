"""Synthetic score files, stub components and recipes for the ensemble tests: no training, no data.

Logits are random but structured like real ones: every exit sees the true class
with a strength that grows with depth and differs per network, plus noise
shared by a video's segments (a network errs on the same videos at every exit)
and noise of each segment.
"""

from __future__ import annotations

import numpy as np

from pkd_toolkit.api import hookimpl
from pkd_toolkit.plugin.registry import ComponentConfig
from pkd_toolkit.recipe.settings import ScheduleConfig
from pkd_toolkit.scores.files import ExitScores, ScoreSet

EXITS = ("ic1", "ic2", "ic3", "final")
DEPTH_STRENGTH = (0.35, 0.6, 0.85, 1.2)
# Published cumulative per-frame GMACs (docs/methods.md, "Early exits"): ResNet-18 and ResNet-50.
R18 = (1.09, 1.97, 2.49, 2.90)
R50 = (1.26, 3.22, 6.54, 7.35)
NETWORKS = {"iframe": (1.4, R50), "mv": (0.8, R18), "residual": (1.0, R18)}  # name: (signal, cost per exit)
SCHEDULES = ("ce", "pkd")
PUBLISHED_ORDER = [f"{network}/{exit_name}" for network in ("residual", "mv", "iframe") for exit_name in EXITS]


def synthetic_scores(
    split: str,
    *,
    videos: int = 150,
    classes: int = 6,
    segments: int = 5,
    seed: int = 0,
    schedule: str = "pkd",
    networks: dict[str, tuple[float, tuple[float, ...]]] = NETWORKS,
    noisy_exit: str | None = None,
) -> ScoreSet:
    """A score set; ``noisy_exit`` ("mv/ic1") gets a weak signal drowned in large noise (it hurts a plain sum)."""
    rng = np.random.default_rng(seed + (0 if split == "train" else 1000))
    labels = rng.integers(0, classes, size=videos)
    onehot = np.eye(classes)[labels][:, None, :]
    exits = []
    for network, (signal, gmacs) in networks.items():
        shared = rng.normal(size=(videos, 1, classes))
        for depth, (exit_name, strength, cost) in enumerate(zip(EXITS, DEPTH_STRENGTH, gmacs, strict=True)):
            logits = 1.2 * signal * strength * onehot + 0.8 * shared + rng.normal(size=(videos, segments, classes))
            if f"{network}/{exit_name}" == noisy_exit:
                logits = 0.3 * onehot + 8.0 * rng.normal(size=(videos, segments, classes))
            exits.append(ExitScores(network, exit_name, f"stage{depth + 1}", logits.astype(np.float32), cost))
    classes_names = [f"class{i}" for i in range(classes)]
    return ScoreSet(schedule, split, classes_names, [f"v{i}.mp4" for i in range(videos)], labels, exits)


class StubComponents:
    """Stand-ins for the dataset, modality, backbone and schedules a recipe names (never built here)."""

    @hookimpl
    def pkd_add_datasets(self, registry):
        registry.add("stub", _unused, config=ComponentConfig, help="stub dataset")

    @hookimpl
    def pkd_add_modalities(self, registry):
        registry.add("stub", _unused, config=ComponentConfig, help="stub modality")

    @hookimpl
    def pkd_add_backbones(self, registry):
        registry.add("stub", _unused, config=ComponentConfig, help="stub backbone")

    @hookimpl
    def pkd_add_schedules(self, registry):
        for name in SCHEDULES:  # the schedules whose score files the tests write
            registry.add(name, _unused, config=ScheduleConfig, help="stub schedule")


def _unused(config, **context):
    raise AssertionError("the ensemble tests build no dataset, modality or backbone")


def recipe_data(**sections) -> dict:
    """A recipe naming the stubs, three networks, the schedules ``ce`` then ``pkd`` (the report's baseline is the
    first) and the three built-in ensemblers (WISE kept short)."""
    data = {
        "name": "synthetic",
        "data": {"name": "stub"},
        "modalities": {network: {"name": "stub"} for network in NETWORKS},
        "networks": {network: {"modality": network, "backbone": {"name": "stub"}} for network in NETWORKS},
        "schedules": [{"name": name} for name in SCHEDULES],
        "ensembles": [{"name": "sum"}, {"name": "fusion"}, {"name": "wise", "iterations": 200}],
        "early_exit": {"thresholds": [0.5, 0.9, 0.99, 1.0], "segments": ["all", 1]},
    }
    data.update(sections)
    return data
