"""The command line: entry points, speed of the plugin-free commands, messages instead of tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkd_toolkit

ROOT = Path(__file__).resolve().parents[2]

# Runs a pkd command in a fresh interpreter and reports whether model code was imported.
IMPORTS_AFTER = """
import sys
from pkd_toolkit.cli.app import main
sys.argv = ["pkd", *{args!r}]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "timm", "torchvision", "av", "numpy", "matplotlib") if m in sys.modules)
print("HEAVY:", ",".join(heavy) or "none", file=sys.stderr)
"""


def run_fresh(*args: str) -> subprocess.CompletedProcess:
    code = IMPORTS_AFTER.format(args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_help_and_list_plugins_import_no_model_code():
    for args in (["--help"], ["list-plugins"], ["list-plugins", "--json"]):
        result = run_fresh(*args)
        assert "HEAVY: none" in result.stderr, (args, result.stderr)


def test_the_console_script_and_module_run():
    version = subprocess.run([sys.executable, "-m", "pkd_toolkit", "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"pkd-toolkit {pkd_toolkit.__version__}"
    helptext = subprocess.run([Path(sys.executable).parent / "pkd", "--help"], capture_output=True, text=True)
    for command in ("run", "validate", "schema", "list-plugins", "prepare", "inspect", "summary", "eval"):
        assert command in helptext.stdout


def test_every_package_folder_is_installed():
    """pyproject lists packages by hand (plugins/ installs as pkd_plugins): a new folder must be listed."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    installed_as = {"pkd_toolkit": "pkd_toolkit", "plugins": "pkd_plugins", "recipes": "pkd_recipes"}
    found = {
        ".".join((installed_as[folder], *init.parent.relative_to(ROOT / folder).parts))
        for folder in installed_as
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == listed


def test_an_unknown_command_is_a_usage_error(cli):
    result = cli("trian")
    assert result.code == 2
    assert "No such command 'trian'" in result.err


def test_every_command_names_its_arguments_in_capitals(toy_plugins):
    """RECIPE, RUN_DIR, VIDEO, SOURCE, DST...: one style across the core's and the plugins' commands."""
    import typer

    from pkd_toolkit.cli.app import build_cli

    def commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:  # typer vendors its click: duck-typed
        for name, command in getattr(group, "commands", {}).items():
            yield f"{prefix}{name}", command
            yield from commands(command, f"{prefix}{name} ")

    found = {}
    for name, command in commands(typer.main.get_command(build_cli(toy_plugins))):
        for param in command.params:
            if param.param_type_name == "argument":
                found[f"{name} {param.name}"] = param.metavar
    assert {"run recipe", "prepare source", "inspect video", "predict videos", "recipes copy name"} <= set(found)
    assert all(metavar and metavar == metavar.upper() for metavar in found.values()), found


def test_options_with_a_fixed_set_of_values_show_them(cli):
    assert "--codec <mpeg4|h264>" in cli("prepare", "--help").out
    assert "--preset <tiny|small|benchmark>" in " ".join(cli("make-synthetic", "--help").out.split())
    refused = cli("prepare", "in", "out", "--codec", "vp9")
    assert refused.code == 2 and "'vp9' is not one of 'mpeg4', 'h264'" in refused.err


def test_shell_completion_can_be_installed_and_completes_commands():
    helptext = subprocess.run([sys.executable, "-m", "pkd_toolkit", "--help"], capture_output=True, text=True).stdout
    assert "--install-completion" in helptext and "--show-completion" in helptext
    environment = {**os.environ, "_PKD_COMPLETE": "complete_bash", "COMP_WORDS": "pkd recipes co", "COMP_CWORD": "2"}
    completed = subprocess.run([Path(sys.executable).parent / "pkd"], capture_output=True, text=True, env=environment)
    assert completed.stdout.split() == ["copy"]


def test_tables_are_not_cut_at_80_columns_when_piped(tmp_path):
    """A pipe gets every table at its full width (rich would cut it at 80 columns), so paths stay whole."""
    environment = {key: value for key, value in os.environ.items() if key != "COLUMNS"}
    listed = subprocess.run([sys.executable, "-m", "pkd_toolkit", "list-plugins"], capture_output=True, text=True, env=environment)
    assert max(len(line) for line in listed.stdout.splitlines()) > 80
    assert "datasets: folder, hmdb51, synthetic_actions, ucf101" in listed.stdout  # one row, not folded


def test_the_package_says_its_licence_and_python_and_invents_no_address():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    # what is tested: Python 3.11 (PyAV 18 there; 19 would need 3.12, untried)
    assert project["requires-python"] == ">=3.11,<3.12"
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    # no public repository exists yet: a made-up URL on PyPI would send users nowhere; add
    # [project.urls] with the real addresses when the project is published
    assert "urls" not in project


def test_tensorboard_is_installed_and_the_run_help_says_where_it_writes(cli):
    import importlib.metadata

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(dependency.startswith("tensorboard") for dependency in project["dependencies"])
    assert importlib.metadata.version("tensorboard")
    helptext = " ".join(cli("run", "--help").out.split())
    assert "TensorBoard scalars in tensorboard/" in helptext and "tensorboard --logdir RUN_DIR" in helptext
    assert "tensorboard --logdir runs/quickstart" in (ROOT / "README.md").read_text()
