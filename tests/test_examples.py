"""Every config in examples/ is valid against the pipeline's schema (keys, types, task kind, the
files it names), so an example cannot go stale when a setting is renamed. A config whose data
is made by a documented command first (examples/data/..., e.g. ag_news.yaml's
`python -m benchmarks.shared_data ...`) may only fail on that missing file, and one that needs a
model the user supplies (cluener.yaml's Chinese encoder, marked REPLACE) only on that path, which
is then checked with a real encoder in its place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import UserError

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


def test_there_are_examples():
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_is_valid(path, shared_data):
    from advisor.pipeline.config import parse_config
    from distill.tasks import task_names

    text = path.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if "/path/to/" in str((raw.get("student") or {}).get("model")):  # the user's own encoder: REPLACE it
        assert "REPLACE" in text and "--student /path/to/" in text
        raw["student"]["model"] = None
    try:
        cfg = parse_config(raw, path.parent)
    except UserError as exc:
        msg = str(exc)
        assert "file not found" in msg and "/examples/data/" in msg, msg  # made by the command in its header
        assert "python -m benchmarks.shared_data" in path.read_text(encoding="utf-8")
        return
    assert cfg["task"] in task_names()
    assert cfg["run_dir"] and cfg["data"]["path"]
