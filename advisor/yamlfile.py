"""Reading the user's YAML/JSON files (answers, pipeline configs, rules) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from advisor.errors import UserError


def read_yaml(path: str | Path, what: str) -> Any:
    """Parse a YAML (or JSON) file; a missing, undecodable or malformed file is a UserError
    naming ``what`` (e.g. "config file") and the path."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} {path} is not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
