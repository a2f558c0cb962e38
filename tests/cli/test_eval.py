"""``pkd eval RUN_DIR``: reports recomputed from score files, and every bad input refused clearly."""

from __future__ import annotations

import json

import pytest
from synthetic_scores import synthetic_scores

from pkd_toolkit.run_folder.layout import fitted_path, score_path

pytestmark = pytest.mark.slow  # fits and evaluates ensembles on score files, as pkd eval does


@pytest.fixture
def pkd(cli, wise_plugins):
    """Run ``pkd ARGS...`` with the test wise_plugins; return (exit status, stdout, stderr with lines unwrapped)."""

    def run(*argv) -> tuple[int, str, str]:
        result = cli(*argv, plugins=wise_plugins)
        return result.code, result.out, " ".join(result.err.split())

    return run


def test_eval_prints_tables_and_rebuilds_the_whole_report(pkd, make_run):
    run_dir = make_run(schedules=("ce", "pkd"))
    (run_dir / "report.json").write_text(json.dumps({"recipe": "synthetic", "exits": [], "seconds": 12.5}))
    status, out, err = pkd("eval", run_dir)
    assert status == 0, err
    assert "Full ensembles" in out and "Early exit with wise, schedule ce" in out and "with wise, schedule pkd" in out
    assert "cheapest within 1 point(s) of the full ensemble" in out
    for schedule in ("ce", "pkd"):
        assert fitted_path(run_dir, schedule, "wise").is_file()
        assert (run_dir / "ensembles" / schedule / "early_exit.png").is_file()
    report = json.loads((run_dir / "report.json").read_text())
    assert {(row["schedule"], row["exit"]) for row in report["exits"]} >= {("ce", "ic1"), ("pkd", "final")}
    assert len(report["comparison"]) == 9  # every early exit of the synthetic networks, CE against PKD
    assert {e["schedule"] for e in report["ensembles"]} == {"ce", "pkd"}
    assert report["seconds"] == 12.5  # the run's wall time is kept
    assert (run_dir / "report.md").read_text().startswith("# Run report: synthetic")
    assert (run_dir / "confusion" / "pkd" / "iframe-final.png").is_file()


def test_eval_refits_with_settings_given_by_set(pkd, make_run):
    run_dir = make_run()
    status, out, err = pkd("eval", run_dir, "--set", "ensembles.2.iterations=0", "--json")
    assert status == 0, err
    sections = json.loads(out)
    saved = json.loads(fitted_path(run_dir, "pkd", "wise").read_text())
    assert saved["config"]["iterations"] == 0
    written = json.loads((run_dir / sections["artefacts"]["pkd"]["report"]).read_text())
    assert written["settings"]["ensembles"][2]["iterations"] == 0  # the report says what it was computed with
    assert saved["state"]["weights"] == [[1.0] * (k + 1) + [0.0] * (11 - k) for k in range(12)]
    by_name = {e["name"]: e for e in sections["ensembles"]}
    assert by_name["wise"]["top1"] == by_name["sum"]["top1"]


def test_a_run_without_score_files_says_which_stage_writes_them(pkd, make_run):
    run_dir = make_run(schedules=())
    status, _, err = pkd("eval", run_dir)
    assert status == 1
    assert "no score files" in err and "score-file stage" in err and "pkd run" in err


def test_a_missing_train_split_is_named(pkd, make_run):
    run_dir = make_run()
    score_path(run_dir, "pkd", "train").unlink()
    status, _, err = pkd("eval", run_dir)
    assert status == 1
    assert "scores/pkd/train.npz: missing; the ensemblers are fitted on the train split" in err


def test_score_files_of_another_class_list_are_refused(pkd, make_run):
    run_dir = make_run()
    synthetic_scores("test", classes=7).save(score_path(run_dir, "pkd", "test"))
    status, _, err = pkd("eval", run_dir)
    assert status == 1
    assert "train.npz and" in err and "test.npz are scores of different class lists (6 classes vs 7)" in err
    assert not (run_dir / "ensembles").exists()


@pytest.mark.parametrize("threshold", ["0", "1.01", "-0.5"])
def test_a_threshold_outside_zero_one_is_refused(pkd, make_run, threshold):
    run_dir = make_run()
    status, _, err = pkd("eval", run_dir, "--set", f"early_exit.thresholds=[0.9, {threshold}]")
    assert status == 2
    assert f"--set early_exit.thresholds=[0.9, {threshold}]: early_exit.thresholds[1]" in err
    assert not (run_dir / "ensembles").exists()


def test_a_damaged_run_report_stops_before_anything_is_written(pkd, make_run):
    run_dir = make_run()
    (run_dir / "report.json").write_text('{"recipe": "synth')
    status, _, err = pkd("eval", run_dir)
    assert status == 1 and "report.json: cannot update the report, it is not readable JSON" in err
    assert not (run_dir / "ensembles").exists()


def test_a_folder_that_is_not_a_run_is_refused(pkd, tmp_path):
    status, _, err = pkd("eval", tmp_path)
    assert status == 2 and "not a run folder (it has no recipe.yaml" in err
    status, _, err = pkd("eval", tmp_path / "missing")
    assert status == 2 and "no such run folder" in err


def test_a_recipe_without_ensembles_is_reported_without_them_and_may_be_given_some(pkd, make_run):
    run_dir = make_run(ensembles=[])
    status, out, err = pkd("eval", run_dir, "--json")
    assert status == 0 and "the recipe lists no ensembles" in err
    assert json.loads(out)["ensembles"] == [] and json.loads(out)["exits"]
    status, out, err = pkd("eval", run_dir, "--set", "ensembles=[{name: sum}, {name: wise, iterations: 5}]", "--json")
    assert status == 0, err
    assert [entry["name"] for entry in json.loads(out)["ensembles"]] == ["sum", "wise"]


def test_eval_out_writes_elsewhere_records_its_overrides_and_warns_about_ignored_ones(pkd, make_run, tmp_path):
    run_dir = make_run()
    before = sorted(path.name for path in run_dir.iterdir())
    out = tmp_path / "refit"
    status, _, err = pkd("eval", run_dir, "--out", out, "--set", "ensembles.2.iterations=0", "--set", "train.batch_size=2")
    assert status == 0, err
    assert "warning: --set train.batch_size=2: ignored; pkd eval refits ensembles on the run's score files" in err
    assert sorted(path.name for path in run_dir.iterdir()) == before  # the run folder is left as it was
    report = json.loads((out / "report.json").read_text())
    assert report["evaluation"]["overrides"] == ["ensembles.2.iterations=0"]
    assert report["evaluation"]["ignored"] == ["train.batch_size=2"]
    assert report["evaluation"]["command"] == f"pkd eval {run_dir} --out {out} --set ensembles.2.iterations=0 --set train.batch_size=2"
    assert fitted_path(out, "pkd", "wise").is_file()
    markdown = (out / "report.md").read_text()
    assert "- **Rebuilt** by `pkd eval " in markdown and "overrides: `ensembles.2.iterations=0`" in markdown
    assert "- **Ignored** (nothing to recompute them with): `train.batch_size=2`" in markdown


def test_eval_out_onto_a_folder_with_files_is_refused(pkd, make_run, tmp_path):
    run_dir = make_run()
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    status, _, err = pkd("eval", run_dir, "--out", tmp_path / "taken")
    assert status == 2 and "--out " in err and "already exists and is not an empty folder" in err
    assert [path.name for path in (tmp_path / "taken").iterdir()] == ["keep.txt"]
    assert not (run_dir / "ensembles").exists()
