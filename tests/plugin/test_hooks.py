"""Every hook: documented in docs/hooks.md, and called as documented (a test per hook, named after it)."""

from __future__ import annotations

import ast
import inspect
import re
import types
from pathlib import Path

import pytest
import toy_plugin  # loaded by tests/conftest.py
import typer

from pkd_toolkit.api import hookimpl
from pkd_toolkit.plugin import hookspecs
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.plugin.registry import ComponentConfig

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("pkd_"))

def documented_hooks() -> dict[str, list[str]]:
    """``## pkd_name(arg, arg)`` headings of docs/hooks.md: hook -> the arguments written there."""
    headings = re.findall(r"^## (pkd_\w+)\(([^)]*)\)$", (ROOT / "docs" / "hooks.md").read_text(), flags=re.M)
    return {name: [arg.strip() for arg in args.split(",") if arg.strip()] for name, args in headings}


def test_every_hook_has_a_docstring_a_documentation_section_and_a_test():
    documented = documented_hooks()
    tested = {
        node.name.removeprefix("test_hook_")
        for path in (ROOT / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_hook_")
    }
    assert HOOKS, "no hooks found"
    for name in HOOKS:
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"
    assert set(HOOKS) - set(documented) == set(), "hooks without a section in docs/hooks.md"
    assert set(documented) - set(HOOKS) == set(), "docs/hooks.md documents hooks that do not exist"
    assert set(HOOKS) - tested == set(), "hooks without a test_hook_<name> test"


def test_the_documented_arguments_are_the_specs_arguments():
    documented = documented_hooks()
    for name in HOOKS:
        spec = list(inspect.signature(getattr(hookspecs, name)).parameters)
        assert documented[name] == spec, f"docs/hooks.md: {name}({', '.join(documented[name])}), spec: {spec}"


def test_every_hook_argument_is_typed():
    for name in HOOKS:
        parameters = inspect.signature(getattr(hookspecs, name)).parameters.values()
        assert all(parameter.annotation is not inspect.Parameter.empty for parameter in parameters), name


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


def test_hook_pkd_add_weight_sources():
    registry = load_plugins().registry
    assert {"efficientnet_lite", "timm"} <= set(registry.names("weight_sources"))
    assert registry.get("weight_sources", "efficientnet_lite").plugin == "timm_backbones"
    plugins = registering("pkd_add_weight_sources", "acme")
    assert plugins.registry.get("weight_sources", "acme").plugin == "registering"


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


# -- lifecycle hooks: the shared finished run, recorded ----------------------------------------


@pytest.fixture
def recorded(finished_run):
    return finished_run.hook_calls


def calls_of(calls, kind):
    return [call[1:] for call in calls if call[0] == kind]


@pytest.mark.slow
def test_hook_pkd_run_start(recorded):
    assert recorded[0] == ("run_start", "tiny", True)  # first, with the resolved recipe written


@pytest.mark.slow
def test_hook_pkd_run_end(recorded):
    (end,) = calls_of(recorded, "run_end")
    assert recorded[-1][0] == "run_end"
    assert {"exits", "ensembles", "early_exit", "seconds"} <= set(end[0]) and end[1]


@pytest.mark.slow
def test_hook_pkd_stage_start(recorded):
    assert calls_of(recorded, "stage_start") == [("backbones", 2), ("exits", 3)]


@pytest.mark.slow
def test_hook_pkd_stage_end(recorded):
    assert calls_of(recorded, "stage_end") == [("backbones", True), ("exits", True)]


@pytest.mark.slow
def test_hook_pkd_epoch_end(recorded):
    backbones = ["loss/backbones/iframe", "loss/backbones/mv", "loss/backbones/residual"]
    exits = sorted(f"loss/{schedule}/{network}" for schedule in ("ce", "pkd") for network in ("iframe", "mv", "residual"))
    assert calls_of(recorded, "epoch_end") == [
        ("backbones", 1, backbones), ("backbones", 2, backbones), ("exits", 1, exits), ("exits", 2, exits),
        ("exits", 3, exits),
    ]  # fmt: skip


@pytest.mark.slow
def test_hook_pkd_checkpoint_saved(recorded):
    saved = calls_of(recorded, "checkpoint")
    assert ("last", "last.pt", True) in saved
    assert ("best", "best-exits.pt", True) in saved  # chosen on the run's validation split
    assert all(exists for _, _, exists in saved)
