"""``pkd run RECIPE --seeds 0,1``: one run folder per seed, the mean ± sd written beside them, finished seeds kept."""

from __future__ import annotations

import json
import statistics

import pytest

ENSEMBLES = "ensembles: [{name: sum}, {name: wise, iterations: 20}]\nearly_exit: {thresholds: [0.6, 1.0]}\n"


@pytest.mark.slow  # trains the tiny recipe twice
def test_each_seed_runs_into_one_folder_and_their_mean_is_written(cli, tiny_recipe, toy_plugins, tmp_path):
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1, extra=ENSEMBLES)
    folder = tmp_path / "seeds"
    result = cli(
        "run", recipe, "--seeds", "0,1", "--run-dir", folder, "--set", "train.batch_size=12", plugins=toy_plugins
    )
    assert result.code == 0, result.err
    reports = {seed: json.loads((folder / f"seed-{seed}" / "report.json").read_text()) for seed in (0, 1)}
    assert [reports[seed]["provenance"]["seed"] for seed in (0, 1)] == [0, 1]
    assert reports[1]["provenance"]["overrides"] == ["train.batch_size=12", "seed=1"]
    summary = json.loads((folder / "seeds.json").read_text())
    row = next(r for r in summary["exits"] if (r["schedule"], r["network"], r["exit"]) == ("pkd", "mv", "ic1"))
    expected = [
        next(r["top1"] for r in reports[s]["exits"] if (r["schedule"], r["network"], r["exit"]) == ("pkd", "mv", "ic1"))
        for s in (0, 1)
    ]
    assert row["top1"]["mean"] == pytest.approx(statistics.fmean(expected)) and row["top1"]["n"] == 2
    assert (folder / "seeds.md").read_text().startswith("# tiny over 2 seeds")
    assert "Accuracy per exit (top-1 %, mean ± sd over 2 seeds)" in result.out

    # run again with one more seed: the two finished ones are kept as they are
    stamps = {seed: (folder / f"seed-{seed}" / "report.json").stat().st_mtime_ns for seed in (0, 1)}
    again = cli(
        "run", recipe, "--seeds", "0,1", "--run-dir", folder, "--set", "train.batch_size=12", plugins=toy_plugins
    )
    assert again.code == 0, again.err
    assert "seed 0 (1 of 2): finished earlier, its report is kept" in again.err
    assert {seed: (folder / f"seed-{seed}" / "report.json").stat().st_mtime_ns for seed in (0, 1)} == stamps


@pytest.mark.parametrize(("seeds", "message"), [("0,x", "expected integers"), ("1,1", "expected distinct integers")])
def test_bad_seeds_are_refused_before_anything_runs(cli, tiny_recipe, toy_plugins, tmp_path, seeds, message):
    result = cli("run", tiny_recipe(), "--seeds", seeds, "--run-dir", tmp_path / "seeds", plugins=toy_plugins)
    assert result.code == 2 and f"--seeds {seeds}: {message}" in result.err
    assert not (tmp_path / "seeds").exists()


def test_seeds_and_resume_together_are_refused(cli, tiny_recipe, toy_plugins, tmp_path):
    result = cli("run", tiny_recipe(), "--seeds", "0,1", "--resume", "auto", plugins=toy_plugins)
    assert result.code == 2 and "--resume and --seeds" in result.err
