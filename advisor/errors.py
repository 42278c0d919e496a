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
    MAX_CHARS = 560  # a message quoting a hostile value (a 3000-character flag) stays readable

    def __init__(self, message: str):
        text = " ".join(str(message).split())  # always one line
        if len(text) > self.MAX_CHARS:
            text = text[: self.MAX_CHARS - 130] + " [...] " + text[-120:]
        super().__init__(text)
