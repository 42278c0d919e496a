"""The labelling run with a cheap stub teacher: dedup, resume after SIGKILL, outputs, selection."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from distill.data.reader import TextDataset, load_texts
from distill.labeling.gate import GateConfig
from distill.teachers.prompts import TEMPLATES
from distill.labeling.labeler import CACHE_NAME, LabelingConfig, label_dataset
from distill.data.labelset import LabelSet
from distill.teachers.base import Teacher

STUB = textwrap.dedent('''
    import hashlib, time
    import numpy as np
    from distill.teachers.base import Scored, Teacher

    class StubTeacher(Teacher):
        """Deterministic: P(positive) from the text's hash; sleeps to look like a model."""
        kind = "stub"
        fingerprint = "stub-v1"

        def __init__(self, labelset, delay=0.0, good_template=None, **kw):
            super().__init__(labelset, **kw)
            self.delay, self.good_template, self.seen = delay, good_template, []

        def score(self, texts):
            time.sleep(self.delay * len(texts))
            self.seen.extend(texts)
            self.calls += len(texts)
            out = []
            for t in texts:
                h = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) / 16**8
                if self.good_template and self.prompt.template == self.good_template:
                    h = 0.9 if any(w in t for w in ("good", "fun", "best")) else 0.1
                out.append(Scored(np.array([1 - h, h])))
            return out
