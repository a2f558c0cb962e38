"""torchrun with two CPU processes (Gloo): each trains on half the batches; results gathered without duplicates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains with two processes

PKD = [sys.executable, "-m", "pkd_toolkit"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "pkd_toolkit"]


def counts(run_dir):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    seen = [(line["stage"], line["epoch"], line["samples"]) for line in lines]
    scored = {
        (schedule, split): ScoreSet.load(score_path(run_dir, schedule, split))
        for schedule in ("ce", "pkd")
        for split in ("train", "test")
    }
    return seen, {key: (len(s.labels), sorted(s.videos), s.labels.tolist()) for key, s in scored.items()}


def test_two_gloo_processes_count_what_one_process_counts(tiny_recipe, toy_environment, tmp_path):
    # batch 4: 24 training clips make 6 batches in one process and 3 per process in two
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1, extra="") 
    text = recipe.read_text().replace("batch_size: 8", "batch_size: 4")
    recipe.write_text(text)
    single, double = tmp_path / "single", tmp_path / "double"
    one = subprocess.run([*PKD, "run", str(recipe), "--run-dir", str(single)], env=toy_environment, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [*TORCHRUN, "run", str(recipe), "--run-dir", str(double)], env=toy_environment, capture_output=True, text=True
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert "(2 process(es))" in two.stderr
    assert counts(double) == counts(single)
    assert (double / "report.json").is_file()
