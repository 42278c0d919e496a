"""The teacher quality gate: a teacher at chance stops the run (exit 2, one line) before the pool is
labelled; --accept-weak-teacher goes on; a teacher that knows the task passes; figures are reported."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from advisor.cli import main
from distill.labeling.gate import GateConfig, cohen_kappa, gold_gate, nogold_gate
from distill.teachers import BACKENDS, Backend, register_backend
from distill.teachers.base import Scored, Teacher

POSITIVE = ("good", "great", "fun", "best", "lovely", "superb")


class FakeTeacher(Teacher):
    """``chance``: P(positive) from the text's hash, whatever the text says; ``knows``: reads the words."""

    def __init__(self, spec, labelset, **kw):
        super().__init__(labelset, template=kw.get("template"), calibrate=kw.get("calibrate"))
        self.mode = spec.split(":", 1)[1]
        self.kind, self.fingerprint = "fake", f"fake-{self.mode}"
        self.scored_texts: list[str] = []

    def score(self, texts):
        self.scored_texts.extend(texts)
        out = []
        for t in texts:
            if self.mode == "knows":
                h = 0.9 if any(w in t for w in POSITIVE) else 0.1
            else:
                h = int(hashlib.sha256((self.prompt.template + t).encode()).hexdigest()[:8], 16) / 16**8
            out.append(Scored(np.array([1 - h, h])))
        self.calls += len(texts)
        return out


@pytest.fixture
def fake_backend():
    register_backend(Backend("fake", lambda s, o: str(s).startswith("fake:"), FakeTeacher, "test double"),
                     before="server")
    yield
    BACKENDS[:] = [b for b in BACKENDS if b.name != "fake"]


def _texts(n, seed=0):
    rng = np.random.default_rng(seed)
    words = ["movie", "plot", "actor", "scene", "story", "ending"]
    rows = []
    for i in range(n):
        pos = bool(i % 2)
        w = POSITIVE[i % len(POSITIVE)] if pos else ("dull", "bad", "awful", "boring")[i % 4]
        rows.append((f"a {w} {words[rng.integers(len(words))]} number {i}", "positive" if pos else "negative"))
    return rows


def _write(path, rows, with_label=True):
    path.write_text("".join(json.dumps({"text": t, **({"label": g} if with_label else {})}) + "\n"
                            for t, g in rows), encoding="utf-8")
    return path


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["distill", "label", *args])
    out, err = capsys.readouterr()
    return ei.value.code, out, err


def test_chance_teacher_stops_before_the_pool_and_accept_weak_goes_on(tmp_path, capsys, fake_backend):
    pool = _write(tmp_path / "pool.jsonl", _texts(400, 1), with_label=False)
    gold = _write(tmp_path / "gold.jsonl", _texts(200, 2))
    run = tmp_path / "run"
    code, out, err = run_cli(["--data", str(pool), "--labels", "sst2", "--out", str(run), "--teacher", "fake:chance",
                              "--gold", str(gold), "--quiet"], capsys)
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert code == 2 and len(lines) == 1, err
    assert "unable to do this task" in lines[0] and "n=200" in lines[0] and "accept-weak-teacher" in lines[0]
    assert "not above" in lines[0] and "larger teacher" in lines[0]
    assert "Traceback" not in err
    assert not (run / "labels.jsonl").exists()  # the pool was not labelled
    gate = json.loads((run / "teacher_gate.json").read_text())
    assert gate["passed"] is False and gate["mode"] == "gold" and gate["n"] == 200
    assert gate["accuracy_ci"][0] <= 0.5 and gate["majority_accuracy"] == 0.5

    code, out, err = run_cli(["--data", str(pool), "--labels", "sst2", "--out", str(run), "--teacher", "fake:chance",
                              "--gold", str(gold), "--accept-weak-teacher", "--quiet"], capsys)
    assert code in (0, None), err
    assert len((run / "labels.jsonl").read_text().splitlines()) == 400
    rep = json.loads((run / "teacher_report.json").read_text())
    assert rep["gate"]["passed"] is False  # the figures stay in the report
    assert "Teacher gate" in (run / "teacher_report.md").read_text()


def test_a_teacher_that_knows_the_task_passes(tmp_path, capsys, fake_backend):
    pool = _write(tmp_path / "pool.jsonl", _texts(100, 1), with_label=False)
    gold = _write(tmp_path / "gold.jsonl", _texts(100, 2))
    code, out, err = run_cli(["--data", str(pool), "--labels", "sst2", "--out", str(tmp_path / "r"),
                              "--teacher", "fake:knows", "--gold", str(gold), "--quiet"], capsys)
    assert code in (0, None), err
    gate = json.loads((tmp_path / "r" / "teacher_gate.json").read_text())
    assert gate["passed"] is True and gate["accuracy"] == 1.0 and "teacher gate passed" in err


def test_without_gold_two_prompts_of_a_chance_teacher_disagree(tmp_path, capsys, fake_backend):
    pool = _write(tmp_path / "pool.jsonl", _texts(300, 1), with_label=False)
    code, out, err = run_cli(["--data", str(pool), "--labels", "sst2", "--out", str(tmp_path / "r"),
                              "--teacher", "fake:chance", "--quiet"], capsys)
    assert code == 2 and "two prompts agree" in err and "without gold labels" in err
    code, out, err = run_cli(["--data", str(pool), "--labels", "sst2", "--out", str(tmp_path / "r2"),
                              "--teacher", "fake:knows", "--quiet"], capsys)
    assert code in (0, None), err
    gate = json.loads((tmp_path / "r2" / "teacher_gate.json").read_text())
    assert gate["mode"] == "no-gold" and gate["passed"] and gate["kappa"] == 1.0 and gate["second_template"] == "question"


def test_gate_figures():
    names = ["negative", "positive"]
    gold = ["negative"] * 80 + ["positive"] * 20
    cfg = GateConfig(n_boot=200)
    collapsed = gold_gate(gold, ["negative"] * 100, names, cfg)  # the majority class: 80% accuracy, no skill
    assert collapsed["accuracy"] == 0.8 and collapsed["passed"] is False
    assert collapsed["majority_macro_f1"] == pytest.approx(collapsed["macro_f1"])
    good = gold_gate(gold, gold[:95] + ["negative"] * 5, names, cfg)
    assert good["passed"] is True and good["macro_f1_ci"][0] > good["majority_macro_f1"]
    rng = np.random.default_rng(0)
    pred = [names[i] for i in rng.integers(0, 2, 100)]
    from sklearn.metrics import f1_score

    rep = gold_gate(gold, pred, names, cfg)  # the bootstrap's fast macro-F1 is sklearn's
    assert rep["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"))
    assert rep["macro_f1_ci"][0] <= rep["macro_f1"] <= rep["macro_f1_ci"][1] and rep["passed"] is False
    few = gold_gate(gold[:10], gold[:10], names, cfg)
    assert few["passed"] is None and "too few" in few["reason"]
    assert GateConfig(min_accuracy=0.99).min_accuracy == 0.99
    assert not gold_gate(gold, gold[:95] + ["negative"] * 5, names, GateConfig(n_boot=200, min_accuracy=0.99))["passed"]
    p = np.tile([[0.99, 0.01]], (50, 1))
    rep = nogold_gate(p, p, names, cfg, "question")
    assert rep["passed"] is False and "collapse" in rep["reason"]
    a = np.array([0, 1] * 25)
    assert cohen_kappa(a, a, 2) == 1.0 and abs(cohen_kappa(a, a[::-1].copy(), 2)) <= 1.0
