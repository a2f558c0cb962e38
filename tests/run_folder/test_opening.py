"""One run per run folder: the lock, what a second process is told, stale locks of killed runs, and what
``--run-dir`` and ``--resume`` do with folders that already hold something."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pkd_toolkit.api import hookimpl
from pkd_toolkit.run_folder.lock import RunFolderInUse, RunLock

PKD = [sys.executable, "-m", "pkd_toolkit"]
HOLD = (
    "import sys, time\nfrom pathlib import Path\nfrom pkd_toolkit.run_folder.lock import RunLock\n"
    "lock = RunLock(Path(sys.argv[1])).acquire()\nprint('locked', flush=True)\ntime.sleep(600)\n"
)


@pytest.fixture
def holder(tmp_path):
    """``holder(folder)``: another process that holds ``folder``'s lock until the test ends (or kills it)."""
    processes = []

    def hold(folder: Path) -> subprocess.Popen:
        folder.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "locked"
        processes.append(process)
        return process

    yield hold
    for process in processes:
        process.kill()
        process.wait()


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_second_process_is_told_who_holds_the_folder(holder, tmp_path):
    other = holder(tmp_path / "run")
    with pytest.raises(RunFolderInUse, match=rf"run folder {tmp_path / 'run'} is in use by process {other.pid}"):
        RunLock(tmp_path / "run").acquire()
    other.kill()
    other.wait()
    with RunLock(tmp_path / "run") as lock:  # the kernel dropped the killed holder's lock: not stale
        assert lock.held and (tmp_path / "run" / "run.lock").read_text().strip() == str(os.getpid())
    assert (tmp_path / "run" / "run.lock").read_text() == ""  # released: no holder named


def test_pkd_run_into_a_folder_in_use_exits_2_and_writes_nothing(cli, tiny_recipe, toy_plugins, holder, tmp_path):
    from pkd_toolkit.recipe.loading import dump_recipe, load_recipe

    recipe = tiny_recipe()
    run_dir = tmp_path / "busy"
    other = holder(run_dir)
    before = folder_files(run_dir)
    result = cli("run", recipe, "--run-dir", run_dir, plugins=toy_plugins)
    assert result.code == 2 and f"run folder {run_dir} is in use by process {other.pid}" in result.err
    assert folder_files(run_dir) == before
    # the same folder as a run to resume (its recipe, no checkpoint yet): refused alike
    (run_dir / "recipe.yaml").write_text(dump_recipe(load_recipe(recipe, toy_plugins.registry)))
    before = folder_files(run_dir)
    result = cli("run", recipe, "--resume", run_dir, plugins=toy_plugins)
    assert result.code == 2 and f"is in use by process {other.pid}" in result.err
    assert folder_files(run_dir) == before


def test_eval_of_a_folder_in_use_is_refused(cli, make_run, wise_plugins, holder):
    run_dir = make_run()
    other = holder(run_dir)
    result = cli("eval", run_dir, plugins=wise_plugins)
    assert result.code == 2 and f"is in use by process {other.pid}" in result.err


def test_run_dir_that_is_a_file_is_refused(cli, tiny_recipe, toy_plugins, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("run", tiny_recipe(), "--run-dir", blocker, plugins=toy_plugins)
    assert result.code == 2 and f"{blocker}: is a file, not a run folder" in result.err
    assert "Traceback" not in result.err and blocker.read_text() == "not a folder"


@pytest.mark.parametrize(
    ("files", "advice"),
    [
        ({"notes.txt": "mine"}, "already holds files that are not a run; choose a new or empty folder"),
        ({"recipe.yaml": "name: x\n"}, "holds a run that stopped before its first checkpoint; start it again from the beginning with `pkd run RECIPE --resume"),
        ({"recipe.yaml": "name: x\n", "checkpoints/last.pt": "x"}, "holds an unfinished run; continue it with `pkd run RECIPE --resume"),
        ({"recipe.yaml": "name: x\n", "report.json": "{}"}, "holds a finished run; choose another --run-dir"),
    ],
)
def test_run_dir_that_holds_files_says_what_to_do(cli, tiny_recipe, toy_plugins, tmp_path, files, advice):
    run_dir = tmp_path / "taken"
    for name, text in files.items():
        (run_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (run_dir / name).write_text(text)
    before = folder_files(run_dir)
    result = cli("run", tiny_recipe(), "--run-dir", run_dir, plugins=toy_plugins)
    assert result.code == 2 and advice in " ".join(result.err.split())
    assert folder_files(run_dir) == before


def test_resuming_a_folder_that_is_no_run_is_refused(cli, tiny_recipe, toy_plugins, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("run", tiny_recipe(), "--resume", tmp_path / "empty", plugins=toy_plugins)
    assert result.code == 2 and "not a run folder (it has neither recipe.yaml nor a checkpoint)" in result.err


# -- with training ----------------------------------------------------------------------------


class FailAtStart:
    @hookimpl
    def pkd_run_start(self, run):
        raise RuntimeError("no tracking server")


@pytest.mark.slow
def test_a_run_that_stopped_before_its_first_checkpoint_resumes_from_the_beginning(cli, tiny_recipe, toy_plugins, toy_plugins_with, tmp_path):
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1)
    run_dir = tmp_path / "early"
    failed = cli("run", recipe, "--run-dir", run_dir, plugins=toy_plugins_with(("fails", FailAtStart())))
    assert failed.code == 1 and not (run_dir / "checkpoints").exists() and (run_dir / "recipe.yaml").is_file()
    again = cli("run", recipe, "--run-dir", run_dir, plugins=toy_plugins)
    assert again.code == 2 and f"`pkd run RECIPE --resume {run_dir}`" in " ".join(again.err.split())
    before = folder_files(run_dir)
    other = cli("run", recipe, "--set", "seed=5", "--resume", run_dir, plugins=toy_plugins)
    assert other.code == 2 and "seed: 3 in recipe.yaml, 5 now" in other.err and folder_files(run_dir) == before
    resumed = cli("run", recipe, "--resume", run_dir, plugins=toy_plugins)
    assert resumed.code == 0, resumed.err
    epochs = [(r["stage"], r["epoch"]) for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]
    assert epochs == [("backbones", 1), ("exits", 1)] and (run_dir / "report.json").is_file()


def _start(recipe: Path, run_dir: Path, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [*PKD, "run", str(recipe), "--run-dir", str(run_dir), *extra], env=env, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
def test_two_runs_started_together_on_one_folder_one_is_refused(tiny_recipe, toy_environment, tmp_path):
    recipe = tiny_recipe(backbone_epochs=1, exit_epochs=1)
    run_dir = tmp_path / "shared"
    first, second = (_start(recipe, run_dir, toy_environment, "--set", f"seed={seed}") for seed in (0, 1))
    outcomes = {process.pid: (process.wait(timeout=300), process.stderr.read()) for process in (first, second)}
    codes = sorted(code for code, _ in outcomes.values())
    assert codes == [0, 2], outcomes
    (winner,) = [pid for pid, (code, _) in outcomes.items() if code == 0]
    (refused,) = [err for code, err in outcomes.values() if code == 2]
    assert f"run folder {run_dir} is in use by process {winner}" in " ".join(refused.split())
    seed = 0 if winner == first.pid else 1
    assert f"seed: {seed}\n" in (run_dir / "recipe.yaml").read_text()
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["recipe"]["seed"] == seed
    epochs = [(r["stage"], r["epoch"]) for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())]
    assert epochs == [("backbones", 1), ("exits", 1)]  # one writer's records only
