"""One validated number for every numeric command-line option and config field.

``check_number(value, name, kind, lo, hi)`` accepts an int or float (or, from the command line, its
text), refuses NaN, infinity, booleans and values outside ``[lo, hi]`` (each bound inclusive unless
named in ``open_``), and raises :class:`core.errors.UserError` naming the option (``--lr``) or
the field (``training.lr``). :class:`Number` is the same check as a click parameter type, so a bad
flag fails while the command line is parsed, before anything is read or written.

    @click.option("--lr", type=Number(float, 0, 1, open_="lo"))
    check_number(cfg_value, "training.lr", float, 0, 1, open_="lo")
"""

from __future__ import annotations

import math
from typing import Any

import click

from core.errors import UserError

# Integers beyond this are never meaningful here (sizes, counts, seeds) and only slow things down.
INT_CAP = 2**31 - 1


def short_repr(value: Any, n: int = 60) -> str:
    """``repr(value)`` cut to ``n`` characters: an error message never prints a huge value."""
    try:
        r = repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        r = f"<{type(value).__name__}>"
    r = " ".join(r.split())
    return r if len(r) <= n else r[: n - 3] + "..."


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe_range(kind: type, lo: float | None, hi: float | None, open_: str = "") -> str:
    what = "an integer" if kind is int else "a number"
    if lo is not None and hi is not None:
        left = "(" if "lo" in open_ else "["
        right = ")" if "hi" in open_ else "]"
        return f"{what} in {left}{_fmt(lo)}, {_fmt(hi)}{right}"
    if lo is not None:
        return f"{what} {'>' if 'lo' in open_ else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{what} {'<' if 'hi' in open_ else '<='} {_fmt(hi)}"
    return f"a finite {what[2:] if kind is float else 'integer'}"


def check_number(value: Any, name: str, kind: type = float, lo: float | None = None, hi: float | None = None,
                 open_: str = "") -> int | float:
    """``value`` as a finite ``kind`` within the bounds, or a one-line UserError naming ``name``.

    Strings are parsed (command-line text); ``bool`` is refused (YAML ``yes`` is not a number);
    an int field refuses ``2.5`` but takes ``2.0``; NaN and +-inf are always refused.
    """
    expected = describe_range(kind, lo, hi, open_)
    raw = value
    if isinstance(value, bool) or value is None:
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if kind is int and text.lstrip("+-").isdigit() else float(text)
        except ValueError:
            raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}") from None
    if not isinstance(value, (int, float)):
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)} (not a finite number)")
    if kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
            value = int(value)
        if abs(value) > INT_CAP:
            raise UserError(f"{name}: expected {expected}, got {short_repr(raw)} (too large)")
    else:
        value = float(value)
    if lo is not None and (value <= lo if "lo" in open_ else value < lo):
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    if hi is not None and (value >= hi if "hi" in open_ else value > hi):
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    return value


class Number(click.ParamType):
    """A click type: a finite int/float within bounds; the error names the option (``--lr``)."""

    def __init__(self, kind: type = float, lo: float | None = None, hi: float | None = None, open_: str = ""):
        self.kind, self.lo, self.hi, self.open_ = kind, lo, hi, open_
        self.name = "integer" if kind is int else "float"

    def get_metavar(self, param, ctx=None) -> str:  # click >= 8.2 passes ctx
        return "INTEGER" if self.kind is int else "FLOAT"

    def convert(self, value, param, ctx):
        flag = "value"
        if param is not None:
            flag = max(getattr(param, "opts", []) or [param.name or "value"], key=len)
        try:
            return check_number(value, flag, self.kind, self.lo, self.hi, self.open_)
        except UserError as exc:
            # click reports it as a usage error: "error: Invalid value for '--lr': ..." is too wordy,
            # so raise the UserError itself (the CLI prints it on one line, exit 2).
            raise exc from None

    def __repr__(self) -> str:
        return f"Number({self.kind.__name__}, {self.lo}, {self.hi})"


def parse_budget(value: Any, name: str) -> int | float:
    """A teacher budget: a number of calls (an integer >= 1) or a share of the pool (a number in
    (0, 1], or a percentage ``"25%"``); returns an ``int`` (calls) or a ``float`` (share).

    ``500`` and ``"500"`` are 500 calls; ``0.25``, ``"0.25"`` and ``"25%"`` are a quarter of the pool."""
    expected = "a number of teacher calls (an integer >= 1) or a share of the pool (0.25 or 25%)"
    raw = value
    if isinstance(value, bool) or value is None:
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    if isinstance(value, str):
        text = value.strip()
        pct = text.endswith("%")
        body = text[:-1].strip() if pct else text
        try:
            number = float(body)
        except ValueError:
            raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}") from None
        if pct:
            if not math.isfinite(number) or not 0 < number <= 100:
                raise UserError(f"{name}: a percentage must be in (0%, 100%], got {short_repr(raw)}")
            return number / 100
        value = int(body) if body.lstrip("+-").isdigit() else number
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise UserError(f"{name}: expected {expected}, got {short_repr(raw)}")
    if isinstance(value, int):
        if not 1 <= value <= INT_CAP:
            raise UserError(f"{name}: a number of teacher calls must be at least 1, got {short_repr(raw)}")
        return value
    if not 0 < value <= 1:
        raise UserError(f"{name}: a share of the pool must be in (0, 1] (for a number of calls write an "
                        f"integer), got {short_repr(raw)}")
    return value
