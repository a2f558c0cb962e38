"""Interrupted runs: killed and resumed, a run ends exactly as an uninterrupted one; Ctrl-C is clean."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pkd_toolkit.run_folder.layout import score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains tiny runs in subprocesses, kills and resumes them

PKD = [sys.executable, "-m", "pkd_toolkit"]


def wait_for_epoch(run_dir: Path, stage: str, epoch: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the run logged ``stage`` ``epoch`` and wrote the checkpoint that follows it."""
    metrics = run_dir / "metrics.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if metrics.exists():
            for line in metrics.read_text().splitlines():
                record = json.loads(line)
                if (record["stage"], record["epoch"]) == (stage, epoch) and (run_dir / "checkpoints" / "last.pt").exists():
                    return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before {stage} epoch {epoch}: {process.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError(f"no {stage} epoch {epoch} within {timeout} s")


def outcome(run_dir: Path) -> tuple[list, dict]:
    report = json.loads((run_dir / "report.json").read_text())
    rows = sorted((r["schedule"], r["network"], r["exit"], r["top1"]) for r in report["exits"])
    logits = {s.key: s.logits for s in ScoreSet.load(score_path(run_dir, "pkd", "test")).exits}
    return rows, logits


def test_a_killed_run_resumed_ends_with_the_same_results(tiny_recipe, toy_environment, tmp_path):
    recipe = tiny_recipe(backbone_epochs=2, exit_epochs=6)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen(
        [*PKD, "run", str(recipe), "--run-dir", str(killed)], env=toy_environment, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_epoch(killed, "exits", 1, process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (killed / "report.json").exists(), "the run finished before it could be killed"
    assert (killed / "run.lock").read_text().strip() == str(process.pid)  # a stale lock: it must not block --resume
    at_kill = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    resumed = subprocess.run(
        [*PKD, "run", str(recipe), "--resume", str(killed)], env=toy_environment, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stderr
    uninterrupted = subprocess.run(
        [*PKD, "run", str(recipe), "--run-dir", str(whole)], env=toy_environment, capture_output=True, text=True
    )
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    rows_resumed, logits_resumed = outcome(killed)
    rows_whole, logits_whole = outcome(whole)
    assert rows_resumed == rows_whole
    for key, value in logits_whole.items():
        np.testing.assert_allclose(logits_resumed[key], value, rtol=0, atol=1e-5)
    epochs = [(r["stage"], r["epoch"]) for r in map(json.loads, (killed / "metrics.jsonl").read_text().splitlines())]
    assert epochs == [("backbones", 1), ("backbones", 2)] + [("exits", e) for e in range(1, 7)]  # logged once each
    # the report's wall time counts the killed part as well as the resumed one
    after_kill = epochs[epochs.index((at_kill["metrics"]["stage"], at_kill["metrics"]["epoch"])) + 1 :]
    records = {(r["stage"], r["epoch"]): r for r in map(json.loads, (killed / "metrics.jsonl").read_text().splitlines())}
    resumed_seconds = sum(records[key]["seconds"] for key in after_kill)
    assert json.loads((killed / "report.json").read_text())["seconds"] >= at_kill["elapsed"] + resumed_seconds


def test_ctrl_c_stops_with_a_message_and_keeps_the_checkpoint(tiny_recipe, toy_environment, tmp_path):
    recipe = tiny_recipe(backbone_epochs=30, exit_epochs=1)
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(
        [*PKD, "run", str(recipe), "--run-dir", str(run_dir)],
        env=toy_environment,
        stderr=subprocess.PIPE,
        text=True,
        # A background job of a non-interactive shell inherits SIGINT ignored, and Python keeps it so.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wait_for_epoch(run_dir, "backbones", 1, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert f"interrupted; {run_dir} keeps its last checkpoint" in err
    assert "Traceback" not in err
    assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert not list(run_dir.rglob("*.part"))  # no half-written file left behind
