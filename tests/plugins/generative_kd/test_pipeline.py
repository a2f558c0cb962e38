"""``pkd run`` with a gkd schedule on the toy data and the recipes it refuses.

The teacher and student are timm's tiny test models of two families, 96 and 64 channels wide at their
last stage: the run goes through the width adapter and names the layer by its number.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from pkd_toolkit.api import hookimpl
from pkd_toolkit.cli.app import main
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains a gkd run

RECIPE = """\
name: gkd-tiny
seed: 2
output_dir: {output_dir}
data: {{name: toy, classes: 3, train_size: 12, test_size: 6, size: 16, segments: 2}}
modalities:
  rgb: {{name: toy}}
networks:
  teacher: {{modality: rgb, backbone: {{name: timm, model: test_resnet}}}}
  student: {{modality: rgb, backbone: {{name: timm, model: test_efficientnet}}}}
train: {{batch_size: 6}}
backbones: {{epochs: 1, optimizer: {{name: adam, lr: 0.003}}}}
schedules:
  - name: gkd
    teacher: {teacher}
    student: student
    layer: {layer}
    teacher_epochs: 1
    epochs: 1
    attention_hidden: 16
    cvae_hidden: 32
    template_size: 2
"""


def recipe_text(output_dir: Path, *, teacher: str = "teacher", layer: str = "4") -> str:
    return RECIPE.format(output_dir=output_dir, teacher=teacher, layer=layer)


class StageSnapshots:
    """An in-process plugin keeping copies of the weights each stage can reach, at its start and end."""

    def __init__(self) -> None:
        self.weights: dict[tuple[str, str], dict[str, torch.Tensor]] = {}

    def _keep(self, when: str, stage) -> None:
        for key, network in stage.evaluate.items():
            self.weights[(when, key)] = {name: value.clone() for name, value in network.state_dict().items()}

    @hookimpl
    def pkd_stage_start(self, run, stage):
        self._keep("start", stage)

    @hookimpl
    def pkd_stage_end(self, run, stage, metrics):
        self._keep("end", stage)


@pytest.fixture(scope="module")
def gkd_run(tmp_path_factory):
    """One tiny gkd run shared by the tests below: its folder and the weights seen at stage boundaries."""
    root = tmp_path_factory.mktemp("gkd")
    recipe = root / "recipe.yaml"
    recipe.write_text(recipe_text(root / "runs"))
    snapshots = StageSnapshots()
    toy = sys.modules["toy_plugin"]  # loaded by tests/conftest.py (the toy_plugins fixture is per test)
    with pytest.raises(SystemExit) as finished:
        main(["run", str(recipe), "--run-dir", str(root / "run")], plugins=load_plugins([("toy", toy), ("snapshots", snapshots)]))
    assert finished.value.code in (0, None)
    return root / "run", snapshots.weights


def same(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def under(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def test_a_gkd_run_writes_the_students_scores_beside_the_baselines(gkd_run):
    run_dir, _ = gkd_run
    test = ScoreSet.load(score_path(run_dir, "gkd", "test"))
    assert [(exit.network, exit.exit) for exit in test.exits] == [("student", "final")]
    assert test.get("student", "final").logits.shape == (6, 2, 3)
    assert ScoreSet.load(score_path(run_dir, "gkd", "train")).get("student", "final").logits.shape == (12, 2, 3)
    report = json.loads((run_dir / "report.json").read_text())
    rows = {(row["schedule"], row["network"], row["exit"]) for row in report["exits"]}
    assert {("gkd", "student", "final"), ("backbone", "student", "final"), ("backbone", "teacher", "final")} <= rows


def test_phase_two_alternates_a_cvae_epoch_and_a_network_epoch(gkd_run):
    run_dir, _ = gkd_run
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [(line["stage"], line["epoch"]) for line in lines]
    assert epochs == [("backbones", 1), ("gkd-teacher", 1), ("gkd-student", 1), ("gkd-student", 2)]
    teacher, cvae_epoch, network_epoch = lines[1:]
    assert {"loss/gkd/teacher-attention", "loss/gkd/teacher-cvae", "test/gkd/teacher/final"} <= set(teacher)
    assert "loss/gkd/student-cvae" in cvae_epoch and "loss/gkd/student" not in cvae_epoch
    assert "loss/gkd/student" in network_epoch and "loss/gkd/student-cvae" not in network_epoch
    assert network_epoch["gkd/generative_weight"] == pytest.approx(0.5 / 20)
    assert {"gkd/ce", "gkd/generative", "gkd/attention", "test/gkd/student/final"} <= set(network_epoch)


def test_phase_one_trains_the_teachers_attention_not_the_teacher(gkd_run):
    _, weights = gkd_run
    trained_teacher = under("backbone.", weights[("end", "backbones/teacher")])
    before, after = weights[("start", "gkd/teacher")], weights[("end", "gkd/teacher")]
    assert same(under("backbone.inner.", before), trained_teacher)
    assert same(under("backbone.inner.", after), trained_teacher)
    assert not same(under("backbone.attention.", before), under("backbone.attention.", after))


def test_phase_two_trains_a_copy_of_the_untrained_student_and_leaves_the_baseline(gkd_run):
    run_dir, weights = gkd_run
    untrained, baseline = weights[("start", "backbones/student")], weights[("end", "backbones/student")]
    start, end = weights[("start", "gkd/student")], weights[("end", "gkd/student")]
    assert same(under("backbone.inner.", start), under("backbone.", untrained))  # taken before stage (a)
    assert not same(under("backbone.inner.", end), under("backbone.inner.", start))
    final = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert same(under("networks.student.", final), baseline)
    assert same(under("networks.teacher.", final), weights[("end", "backbones/teacher")])
    assert same(under("schedules.gkd.student.", final), end)
    for part in ("teacher_attention", "teacher_cvae", "student_cvae", "adapter"):  # 64 -> 96 channels: an adapter
        assert under(f"schedules.gkd.{part}.", final), part


# -- refused recipes ---------------------------------------------------------------------------


def test_a_teacher_that_is_not_a_network_is_refused_at_validation(cli, write, toy_plugins, tmp_path):
    result = cli("validate", write("bad.yaml", recipe_text(tmp_path, teacher="techer")), plugins=toy_plugins)
    assert result.code == 2
    assert "schedules[0].teacher" in result.err and "'techer'" in result.err
    assert "did you mean 'teacher'" in result.err and "Traceback" not in result.err


def test_a_teacher_that_is_the_student_is_refused_at_validation(cli, write, toy_plugins, tmp_path):
    result = cli("validate", write("bad.yaml", recipe_text(tmp_path, teacher="student")), plugins=toy_plugins)
    assert result.code == 2
    assert "teacher and student must be two networks, both are 'student'" in result.err


def test_a_layer_the_backbones_lack_stops_the_run_before_training(cli, write, toy_plugins, tmp_path):
    result = cli("run", write("bad.yaml", recipe_text(tmp_path / "runs", layer="layer5")), plugins=toy_plugins)
    assert result.code == 2
    assert "schedule 'gkd': layer: network 'teacher': test_resnet has no stage 'layer5'" in result.err
    assert "1: layer1, 2: layer2, 3: layer3, 4: layer4" in result.err and "Traceback" not in result.err
    assert not list((tmp_path / "runs").glob("*/*/checkpoints/last.pt"))
