"""Recipes: safe YAML, validation by the components' models, file:line errors, --set overrides."""

from __future__ import annotations

import json

import pytest
import yaml

from pkd_toolkit.errors import UsageError
from pkd_toolkit.recipe.loading import dump_recipe, load_recipe

VALID = """\
name: tiny
data:
  name: toy
  classes: 4
modalities:
  rgb: {name: toy}
networks:
  net:
    modality: rgb
    backbone: {name: timm, model: resnet18}
    exits:
      - {name: paper_ic, at: 1}
train:
  batch_size: 4
"""


def test_valid_recipe_is_resolved_with_defaults(write, toy_plugins):
    recipe = load_recipe(write("tiny.yaml", VALID), toy_plugins.registry)
    assert recipe.data.classes == 4
    assert recipe.train.batch_size == 4
    assert recipe.train.num_workers == 0  # a default
    resolved = yaml.safe_load(dump_recipe(recipe))
    assert list(resolved)[:2] == ["name", "description"]
    assert list(resolved["data"])[0] == "name"  # the component's name first
    assert resolved["networks"]["net"]["exits"][0]["at"] == 1


def test_validate_command_accepts_a_valid_recipe(cli, write, toy_plugins):
    result = cli("validate", write("tiny.yaml", VALID), plugins=toy_plugins)
    assert result.code == 0, result.err
    assert "valid recipe 'tiny'" in result.out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [unclosed\n", "tiny.yaml:2: malformed YAML: expected ',' or ']', but got '<stream end>' (while parsing a flow sequence started on line 1)"),
        ("", "the file is empty"),
        ("- a list\n", "a recipe is a mapping of sections"),
        (VALID + "bogus: 1\n", "tiny.yaml:15: bogus: unknown key 'bogus'"),
        (VALID.replace("name: toy\n  classes", "name: toys\n  classes"), "data: unknown dataset 'toys': did you mean 'toy'?"),
        (VALID.replace("batch_size: 4", "batch_size: many"), "tiny.yaml:14: train.batch_size: Input should be a valid integer"),
        (VALID.replace("model: resnet18}", "model: resnet18, depth: 3}"), "networks.net.backbone.depth: unknown key 'depth'"),
        (VALID.replace("at: 1}", "at: 1, size: x}"), "networks.net.exits[0].size: unknown key"),
        (VALID.replace("modality: rgb", "modality: flow"), "networks.net.modality: 'flow' is not one of the recipe's modalities: (choices: rgb)"),
        (VALID + "train:\n  amp: false\n", "duplicate key 'train' (first written on line 13)"),
        (VALID.replace("{name: toy}", "{classes: 3}"), "modalities.rgb: missing 'name': which modality?"),
    ],
)
def test_bad_recipes_get_one_clear_message(cli, write, toy_plugins, text, expected):
    path = write("tiny.yaml", text)
    result = cli("validate", path, plugins=toy_plugins)
    assert result.code == 2
    assert expected in result.err
    assert "Traceback" not in result.err


def test_python_tags_are_refused_and_never_executed(cli, write, toy_plugins, tmp_path):
    marker = tmp_path / "executed"
    text = VALID + f"description: !!python/object/apply:os.system ['touch {marker}']\n"
    result = cli("validate", write("evil.yaml", text), plugins=toy_plugins)
    assert result.code == 2
    assert "evil.yaml:15: the YAML tag '!!python/object/apply:os.system' is not allowed" in result.err
    assert not marker.exists()


def test_missing_recipe_file(cli, tmp_path, toy_plugins):
    result = cli("validate", tmp_path / "nowhere.yaml", plugins=toy_plugins)
    assert result.code == 2
    assert "nowhere.yaml: no such file" in result.err


def test_every_problem_is_listed_with_its_line(write, toy_plugins):
    text = VALID.replace("batch_size: 4", "batch_size: 0\n  bogus: 1")
    with pytest.raises(UsageError) as error:
        load_recipe(write("tiny.yaml", text), toy_plugins.registry)
    message = str(error.value)
    assert "tiny.yaml:14: train.batch_size: Input should be greater than 0, got 0" in message
    assert "tiny.yaml:15: train.bogus: unknown key 'bogus' (valid: device, amp, batch_size" in message


