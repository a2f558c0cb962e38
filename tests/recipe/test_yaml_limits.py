"""YAML that expands: alias bombs, deep nesting and self-referring anchors are refused with file:line, while
ordinary anchors, aliases and merge keys keep working. (Time and memory: benchmarks/bench_hostile_yaml.py.)"""

from __future__ import annotations

import pytest

from pkd_toolkit.recipe.loading import load_recipe
from pkd_toolkit.recipe.yaml_source import MAX_DEPTH, MAX_VALUES, read_yaml


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs" file: each anchor repeats the previous one ``width`` times (under 1 KB)."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    lines += [f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]" for level in range(1, levels)]
    return "\n".join(["name: bomb", *lines]) + "\n"


def nested(depth: int) -> str:
    return "name: deep\ndescription: " + "[" * depth + "]" * depth + "\n"


def test_an_alias_bomb_is_refused_at_the_anchor_that_grows_too_big(cli, write, toy_plugins):
    path = write("bomb.yaml", alias_bomb())
    assert path.stat().st_size < 1024
    result = cli("validate", path, plugins=toy_plugins)
    assert result.code == 2
    # a5 holds 9**5 items of a0 (597,871 values with the lists themselves): the first anchor above the limit
    assert f"bomb.yaml:7: the recipe expands to more than {MAX_VALUES:,} values" in result.err
    assert "Traceback" not in result.err


def test_500_nested_brackets_are_refused_with_the_line(cli, write, toy_plugins):
    result = cli("validate", write("deep.yaml", nested(500)), plugins=toy_plugins)
    assert result.code == 2
    assert f"deep.yaml:2: the recipe nests values more than {MAX_DEPTH} levels deep" in result.err
    assert "Traceback" not in result.err and "RecursionError" not in result.err


def test_the_limits_apply_to_set_values_too(cli, write, toy_plugins):
    recipe = write("anchored.yaml", ANCHORED)
    deep = cli("validate", recipe, "--set", "description=" + "[" * 500 + "]" * 500, plugins=toy_plugins)
    assert deep.code == 2 and "--set description=[[[" in deep.err and f"more than {MAX_DEPTH} levels" in deep.err
    bomb = "{" + alias_bomb().replace("\n", ", ").rstrip(", ") + "}"
    exploded = cli("validate", recipe, "--set", f"description={bomb}", plugins=toy_plugins)
    assert exploded.code == 2 and f"more than {MAX_VALUES:,} values" in exploded.err


def test_an_anchor_that_contains_its_own_alias_is_refused(write):
    from pkd_toolkit.errors import UsageError

    with pytest.raises(UsageError, match=r"loop\.yaml:2: the alias \*me refers to a value that contains it"):
        read_yaml(write("loop.yaml", "name: loop\nme: &me [1, *me]\n"))


def test_just_under_the_limits_is_fine(write):
    value = read_yaml(write("deep.yaml", nested(MAX_DEPTH - 1))).data["description"]  # the mapping is one level
    for _ in range(MAX_DEPTH - 2):
        (value,) = value
    assert value == []
    # 1,000 aliases of a 50-item list: about 51,000 values, a big but honest file
    text = "name: wide\nitems: &items [" + ", ".join(["1"] * 50) + "]\nmany: [" + ", ".join(["*items"] * 1000) + "]\n"
    wide = read_yaml(write("wide.yaml", text))
    assert len(wide.data["many"]) == 1000 and wide.data["many"][999] == [1] * 50


ANCHORED = """\
name: anchored
data: {name: toy, classes: 3}
modalities:
  rgb: {name: toy}
networks:
  a: &network
    modality: rgb
    backbone: {name: timm, model: test_resnet}
    exits: &exits [{name: paper_ic, at: 1}]
  b:
    <<: *network
    exits: *exits
backbones:
  epochs: 1
  optimizer: &adam {name: adam, lr: 0.003}
schedules:
  - &ce {name: ce, epochs: 2, optimizer: *adam}
  - {<<: *ce, label: ce_again, epochs: 3}
early_exit:
  thresholds: &levels [0.5, 1.0]
"""


def test_ordinary_anchors_aliases_and_merge_keys_keep_working(write, toy_plugins):
    recipe = load_recipe(write("anchored.yaml", ANCHORED), toy_plugins.registry)
    assert recipe.networks["b"].backbone.model == "test_resnet" and recipe.networks["b"].exits[0].at == 1
    assert [(s.label, s.epochs, s.optimizer.lr) for s in recipe.schedules] == [(None, 2, 0.003), ("ce_again", 3, 0.003)]
    assert recipe.early_exit.thresholds == [0.5, 1.0]


def test_a_problem_inside_an_alias_names_a_line(cli, write, toy_plugins):
    text = ANCHORED.replace("{name: adam, lr: 0.003}", "{name: adam, lr: -1}")
    result = cli("validate", write("anchored.yaml", text), plugins=toy_plugins)
    assert result.code == 2
    assert "anchored.yaml:15: backbones.optimizer.lr: Input should be greater than 0" in result.err
