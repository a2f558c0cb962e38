"""Where the CLI writes: results to stdout, messages to stderr. Never interprets rich markup in messages."""

from __future__ import annotations

from rich.console import Console
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
