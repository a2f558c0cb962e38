"""The whole pipeline on the toy plugin: backbones, CE and PKD exits, score files, report."""

from __future__ import annotations

import json

import numpy as np
import torch

from pkd_toolkit.scores import ScoreSet, score_path


def only_run_dir(root):
    (run_dir,) = [path for path in (root / "tiny").iterdir() if path.is_dir()]
    return run_dir


def test_a_tiny_recipe_trains_everything_and_reports(cli, tiny_recipe, toy_plugins, tmp_path):
    result = cli("run", tiny_recipe(), plugins=toy_plugins)
    assert result.code == 0, result.err
    run_dir = only_run_dir(tmp_path / "runs")
    for name in ("recipe.yaml", "run.log", "metrics.jsonl", "report.json", "report.md", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    schedules = {row["schedule"] for row in report["exits"]}
    assert schedules == {"backbone", "ce", "pkd"}
    pkd_exits = {(row["network"], row["exit"]) for row in report["exits"] if row["schedule"] == "pkd"}
    assert pkd_exits == {("mv", "ic1"), ("mv", "ic2"), ("mv", "final"), ("residual", "ic1"), ("residual", "ic2"),
                         ("residual", "final"), ("iframe", "ic1"), ("iframe", "final")}  # fmt: skip
    assert all(0 <= row["top1"] <= 1 and row["gmacs"] > 0 for row in report["exits"])
    # the side-by-side table: every early exit of both schedules, with the difference
    assert len(report["comparison"]) == 5
    assert "Early exits: CE against the other schedules" in result.out
    # score files: every split of every schedule, per-segment logits
    test = ScoreSet.load(score_path(run_dir, "pkd", "test"))
    train = ScoreSet.load(score_path(run_dir, "ce", "train"))
    assert test.get("mv", "ic1").logits.shape == (12, 2, 3)
    assert len(train.labels) == 24 and train.classes == ["class0", "class1", "class2"]
    # backbones learnt the (easy) toy task; the final heads are shared by all schedules
    finals = [row["top1"] for row in report["exits"] if row["exit"] == "final"]
    assert max(finals) > 0.6
    np.testing.assert_allclose(test.get("mv", "final").logits, ScoreSet.load(score_path(run_dir, "ce", "test")).get("mv", "final").logits)


def test_the_checkpoint_holds_everything_and_loads_with_weights_only(cli, tiny_recipe, toy_plugins, tmp_path):
    assert cli("run", tiny_recipe(backbone_epochs=1, exit_epochs=1), plugins=toy_plugins).code == 0
    state = torch.load(only_run_dir(tmp_path / "runs") / "checkpoints" / "last.pt", weights_only=True)
    assert {"model", "optimizers", "schedulers", "rng", "position", "recipe", "scaler"} <= set(state)
    assert state["position"]["finished"] == ["backbones", "exits"]
    assert any(key.startswith("schedules.pkd.mv.") for key in state["model"])
    assert any(key.startswith("networks.iframe.backbone.") for key in state["model"])
    assert state["recipe"]["name"] == "tiny"


def test_metrics_are_logged_per_epoch(cli, tiny_recipe, toy_plugins, tmp_path):
    assert cli("run", tiny_recipe(backbone_epochs=2, exit_epochs=1), plugins=toy_plugins).code == 0
    lines = [json.loads(line) for line in (only_run_dir(tmp_path / "runs") / "metrics.jsonl").read_text().splitlines()]
    assert [(line["stage"], line["epoch"]) for line in lines] == [("backbones", 1), ("backbones", 2), ("exits", 1)]
    assert {"loss/pkd/mv", "loss/ce/residual", "lr/pkd/iframe", "val/pkd/mv/ic1", "val_top1"} <= set(lines[-1])


def test_pkd_switches_teachers_by_epoch():
    from pkd_plugins.exit_schedules import teacher_at

    teachers = ["mv", "residual", "iframe"]
    assert [teacher_at(e, teachers, [50, 100], 300) for e in (0, 49, 50, 99, 100, 299)] == [
        "mv", "mv", "residual", "residual", "iframe", "iframe"]  # fmt: skip
    assert [teacher_at(e, teachers, None, 6) for e in range(6)] == ["mv", "mv", "residual", "residual", "iframe", "iframe"]
    assert teacher_at(5, ["iframe"], None, 6) == "iframe"


def test_distillation_loss_golden_values():
    from pkd_plugins.exit_schedules import distillation_loss

    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    for temperature in (1.0, 2.0):
        p = np.exp(teacher.numpy() / temperature)
        p /= p.sum(1, keepdims=True)
        q = np.exp(student.numpy() / temperature)
        q /= q.sum(1, keepdims=True)
        expected = (p * (np.log(p) - np.log(q))).sum(1).mean()
        assert abs(float(distillation_loss(student, teacher, temperature)) - expected) < 1e-6
    assert abs(float(distillation_loss(teacher, teacher))) < 1e-6
