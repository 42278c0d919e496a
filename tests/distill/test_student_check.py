"""A student whose tokenizer cannot read the data (Chinese text, the English MiniLM) is refused up
front with the reason and the fix: before labelling in `distill run`, before training in `distill train`."""

from __future__ import annotations

import csv
import json

import pytest

from advisor.cli import main
from distill.defaults import default_student_dir
from distill.training.student_check import MAX_UNKNOWN, unknown_share


def _waimai(shared_data, n=60):
    with open(shared_data / "waimai_10k" / "waimai_10k.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["review"] for r in rows[:n // 2] + rows[-(n // 2):]]


def _sst2(shared_data, n=60):
    lines = (shared_data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1 : n + 1]
    return [x.split("\t")[0] for x in lines]


def _cli(args, capsys):
    with pytest.raises(SystemExit) as ei:
        main(args)
    out, err = capsys.readouterr()
    return ei.value.code, out, err


def test_unknown_share_tells_the_languages_apart(shared_data):
    student = default_student_dir()
    zh, n = unknown_share(student, _waimai(shared_data))
    en, _ = unknown_share(student, _sst2(shared_data))
    assert n > 500 and zh > 0.5  # most Chinese characters are [UNK] for the English vocabulary
    assert en < MAX_UNKNOWN < zh


def test_run_refuses_the_english_student_on_chinese_text_before_labelling(tmp_path, shared_data, capsys):
    data = tmp_path / "zh.txt"
    data.write_text("\n".join(_waimai(shared_data)) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"run_dir: {run}\ndata: {{path: {data}}}\nlabels: waimai\nexport: {{enabled: false}}\n"
                   f"bench: {{enabled: false}}\n", encoding="utf-8")
    code, out, err = _cli(["distill", "run", str(cfg)], capsys)
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "cannot read this data" in lines[0] and "[UNK]" in lines[0]
    assert "student.model" in lines[0] and "Chinese" in lines[0]
    assert not (run / "cache.sqlite").exists() and not (run / "labels.jsonl").exists()  # no teacher time spent


def test_train_refuses_it_too(tmp_path, shared_data, capsys):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"id": str(i), "text": t, "probs": {"negative": 0.3, "positive": 0.7},
                                          "label": "positive", "confidence": 0.7, "source": "scored"}) + "\n"
                              for i, t in enumerate(_waimai(shared_data))), encoding="utf-8")
    code, out, err = _cli(["distill", "train", "--labels", str(labels), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and "cannot read this data" in err and "--student" in err, err
    assert not (tmp_path / "r" / "student").exists()
