"""The command line: entry points, speed of the plugin-free commands, messages instead of tracebacks."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

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
    found = {
        ".".join(("pkd_plugins" if init.parts[len(ROOT.parts)] == "plugins" else "pkd_toolkit",) + init.parent.relative_to(ROOT).parts[1:])
        for folder in ("pkd_toolkit", "plugins")
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert found == listed


def test_an_unknown_command_is_a_usage_error(cli):
    result = cli("trian")
    assert result.code == 2
    assert "No such command 'trian'" in result.err
