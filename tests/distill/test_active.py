"""Active distillation (``teacher.budget``): the budget is kept, counted at the teacher; a kill -9 in a
round repeats no teacher call and ends with the same selection; bad budgets are one line, exit 2;
the dry run shows the rounds."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from advisor.cli import main
from core.errors import UserError
from core.numbers import parse_budget

# A teacher that answers from the texts' gold labels (so the students have something to learn) and
# records, at the teacher, every text it answered: in memory and, for the child process, in a file.
STUB = textwrap.dedent('''
    import time
    import numpy as np
    from distill.teachers.base import Scored, Teacher

    class CountingTeacher(Teacher):
        kind = "stub"
        fingerprint = "counting-v1"

        def __init__(self, labelset, answers, log=None, delay=0.0, **kw):
            super().__init__(labelset, **kw)
            self.answers, self.log, self.delay, self.seen = answers, log, delay, []

        def score(self, texts):
            out = []
            self.score_each(texts, lambda i, r: out.append(r))
            return out

        def score_each(self, texts, sink):
            # one answer at a time, handed over (cached) before it is logged: what the log holds,
            # the cache holds (a server teacher hands over each answer as it arrives in the same way)
            for i, t in enumerate(texts):
                time.sleep(self.delay)
                p = 0.85 if self.answers.get(t) == "positive" else 0.15
                sink(i, Scored(np.array([1 - p, p])))
                self.seen.append(t)
                self.calls += 1
                if self.log:
                    with open(self.log, "a", encoding="utf-8") as fh:
                        fh.write(t.replace("\\n", " ") + "\\n")
''')

RUN = textwrap.dedent('''
    import json, sys
    from distill.active import ActiveConfig, active_label_dataset
    from distill.data.labelset import LabelSet
    from distill.data.reader import load_texts
    from distill.labeling.gate import GateConfig
    from distill.labeling.labeler import LabelingConfig
    from distill.training.config import DistillationConfig, StudentConfig
    from stubteacher import CountingTeacher

    def run(pool, out, log=None, delay=0.0, budget=36):
        ls = LabelSet.from_spec("sst2")
        data = load_texts(pool, labelset=ls)
        answers = dict(zip(data.texts, data.gold))
        teacher = CountingTeacher(ls, answers, log=log, delay=delay)
        cfg = LabelingConfig(chunk_size=4, progress=False, gate=GateConfig(enabled=False))
        training = DistillationConfig(batch_size=16, max_length=32, evals_per_epoch=1, eval_fraction=0.2)
        res = active_label_dataset(data, ls, teacher, out, cfg, budget, training=training,
                                   student=StudentConfig(layers=1), active=ActiveConfig(rounds=3, epochs=1),
                                   echo=lambda s: None)
        return teacher, res
''')


@pytest.fixture
def stub(tmp_path, monkeypatch):
    (tmp_path / "stubteacher.py").write_text(STUB, encoding="utf-8")
    (tmp_path / "activerun.py").write_text(RUN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import stubteacher

    importlib.reload(stubteacher)  # first: test_labeling.py writes a stubteacher module of its own
    import activerun

    return importlib.reload(activerun)


@pytest.fixture
def pool(tmp_path, shared_data):
    """120 SST-2 training sentences with their gold labels."""
    lines = (shared_data / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    path = tmp_path / "pool.tsv"
    path.write_text("\n".join(lines[:121]) + "\n", encoding="utf-8")
    return path


def _state(run):
    return json.loads((run / "active" / "state.json").read_text(encoding="utf-8"))


def _rows(run):
    return [json.loads(x) for x in (run / "labels.jsonl").read_text(encoding="utf-8").splitlines()]


def test_budget_values():
    assert parse_budget(500, "--budget") == 500 and parse_budget("500", "--budget") == 500
    assert parse_budget("25%", "--budget") == 0.25 and parse_budget(0.1, "--budget") == 0.1
    assert parse_budget("0.5", "--budget") == 0.5 and parse_budget(1.0, "--budget") == 1.0
    for bad in (0, -3, "0", "150%", "0%", "abc", 1.5, float("nan"), True, "", "25 %x"):
        with pytest.raises(UserError) as ei:
            parse_budget(bad, "--budget")
        assert ei.value.message.startswith("--budget: ") and "\n" not in ei.value.message


@pytest.mark.parametrize("budget, why", [("0", "at least 1"), ("150%", "(0%, 100%]"), ("1.5", "(0, 1]"),
                                         ("lots", "a number of teacher calls")])
def test_bad_budget_on_the_command_line_is_one_line_exit_2(tmp_path, pool, capsys, budget, why):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as ei:
        main(["distill", "label", "--data", str(pool), "--labels", "sst2", "--out", str(out), "--budget", budget])
    _, err = capsys.readouterr()
    assert ei.value.code == 2
    assert len(err.strip().splitlines()) == 1 and "--budget" in err and why in err, err
    assert not out.exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'r'}\ndata: {{path: {pool}}}\nlabels: sst2\n", encoding="utf-8")
    with pytest.raises(SystemExit) as ei:
        main(["distill", "run", str(cfg), "--budget", budget, "--dry-run"])
    _, err = capsys.readouterr()
    assert ei.value.code == 2 and len(err.strip().splitlines()) == 1 and "--budget" in err, err
    cfg.write_text(f"run_dir: {tmp_path / 'r'}\ndata: {{path: {pool}}}\nlabels: sst2\nteacher: {{budget: '{budget}'}}\n",
                   encoding="utf-8")
    with pytest.raises(SystemExit) as ei:
        main(["distill", "run", str(cfg), "--dry-run"])
    _, err = capsys.readouterr()
    assert ei.value.code == 2 and "teacher.budget" in err and len(err.strip().splitlines()) == 1, err


def test_dry_run_shows_the_rounds_time_and_cost(tmp_path, pool, monkeypatch):
    from advisor.pipeline import plan
    from advisor.pipeline.config import load_config

    class Probe:
        def predict_proba(self, texts):
            return None

    monkeypatch.setattr("distill.teachers.load_teacher", lambda *a, **k: Probe())
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: {tmp_path / 'r'}\ndata: {{path: {pool}}}\nlabels: sst2\n"
                   "teacher: {budget: 25%, price_per_1k_tokens: 2.0, gate_size: 10}\n", encoding="utf-8")
    lines = plan.dry_run_report(load_config(cfg))
    text = "\n".join(lines)
    assert "teacher budget: 30 calls of 120 texts (25%)" in text, text
    assert "4 rounds of 8, 8, 7, 7 calls" in text, text  # gate_size 10 < 30 texts: no gate calls planned
    assert "min for 30 texts" in text and "API cost estimate" in text, text


def test_budgeted_run_keeps_the_budget_counted_at_the_teacher(tmp_path, pool, stub):
    run = tmp_path / "run"
    teacher, res = stub.run(pool, run, budget=36)
    assert teacher.calls <= 36 and len(teacher.seen) == len(set(teacher.seen)), teacher.calls
    assert teacher.calls == 36  # the budget is spent, not more
    state = _state(run)
    assert [len(r["chosen"]) for r in state["rounds"]] == [12, 12, 12]
    assert all("calls" in r and r["held_out_agreement"] is not None for r in state["rounds"])
    rows = _rows(run)
    assert len(rows) == 120
    teacher_rows = [r for r in rows if r["source"] != "student"]
    student_rows = [r for r in rows if r["source"] == "student"]
    assert len(teacher_rows) == 36 and len(student_rows) == 84
    assert {r["text"] for r in teacher_rows} == set(teacher.seen)
    assert all(0 <= r["weight"] <= 1 for r in student_rows)
    summary = res.report["active"]
    assert summary["teacher_calls"] == 36 and summary["budget_calls"] == 36
    assert (run / "active_curve.png").stat().st_size > 1000
    assert "## Active distillation" in (run / "teacher_report.md").read_text(encoding="utf-8")
    # the training stage reads the weights and holds out only teacher rows
    from distill.training.config import DistillationConfig
    from distill.training.labels import prepare_rows, read_labels

    lr = read_labels(run / "labels.jsonl")
    assert lr.pseudo.sum() == 84 and lr.weights[~lr.pseudo].min() == 1.0
    prep = prepare_rows(lr, DistillationConfig(eval_fraction=0.25, balance=False, weighting="none"))
    assert not lr.pseudo[prep.eval_idx].any() and len(prep.eval_idx) == 9
    assert abs(prep.weights[lr.pseudo] - lr.weights[lr.pseudo]).max() < 1e-9
    # a second run asks the teacher nothing
    again, _ = stub.run(pool, run, budget=36)
    assert again.calls == 0


@pytest.mark.slow
def test_kill9_in_a_round_repeats_no_call_and_keeps_the_selection(tmp_path, pool, stub, repo_dir):
    whole = tmp_path / "whole"
    stub.run(pool, whole, budget=36)
    run, log = tmp_path / "run", tmp_path / "seen.txt"
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f'''
        import sys
        sys.path[:0] = [{str(repo_dir)!r}, {str(tmp_path)!r}]
        import activerun
        activerun.run({str(pool)!r}, {str(run)!r}, log={str(log)!r}, delay=0.05)
    ''')], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    try:
        while time.time() < deadline and child.poll() is None:  # kill in round 2 (after 12 + 3 answers)
            if log.exists() and len(log.read_text(encoding="utf-8").splitlines()) >= 15:
                break
            time.sleep(0.02)
        assert child.poll() is None, f"the child ended before the kill: {child.stderr.read().decode()[-800:]}"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    first = log.read_text(encoding="utf-8").splitlines()
    assert 15 <= len(first) < 36 and not (run / "labels.jsonl").exists()
    chosen_before = [r["chosen"] for r in _state(run)["rounds"]]
    assert len(chosen_before) == 2  # the kill came in round 2, its texts already chosen
    teacher, _ = stub.run(pool, run, budget=36)
    assert not set(teacher.seen) & set(first), "a teacher call was repeated after the restart"
    assert len(first) + teacher.calls == 36
    chosen_after = [r["chosen"] for r in _state(run)["rounds"]]
    assert chosen_after[:2] == chosen_before
    assert chosen_after == [r["chosen"] for r in _state(whole)["rounds"]]  # the same selection as without the kill
    assert _rows(run) == _rows(whole)


def test_a_round_takes_the_least_sure_texts_but_no_near_duplicates():
    import numpy as np

    from distill.active import choose, plan_rounds, resolve_budget

    n = 20
    p = 0.5 + np.arange(n) / (2 * n)  # text 0 the least sure, text 19 the surest
    probs = np.stack([p, 1 - p], axis=1)
    emb = np.zeros((n, 3))
    emb[:5] = [1, 0, 0]  # the five least sure texts are near-duplicates of each other
    emb[5:10] = [0, 1, 0]
    emb[10:] = [0, 0, 1]
    picked = choose(probs, emb, 2, "margin", oversample=5)
    assert picked[0] == 0 and 5 <= picked[1] < 10, picked  # not 0 and 1: a duplicate of 0
    assert choose(probs, emb, 3, "entropy", oversample=1) == [0, 1, 2]  # no room for diversity: the least sure
    assert resolve_budget(0.25, 2000) == 500 and resolve_budget(50, 2000) == 50
    assert plan_rounds(50, 4) == [13, 13, 12, 12] and sum(plan_rounds(7, 4)) == 7


def test_a_later_round_mixes_a_random_share_with_the_least_sure(monkeypatch, tmp_path):
    """`random_share` of a round is drawn at random from the rest, the others are the least sure of
    the previous student; the split is seeded (a restart picks the same texts) and share 0 is pure
    uncertainty sampling."""
    import numpy as np

    import distill.active as active_mod
    from distill.active import ActiveConfig, _pick_round
    from distill.training.config import DistillationConfig

    pool = [f"text {i}" for i in range(40)]
    sure = {t: 0.5 + i / 80 for i, t in enumerate(pool)}  # text 0 the least sure

    def fake_score(student_dir, texts, max_length, **kw):
        p = np.array([sure[t] for t in texts])
        return np.stack([p, 1 - p], axis=1), np.eye(len(texts))  # all far apart: no thinning effect

    monkeypatch.setattr(active_mod, "score_and_embed", fake_score)
    rest = list(range(10, 40))
    cfg = DistillationConfig()
    chosen, how = _pick_round(1, rest, pool, 8, tmp_path, cfg, ActiveConfig(random_share=0.5), False)
    assert len(chosen) == len(set(chosen)) == 8 and set(chosen) <= set(rest)
    assert "4 random + 4 least sure" in how
    unsure = chosen[4:]
    assert sorted(unsure) == sorted(set(range(10, 40)) - set(chosen[:4]))[:4]  # the least sure of what is left
    again, _ = _pick_round(1, rest, pool, 8, tmp_path, cfg, ActiveConfig(random_share=0.5), False)
    assert again == chosen
    pure, how = _pick_round(1, rest, pool, 8, tmp_path, cfg, ActiveConfig(random_share=0.0), False)
    assert sorted(pure) == list(range(10, 18)) and "random" not in how
