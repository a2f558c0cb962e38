"""The ``pkd`` command line: the core's commands plus those plugins add with ``pkd_add_commands``.

Expected failures (:class:`~pkd_toolkit.errors.PkdError`) end with one message
and a non-zero status; anything else is a bug and keeps its traceback. With
``PKD_DEBUG=1`` in the environment an expected failure shows its traceback too
(with the exception that caused it, e.g. what a plugin's hook raised).
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import typer

from pkd_toolkit import __version__, console
from pkd_toolkit.cli.options import plugins_of, remember_arguments
from pkd_toolkit.errors import Interrupted, PkdError
from pkd_toolkit.plugin.manager import Plugins, load_plugins

DEBUG_ENV = "PKD_DEBUG"

# Each module defines register(cli); kept apart so a command's imports stay its own.
CORE_COMMAND_MODULES = (
    "pkd_toolkit.cli.recipes",
    "pkd_toolkit.cli.recipe_library",
    "pkd_toolkit.cli.plugins",
    "pkd_toolkit.cli.summary",
    "pkd_toolkit.cli.evaluate",
    "pkd_toolkit.cli.retest",
    "pkd_toolkit.cli.compare",
    "pkd_toolkit.cli.predict",
)


def build_cli(plugins: Plugins) -> typer.Typer:
    cli = typer.Typer(
        name="pkd",
        help="Knowledge distillation for action recognition on compressed video.",
        no_args_is_help=True,
        add_completion=True,  # typer's --install-completion and --show-completion
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    cli.callback()(_main_options)
    for module in CORE_COMMAND_MODULES:
        importlib.import_module(module).register(cli)
    plugins.add_commands(cli)
    return cli


def _print_version(value: bool) -> None:
    if value:
        console.out.print(f"pkd-toolkit {__version__}")
        raise typer.Exit()


def _main_options(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_print_version
    ),
) -> None:
    if ctx.invoked_subcommand != "list-plugins":  # that one shows the errors in its table
        for line in plugins_of(ctx).problem_lines():
            console.warning(line)


def main(argv: list[str] | None = None, *, plugins: Plugins | None = None) -> None:
    """Run ``pkd`` with ``argv`` (default: the process's arguments) and ``plugins`` (default: the installed ones)."""
    remember_arguments(sys.argv[1:] if argv is None else [str(argument) for argument in argv])
    try:
        plugins = plugins if plugins is not None else load_plugins()
        command = typer.main.get_command(build_cli(plugins))
        _stop_cleanly_on_ctrl_c(command)
        command.main(args=argv, prog_name="pkd", obj=plugins)
    except PkdError as failure:
        if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            traceback.print_exception(failure)
        console.error(str(failure))
        sys.exit(failure.exit_code)
    except KeyboardInterrupt:  # while plugins load or arguments are read
        console.error("interrupted")
        sys.exit(Interrupted.exit_code)


def _stop_cleanly_on_ctrl_c(command: Any) -> None:
    """Make Ctrl-C in any command (plugins' included) one line and exit status 130.

    typer would exit with 130 and say nothing (click: "Aborted!" and 1); a command that can say more (what
    it kept) raises :class:`Interrupted` itself, which passes through unchanged.
    """
    for sub in getattr(command, "commands", {}).values():  # a group's commands (typer's own click classes)
        _stop_cleanly_on_ctrl_c(sub)
    if command.callback is not None:
        command.callback = _interruptible(command.callback)


def _interruptible(callback: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(callback)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except KeyboardInterrupt:
            raise Interrupted("interrupted") from None

    return call
