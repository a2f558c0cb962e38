"""Every hook: documented in docs/hooks.md, and called as documented (a test per hook, named after it)."""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

import pytest
import toy_plugin  # loaded by tests/conftest.py
import typer

import pkd_toolkit.plugins as plugin_module
from pkd_toolkit import hookimpl, hookspecs
from pkd_toolkit.cli import main
from pkd_toolkit.plugins import load_plugins
from pkd_toolkit.registry import ComponentConfig

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("pkd_"))

RECIPE = """\
name: hooks
output_dir: {output_dir}
data: {{name: toy, train_size: 12, test_size: 6}}
modalities: {{rgb: {{name: toy}}}}
networks:
  net: {{modality: rgb, backbone: {{name: timm, model: test_resnet}}, exits: [{{name: light, at: 1}}]}}
train: {{batch_size: 6, eval_every: 1}}
backbones: {{epochs: 1}}
schedules: [{{name: ce, epochs: 2}}]
ensembles: [{{name: sum}}]
"""


def test_every_hook_has_a_docstring_a_documentation_section_and_a_test():
    documented = set(re.findall(r"^## (pkd_\w+)$", (ROOT / "docs" / "hooks.md").read_text(), flags=re.M))
    tested = {
        node.name.removeprefix("test_hook_")
        for path in (ROOT / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_")
    }
    assert HOOKS, "no hooks found"
    for name in HOOKS:
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
    assert set(HOOKS) - documented == set(), "hooks without a section in docs/hooks.md"
    assert set(HOOKS) - tested == set(), "hooks without a test_hook_<name> test"


# -- registration hooks ---------------------------------------------------------------------


class Width(ComponentConfig):
    width: int = 1


def registering(hook: str, name: str):
    """A plugin whose ``hook`` registers component ``name`` returning (config, context)."""
    plugin = types.SimpleNamespace()
    setattr(plugin, hook, hookimpl(specname=hook)(lambda registry: registry.add(name, lambda c, **k: (c, k), config=Width)))
    return load_plugins([("registering", plugin)], autoload=False)


@pytest.mark.parametrize("hook", [h for h in HOOKS if h.startswith("pkd_add_") and h != "pkd_add_commands"])
def test_registration_hooks_receive_a_registrar_of_their_kind(hook):
    kind = hook.removeprefix("pkd_add_")
    plugins = registering(hook, "extra")
    component = plugins.registry.get(kind, "extra")
    assert component.plugin == "registering"
    assert component.build(Width(width=3), channels=8) == (Width(width=3), {"channels": 8})
    assert plugins.infos["registering"].components == {kind: ["extra"]}


def test_hook_pkd_add_datasets():
    component = load_plugins().registry.get("datasets", "hmdb51")
    assert component.plugin == "video"
    plugins = registering("pkd_add_datasets", "mine")
    assert plugins.registry.get("datasets", "mine").plugin == "registering"
    toy = load_plugins([("toy", toy_plugin)]).registry.get("datasets", "toy")
    dataset = toy.build(toy.config(classes=4))
    assert isinstance(dataset, toy_plugin.ToyDataset) and dataset.classes == ["class0", "class1", "class2", "class3"]


def test_hook_pkd_add_modalities():
    registry = load_plugins().registry
    assert {"iframe", "mv", "residual"} <= set(registry.names("modalities"))
    mv = registry.get("modalities", "mv")
    assert mv.build(mv.config()).channels == 2


def test_hook_pkd_add_backbones():
    registry = load_plugins().registry
    timm = registry.get("backbones", "timm")
    backbone = timm.build(timm.config(model="test_resnet"), in_chans=2, num_classes=4)
    assert backbone.num_classes == 4 and [s.name for s in backbone.stages][:1] == ["layer1"]


def test_hook_pkd_add_exits():
    registry = load_plugins().registry
    light = registry.get("exits", "light")
    head = light.build(light.config(at=1), channels=8, num_classes=5)
    import torch

    assert head(torch.zeros(2, 8, 4, 4)).shape == (2, 5)


def test_hook_pkd_add_schedules():
    registry = load_plugins().registry
    assert {"ce", "pkd", "gkd"} <= set(registry.names("schedules"))
    pkd = registry.get("schedules", "pkd")
    assert callable(pkd.build(pkd.config(teachers=["a"])).plan)


def test_hook_pkd_add_ensemblers():
    registry = load_plugins().registry
    assert {"sum", "fusion", "wise"} <= set(registry.names("ensemblers"))
    wise = registry.get("ensemblers", "wise")
    assert callable(wise.build(wise.config()).fit)


def test_hook_pkd_add_commands(cli):
    plugin = types.SimpleNamespace()

    def add(cli):
        @cli.command()
        def hello(name: str = typer.Argument(...)):
            """Say hello."""
            typer.echo(f"hello {name}")

    plugin.pkd_add_commands = hookimpl(add)
    plugins = load_plugins([("greeter", plugin)])
    result = cli("hello", "world", plugins=plugins)
    assert (result.code, result.out) == (0, "hello world\n")
    assert "hello" in cli("--help", plugins=plugins).out


# -- lifecycle hooks: one small run, recorded ------------------------------------------------


class Recorder:
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


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hooks")
    recipe = folder / "hooks.yaml"
    recipe.write_text(RECIPE.format(output_dir=folder / "runs"))
    recorder = Recorder()
    saved = plugin_module._loaded
    plugin_module._loaded = load_plugins([("toy", toy_plugin), ("recorder", recorder)])
    try:
        main(["run", str(recipe)])
    except SystemExit as exit:
        assert exit.code in (0, None)
    finally:
        plugin_module._loaded = saved
    return recorder.calls


def calls_of(calls, kind):
    return [call[1:] for call in calls if call[0] == kind]


def test_hook_pkd_run_start(recorded):
    assert recorded[0] == ("run_start", "hooks", True)  # first, with the resolved recipe written


def test_hook_pkd_run_end(recorded):
    (end,) = calls_of(recorded, "run_end")
    assert recorded[-1][0] == "run_end"
    assert {"exits", "ensembles", "early_exit", "seconds"} <= set(end[0]) and end[1]


def test_hook_pkd_stage_start(recorded):
    assert calls_of(recorded, "stage_start") == [("backbones", 1), ("exits", 2)]


def test_hook_pkd_stage_end(recorded):
    assert calls_of(recorded, "stage_end") == [("backbones", True), ("exits", True)]


def test_hook_pkd_epoch_end(recorded):
    assert calls_of(recorded, "epoch_end") == [
        ("backbones", 1, ["loss/backbones/net"]), ("exits", 1, ["loss/ce/net"]), ("exits", 2, ["loss/ce/net"])
    ]  # fmt: skip


def test_hook_pkd_checkpoint_saved(recorded):
    saved = calls_of(recorded, "checkpoint")
    assert ("last", "last.pt", True) in saved
    assert ("best", "best-exits.pt", True) in saved
    assert all(exists for _, _, exists in saved)
