"""Fixtures shared by every area: the in-process ``toy`` test plugin, a CLI runner, a finished run, fake installs.

Tests mirror the code: ``tests/<core package>/`` for the core, ``tests/plugins/<plugin>/``
for the built-in plugins. Helper modules that several areas use (``toy_plugin``,
``synthetic_scores``) are loaded here by file name, so tests import them by name.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pkd_toolkit.api import hookimpl
from pkd_toolkit.cli.app import main
from pkd_toolkit.plugin.manager import Plugins, load_plugins

TESTS = Path(__file__).resolve().parent
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


def _load_module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


toy_plugin = _load_module("toy_plugin", TESTS / "toy_plugin.py")
synthetic_scores = _load_module("synthetic_scores", TESTS / "synthetic_scores.py")


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


def run_pkd(*args: Any, plugins: Plugins | None = None) -> int:
    """``pkd ARGS`` in this process with ``plugins`` (None: the installed ones); returns the exit status."""
    try:
        main([str(a) for a in args], plugins=plugins)
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    return 0


@pytest.fixture(scope="session")
def run_in_process() -> Callable[..., None]:
    """``run_in_process(recipe, run_dir, plugins=None)``: ``pkd run RECIPE --run-dir RUN_DIR`` here; it must succeed."""

    def run(recipe: Path, run_dir: Path, plugins: Plugins | None = None) -> None:
        code = run_pkd("run", recipe, "--run-dir", run_dir, plugins=plugins)
        assert code == 0, f"pkd run {recipe} ended with {code}"

    return run


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``pkd ARGS`` in-process with given plugins; returns exit code, stdout and stderr."""

    def run(*args: Any, plugins: Plugins | None = None) -> Result:
        monkeypatch.setenv("COLUMNS", "200")
        code = run_pkd(*args, plugins=plugins)
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


# -- the tiny recipe and one finished run of it ----------------------------------------------

TINY_RECIPE = """\
name: tiny
seed: 3
output_dir: {output_dir}
data: {{name: toy, classes: 3, train_size: 24, test_size: 12, size: 16, segments: 2}}
modalities:
  mv: {{name: toy, channels: 2}}
  residual: {{name: toy}}
  iframe: {{name: toy}}
networks:
  mv:
    modality: mv
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: paper_ic, at: 1}}, {{name: paper_ic, at: 2}}]
  residual:
    modality: residual
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: light, at: 1}}, {{name: light, at: 2}}]
  iframe:
    modality: iframe
    backbone: {{name: timm, model: test_resnet}}
    exits: [{{name: light, at: 2}}]
train: {{batch_size: 8, eval_every: 1}}
backbones: {{epochs: {backbone_epochs}, optimizer: {{name: adam, lr: 0.003}}}}
schedules:
  - {{name: ce, epochs: {exit_epochs}, optimizer: {{name: adam, lr: 0.003}}}}
  - {{name: pkd, epochs: {exit_epochs}, optimizer: {{name: adam, lr: 0.003}}, switch_epochs: {switches}}}
"""
ENSEMBLES = "ensembles: [{name: sum}, {name: wise, iterations: 50}]\nearly_exit: {thresholds: [0.6, 1.0]}\n"


def tiny_recipe_text(output_dir: Path, backbone_epochs: int = 2, exit_epochs: int = 3, extra: str = "") -> str:
    switches = [1, 2] if exit_epochs >= 3 else None
    text = TINY_RECIPE.format(
        output_dir=output_dir,
        backbone_epochs=backbone_epochs,
        exit_epochs=exit_epochs,
        switches="null" if switches is None else switches,
    )
    return text + extra


@pytest.fixture(scope="session")
def tiny_recipe_for() -> Callable[..., str]:
    """``tiny_recipe_for(output_dir, backbone_epochs, exit_epochs, extra)``: the tiny recipe's text (for module fixtures)."""
    return tiny_recipe_text


@pytest.fixture
def tiny_recipe(write, tmp_path) -> Callable[..., Path]:
    """Write the tiny recipe (three toy networks, ``ce`` and ``pkd`` exits); keyword arguments change its epochs."""

    def make(backbone_epochs: int = 2, exit_epochs: int = 3, name: str = "tiny.yaml", extra: str = "") -> Path:
        return write(name, tiny_recipe_text(tmp_path / "runs", backbone_epochs, exit_epochs, extra))

    return make


class HookRecorder:
    """A plugin recording every lifecycle hook call as a tuple (``calls``)."""

    def __init__(self):
        self.calls: list[tuple] = []

    @hookimpl
    def pkd_run_start(self, run):
        self.calls.append(("run_start", run.recipe.name, (run.dir / "recipe.yaml").is_file()))

    @hookimpl
    def pkd_run_end(self, run, report):
        self.calls.append(("run_end", sorted(report), (run.dir / "report.json").is_file()))

    @hookimpl
    def pkd_stage_start(self, run, stage):
        self.calls.append(("stage_start", stage.name, stage.epochs))

    @hookimpl
    def pkd_stage_end(self, run, stage, metrics):
        self.calls.append(("stage_end", stage.name, "seconds" in metrics))

    @hookimpl
    def pkd_epoch_end(self, run, stage, epoch, metrics):
        self.calls.append(("epoch_end", stage.name, epoch, sorted(k for k in metrics if k.startswith("loss/"))))

    @hookimpl
    def pkd_checkpoint_saved(self, run, path, kind):
        self.calls.append(("checkpoint", kind, Path(path).name, Path(path).is_file()))


