"""What can be checked before a run folder exists is checked by ``pkd validate`` and at the start of ``pkd run``,
with the recipe's file:line: exits at stages the backbone lacks, weights files that are missing or hold no
state dict, data folders that are not there. Checks that need a component's knowledge are asked of the
component (``preflight()`` and, for backbones, ``stage_names()``); the core adds the lines."""

from __future__ import annotations

import types

import pytest
import torch

from pkd_toolkit.api import ComponentConfig, hookimpl


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def recipe_with(tiny_recipe):
    """``recipe_with(old, new)``: the tiny recipe with one fragment replaced; returns (path, line of the change)."""

    def make(old: str, new: str):
        path = tiny_recipe()
        text = path.read_text()
        assert old in text
        text = text.replace(old, new, 1)
        path.write_text(text)
        return path, line_of(text, new.strip().splitlines()[-1])

    return make


def test_an_exit_at_a_stage_the_backbone_lacks(cli, recipe_with, toy_plugins, tmp_path):
    recipe, line = recipe_with("{name: paper_ic, at: 2}", "{name: paper_ic, at: 9}")
    result = cli("validate", recipe, plugins=toy_plugins)
    assert result.code == 2
    assert (
        f"tiny.yaml:{line}: networks.mv.exits[1].at: backbone test_resnet has no stage 9; its stages are "
        "1: layer1, 2: layer2, 3: layer3, 4: layer4"
    ) in result.err
    run = cli("run", recipe, plugins=toy_plugins)
    assert run.code == 2 and "has no stage 9" in run.err
    assert not (tmp_path / "runs").exists()  # no run folder for a recipe that fails the checks


def test_stage_names_and_numbers_both_work(cli, recipe_with, toy_plugins):
    recipe, _ = recipe_with("{name: paper_ic, at: 2}", "{name: paper_ic, at: [layer3, 4]}")
    assert cli("validate", recipe, plugins=toy_plugins).code == 0
    bad, line = recipe_with("{name: paper_ic, at: 2}", "{name: paper_ic, at: [layer3, layer9]}")
    result = cli("validate", bad, plugins=toy_plugins)
    assert f"tiny.yaml:{line}: networks.mv.exits[1].at: backbone test_resnet has no stage 'layer9'" in result.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (torch.zeros(3), "holds a Tensor, not a state dict of weights"),
        ([torch.zeros(3)], "holds a list, not a state dict of weights"),
        ("not a checkpoint", "cannot be read as weights"),
    ],
)
def test_a_pretrained_file_that_is_missing_or_holds_no_state_dict(cli, recipe_with, toy_plugins, tmp_path, content, expected):
    weights = tmp_path / "weights.pth"
    if isinstance(content, str):
        weights.write_text(content)
    elif content is not None:
        torch.save(content, weights)
    recipe, line = recipe_with("backbone: {name: timm, model: test_resnet}", f"backbone: {{name: timm, model: test_resnet, pretrained: {weights}}}")
    result = cli("run", recipe, plugins=toy_plugins)
    assert result.code == 2
    assert f"tiny.yaml:{line}: networks.mv.backbone.pretrained: {weights}: {expected}" in result.err
    assert not (tmp_path / "runs").exists() and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        (torch.zeros(3), "holds a Tensor, not a state dict of weights"),
        ({"format": 1, "model": {"networks.other.backbone.w": torch.zeros(1)}}, "holds no network 'mv' (it holds: other)"),
    ],
)
def test_a_network_weights_file_that_is_missing_or_holds_no_state_dict(cli, recipe_with, toy_plugins, tmp_path, content, expected):
    weights = tmp_path / "mv.pt"
    if content is not None:
        torch.save(content, weights)
    recipe, line = recipe_with("    modality: mv\n", f"    modality: mv\n    weights: {weights}\n")
    result = cli("validate", recipe, plugins=toy_plugins)
    assert result.code == 2
    assert f"tiny.yaml:{line}: networks.mv.weights: {weights}: {expected}" in result.err


