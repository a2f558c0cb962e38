"""torchrun with two CPU processes (Gloo) against one process: the same training, resumable, and clear failures.

The equivalence needs networks without BatchNorm: BatchNorm normalises each
process's batch of B with that batch's statistics, one process's batch of 2B
with those of all 2B, and SyncBatchNorm, which would make them agree, runs on
GPUs only. So these networks use LayerNorm (timm's ``norm_layer``) and light
exits (pooling and a linear layer).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest
import torch

from pkd_toolkit.run_folder.layout import last_checkpoint, score_path
from pkd_toolkit.scores.files import ScoreSet

pytestmark = pytest.mark.slow  # trains with two processes

PKD = [sys.executable, "-m", "pkd_toolkit"]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "pkd_toolkit"]

RECIPE = """\
name: equivalence
seed: 5
output_dir: {output_dir}
data: {{name: toy, classes: 3, train_size: 24, test_size: 10, size: 16, segments: 2}}
modalities:
  mv: {{name: toy, channels: 2}}
  residual: {{name: toy}}
networks:
  mv:
    modality: mv
    backbone: {{name: timm, model: test_resnet, model_kwargs: {{norm_layer: layernorm2d}}}}
    exits: [{{name: light, at: [1, 2]}}]
  residual:
    modality: residual
    backbone: {{name: timm, model: test_resnet, model_kwargs: {{norm_layer: layernorm2d}}}}
    exits: [{{name: light, at: [1, 2]}}]
train: {{batch_size: {batch}, eval_every: 1}}
backbones: {{epochs: 1, optimizer: {{name: sgd, lr: 0.05}}}}
schedules:
  - {{name: ce, epochs: 2, optimizer: {{name: sgd, lr: 0.05}}}}
  - {{name: pkd, epochs: 2, teachers: [mv, residual], switch_epochs: [1], optimizer: {{name: sgd, lr: 0.05}}}}
"""
# Per-process batch 4 on two processes against 8 on one: 24 training clips make 3 steps an epoch either way.
PER_PROCESS_BATCH = 4

# Float32 sums in another order (each process averages its 4 clips, DDP averages the two means; one
# process averages 8) differ in the last bits, and training carries that on. With SGD it stays that
# small: measured 1.2e-7 at most, on weights of size up to 1; the tolerance is 100 times that. Adam
# would not do for this test: it divides each step by the root of the gradient's second moment, which
# turns last-bit noise on near-zero gradients (timm zero-initialises each block's last norm) into
# whole steps of lr (measured: 1.8e-3), and it would not see gradients summed instead of averaged.
WEIGHT_TOLERANCE = 1e-5
METRIC_TOLERANCE = 1e-5


def write_recipe(folder, batch):
    path = folder / f"batch{batch}.yaml"
    path.write_text(RECIPE.format(output_dir=folder / "runs", batch=batch))
    return path


def torchrun(args, environment, **extra):
    return subprocess.run([*TORCHRUN, *map(str, args)], env=environment, capture_output=True, text=True, **extra)


def metrics(run_dir):
    """Every epoch's metrics but its time and throughput (the clock differs)."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timed = ("time", "seconds", "clips_per_second", "data_wait_seconds")
    return [{k: v for k, v in line.items() if k not in timed} for line in lines]


def weights(run_dir):
    return torch.load(last_checkpoint(run_dir), weights_only=True)["model"]