def test_overrides_apply_before_validation(write, toy_plugins):
    path = write("tiny.yaml", VALID)
    recipe = load_recipe(path, toy_plugins.registry, ["train.batch_size=16", "networks.net.exits.0.at=layer2", "seed=7"])
    assert (recipe.train.batch_size, recipe.networks["net"].exits[0].at, recipe.seed) == (16, "layer2", 7)
    recipe = load_recipe(path, toy_plugins.registry, ["backbones.optimizer.lr_per_network={net: 0.5}"])
    assert recipe.backbones.optimizer.lr_per_network == {"net": 0.5}


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.bach_size=3", "train has no key 'bach_size' (did you mean 'batch_size'?"),
        ("networks.nett.modality=rgb", "networks has no entry 'nett' (did you mean 'net'?"),
        ("networks.net.exits.4.at=1", "networks.net.exits is a list of 1 items; '4' is not an item number"),
        ("data.classes.x=1", "data.classes is a value (4), not a section with keys"),
        ("train.batch_size", "expected KEY.PATH=VALUE"),
        ("train..amp=1", "expected KEY.PATH=VALUE"),
        ("seed=!!python/object/apply:os.getcwd []", "the YAML tag '!!python/object/apply:os.getcwd' is not allowed"),
        ("seed=[1, 2", "malformed YAML"),
    ],
)
def test_bad_override_paths(cli, write, toy_plugins, override, expected):
    result = cli("validate", write("tiny.yaml", VALID), "--set", override, plugins=toy_plugins)
    assert result.code == 2
    assert expected in result.err


def test_an_invalid_override_value_names_the_option(cli, write, toy_plugins):
    result = cli("validate", write("tiny.yaml", VALID), "--set", "train.batch_size=-1", plugins=toy_plugins)
    assert result.code == 2
    assert "--set train.batch_size=-1: train.batch_size: Input should be greater than 0" in result.err


def test_schema_includes_plugin_sections(cli, toy_plugins):
    result = cli("schema", plugins=toy_plugins)
    assert result.code == 0
    schema = json.loads(result.out)
    titles = {definition.get("title") for definition in schema["$defs"].values()}
    assert {"dataset:toy", "modality:toy", "backbone:timm", "exit:paper_ic", "schedule:pkd"} <= titles
    assert "networks" in schema["required"]


def test_the_recipe_reference_in_docs_is_current():
    """docs/recipe-reference.md is `pkd schema --markdown` for the built-in plugins: regenerate it when a setting changes."""
    from pathlib import Path

    from pkd_toolkit.plugin.manager import load_plugins
    from pkd_toolkit.recipe.reference import recipe_reference

    written = (Path(__file__).resolve().parents[2] / "docs" / "recipe-reference.md").read_text()
    assert written == recipe_reference(load_plugins(autoload=False).registry), (
        "run: PKD_DISABLE_PLUGIN_AUTOLOAD=1 pkd schema --markdown > docs/recipe-reference.md"
    )
    assert "| `switch_epochs` |" in written and "## Ensembler components: each item of `ensembles:`" in written


def test_a_list_override_appends_without_rewriting_the_list(write, toy_plugins):
    path = write("tiny.yaml", VALID + "ensembles: [{name: sum}]\n")
    recipe = load_recipe(
        path,
        toy_plugins.registry,
        ["ensembles+={name: wise, label: wise2}", "networks.net.exits+=[{name: light, at: 2}, {name: light, at: 3}]"],
    )
    assert [e.name for e in recipe.ensembles] == ["sum", "wise"]
    assert [(e.name, e.at) for e in recipe.networks["net"].exits] == [("paper_ic", 1), ("light", 2), ("light", 3)]
    # a list the recipe leaves out starts from its default, not from nothing
    recipe = load_recipe(path, toy_plugins.registry, ["early_exit.thresholds+=0.97", "schedules+={name: ce}"])
    assert recipe.early_exit.thresholds[-2:] == [1.0, 0.97] and len(recipe.early_exit.thresholds) == 13
    assert [s.name for s in recipe.schedules] == ["ce"]


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.batch_size+=2", "--set train.batch_size+=2: train.batch_size is 4, not a list; += appends to lists only"),
        ("data+={name: toy}", "--set data+={name: toy}: data is a section, not a list"),
        ("train.eval_batch_size+=3", "train.eval_batch_size is not set, not a list"),
    ],
)
def test_appending_to_a_key_that_is_not_a_list_is_refused(cli, write, toy_plugins, override, expected):
    path = write("tiny.yaml", VALID)
    before = path.read_text()
    result = cli("validate", path, "--set", override, plugins=toy_plugins)
    assert result.code == 2
    assert expected in " ".join(result.err.split())
    assert result.err.count("error:") == 1 and path.read_text() == before
