"""Across processes: SyncBatchNorm conversion, the DDP step, predictions gathered to rank 0 only."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from pkd_toolkit.engine.parallel import StepLosses, step_function, use_sync_batch_norm
from pkd_toolkit.engine.runtime import Runtime
from pkd_toolkit.engine.stages import Objective
from pkd_toolkit.errors import PkdError, UsageError
from pkd_toolkit.recipe.settings import OptimizerSettings, SchedulerSettings


def model_with_norms():
    frozen = nn.BatchNorm2d(3)  # frozen by its component: kept, and referenced from elsewhere
    frozen.requires_grad_(False)
    shared = nn.BatchNorm2d(4)  # one layer under two parents
    model = nn.ModuleDict({"a": nn.Sequential(frozen, nn.Conv2d(3, 4, 1), shared), "b": nn.Sequential(shared)})
    return model, frozen, shared


def test_sync_bn_on_one_process_is_a_note_and_changes_nothing():
    model, frozen, shared = model_with_norms()
    note = use_sync_batch_norm(model, Runtime(torch.device("cpu")))
    assert note == "note: train.sync_bn is on but the run has one process: its batch norms are left as they are"
    assert model["a"][2] is shared


def test_sync_bn_on_cpu_processes_is_refused_clearly():
    with pytest.raises(UsageError, match="SyncBatchNorm runs on GPUs only and these 2 processes run on cpu"):
        use_sync_batch_norm(model_with_norms()[0], Runtime(torch.device("cpu"), rank=0, world_size=2))


def test_sync_bn_converts_trainable_batch_norms_in_place_keeping_their_tensors():
    model, frozen, shared = model_with_norms()
    assert use_sync_batch_norm(model, Runtime(torch.device("cuda"), rank=0, world_size=2)) is None  # no GPU needed
    converted = model["a"][2]
    assert isinstance(converted, nn.SyncBatchNorm) and model["b"][0] is converted  # still one layer
    assert converted.weight is shared.weight and converted.running_mean is shared.running_mean
    assert model["a"][0] is frozen and not isinstance(frozen, nn.SyncBatchNorm)


def objective(name, parameters):
    return Objective(name, list(parameters), lambda step: torch.zeros(()), OptimizerSettings(), SchedulerSettings(), 0.1)


def test_a_step_refuses_an_objective_training_parameters_outside_the_run():
    model, stray = nn.Linear(2, 2), nn.Linear(2, 2)
    assert isinstance(step_function(model, [objective("fine", model.parameters())], Runtime(torch.device("cpu"))), StepLosses)
    with pytest.raises(PkdError, match="objective 'stray' trains parameters that are not part of the run's modules"):
        step_function(model, [objective("stray", stray.parameters())], Runtime(torch.device("cpu")))


# -- predictions over two processes ------------------------------------------------------------


@pytest.mark.slow  # two processes
def test_predictions_of_two_processes_reach_rank_0_only_each_sample_once_in_order(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).with_name("two_process_predictions.py")
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    result = subprocess.run([*torchrun, str(script), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    main, other = (torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in (0, 1))
    assert main["world_size"] == 2 and other["result"] is None  # nothing kept outside rank 0
    spec = importlib.util.spec_from_file_location("two_process_predictions", script)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    single = helper.run(Runtime(torch.device("cpu")), tmp_path)
    assert main["result"]["indices"].tolist() == list(range(helper.SAMPLES))  # the padding's repeats dropped
    assert main["result"]["labels"].tolist() == single.labels.tolist()
    assert main["result"]["logits"]["net"]["final"] == pytest.approx(single.logits["net"]["final"], abs=1e-5)