# The shared run carves a validation split (3 sessions of 2 of the 24 training samples), as a careful user's would.
VALIDATION = ("segments: 2}", "segments: 2, group_size: 2, val: {size: 6}}")


@dataclass(frozen=True)
class FinishedRun:
    """The tiny recipe with ensembles and a validation split, run once per session: 2 backbone epochs, 3 exit
    epochs (teachers switch at 1 and 2), ``sum`` and ``wise`` ensembles. Tests read it and must not change it."""

    dir: Path
    recipe: Path
    stdout: str
    hook_calls: list[tuple]


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> FinishedRun:
    folder = tmp_path_factory.mktemp("finished")
    recipe = folder / "tiny.yaml"
    recipe.write_text(tiny_recipe_text(folder / "runs", extra=ENSEMBLES).replace(*VALIDATION), encoding="utf-8")
    recorder = HookRecorder()
    capture = pytest.MonkeyPatch()
    stdout = io.StringIO()
    capture.setattr(sys, "stdout", stdout)
    capture.setenv("COLUMNS", "200")
    try:
        plugins = load_plugins([("toy", toy_plugin), ("recorder", recorder)])
        code = run_pkd("run", recipe, "--run-dir", folder / "run", plugins=plugins)
    finally:
        capture.undo()
    assert code == 0, stdout.getvalue()
    return FinishedRun(folder / "run", recipe, stdout.getvalue(), recorder.calls)


# -- score files and ensembles without training -------------------------------------------


@pytest.fixture
def make_scores() -> Callable[..., Any]:
    return synthetic_scores.synthetic_scores


@pytest.fixture
def train_scores() -> Any:
    return synthetic_scores.synthetic_scores("train")


@pytest.fixture
def test_scores() -> Any:
    return synthetic_scores.synthetic_scores("test")


@pytest.fixture
def wise_plugins() -> Plugins:
    """Only the wise plugin and the stubs: ensemble tests do not depend on the other plugins."""
    from pkd_plugins.wise import hooks as wise

    loaded = Plugins()
    loaded.register(wise, "wise")
    loaded.register(synthetic_scores.StubComponents(), "stubs")
    loaded.collect_components()
    assert not loaded.broken(), [info.error for info in loaded.broken()]
    return loaded


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(schedules=("pkd",), **recipe_sections)``: a run folder with a recipe and score files."""
    import yaml

    from pkd_toolkit.run_folder.layout import RECIPE_FILE, score_path

    def make(schedules=("pkd",), **sections) -> Path:
        run_dir = tmp_path / "run"
        run_dir.mkdir()
        (run_dir / RECIPE_FILE).write_text(yaml.safe_dump(synthetic_scores.recipe_data(**sections)), encoding="utf-8")
        for schedule in schedules:
            for split in ("train", "test"):
                synthetic_scores.synthetic_scores(split, schedule=schedule).save(score_path(run_dir, schedule, split))
        return run_dir

    return make


# -- networks --------------------------------------------------------------------------------


def _timm_backbone(model: str, *, in_chans: int = 3, num_classes: int = 5, weight_sources: Any = None, **options: Any):
    from pkd_plugins.timm_backbones.backbone import build_timm_backbone
    from pkd_plugins.timm_backbones.config import TimmBackboneConfig

    config = TimmBackboneConfig(model=model, **options)
    return build_timm_backbone(config, in_chans=in_chans, num_classes=num_classes, weight_sources=weight_sources)


@pytest.fixture(scope="session")
def timm_backbone() -> Callable[..., Any]:
    """``timm_backbone(model, in_chans=3, num_classes=5, **config)``: a fresh ``timm`` backbone."""
    return _timm_backbone


@pytest.fixture(scope="module")
def resnet18() -> Any:
    """A ResNet-18 for 2-channel inputs, 5 classes, in eval mode; tests must not change it."""
    return _timm_backbone("resnet18", in_chans=2).eval()


@pytest.fixture
def network_section(toy_plugins) -> Callable[..., Any]:
    """``network_section(backbone, exits)``: ``networks.net`` of a validated minimal recipe (toy data)."""
    from pkd_toolkit.recipe.model import recipe_model

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
def _count_calls(modules: dict[str, Any]) -> Iterator[Counter]:
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
def count_calls() -> Callable[[dict[str, Any]], AbstractContextManager[Counter]]:
    """``with count_calls({name: module}) as calls``: how often each module's forward ran in the block."""
    return _count_calls


# -- installs ------------------------------------------------------------------------------


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


def toy_site_environment(folder: Path) -> dict[str, str]:
    """Environment for a ``pkd`` subprocess that has the toy plugin installed (real entry-point metadata in ``folder``)."""
    import os

    site = folder / "toy-site"
    info = site / "pkd_test_toy-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pkd-test-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pkd_toolkit]\ntoy = toy_plugin\n")
    paths = [str(site), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p), "COLUMNS": "200"}


@pytest.fixture
def toy_environment(tmp_path):
    """Environment for a ``pkd`` subprocess that has the toy plugin installed."""
    return toy_site_environment(tmp_path)


@pytest.fixture(scope="session")
def make_toy_environment() -> Callable[[Path], dict[str, str]]:
    """``make_toy_environment(folder)``: ``toy_environment`` for fixtures wider than one test."""
    return toy_site_environment


PKD = [sys.executable, "-m", "pkd_toolkit"]
