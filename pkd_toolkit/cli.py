"""The ``pkd`` command line: the core's commands plus those plugins add with ``pkd_add_commands``.

Expected failures (:class:`~pkd_toolkit.errors.PkdError`) end with one message
and a non-zero status; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from pkd_toolkit import __version__, console
from pkd_toolkit.errors import Interrupted, PkdError
from pkd_toolkit.plugins import get_plugins

# Each module defines register(cli); kept apart so a command's imports stay its own.
CORE_COMMAND_MODULES = (
    "pkd_toolkit.commands.recipes",
    "pkd_toolkit.commands.plugins",
    "pkd_toolkit.commands.summary",
    "pkd_toolkit.commands.evaluate",
    "pkd_toolkit.commands.predict",
)


def build_cli() -> typer.Typer:
    cli = typer.Typer(
        name="pkd",
        help="Knowledge distillation for action recognition on compressed video.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
    cli.callback()(_main_options)
    for module in CORE_COMMAND_MODULES:
        importlib.import_module(module).register(cli)
    get_plugins().add_commands(cli)
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
        for info in get_plugins().broken():
            console.warning(f"plugin {info.name!r} ({info.origin}) is skipped: {info.error}")


def main(argv: list[str] | None = None) -> None:
    try:
        command = typer.main.get_command(build_cli())
        command.main(args=argv, prog_name="pkd")
    except PkdError as failure:
        console.error(str(failure))
        sys.exit(failure.exit_code)
    except KeyboardInterrupt:  # outside a run, which says itself what it kept
        console.error("interrupted")
        sys.exit(Interrupted.exit_code)
