"""Errors that are the user's to fix: the CLI prints them in one message, no traceback; and the one bit of
grammar their messages need (:func:`with_article`).

Anything else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class PkdError(Exception):
    """An expected failure (bad input, missing file, ...) with a message for the user.

    ``exit_code`` follows the Unix convention used by the CLI: 2 for bad usage
    (recipes, options), 1 for everything else.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n{self.hint}"


class UsageError(PkdError):
    """The command line or a recipe is wrong; exit status 2."""

    exit_code = 2


class UnknownComponentError(UsageError):
    """A component name that no loaded plugin registered."""


class Interrupted(PkdError):
    """The user stopped a command (Ctrl-C); what was written stays consistent."""

    exit_code = 130


def with_article(noun: str) -> str:
    """``an int``, ``a list``, ``an exit``: the noun with its indefinite article, for messages."""
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"