def test_every_problem_is_listed_at_once(cli, recipe_with, toy_plugins, tmp_path):
    recipe, _ = recipe_with("{name: paper_ic, at: 2}", "{name: paper_ic, at: 9}")
    result = cli("validate", recipe, "--set", f"networks.iframe.weights={tmp_path / 'none.pt'}", plugins=toy_plugins)
    assert "the recipe is not valid:" in result.err and "has no stage 9" in result.err
    assert f"--set networks.iframe.weights={tmp_path / 'none.pt'}: networks.iframe.weights:" in result.err


def test_recipe_only_skips_the_files(cli, recipe_with, toy_plugins, tmp_path):
    recipe, _ = recipe_with("    modality: mv\n", f"    modality: mv\n    weights: {tmp_path / 'none.pt'}\n")
    result = cli("validate", recipe, "--recipe-only", plugins=toy_plugins)
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("{name: hmdb51, root: ROOT/none, splits: ROOT/splits}", "data.root: ROOT/none: no such folder"),
        ("{name: hmdb51, root: ROOT/videos, splits: ROOT/none}", "data.splits: ROOT/none: no such folder"),
        ("{name: hmdb51, root: ROOT/videos, splits: ROOT/splits, split: 2}", "data.splits: ROOT/splits: no HMDB51 split files <class>_test_split2.txt"),
        ("{name: ucf101, root: ROOT/videos, splits: ROOT/splits}", "data.splits: ROOT/splits: no classInd.txt"),
        ("{name: folder, root: ROOT/videos, train_list: train.txt, test_list: ROOT/test.txt}", "data.train_list: ROOT/videos/train.txt: no such list file"),
    ],
)
def test_data_folders_that_do_not_exist(cli, tiny_recipe, toy_plugins, tmp_path, section, expected):
    (tmp_path / "videos" / "a").mkdir(parents=True)
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "a_test_split1.txt").write_text("x.avi 1\n")
    (tmp_path / "test.txt").write_text("a/x.avi\n")
    recipe = tiny_recipe()
    text = recipe.read_text()
    old = next(line for line in text.splitlines() if line.startswith("data:"))
    recipe.write_text(text.replace(old, "data: " + section.replace("ROOT", str(tmp_path))))
    result = cli("validate", recipe, plugins=toy_plugins)
    assert result.code == 2
    assert f"tiny.yaml:4: {expected.replace('ROOT', str(tmp_path))}" in result.err


class PickyConfig(ComponentConfig):
    """A third party's dataset with a check of its own."""

    root: str = "nowhere"

    def preflight(self):
        yield ("root", f"{self.root}: the archive is not unpacked")


class SixStages(ComponentConfig):
    def stage_names(self):
        return [f"s{number}" for number in range(1, 7)]


third_party = types.SimpleNamespace(
    pkd_add_datasets=hookimpl(lambda registry: registry.add("picky", lambda config: None, config=PickyConfig)),
    pkd_add_backbones=hookimpl(lambda registry: registry.add("six", lambda config, **context: None, config=SixStages)),
)


def test_third_party_components_take_part_through_the_protocol(cli, tiny_recipe, toy_plugins_with):
    plugins = toy_plugins_with(("third", third_party))
    result = cli(
        "validate", tiny_recipe(), "--set", "data={name: picky, root: /data/x}", "--set",
        "networks.iframe.backbone={name: six}", "--set", "networks.iframe.exits=[{name: light, at: 7}]", plugins=plugins,
    )  # fmt: skip
    assert result.code == 2
    assert "--set data={name: picky, root: /data/x}: data.root: /data/x: the archive is not unpacked" in result.err
    assert "networks.iframe.exits[0].at: backbone six has no stage 7; its stages are 1: s1" in result.err


def test_a_named_weight_source_is_not_taken_for_a_missing_file(cli, recipe_with, toy_plugins):
    recipe, _ = recipe_with("backbone: {name: timm, model: test_resnet}", "backbone: {name: timm, model: test_resnet, pretrained: timm}")
    result = cli("validate", recipe, plugins=toy_plugins)
    assert result.code == 0, result.err  # the source fetches its weights when the backbone is built, not now
