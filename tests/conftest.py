"""Fixtures shared by every area: an in-process test plugin and a CLI runner.

The test plugin ``toy`` registers a dataset of tiny random tensors whose class
is visible in their mean, and a 3-channel modality: enough to drive the engine
end to end in seconds, without decoding video.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import Field

import pkd_toolkit.plugins as plugin_module
from pkd_toolkit import hookimpl
from pkd_toolkit.cli import main
from pkd_toolkit.plugins import Plugins, load_plugins
from pkd_toolkit.registry import ComponentConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


class ToyDatasetConfig(ComponentConfig):
    classes: int = Field(default=3, ge=2)
    train_size: int = Field(default=24, ge=0)
    test_size: int = Field(default=12, ge=0)
    size: int = 16
    segments: int = 2
    noise: float = 1.0


class ToyModalityConfig(ComponentConfig):
    channels: int = 3


class ToyClips:
    """Sample i of class i % classes: noise plus a class-specific offset per channel."""

    def __init__(self, config: ToyDatasetConfig, count: int, modalities, training: bool, salt: int):
        self.config, self.count, self.modalities, self.training, self.salt = config, count, modalities, training, salt

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int):
        import torch

        label = index % self.config.classes
        inputs = {}
        for key, modality in self.modalities.items():
            generator = torch.Generator().manual_seed(self.salt * 100_003 + index * 31 + len(key))
            shape = (self.config.segments, modality.channels, self.config.size, self.config.size)
            clip = torch.randn(shape, generator=generator) * self.config.noise
            if self.training:  # augmentation: fresh noise from the global generator the engine seeds
                clip = clip + 0.1 * torch.randn(shape)
            clip[:, label % modality.channels] += 1.0 + 0.5 * (label // modality.channels)
            inputs[key] = clip
        return {"inputs": inputs, "label": label, "index": index}


class ToyDataset:
    def __init__(self, config: ToyDatasetConfig):
        self.config = config
        self.num_classes = config.classes
        self.input_size = (config.size, config.size)

    @property
    def classes(self):
        return [f"class{i}" for i in range(self.config.classes)]

    def split(self, name, *, modalities, training):
        count = self.config.train_size if name == "train" else self.config.test_size
        return ToyClips(self.config, count, modalities, training, salt=0 if name == "train" else 1)

    def videos(self, name):
        count = self.config.train_size if name == "train" else self.config.test_size
        return [f"{name}/{i:04d}" for i in range(count)]

    def load_file(self, path, *, modalities):
        return ToyClips(self.config, 1, modalities, False, salt=2)[0]["inputs"]


@dataclass
class ToyModality:
    name: str
    channels: int


def _toy_modality(config: ToyModalityConfig) -> ToyModality:
    return ToyModality("toy", config.channels)


toy_plugin = types.ModuleType("toy_plugin")


@hookimpl
def pkd_add_datasets(registry):
    registry.add("toy", ToyDataset, config=ToyDatasetConfig, help="tiny random tensors for tests")


@hookimpl
def pkd_add_modalities(registry):
    registry.add("toy", _toy_modality, config=ToyModalityConfig)


toy_plugin.pkd_add_datasets = pkd_add_datasets
toy_plugin.pkd_add_modalities = pkd_add_modalities


@pytest.fixture
def toy_plugins() -> Plugins:
    """The installed plugins plus the in-process ``toy`` test plugin."""
    return load_plugins([("toy", toy_plugin)])


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``pkd ARGS`` in-process with given plugins; returns exit code, stdout and stderr."""

    def run(*args: str, plugins: Plugins | None = None) -> Result:
        monkeypatch.setattr(plugin_module, "_loaded", plugins)
        monkeypatch.setenv("COLUMNS", "200")
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def write(tmp_path):
    """Write a text file under tmp_path and return its path."""

    def write_file(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write_file


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Install a distribution into a fresh site folder on sys.path: ``make(name, modules, entry_points)``.

    ``modules`` maps module names to source; ``entry_points`` maps entry-point
    names (group ``pkd_toolkit``) to module names. The metadata is real, so
    importlib.metadata finds it exactly as it finds a pip-installed plugin.
    """
    import importlib

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(name: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.2.3") -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "".join(f"{ep} = {module}\n" for ep, module in entry_points.items())
        (info / "entry_points.txt").write_text(f"[pkd_toolkit]\n{lines}")
        for module, source in modules.items():
            (site / f"{module}.py").write_text(source)
            sys.modules.pop(module, None)
        importlib.invalidate_caches()
        return site

    return make
