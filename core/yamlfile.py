"""The one reader of the user's YAML/JSON files (answers, pipeline configs, label sets, rules),
bounded: one-line errors, a size limit, no aliases, a nesting limit.

A YAML alias (``*a``) lets a few hundred bytes expand into billions of values (the "billion laughs"
bomb): parsing stays cheap but anything that walks or prints the value does not. None of our files
needs aliases, so an alias is refused outright, naming its line; a file is at most ``MAX_BYTES`` and
at most ``MAX_DEPTH`` levels deep. ``safe_load`` semantics otherwise (no ``!!python`` tags).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from core.errors import UserError

MAX_BYTES = 4 * 1024 * 1024  # a config / answers / label-set file is a few KB; 4 MB is generous
MAX_DEPTH = 32


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting while composing (before anything expands)."""

    def compose_node(self, parent, index):  # noqa: D401 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            mark = event.start_mark
            raise _Refused(f"uses a YAML alias (*{event.anchor}) at line {mark.line + 1}; aliases are not "
                           f"allowed here, write the value out")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _Refused(f"is nested more than {MAX_DEPTH} levels deep (line {mark.line + 1})")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Refused(Exception):
    pass


def _read_bounded(path: Path, what: str, max_bytes: int) -> str:
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise UserError(f"{what} {path} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > max_bytes:  # grew while we looked, or a special file
        raise UserError(f"{what} {path} is larger than the limit of {max_bytes / 1e6:.0f} MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{what} {path} is not valid UTF-8 (byte {exc.start})") from None


def parse_yaml_text(text: str, what: str) -> Any:
    """Parse YAML/JSON text with the bounded loader; errors are one line naming ``what``."""
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as exc:
        raise UserError(f"{what} {exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{what} is not valid YAML/JSON: {str(exc).splitlines()[0][:200]}") from None
    except RecursionError:
        raise UserError(f"{what} is nested too deeply") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5000 digits
        raise UserError(f"{what} holds a value that cannot be read: {str(exc).splitlines()[0][:120]}") from None


def read_yaml(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> Any:
    """Parse a YAML (or JSON) file; a missing, oversized, undecodable or malformed file, or one with
    aliases, is a UserError naming ``what`` (e.g. "config file") and the path."""
    path = Path(path)
    text = _read_bounded(path, what, max_bytes)
    return parse_yaml_text(text, f"{what} {path}")


def read_json(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> Any:
    """Parse a JSON file with the same bounds (size; nesting through Python's own recursion limit)."""
    path = Path(path)
    text = _read_bounded(path, what, max_bytes)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UserError(f"{what} {path} is not valid JSON: {str(exc).splitlines()[0][:200]}") from None
    except RecursionError:
        raise UserError(f"{what} {path} is nested too deeply") from None
