"""The export tests' shared parts: a quickly-trained SST-2 student and its bundles, built ONCE per
test session (see ``built()``; ``tests/conftest.py`` makes the fixtures visible to every test). The test student is the embedded all-MiniLM-L6-v2 with a
classification head fitted by logistic regression on 400 SST-2 train sentences (seconds, not a
fine-tuning run), saved as a normal RUN_DIR: student/, labels.jsonl (with gold), labelset.json.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from advisor.cli import cli, main

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
_CACHE: dict = {}


def read_sst2(split: str, n: int | None = None) -> tuple[list[str], list[str]]:
    with open(SST2 / f"{split}.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    rows = rows[:n] if n else rows
    return [r[0] for r in rows], ["positive" if r[1] == "1" else "negative" for r in rows]


def make_student(run_dir: Path) -> Path:
    """A real, quickly-trained SST-2 student in ``run_dir/student`` (+ labels.jsonl, labelset.json)."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from distill.defaults import default_student_dir

    torch.manual_seed(0)
    src = default_student_dir()
    tok = AutoTokenizer.from_pretrained(src)
    model = AutoModelForSequenceClassification.from_pretrained(
        src, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})
    model.eval()
    with torch.no_grad():  # the sentence-transformers checkpoint has no trained pooler: make it tanh(CLS)
        model.bert.pooler.dense.weight.copy_(torch.eye(model.config.hidden_size))
        model.bert.pooler.dense.bias.zero_()
    texts, gold = read_sst2("train", 400)
    feats = []
    with torch.inference_mode():
        for i in range(0, len(texts), 64):
            enc = tok(texts[i:i + 64], truncation=True, padding=True, return_tensors="pt")
            feats.append(model.bert(**enc).pooler_output.numpy())
    y = np.array([g == "positive" for g in gold], dtype=int)
    lr = LogisticRegression(C=10.0, max_iter=2000).fit(np.concatenate(feats), y)
    w, b = torch.tensor(lr.coef_[0], dtype=torch.float32), float(lr.intercept_[0])
    with torch.no_grad():
        model.classifier.weight.copy_(torch.stack([-w / 2, w / 2]))
        model.classifier.bias.copy_(torch.tensor([-b / 2, b / 2]))
    student = run_dir / "student"
    model.save_pretrained(student)
    tok.save_pretrained(student)
    dev_texts, dev_gold = read_sst2("dev", 120)
    with open(run_dir / "labels.jsonl", "w", encoding="utf-8") as fh:
        for i, (t, g) in enumerate(zip(dev_texts, dev_gold)):
            fh.write(json.dumps({"id": str(i), "text": t, "probs": {"negative": 0.5, "positive": 0.5},
                                 "label": g, "confidence": 0.5, "source": "scored", "gold": g}) + "\n")
    (run_dir / "labelset.json").write_text(json.dumps(
        {"preset": "sst2", "labels": [{"name": "negative", "aliases": ["0"]}, {"name": "positive", "aliases": ["1"]}]}))
    return student


def run_cli(args: list[str], input: str | None = None):
    """Invoke ``advisor`` in-process (no model re-import); returns the click Result."""
    return CliRunner().invoke(cli, args, input=input, catch_exceptions=False)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """Through ``advisor.cli.main`` (the real error formatting and exit codes)."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


def built(tmp_root: Path, what: str) -> Path:
    """Session-wide cache: 'student', 'int8' (default eval: labels.jsonl), 'fp32' (--fp32-only)."""
    if what in _CACHE:
        return _CACHE[what]
    if what == "student":
        _CACHE[what] = make_student(tmp_root / "run")
    elif what == "int8":
        student = built(tmp_root, "student")
        out = tmp_root / "bundle_int8"
        res = run_cli(["export", str(student), "--out", str(out), "--max-drop", "5"])
        assert res.exit_code == 0, res.output
        _CACHE["int8_output"] = res.output
        _CACHE[what] = out
    elif what == "fp32":
        student = built(tmp_root, "student")
        out = tmp_root / "bundle_fp32"
        res = run_cli(["export", "model", str(student), "--out", str(out), "--fp32-only",
                       "--eval-data", str(SST2 / "dev.tsv"), "--labels", "sst2", "--eval-limit", "60"])
        assert res.exit_code == 0, res.output
        _CACHE["fp32_output"] = res.output
        _CACHE[what] = out
    return _CACHE[what]


@pytest.fixture(scope="session")
def export_root(tmp_path_factory) -> Path:
    return _CACHE.setdefault("root", tmp_path_factory.mktemp("export"))


@pytest.fixture(scope="session")
def student_dir(export_root) -> Path:
    return built(export_root, "student")


@pytest.fixture(scope="session")
def bundle_int8(export_root) -> Path:
    return built(export_root, "int8")


@pytest.fixture(scope="session")
def bundle_fp32(export_root) -> Path:
    return built(export_root, "fp32")