def assert_close_metrics(left, right, tolerance):
    assert [sorted(line) for line in left] == [sorted(line) for line in right]
    for a, b in zip(left, right, strict=True):
        for key, value in a.items():
            if isinstance(value, float):
                assert b[key] == pytest.approx(value, rel=tolerance, abs=tolerance), (a["stage"], a["epoch"], key)
            else:
                assert b[key] == value, key


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory, make_toy_environment):
    """One uninterrupted two-process run, shared by the tests that compare with it."""
    folder = tmp_path_factory.mktemp("two")
    environment = make_toy_environment(folder)
    recipe = write_recipe(folder, PER_PROCESS_BATCH)
    result = torchrun(["run", recipe, "--run-dir", folder / "run"], environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(2 process(es))" in result.stderr
    return folder / "run", recipe, environment


def test_two_processes_with_batch_b_train_as_one_process_with_batch_2b(two_processes, tmp_path):
    double, _, environment = two_processes
    single = tmp_path / "single"
    recipe = write_recipe(tmp_path, 2 * PER_PROCESS_BATCH)
    one = subprocess.run([*PKD, "run", recipe, "--run-dir", single], env=environment, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]

    assert_close_metrics(metrics(single), metrics(double), METRIC_TOLERANCE)
    assert [line["samples"] for line in metrics(double)] == [24.0] * 3  # backbones, then ce and pkd in lockstep for 2 epochs
    one_process, two_process = weights(single), weights(double)
    assert one_process.keys() == two_process.keys()
    for name, value in one_process.items():
        torch.testing.assert_close(two_process[name], value, rtol=WEIGHT_TOLERANCE, atol=WEIGHT_TOLERANCE, msg=name)
    for schedule in ("backbone", "ce", "pkd"):
        for split in ("train", "test"):
            a, b = (ScoreSet.load(score_path(run, schedule, split)) for run in (single, double))
            assert b.videos == a.videos and b.labels.tolist() == a.labels.tolist()  # each sample once, in order
            for exit_a, exit_b in zip(a.exits, b.exits, strict=True):
                assert exit_b.logits == pytest.approx(exit_a.logits, rel=1e-3, abs=1e-3)
    assert (double / "report.json").is_file()


def test_a_resumed_two_process_run_ends_where_an_uninterrupted_one_does(two_processes, tmp_path):
    uninterrupted, recipe, environment = two_processes
    run_dir = tmp_path / "run"
    stopped = torchrun(["run", recipe, "--run-dir", run_dir], {**environment, "PKD_TOY_INTERRUPT_AFTER": "exits:1"})
    assert stopped.returncode != 0
    assert "interrupted;" in stopped.stderr
    assert torch.load(last_checkpoint(run_dir), weights_only=True)["position"]["epoch"] == 1
    resumed = torchrun(["run", recipe, "--resume", run_dir], environment)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr
    final, expected = weights(run_dir), weights(uninterrupted)
    for name, value in expected.items():
        assert torch.equal(final[name], value), name
    assert_close_metrics(metrics(run_dir), metrics(uninterrupted), 0.0)


def test_a_process_that_dies_mid_epoch_stops_the_other_with_its_rank(two_processes, tmp_path):
    _, recipe, environment = two_processes
    run_dir = tmp_path / "run"
    # Each process reads 12 training clips an epoch: its 30th is in the middle of the exits' second epoch.
    result = torchrun(["run", recipe, "--run-dir", run_dir], {**environment, "PKD_TOY_EXIT_AT": "1:30"}, timeout=120)
    assert result.returncode != 0
    message = " ".join(result.stderr.split())
    assert "process 0 " in message and "process 1 of the run stopped" in message, result.stderr[-3000:]
    assert f"{run_dir} keeps its last checkpoint: continue with `pkd run RECIPE --resume {run_dir}`" in message
    state = torch.load(last_checkpoint(run_dir), weights_only=True)  # whole: it loads
    assert state["position"] == {"stage_index": 1, "epoch": 1, "finished": ["backbones"]}
    assert not list(last_checkpoint(run_dir).parent.glob(".*.part"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_process_group_that_cannot_form_stops_after_the_timeout_naming_the_address(tiny_recipe, toy_environment):
    # One process of two, started by hand as a cluster launcher would: the other never comes.
    port = free_port()
    environment = {**toy_environment, "WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    started = time.monotonic()
    result = subprocess.run(
        [*PKD, "run", tiny_recipe(), "--set", "train.process_group_timeout=3"],
        env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    message = " ".join(result.stderr.split())
    assert f"process 0 of 2 could not form the process group at 127.0.0.1:{port}" in message
    assert "within 3 s (train.process_group_timeout)" in message
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 60
