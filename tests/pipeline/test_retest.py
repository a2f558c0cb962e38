"""``pkd test RUN_DIR``: the test split scored again from a checkpoint with other test views, into a report of
its own; and every bad input refused with one message, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # scores a trained run


@pytest.fixture
def run_copy(finished_run, tmp_path):
    """A copy of the shared finished run (tests must not change that one)."""
    return shutil.copytree(finished_run.dir, tmp_path / "run")


def snapshot(folder):
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_the_test_split_is_scored_again_with_other_views_into_its_own_report(cli, toy_plugins, run_copy):
    before = snapshot(run_copy)
    result = cli("test", run_copy, "--set", "data.segments=4", "--set", "train.batch_size=2", plugins=toy_plugins)
    assert result.code == 0, result.err
    err = " ".join(result.err.split())
    assert "--set train.batch_size=2: ignored; pkd test changes how a run is tested, not how it was trained" in err
    assert snapshot(run_copy).items() >= before.items()  # the training report and every file beside it untouched
    (folder,) = (run_copy / "tests").iterdir()
    assert folder.name.endswith("-last")
    test = ScoreSet.load(score_path(folder, "pkd", "test"))
    assert test.get("mv", "ic1").logits.shape == (12, 4, 3)  # 4 test segments now, 2 in training
    # the run's final weights: its train and validation scores are reused (the ensembles are fitted on validation)
    assert not score_path(folder, "pkd", "train").exists() and not score_path(folder, "pkd", "val").exists()
    report = json.loads((folder / "report.json").read_text())
    assert report["test"]["scored"] == ["test"] and report["test"]["ignored"] == ["train.batch_size=2"]
    assert report["provenance"]["overrides"] == ["data.segments=4"]
    assert report["provenance"]["data"]["settings"]["segments"] == 4
    assert {e["schedule"] for e in report["ensembles"]} == {"backbone", "ce", "pkd"}
    markdown = (folder / "report.md").read_text()
    assert markdown.startswith("# Test report: tiny\n\n## How this report was produced")
    assert (
        f"- **Re-test** of the run `{run_copy}` from the checkpoint `{run_copy / 'checkpoints' / 'last.pt'}`"
        in markdown
    )


def test_a_best_checkpoint_is_tested_with_train_and_validation_scores_of_its_own(cli, toy_plugins, run_copy, tmp_path):
    out = tmp_path / "best-test"
    result = cli("test", run_copy, "--checkpoint", "best", "--out", out, "--json", plugins=toy_plugins)
    assert result.code == 0, result.err
    report = json.loads(result.out)
    assert report["test"]["checkpoint"].endswith("best-exits.pt")
    assert report["test"]["scored"] == ["train", "val", "test"] and report["selection"]["ensembles"] == "val"
    position = report["test"]["position"]
    assert position.startswith("stage 2, after epoch ") and "validation top-1" in position
    assert len(ScoreSet.load(score_path(out, "pkd", "val")).labels) == 6
    assert ScoreSet.load(score_path(out, "ce", "train")).get("mv", "ic1").logits.shape == (18, 2, 3)
    assert not (run_copy / "tests").exists()


def bad(cli, toy_plugins, *args):
    result = cli("test", *args, plugins=toy_plugins)
    return result.code, " ".join(result.err.split())


def test_a_folder_that_is_not_a_run_is_refused(cli, toy_plugins, tmp_path):
    code, err = bad(cli, toy_plugins, tmp_path)
    assert code == 2 and err.count("error:") == 1 and "not a run folder (it has no recipe.yaml" in err
    assert not any(tmp_path.iterdir())


def test_a_run_without_checkpoints_is_refused(cli, toy_plugins, run_copy):
    shutil.rmtree(run_copy / "checkpoints")
    code, err = bad(cli, toy_plugins, run_copy)
    assert code == 2 and f"{run_copy}: has no checkpoints (checkpoints/ is missing or empty): nothing to test" in err
    assert not (run_copy / "tests").exists()


def test_a_missing_checkpoint_file_is_refused(cli, toy_plugins, run_copy, tmp_path):
    code, err = bad(cli, toy_plugins, run_copy, "--checkpoint", tmp_path / "nothing.pt")
    assert code == 2 and f"--checkpoint {tmp_path / 'nothing.pt'}: no such file" in err
    code, err = bad(cli, toy_plugins, run_copy, "--checkpoint", "best-nostage")
    assert code == 2 and "has no such checkpoint (it has: best-backbones.pt, best-exits.pt, last.pt)" in err
    assert not (run_copy / "tests").exists()


def test_a_checkpoint_of_another_recipe_is_refused(cli, toy_plugins, run_copy, tmp_path):
    state = torch.load(run_copy / "checkpoints" / "last.pt", weights_only=True)
    state["recipe"]["seed"] = 11
    foreign = tmp_path / "other-run.pt"
    torch.save(state, foreign)
    code, err = bad(cli, toy_plugins, run_copy, "--checkpoint", foreign)
    assert code == 2 and err.count("error:") == 1
    assert (
        f"{foreign}: written by a different recipe: seed: 11 in other-run.pt, 3 now; test it from the run folder"
        in err
    )
    assert not (run_copy / "tests").exists()


def test_an_out_folder_that_holds_files_is_refused(cli, toy_plugins, run_copy, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    code, err = bad(cli, toy_plugins, run_copy, "--out", tmp_path / "taken")
    assert code == 2 and "already exists and is not an empty folder" in err
    assert [path.name for path in (tmp_path / "taken").iterdir()] == ["notes.txt"]
