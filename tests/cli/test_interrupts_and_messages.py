"""Small things every command gets right: Ctrl-C is one line and status 130, numbers that make no sense are
refused, and messages speak English ("an int")."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import types

import pytest
import torch
import typer

from pkd_toolkit.api import hookimpl
from pkd_toolkit.plugin.manager import load_plugins

PKD = [sys.executable, "-m", "pkd_toolkit"]


def test_ctrl_c_in_any_command_is_one_line_and_status_130(cli):
    plugin = types.SimpleNamespace()

    def add(cli):
        @cli.command()
        def slow():
            """Stands for any command the user stops."""
            raise KeyboardInterrupt

    plugin.pkd_add_commands = hookimpl(specname="pkd_add_commands")(add)
    result = cli("slow", plugins=load_plugins([("slow", plugin)], autoload=False))
    assert result.code == 130
    assert result.err == "error: interrupted\n"


@pytest.mark.slow
def test_ctrl_c_during_prepare_with_workers_is_one_line(tmp_path):
    from pkd_plugins.video.encoding import EncoderSettings, write_video

    source = tmp_path / "src" / "a"
    source.mkdir(parents=True)
    frames = [(torch.rand(96, 128, 3) * 255).to(torch.uint8).numpy() for _ in range(60)]
    for number in range(40):
        write_video(source / f"v{number:02d}.avi", frames, settings=EncoderSettings(width=128, height=96))
    process = subprocess.Popen(
        [*PKD, "prepare", str(tmp_path / "src"), str(tmp_path / "dst"), "--jobs", "2"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole process group, workers included: so does killpg
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not list((tmp_path / "dst").rglob("*.avi")) and time.time() < deadline:
        time.sleep(0.05)
    import os

    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("prepare ")]  # the progress bar
    assert lines == ["error: interrupted; the videos finished so far are kept: run the same command again to go on"], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("early_exit.tolerance=.inf", "early_exit.tolerance: Input should be a finite number, got inf"),
        ("train.batch_size=.nan", "train.batch_size: Input should be a finite number"),
        ("backbones.optimizer.lr=.nan", "backbones.optimizer.lr: Input should be a finite number, got nan"),
        ("schedules.1.temperature=.inf", "schedules[1].temperature: Input should be a finite number, got inf"),
        ("early_exit.thresholds=[0.5, .nan]", "early_exit.thresholds[1]: Input should be a finite number, got nan"),
    ],
)
def test_non_finite_numbers_are_refused(cli, tiny_recipe, toy_plugins, override, expected):
    result = cli("validate", tiny_recipe(), "--set", override, "--recipe-only", plugins=toy_plugins)
    assert result.code == 2 and expected in result.err


def test_messages_say_an_int_and_an_exit(cli, write, tiny_recipe, toy_plugins, tmp_path):
    not_a_mapping = cli("validate", write("three.yaml", "3\n"), plugins=toy_plugins)
    assert "a recipe is a mapping of sections (name:, data:, networks:, ...), not an int" in not_a_mapping.err
    exits = cli("validate", tiny_recipe(), "--set", "networks.mv.exits=[3]", plugins=toy_plugins)
    assert "networks.mv.exits[0]: expected an exit section (a mapping with a 'name' key), got 3" in exits.err
    torch.save(7, tmp_path / "seven.pt")
    weights = cli("validate", tiny_recipe(), "--set", f"networks.mv.weights={tmp_path / 'seven.pt'}", plugins=toy_plugins)
    assert f"{tmp_path / 'seven.pt'}: holds an int, not a state dict of weights" in weights.err
    assert typer  # the plugin above builds its command with it
