"""The example third-party plugin: installed with pip, listed by pkd, and used from a recipe."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from pkd_toolkit.run_folder.layout import RECIPE_FILE, score_path
from pkd_toolkit.scores.files import ExitScores, ScoreSet

pytestmark = pytest.mark.slow  # pip-installs the example and runs pkd eval in subprocesses

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pkd-example-plugin"
PKD = [sys.executable, "-m", "pkd_toolkit"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """pip-install the example into a folder of its own (no network: the build uses this venv's setuptools)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
    )
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def scores(split: str, rng: np.random.Generator) -> ScoreSet:
    labels = np.arange(30) % 3
    exits = []
    for network in ("mv", "iframe"):
        for depth, exit_name in enumerate(("ic1", "final")):
            logits = rng.normal(size=(30, 2, 3)).astype(np.float32)
            logits[np.arange(30), :, labels] += 1.0 + depth  # deeper exits see the class better
            exits.append(ExitScores(network, exit_name, f"layer{depth + 1}", logits, 0.5 * (depth + 1)))
    return ScoreSet("pkd", split, ["a", "b", "c"], [f"v{i}" for i in range(30)], labels, exits)


def test_the_installed_example_is_listed_like_any_plugin(installed):
    result = subprocess.run([*PKD, "list-plugins", "--json"], env=installed, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    entries = {entry["name"]: entry for entry in json.loads(result.stdout)}
    example = entries["example"]
    assert (example["origin"], example["version"], example["error"]) == ("pkd-example-plugin", "0.1.0", None)
    assert example["components"] == {"ensemblers": ["max_confidence"]}
    assert entries["wise"]["origin"] == "built-in"


def test_a_recipe_uses_the_example_ensembler(installed, tmp_path):
    run_dir = tmp_path / "run"
    recipe = {
        "name": "example",
        "data": {"name": "synthetic_actions", "root": str(tmp_path / "nowhere")},
        "modalities": {"mv": {"name": "mv"}, "iframe": {"name": "iframe"}},
        "networks": {
            name: {"modality": name, "backbone": {"name": "timm", "model": "test_resnet"}} for name in ("mv", "iframe")
        },
        "ensembles": [{"name": "sum"}, {"name": "max_confidence", "temperature": 2.0}],
        "early_exit": {"ensemblers": ["max_confidence"], "thresholds": [0.9, 1.0]},
    }
    run_dir.mkdir()
    (run_dir / RECIPE_FILE).write_text(yaml.safe_dump(recipe))
    rng = np.random.default_rng(0)
    written = {split: scores(split, rng) for split in ("train", "test")}
    for split, score_set in written.items():
        score_set.save(score_path(run_dir, "pkd", split))
    result = subprocess.run([*PKD, "eval", str(run_dir), "--json"], env=installed, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    ours = next(e for e in report["ensembles"] if e["name"] == "max_confidence")
    assert ours["component"] == "max_confidence"
    # the full ensemble answers with the most confident of all exits (softmax at temperature 2), video by video
    test = written["test"]
    logits = np.stack([exit_scores.consensus() for exit_scores in test.exits]) / 2.0
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    confidence = (probabilities / probabilities.sum(-1, keepdims=True)).max(-1)  # [exits, videos]
    answers = logits[confidence.argmax(0), np.arange(len(test.labels))].argmax(-1)
    assert ours["top1"] == pytest.approx(float((answers == test.labels).mean()))
    assert {point["ensembler"] for point in report["early_exit"]} == {"max_confidence"}
    # a setting it does not have is refused, naming the ones it has
    bad = subprocess.run(
        [*PKD, "eval", str(run_dir), "--set", "ensembles.1.temp=2"], env=installed, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "ensembles.1 has no key 'temp' (valid: label, order, temperature, name)" in bad.stderr


def test_the_example_ensembler_answers_with_the_most_confident_exit_so_far():
    sys.path.insert(0, str(EXAMPLE / "src"))
    try:
        from pkd_example_plugin import MaxConfidenceConfig
        from pkd_example_plugin.ensembler import MaxConfidenceEnsembler
    finally:
        sys.path.remove(str(EXAMPLE / "src"))
    logits = np.array([[[2.0, 0.0]], [[0.0, 5.0]], [[1.0, 0.0]]])  # 3 exits, 1 video, 2 classes
    stages = MaxConfidenceEnsembler(MaxConfidenceConfig()).stage_logits(logits)
    np.testing.assert_array_equal(stages[:, 0], [[2.0, 0.0], [0.0, 5.0], [0.0, 5.0]])