''')


@pytest.fixture
def stub_module(tmp_path, monkeypatch):
    (tmp_path / "stubteacher.py").write_text(STUB, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import stubteacher

    return importlib.reload(stubteacher)


@pytest.fixture
def sst2():
    return LabelSet.from_spec("sst2")


def _texts_2000(shared_data, sst2):
    d = load_texts(shared_data / "sst2" / "train.tsv", labelset=sst2, limit=1900)
    texts = d.texts + d.texts[:100]  # 100 duplicates
    gold = d.gold + d.gold[:100]
    return texts, gold


def test_kill9_resume_labels_each_text_once(tmp_path, shared_data, sst2, stub_module, repo_dir):
    texts, gold = _texts_2000(shared_data, sst2)
    unique = len(set(texts))
    data_file = tmp_path / "in.jsonl"
    data_file.write_text("".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in zip(texts, gold)), encoding="utf-8")
    run = tmp_path / "run"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(repo_dir)!r}, {str(tmp_path)!r}]
        from distill.data.reader import load_texts
        from distill.labeling.labeler import LabelingConfig, label_dataset
        from distill.data.labelset import LabelSet
        from stubteacher import StubTeacher
        ls = LabelSet.from_spec("sst2")
        data = load_texts({str(data_file)!r}, labelset=ls)
        from distill.labeling.gate import GateConfig
        # the stub is at chance on SST-2 (hash-random): the gate is not what this test is about
        label_dataset(data, ls, StubTeacher(ls, delay=0.004), {str(run)!r},
                      LabelingConfig(chunk_size=50, progress=False, gate=GateConfig(enabled=False)))
    '''), encoding="utf-8")
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = run / CACHE_NAME
    stored = 0
    deadline = time.time() + 120
    try:
        while time.time() < deadline and child.poll() is None:
            if db.exists():
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                    stored = con.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    stored = 0
                if stored >= 400:
                    break
            time.sleep(0.05)
        assert child.poll() is None, f"the child ended before it could be killed: {child.stderr.read().decode()[-500:]}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert not (run / "labels.jsonl").exists()  # nothing half-written
    con = sqlite3.connect(db)
    before = con.execute("SELECT COUNT(*) FROM labels").fetchone()[0]
    con.close()
    assert 400 <= before < unique

    # second run, same command: only the texts not yet stored reach the teacher
    teacher = stub_module.StubTeacher(sst2)
    data = load_texts(data_file, labelset=sst2)
    res = label_dataset(data, sst2, teacher, run, LabelingConfig(chunk_size=50, progress=False,
                                                                 gate=GateConfig(enabled=False)))
    assert teacher.calls == unique - before == res.n_scored
    assert len(teacher.seen) == len(set(teacher.seen))  # duplicates labelled once
    assert res.n_cached == before and res.n_unique == unique and res.n_rows == 2000
    con = sqlite3.connect(db)
    n, distinct = con.execute("SELECT COUNT(*), COUNT(DISTINCT text_hash) FROM labels").fetchone()
    con.close()
    assert n == distinct == unique  # every text exactly once
    rows = [json.loads(x) for x in (run / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2000 and [r["text"] for r in rows] == texts
    assert rows[0]["probs"] == rows[1900]["probs"]  # the duplicate got the same answer

    # a third run scores nothing
    t3 = stub_module.StubTeacher(sst2)
    assert label_dataset(data, sst2, t3, run, LabelingConfig(progress=False, gate=GateConfig(enabled=False))).n_scored == 0
    assert t3.calls == 0


def test_outputs_schema_report_and_calibration(tmp_path, sst2, stub_module):
    texts = ["good fun", "bad", "the best", "fun day", "good fun"]
    data = TextDataset(texts=texts, gold=["positive", "negative", "positive", "positive", "positive"],
                       ids=[str(i) for i in range(5)])
    t = stub_module.StubTeacher(sst2, good_template="field")
    res = label_dataset(data, sst2, t, tmp_path / "r", LabelingConfig(progress=False))
    assert t.calls == 4  # one duplicate
    rows = [json.loads(x) for x in (tmp_path / "r" / "labels.jsonl").read_text().splitlines()]
    assert set(rows[0]) == {"id", "text", "probs", "label", "confidence", "source", "gold"}
    assert [r["label"] for r in rows] == ["positive", "negative", "positive", "positive", "positive"]
    assert all(abs(sum(r["probs"].values()) - 1) < 1e-5 and r["source"] == "scored" for r in rows)
    assert rows[0]["confidence"] == pytest.approx(0.9)
    for f in ("labelset.json", "teacher.json", "teacher_report.json", "teacher_report.md", "teacher_confusion.png"):
        assert (tmp_path / "r" / f).is_file(), f
    rep = json.loads((tmp_path / "r" / "teacher_report.json").read_text())
    assert rep["gold"]["accuracy"] == 1.0 and rep["label_distribution"] == {"negative": 1, "positive": 4}
    assert LabelSet.from_dict(json.loads((tmp_path / "r" / "labelset.json").read_text())).names == sst2.names
    meta = json.loads((tmp_path / "r" / "teacher.json").read_text())
    assert meta["fingerprint"] == "stub-v1" and meta["template"] == "field"

    # pool-mean calibration changes outputs, not the cache (nothing rescored)
    t2 = stub_module.StubTeacher(sst2, good_template="field")
    res2 = label_dataset(data, sst2, t2, tmp_path / "r", LabelingConfig(calibrate="pool-mean", progress=False))
    assert t2.calls == 0 and res2.calibration["method"] == "pool-mean"
    ref = np.array(res2.calibration["reference"])
    assert ref[1] > ref[0]  # the pool leans positive (3 of 4 unique)
    rows2 = [json.loads(x) for x in (tmp_path / "r" / "labels.jsonl").read_text().splitlines()]
    assert rows2[0]["probs"]["positive"] < rows[0]["probs"]["positive"]


def test_select_prompt_keeps_the_best_template(tmp_path, sst2, stub_module, capsys):
    texts = [f"{w} {i}" for i, w in enumerate(["good", "bad", "fun", "awful", "best", "meh"] * 5)]
    gold = ["positive" if any(k in t for k in ("good", "fun", "best")) else "negative" for t in texts]
    data = TextDataset(texts=texts, gold=gold, ids=[str(i) for i in range(len(texts))])
    t = stub_module.StubTeacher(sst2, good_template="described")
    lines = []
    res = label_dataset(data, sst2, t, tmp_path / "r", LabelingConfig(select_prompt=True, dev_size=12, progress=False),
                        echo=lines.append)
    assert res.template == "described"
    assert {r["template"] for r in res.selection} == set(TEMPLATES)
    best = [r for r in res.selection if r["template"] == "described"][0]
    assert best["accuracy"] == 1.0
    assert any("template described" in x and "100.0%" in x for x in lines)
    assert res.report["gold"]["accuracy"] == 1.0 and res.report["gold_held_out"]["n"] == 18


def test_abstentions_and_parsed_rows(tmp_path, sst2):
    class Talky(Teacher):
        kind, fingerprint = "stub", "talky"

        def score(self, texts):
            from distill.teachers.base import parsed_or_abstained

            return [parsed_or_abstained(self.labelset, "Positive." if "good" in t else "no idea") for t in texts]

    data = TextDataset(texts=["good", "hmm"], gold=None, ids=["a", "b"])
    res = label_dataset(data, sst2, Talky(sst2), tmp_path / "r", LabelingConfig(progress=False))
    rows = [json.loads(x) for x in (tmp_path / "r" / "labels.jsonl").read_text().splitlines()]
    assert rows[0]["source"] == "parsed" and rows[0]["label"] == "positive" and "gold" not in rows[0]
    assert rows[1]["source"] == "abstained" and rows[1]["label"] is None and rows[1]["probs"] == {"negative": 0.5, "positive": 0.5}
    assert res.report["sources"] == {"scored": 0, "parsed": 1, "abstained": 1}
