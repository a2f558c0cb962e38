"""The whole pipeline on the toy plugin: backbones, CE and PKD exits, score files, report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.scores.files import ScoreSet
from pkd_toolkit.scores.metrics import topk_accuracy

pytestmark = pytest.mark.slow  # reads the shared finished run, and trains one more


def only_run_dir(root):
    (run_dir,) = [path for path in (root / "tiny").iterdir() if path.is_dir()]
    return run_dir


def test_a_run_folder_is_made_under_the_output_dir_by_name_and_time(cli, tiny_recipe, toy_plugins, tmp_path):
    result = cli("run", tiny_recipe(backbone_epochs=1, exit_epochs=1), plugins=toy_plugins)
    assert result.code == 0, result.err
    run_dir = only_run_dir(tmp_path / "runs")
    assert run_dir.name[:8].isdigit() and (run_dir / "report.json").is_file()
    # without a validation split the test split is evaluated for the log, under its own name, and chooses nothing
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert "test_top1" in lines[-1] and not any(key.startswith("val") for line in lines for key in line)
    assert not list((run_dir / "checkpoints").glob("best-*.pt"))
    assert "top-1 on the test split" in (run_dir / "run.log").read_text()  # the log says which split, and that
    assert "for the log only: no checkpoint is chosen on it" in (run_dir / "run.log").read_text()  # it chooses nothing


def test_a_tiny_recipe_trains_everything_and_reports(finished_run):
    run_dir = finished_run.dir
    for name in ("recipe.yaml", "run.log", "metrics.jsonl", "report.json", "report.md", "checkpoints/last.pt"):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    schedules = {row["schedule"] for row in report["exits"]}
    assert schedules == {"backbone", "ce", "pkd"}
    pkd_exits = {(row["network"], row["exit"]) for row in report["exits"] if row["schedule"] == "pkd"}
    assert pkd_exits == {("mv", "ic1"), ("mv", "ic2"), ("mv", "final"), ("residual", "ic1"), ("residual", "ic2"),
                         ("residual", "final"), ("iframe", "ic1"), ("iframe", "final")}  # fmt: skip
    for row in report["exits"]:  # each row is its exit's score file, evaluated
        scores = ScoreSet.load(score_path(run_dir, row["schedule"], "test"))
        assert row["top1"] == topk_accuracy(scores.get(row["network"], row["exit"]).consensus(), scores.labels)
        assert row["gmacs"] == scores.get(row["network"], row["exit"]).gmacs > 0
    # the side-by-side table: every early exit of both schedules, with the difference
    assert len(report["comparison"]) == 5
    assert "Early exits: ce against the other schedules" in finished_run.stdout
    # score files: every split of every schedule, per-segment logits
    test = ScoreSet.load(score_path(run_dir, "pkd", "test"))
    train = ScoreSet.load(score_path(run_dir, "ce", "train"))
    assert test.get("mv", "ic1").logits.shape == (12, 2, 3)
    assert len(train.labels) == 18 and train.classes == ["class0", "class1", "class2"]  # 6 went to validation
    # backbones learnt the (easy) toy task; the final heads are shared by all schedules
    finals = [row["top1"] for row in report["exits"] if row["exit"] == "final"]
    assert max(finals) > 0.6
    np.testing.assert_allclose(test.get("mv", "final").logits, ScoreSet.load(score_path(run_dir, "ce", "test")).get("mv", "final").logits)


def test_the_checkpoint_holds_everything_and_loads_with_weights_only(finished_run):
    state = torch.load(finished_run.dir / "checkpoints" / "last.pt", weights_only=True)
    assert {"model", "optimizers", "schedulers", "rng", "position", "recipe", "scaler"} <= set(state)
    assert state["position"]["finished"] == ["backbones", "exits"]
    assert any(key.startswith("schedules.pkd.mv.") for key in state["model"])
    assert any(key.startswith("networks.iframe.backbone.") for key in state["model"])
    assert state["recipe"]["name"] == "tiny"


def test_metrics_are_logged_per_epoch(finished_run):
    lines = [json.loads(line) for line in (finished_run.dir / "metrics.jsonl").read_text().splitlines()]
    epochs = [(line["stage"], line["epoch"]) for line in lines]
    assert epochs == [("backbones", 1), ("backbones", 2), ("exits", 1), ("exits", 2), ("exits", 3)]
    assert {"loss/pkd/mv", "loss/ce/residual", "lr/pkd/iframe", "val/pkd/mv/ic1", "val_top1"} <= set(lines[-1])
    assert not any(key.startswith("test") for line in lines for key in line)  # the test split only reports
    # throughput and the wait for data, per epoch; what the periodic evaluation averaged
    assert all(line["clips_per_second"] > 0 and 0 <= line["data_wait_seconds"] for line in lines)
    assert lines[-1]["val_exits"] == 16  # 8 exits of each schedule's networks, frozen final heads included
    validated = [value for key, value in lines[-1].items() if key.startswith("val/")]
    assert lines[-1]["val_top1"] == pytest.approx(sum(validated) / len(validated))
    log = (finished_run.dir / "run.log").read_text()
    assert "exits epoch 3/3  " in log and "val top-1, mean of 16 exits" in log
    assert (
        "every 1 epoch(s), top-1 on the val split of each of 16 exits of 6 network(s) (heads frozen in this stage "
        "included); their mean picks checkpoints/best-exits.pt"
    ) in log


def test_the_report_opens_with_how_it_was_produced(finished_run):
    import pkd_toolkit

    run_dir = finished_run.dir
    provenance = json.loads((run_dir / "report.json").read_text())["provenance"]
    assert provenance["command"] == f"pkd run {finished_run.recipe} --run-dir {run_dir}"
    assert provenance["overrides"] == [] and provenance["seed"] == 3
    assert (provenance["device"], provenance["world_size"]) == ("cpu", 1)
    assert provenance["toolkit"] == pkd_toolkit.__version__ and provenance["plugins"]["wise"] == pkd_toolkit.__version__
    assert provenance["packages"]["torch"] == torch.__version__ and provenance["packages"]["av"]
    assert provenance["data"]["videos"] == {"train": 18, "val": 6, "test": 12}
    assert (provenance["data"]["dataset"], provenance["data"]["classes"], provenance["data"]["skipped"]) == ("toy", 3, 0)
    stages = provenance["wall_time"]["stages"]
    assert {name: entry["epochs"] for name, entry in stages.items()} == {"backbones": 2, "exits": 3}
    assert provenance["wall_time"]["scores"] > 0 and provenance["wall_time"]["ensembles"] > 0
    markdown = (run_dir / "report.md").read_text()
    assert markdown.splitlines()[:3] == ["# Run report: tiny", "", "## How this report was produced"]
    assert "- **Data set**: toy: 18 train, 6 val and 12 test videos, 3 classes, none skipped" in markdown
    assert "- **Wall time**: " in markdown and "backbones " in markdown and "(3 epochs)" in markdown


def test_curves_confusion_matrices_and_tensorboard_are_beside_the_report_and_linked(finished_run):
    run_dir = finished_run.dir
    report = json.loads((run_dir / "report.json").read_text())
    markdown = (run_dir / "report.md").read_text()
    figures = report["figures"]
    assert figures["training_curves"] == "training_curves.png" and "](training_curves.png)" in markdown
    linked = [figures["training_curves"]]
    for schedule in ("backbone", "ce", "pkd"):
        assert set(figures["ensemble_confusion"][schedule]) == {"sum", "wise"}  # one per ensemble too
        linked += [*figures["confusion"][schedule].values(), *figures["ensemble_confusion"][schedule].values()]
    for path in linked:
        assert (run_dir / path).read_bytes().startswith(b"\x89PNG") and f"]({path})" in markdown, path
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))


def test_every_file_of_a_run_folder_has_the_permissions_of_the_umask(finished_run):
    """Colleagues on a shared machine read run folders like any other file of the user's (0644 under umask 022)."""
    import os
    import stat

    mask = os.umask(0)
    os.umask(mask)
    files = [path for path in finished_run.dir.rglob("*") if path.is_file()]
    written = {path.relative_to(finished_run.dir).as_posix() for path in files}
    assert {"recipe.yaml", "checkpoints/last.pt", "report.json", "scores/pkd/test.npz"} <= written
    wrong = {name: oct(stat.S_IMODE((finished_run.dir / name).stat().st_mode)) for name in written
             if stat.S_IMODE((finished_run.dir / name).stat().st_mode) != 0o666 & ~mask}  # fmt: skip
    assert not wrong
