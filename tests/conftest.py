"""Fixtures shared by every area: the in-process ``toy`` test plugin, a CLI runner, fake installs."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import pkd_toolkit.plugins as plugin_module
from pkd_toolkit.cli import main
from pkd_toolkit.plugins import Plugins, load_plugins

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


toy_plugin = _load_module("toy_plugin", TESTS / "toy_plugin.py")


@pytest.fixture
def toy_plugins() -> Plugins:
    """The installed plugins plus the in-process ``toy`` test plugin."""
    return load_plugins([("toy", toy_plugin)])


@pytest.fixture
def toy_plugins_with():
    """``toy_plugins_with((name, plugin), ...)``: the toy plugins plus more in-process plugins."""
    return lambda *extra: load_plugins([("toy", toy_plugin), *extra])


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


@pytest.fixture
def toy_environment(tmp_path):
    """Environment for a ``pkd`` subprocess that has the toy plugin installed (real entry-point metadata)."""
    import os

    site = tmp_path / "toy-site"
    info = site / "pkd_test_toy-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkd-test-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pkd_toolkit]\ntoy = toy_plugin\n")
    paths = [str(site), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "COLUMNS": "200"}


PKD = [sys.executable, "-m", "pkd_toolkit"]
