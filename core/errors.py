"""The exception types the command line turns into one-line errors: UserError (bad input, exit 2) and CheckFailed (a failed check, exit 1)."""

from __future__ import annotations

import click


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty
    (library errors often append pages of context that do not belong in a one-line error)."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def one_line(message, max_chars: int) -> str:
    """``message`` on one line, cut in the middle beyond ``max_chars`` (a message quoting a hostile
    value stays readable)."""
    text = " ".join(str(message).split())
    if len(text) > max_chars:
        text = text[: max_chars - 130] + " [...] " + text[-120:]
    return text


class UserError(click.ClickException):
    """Bad input from the user (a file, a flag, a config value).

    The CLI prints ``error: <message>`` on one line and exits with status 2; library callers get an
    ordinary exception they can catch.
    """

    exit_code = 2
    MAX_CHARS = 560  # a message quoting a hostile value (a 3000-character flag) stays readable

    def __init__(self, message: str):
        super().__init__(one_line(message, self.MAX_CHARS))


class CheckFailed(click.ClickException):
    """The work ran but one of its own checks failed (e.g. a bundle that did not pass
    verification). Not bad input: the CLI prints ``error: <message>`` on one line and exits 1."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(one_line(message, UserError.MAX_CHARS))
