"""Bad input to the engine: each gets one clear message, a non-zero status, and keeps what was written."""

from __future__ import annotations

import types

import pytest
import torch

from pkd_toolkit.api import hookimpl
from pkd_toolkit.engine.loaders import available_cpus
from pkd_toolkit.engine.stages import Objective, SchedulePlan, Stage
from pkd_toolkit.recipe.settings import ExitScheduleConfig


class ExplodeConfig(ExitScheduleConfig):
    nan_from_epoch: int = 1


class Explode:
    """Trains the mv exits with cross entropy, until its loss turns into NaN."""

    def __init__(self, config):
        self.config = config

    def plan(self, context):
        network = context.new_exits("mv")

        def loss(step):
            logits = step.outputs("mv", network).consensus()["ic1"]
            value = torch.nn.functional.cross_entropy(logits, step.labels)
            return value * float("nan") if step.epoch >= self.config.nan_from_epoch else value

        objective = Objective("mv", list(network.heads.parameters()), loss, self.config.optimizer, self.config.scheduler, 0.01)
        stage = Stage("explode", self.config.epochs, [objective], [network.heads], {"mv": network})
        return SchedulePlan([stage], {"mv": network}, network.heads)


explode_plugin = types.SimpleNamespace(
    pkd_add_schedules=hookimpl(lambda registry: registry.add("explode", Explode, config=ExplodeConfig))
)


def run_dirs(root):
    return [path for path in (root / "tiny").iterdir() if path.is_dir()]


@pytest.mark.slow
def test_a_nan_loss_stops_with_stage_and_epoch_and_keeps_the_last_good_checkpoint(cli, tiny_recipe, toy_plugins_with, tmp_path):
    plugins = toy_plugins_with(("explode", explode_plugin))
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1)
    result = cli(
        "run", recipe, "--set", "schedules=[{name: explode, epochs: 3, nan_from_epoch: 1}]", plugins=plugins
    )
    assert result.code == 1
    assert "stage 'explode', epoch 2: the loss is not finite (explode/mv = nan); training stopped" in result.err
    assert "Traceback" not in result.err
    (run_dir,) = run_dirs(tmp_path / "runs")
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert state["position"] == {"stage_index": 1, "epoch": 1, "finished": ["backbones"]}
    assert f"the last good checkpoint is {run_dir / 'checkpoints' / 'last.pt'}" in " ".join(result.err.split())


@pytest.mark.slow
def test_a_run_folder_that_cannot_be_written(cli, tiny_recipe, toy_plugins, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("run", tiny_recipe(), "--set", f"output_dir={blocker}/runs", plugins=toy_plugins)
    assert result.code == 2
    assert "cannot create the run folder: Not a directory" in result.err and str(blocker) in result.err


@pytest.mark.slow
def test_resuming_with_a_checkpoint_of_another_recipe_is_refused(cli, tiny_recipe, toy_plugins, tmp_path):
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1)
    assert cli("run", recipe, plugins=toy_plugins).code == 0
    (run_dir,) = run_dirs(tmp_path / "runs")
    before = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    result = cli("run", recipe, "--set", "backbones.optimizer.lr=0.1", "--resume", run_dir, plugins=toy_plugins)
    assert result.code == 2
    message = " ".join(result.err.split())
    assert "recipe.yaml: written by a different recipe: backbones.optimizer.lr: 0.003 in recipe.yaml, 0.1 now" in message
    after = {path: path.read_bytes() for path in run_dir.rglob("*") if path.is_file()}
    assert after == before  # run.log, recipe.yaml, everything: the finished run is left as it was


@pytest.mark.slow
def test_an_empty_split_is_named(cli, tiny_recipe, toy_plugins):
    result = cli("run", tiny_recipe(), "--set", "data.test_size=0", plugins=toy_plugins)
    assert result.code == 1
    assert "the test split of dataset 'toy' is empty" in result.err


def test_a_teacher_that_is_not_a_network_of_the_run(cli, tiny_recipe, toy_plugins):
    result = cli("validate", tiny_recipe(), "--set", "schedules.1.teachers=[mv, rgb, iframe]", plugins=toy_plugins)
    assert result.code == 2
    assert "schedules[1].teachers: 'rgb' is not one of the recipe's networks" in result.err


def test_switch_epochs_must_fit_the_teachers(cli, tiny_recipe, toy_plugins):
    result = cli("validate", tiny_recipe(), "--set", "schedules.1.switch_epochs=[1]", plugins=toy_plugins)
    assert result.code == 2
    assert "switch_epochs needs 2 epoch(s) for 3 teachers, got 1" in result.err


@pytest.mark.slow
def test_sync_bn_on_one_process_and_more_workers_than_cpus_are_told_and_the_run_trains(cli, tiny_recipe, toy_plugins):
    cpus = available_cpus()
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1)
    result = cli("run", recipe, "--set", "train.sync_bn=true", "--set", f"train.num_workers={cpus + 1}", plugins=toy_plugins)
    assert result.code == 0, result.err
    message = " ".join(result.err.split())
    assert "note: train.sync_bn is on but the run has one process: its batch norms are left as they are" in message
    assert (
        f"warning: train.num_workers is {cpus + 1}, more than the {cpus} CPUs this process may use; using {cpus} workers"
        in message
    )
