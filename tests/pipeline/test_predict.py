"""pkd predict: single videos through the early-exit cascade give what the batch evaluation gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pkd_toolkit.ensembles.early_exit import confidences, exit_stages
from pkd_toolkit.ensembles.fitted import load_fitted
from pkd_toolkit.ensembles.protocol import member_logits
from pkd_toolkit.run_folder.layout import fitted_path, score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # reads the shared finished run


@pytest.fixture(scope="module")
def trained(finished_run, tmp_path_factory):
    """The shared finished run, and a folder of toy sample files (``test/<index>``) to predict."""
    samples = tmp_path_factory.mktemp("predict") / "samples" / "test"
    samples.mkdir(parents=True)
    for index in range(12):
        (samples / f"{index}").write_text("toy sample")
    return finished_run.dir, samples


def batch_decisions(run_dir, threshold):
    """Per test video: (stage index, predicted class) of the wise ensemble from the score files."""
    from pkd_toolkit.plugin.manager import load_plugins

    ensembler, _ = load_fitted(fitted_path(run_dir, "pkd", "wise"), load_plugins().registry)
    test = ScoreSet.load(score_path(run_dir, "pkd", "test"))
    stages = ensembler.stage_logits(member_logits(test, ensembler.order))
    chosen = exit_stages(confidences(stages), threshold)
    return [(int(k), int(stages[k, video].argmax())) for video, k in enumerate(chosen)], ensembler.order


@pytest.mark.parametrize("threshold", [0.6, 1.0])
def test_predict_gives_the_batch_evaluations_exit_and_class(cli, toy_plugins, trained, threshold):
    run_dir, samples = trained
    videos = [samples / f"{index}" for index in range(12)]
    result = cli(
        "predict", run_dir, *videos, "--schedule", "pkd", "--ensemble", "wise", "--threshold", threshold, "--json",
        plugins=toy_plugins,
    )  # fmt: skip
    assert result.code == 0, result.err
    predictions = json.loads(result.out)
    decisions, order = batch_decisions(run_dir, threshold)
    classes = ["class0", "class1", "class2"]
    got = [(p["stage"] - 1, classes.index(p["top"][0]["class"])) for p in predictions]
    assert got == decisions
    assert all(p["exit"] == order[p["stage"] - 1] and len(p["top"]) == 3 for p in predictions)
    if threshold == 1.0:  # never stops early: every exit computed, the full cost
        full = json.loads((run_dir / "report.json").read_text())
        wise = next(e for e in full["ensembles"] if e["schedule"] == "pkd" and e["name"] == "wise")
        assert all(p["stage"] == p["stages"] for p in predictions)
        np.testing.assert_allclose([p["gmacs"] for p in predictions], wise["gmacs_per_video"], rtol=1e-5)
        assert all(p["gmacs"] == float(f"{p['gmacs']:.6g}") for p in predictions)  # rounded: no float noise


@pytest.mark.parametrize("segments", [None, 1])
def test_predict_loads_only_the_modalities_and_segments_its_exits_reach(cli, toy_plugins, trained, segments):
    from toy_plugin import ToyFileInputs

    run_dir, samples = trained
    loads = ToyFileInputs.LOADS
    options = ["--segments", str(segments)] if segments else []
    predictions = []
    for index in range(12):
        loads.clear()
        result = cli(
            "predict", run_dir, samples / f"{index}", "--schedule", "pkd", "--ensemble", "wise",
            "--threshold", "0.6", "--json", *options, plugins=toy_plugins,
        )  # fmt: skip
        assert result.code == 0, result.err
        prediction = json.loads(result.out)[0]
        _, order = batch_decisions(run_dir, 0.6)
        reached = []  # the networks of the exits computed, in order of first use (modality key = network name here)
        for key in order[: prediction["stage"]]:
            if key.split("/")[0] not in reached:
                reached.append(key.split("/")[0])
        assert [key for key, _ in loads] == reached  # each reached modality once, the others never
        assert all(rows == ([1] if segments == 1 else [0, 1]) for _, rows in loads)  # 1 of 2: the centre one, as the score files
        predictions.append(prediction)
    assert {p["stage"] for p in predictions} != {predictions[0]["stages"]}  # some videos did stop early


def test_an_unreadable_video_is_named_and_the_others_still_run(cli, toy_plugins, trained):
    run_dir, samples = trained
    result = cli("predict", run_dir, samples / "nothing-here", samples / "3", plugins=toy_plugins)
    assert result.code == 1
    assert "nothing-here: not a toy sample file" in result.err
    assert "could not be read" in result.out and "3" in result.out


def test_predict_refuses_a_threshold_outside_zero_one(cli, toy_plugins, trained):
    run_dir, samples = trained
    result = cli("predict", run_dir, samples / "1", "--threshold", "1.5", plugins=toy_plugins)
    assert result.code == 2 and "a threshold is in (0, 1]" in result.err
