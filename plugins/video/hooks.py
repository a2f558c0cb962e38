"""Hooks of the ``video`` plugin: registers its datasets, modalities and commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pkd_plugins.video import config
from pkd_toolkit.api import Registrar, hookimpl

if TYPE_CHECKING:
    import typer


def _dataset(kind: str):
    def build(settings):
        from pkd_plugins.video import datasets

        return getattr(datasets, kind)(settings)

    return build


def _modality(kind: str):
    def build(settings):
        from pkd_plugins.video.modalities import build_modality

        return build_modality(kind, settings)

    return build


@hookimpl
def pkd_add_datasets(registry: Registrar) -> None:
    registry.add("hmdb51", _dataset("Hmdb51"), config=config.Hmdb51Config, help="HMDB51 with its official splits 1-3")
    registry.add("ucf101", _dataset("Ucf101"), config=config.Ucf101Config, help="UCF-101 with ucfTrainTestlist splits 1-3")
    registry.add("folder", _dataset("FolderDataset"), config=config.FolderConfig, help="a folder per class, a list file per split")
    registry.add(
        "synthetic_actions",
        _dataset("SyntheticActions"),
        config=config.SyntheticActionsConfig,
        help="synthetic actions (motion x appearance) generated on first use in HMDB51's layout",
    )


@hookimpl
def pkd_add_modalities(registry: Registrar) -> None:
    registry.add("iframe", _modality("iframe"), config=config.IframeConfig, help="the GOP's RGB I-frame (3 channels)")
    registry.add("mv", _modality("mv"), config=config.MotionVectorConfig, help="motion vectors dx, dy in pixels (2 channels)")
    registry.add("residual", _modality("residual"), config=config.ResidualConfig, help="residual in RGB (3 channels)")
    registry.add("rgb", _modality("rgb"), config=config.RgbConfig, help="the fully decoded RGB frame (3 channels)")


@hookimpl
def pkd_add_commands(cli: typer.Typer) -> None:
    from pkd_plugins.video import commands

    commands.register(cli)
