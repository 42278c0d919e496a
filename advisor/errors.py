"""The one exception type that the command line turns into a one-line error and exit code 2."""

from __future__ import annotations

import click


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty
    (library errors often append pages of context that do not belong in a one-line error)."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


class UserError(click.ClickException):
    """Bad input from the user (a file, a flag, a config value).

    The CLI prints ``error: <message>`` on one line and exits with status 2; library callers get an
    ordinary exception they can catch.
    """

    exit_code = 2

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))  # always one line


class CheckFailed(click.ClickException):
    """The work ran but one of its own checks failed (e.g. a bundle that did not pass
    verification). Not bad input: the CLI prints ``error: <message>`` on one line and exits 1."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
