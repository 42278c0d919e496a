"""The demo's pool and config (the full demo run itself is `make demo`, ~7 min: not a unit test)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from advisor.pipeline.demo import DEMO_DATA, MIN_WORDS, build_pool, demo_config, find_sst2, full_sentences
from advisor.pipeline.config import parse_config

SHARED_TRAIN = Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2" / "train.tsv"


def test_full_sentences_drops_phrases_of_longer_rows():
    rows = [
        "the film is a charming , often funny look at growing up in a small town",
        "a charming , often funny look at growing up",          # inside the first row
        "often funny look at growing up in a small town",       # inside the first row
        "a dull and lifeless exercise in style over substance",  # a sentence of its own
        "dull and lifeless",                                    # too short anyway
        "a dull and lifeless exercise in style over substance",  # duplicate row
    ]
    out = full_sentences(rows)
    assert out == [rows[0], rows[3]]
    assert "dull and lifeless" not in full_sentences(rows, min_words=3)  # a fragment of row 3
    assert full_sentences(["dull and lifeless"], min_words=3) == ["dull and lifeless"]


def _read(path: Path) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [r[0].strip() for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]


def test_packaged_sample_is_the_shared_pool(tmp_path):
    """Without ../shared the demo labels the same 4,000 sentences it labels with it."""
    n = build_pool(DEMO_DATA / "sst2_train_sample.tsv", tmp_path / "packaged.txt", 4000)
    assert n == 4000
    packaged = (tmp_path / "packaged.txt").read_text(encoding="utf-8").splitlines()
    assert len(set(packaged)) == 4000 and all(len(t.split()) >= MIN_WORDS for t in packaged)
    if not SHARED_TRAIN.is_file():
        pytest.skip("../shared/data is absent")
    assert build_pool(SHARED_TRAIN, tmp_path / "shared.txt", 4000) == 4000
    shared = (tmp_path / "shared.txt").read_text(encoding="utf-8").splitlines()
    assert sorted(shared) == sorted(packaged)
    # full sentences: no pool text is a fragment of another train row
    rows = _read(SHARED_TRAIN)
    longer = "\n".join(sorted({r for r in rows if len(r.split()) >= MIN_WORDS}))
    for t in shared[:200]:
        assert longer.count(t) == 1, t


def test_pool_is_atomic_and_deterministic(tmp_path):
    train, _, _ = find_sst2()
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    build_pool(train, a, 50)
    build_pool(train, b, 50)
    assert a.read_bytes() == b.read_bytes() and len(a.read_text().splitlines()) == 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temp files left


def test_demo_config_is_valid(tmp_path):
    train, dev, _ = find_sst2()
    pool = tmp_path / "pool.txt"
    build_pool(train, pool, 20)
    cfg = parse_config(demo_config(tmp_path / "run", pool, dev), tmp_path)
    assert cfg["training"]["threshold"] == 0.6 and cfg["teacher"]["calibrate"] == "content-free"
    assert cfg["export"]["target"] == "auto" and cfg["bench"]["enabled"] and cfg["student"]["layers"] == 4
