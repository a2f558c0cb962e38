"""``pkd summary RECIPE``: each network's exits as a table or JSON; mistakes as one message."""

from __future__ import annotations

import json

RECIPE = """\
name: summary
data: {name: toy, size: 64, classes: 51}
modalities:
  mv: {name: toy, channels: 2}
  rgb: {name: toy}
networks:
  mv:
    modality: mv
    backbone: {name: timm, model: resnet18, input_norm: true}
    exits:
      - {name: paper_ic, at: layer1, kernel_size: 7, padding: 1}
      - {name: paper_ic, at: 2}
      - {name: paper_ic, at: layer3}
  rgb:
    modality: rgb
    backbone: {name: timm, model: test_resnet}
    exits:
      - {name: light, at: 2}
"""


def test_summary_prints_every_exit_of_every_network(cli, write, toy_plugins):
    recipe = write("recipe.yaml", RECIPE)
    result = cli("summary", recipe, "--json", plugins=toy_plugins)
    assert result.code == 0, result.err
    networks = json.loads(result.out)["networks"]
    assert [(n["name"], n["backbone"], n["input_size"]) for n in networks] == [
        ("mv", "resnet18", [2, 64, 64]), ("rgb", "test_resnet", [3, 64, 64])
    ]  # fmt: skip
    mv = networks[0]["exits"]
    assert [(e["name"], e["stage"]) for e in mv] == [
        ("ic1", "layer1"),
        ("ic2", "layer2"),
        ("ic3", "layer3"),
        ("final", "layer4"),
    ]
    assert {"name", "stage", "params", "gmacs"} <= set(mv[0])
    gmacs, params = [e["gmacs"] for e in mv], [e["params"] for e in mv]
    assert gmacs == sorted(gmacs) and params == sorted(params) and gmacs[0] > 0

    table = cli("summary", recipe, "--set", "networks.rgb.exits.0.at=3", plugins=toy_plugins)
    assert table.code == 0, table.err
    assert "mv: resnet18, 2x64x64 per frame" in table.out and "rgb: test_resnet, 3x64x64 per frame" in table.out
    for row in mv:
        assert f"{row['gmacs']:.3f}" in table.out
    assert "layer3" in table.out.split("rgb: test_resnet")[1]  # the override moved the rgb exit


def test_an_exit_at_a_stage_the_backbone_lacks_is_one_message(cli, write, toy_plugins):
    recipe = write("recipe.yaml", RECIPE.replace("at: layer3", "at: layer7"))
    result = cli("summary", recipe, plugins=toy_plugins)
    assert result.code == 2 and "Traceback" not in result.err
    assert "networks.mv.exits[2]: at: resnet18 has no stage 'layer7'; its stages are 1: layer1" in result.err


def test_summary_needs_no_pretrained_weights_file(cli, write, toy_plugins, tmp_path):
    """The cost is the architecture's: a recipe naming weights not yet downloaded is summarised all the same."""
    missing = tmp_path / "weights" / "resnet18.pth"
    recipe = write("recipe.yaml", RECIPE.replace("input_norm: true}", f"input_norm: true, pretrained: {missing}}}"))
    result = cli("summary", recipe, "--json", plugins=toy_plugins)
    assert result.code == 0, result.err
    assert json.loads(result.out)["networks"][0]["backbone"] == "resnet18"
