"""Where the CLI writes: results to stdout, messages to stderr. Never interprets rich markup in messages."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.text import Text

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# Messages are never wrapped: a log file or a grep must see each on one line.


def error(message: str) -> None:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)


def warning(message: str) -> None:
    err.print(Text.assemble(("warning: ", "bold yellow"), message), soft_wrap=True)


def info(message: str) -> None:
    err.print(Text(message, style="dim"), soft_wrap=True)


PIPED_WIDTH = 10_000
"""Width of tables written to a pipe or file: as wide as their content, never cut at rich's default 80 columns."""


def print_table(table: RenderableType) -> None:
    """Print a table on stdout: fitted to the terminal, or at its full width when stdout is not one."""
    if out.is_terminal:
        out.print(table)
    else:  # rich caps a print's width at the console's, so a console as wide as the content is needed
        Console(highlight=False, width=PIPED_WIDTH).print(table)
