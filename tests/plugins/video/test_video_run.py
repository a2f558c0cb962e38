"""The pipeline on real compressed videos: the tiny synthetic data set, one video of it broken."""

from __future__ import annotations

import json

import pytest

from pkd_toolkit.ensembles.fitted import load_fitted
from pkd_toolkit.ensembles.protocol import member_logits
from pkd_toolkit.plugin.manager import load_plugins
from pkd_toolkit.run_folder.layout import fitted_path, score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains on generated videos

RECIPE = """\
name: video
seed: 1
output_dir: {output}
data: {{name: synthetic_actions, root: {data}, preset: tiny, segments: 2, test_segments: 3, size: 32}}
modalities:
  iframe: {{name: iframe}}
  mv: {{name: mv}}
networks:
  iframe: {{modality: iframe, backbone: {{name: timm, model: test_resnet}}, exits: [{{name: light, at: 2}}]}}
  mv: {{modality: mv, backbone: {{name: timm, model: test_resnet}}, exits: [{{name: light, at: 2}}]}}
train: {{batch_size: 4, eval_every: 0}}
backbones: {{epochs: 1}}
schedules: [{{name: pkd, epochs: 1, teachers: [mv, iframe]}}]
ensembles: [{{name: sum}}, {{name: wise, iterations: 20}}]
early_exit: {{thresholds: [1.0]}}
"""


@pytest.fixture(scope="module")
def video_run(tmp_path_factory, run_in_process):
    """A finished run on tiny synthetic videos, one test video emptied before training."""
    folder = tmp_path_factory.mktemp("video-run")
    recipe = folder / "video.yaml"
    recipe.write_text(RECIPE.format(output=folder / "runs", data=folder / "data"))
    registry = load_plugins().registry
    component = registry.get("datasets", "synthetic_actions")
    dataset = component.build(component.config(root=folder / "data", preset="tiny"))
    test_videos = list(dataset.videos("test"))  # generates the data set
    broken = folder / "data" / "videos" / test_videos[0]
    broken.write_bytes(b"")
    run_in_process(recipe, folder / "run")
    return folder / "run", folder / "data" / "videos", test_videos, broken


def test_a_broken_video_is_reported_and_keeps_its_row(video_run):
    run_dir, _, test_videos, broken = video_run
    report = json.loads((run_dir / "report.json").read_text())
    assert [entry["sample"] for entry in report["skipped"]] == [test_videos[0]]
    assert broken.name in (run_dir / "report.md").read_text()
    test = ScoreSet.load(score_path(run_dir, "pkd", "test"))
    assert test.videos == test_videos  # one row per listed video, the broken one included


def test_predict_on_a_generated_video_gives_the_batch_answer(cli, video_run):
    run_dir, videos, test_videos, broken = video_run
    chosen = test_videos[1:4]
    # every test segment, as the score files have them (else the report's cheapest point, maybe 1 segment, is used)
    every = ["--segments", "3"]
    result = cli("predict", run_dir, *(videos / v for v in chosen), broken, "--schedule", "pkd", "--ensemble", "wise", *every, "--json")
    assert result.code == 1  # the broken one
    predictions = json.loads(result.out)
    assert "error" in predictions[-1] and str(broken) in result.err
    ensembler, classes = load_fitted(fitted_path(run_dir, "pkd", "wise"), load_plugins().registry)
    test = ScoreSet.load(score_path(run_dir, "pkd", "test"))
    final = ensembler.stage_logits(member_logits(test, ensembler.order))[-1]
    for video, prediction in zip(chosen, predictions, strict=False):
        batch = classes[int(final[test.videos.index(video)].argmax())]
        assert prediction["top"][0]["class"] == batch
        assert prediction["stage"] == prediction["stages"]  # threshold 1: every exit
