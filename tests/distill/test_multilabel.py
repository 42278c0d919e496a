"""Multi-label classification (``task: multilabel``, distill/tasks/multilabel.py) through every stage:
label-list gold (go_emotions' ``2,27``) and its errors, one yes/no question per label (each cached on
its own, so a resumed run asks nothing twice), per-label calibration, the BCE distillation loss, the
multi-label metrics and thresholds, the runtime's sigmoid + thresholds, and (slow) an end-to-end run
on real GoEmotions data with a stub teacher -> train -> evaluate -> export (int8, verified) -> the
torch-free runtime and ``advisor predict``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from core.errors import UserError
from distill.data.config import DataConfig
from distill.data.labelset import LabelSet
from distill.data.reader import load_texts
from distill.evaluation.metrics import apply_thresholds, multi_hot, multilabel_metrics, tune_thresholds
from distill.tasks import get_task
from distill.teachers.base import Scored, Teacher
from distill.teachers.prompts import QUESTION_SEP, BinaryCalibrator, question_text
from distill.training.losses import multilabel_distillation_loss

LEXICON = {"gratitude": ("thank",), "love": ("love",), "admiration": ("great", "amazing", "beautiful", "awesome"),
           "amusement": ("lol", "haha", "funny"), "anger": ("angry", "hate"), "sadness": ("sad", "sorry"),
           "curiosity": ("?", "wonder", "why"), "joy": ("happy", "glad", "enjoy")}


@pytest.fixture
def go(shared_data):
    return shared_data / "go_emotions"


@pytest.fixture(scope="module")
def go_labels():
    return LabelSet.from_spec("go_emotions")


class LexiconTeacher(Teacher):
    """A fast stand-in for a GPT teacher answering yes/no questions: P(yes) from a few cue words per
    label (neutral: no cue word at all). It renders every prompt and records every input, and can be
    made to die after ``die_after`` inputs (a kill in the middle of a labelling run)."""

    kind = "stub"
    fingerprint = "lexicon-v1"

    def __init__(self, labelset, die_after=None, **kw):
        super().__init__(labelset, **kw)
        self.asked: list[str] = []
        self.rendered: list[str] = []
        self.die_after = die_after

    def score(self, texts):
        out = []
        for t in texts:
            if self.die_after is not None and len(self.asked) >= self.die_after:
                raise KeyboardInterrupt("killed")
            self.calls += 1
            self.asked.append(t)
            self.rendered.append(self.prompt.render(t))
            body, _, lab = t.partition(QUESTION_SEP)
            low = body.lower()
            words = LEXICON.get(lab)
            if words is None:
                cue = any(w in low for ws in LEXICON.values() for w in ws)
                p = 0.7 if lab == "neutral" and not cue else 0.08
            else:
                p = 0.9 if any(w in low for w in words) else 0.05
            out.append(Scored(np.array([p, 1 - p])))
        return out


# ---------------------------------------------------------------------------- data
def test_reader_parses_label_id_lists(go, go_labels):
    ds = get_task("multilabel").read(DataConfig(path=str(go / "dev.tsv"), limit=5), go_labels)
    assert ds.texts[0] == "Is this in New Orleans?? I really feel like this is New Orleans."
    assert ds.gold[:2] == [("neutral",), ("approval", "neutral")]  # "27" and "4,27" through the preset's ids
    assert ds.ids[0] == "edgurhb" and ds.label_column == "labels"
    raw = load_texts(go / "dev.tsv", labelset=go_labels, limit=5, label_sep=",")
    assert raw.gold == ds.gold


@pytest.mark.parametrize("cell, message", [
    ("2,99", r"row 2: label '99' \(column 'labels'\) is not in the label set"),
    ("", r"row 2 has an empty gold label in column 'labels' \(a multi-label row needs at least one label\)"),
    ("2,,5", r"row 2: an empty label in the label list '2,,5'"),
])
def test_bad_label_lists_are_one_line_errors_exit_2(tmp_path, cell, message):
    from advisor.cli import cli

    bad = tmp_path / "bad.tsv"
    bad.write_text(f"fine text\t3\ta1\nbroken text\t{cell}\ta2\n", encoding="utf-8")
    with pytest.raises(UserError, match=message):
        get_task("multilabel").read(DataConfig(path=str(bad)), LabelSet.from_spec("go_emotions"))
    res = CliRunner().invoke(cli, ["distill", "label", "--task", "multilabel", "--labels", "go_emotions",
                                   "--data", str(bad), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "labels.jsonl").exists()


# ---------------------------------------------------------------------------- teacher
def test_one_yes_no_question_per_label_text_first(go_labels):
    kind = get_task("multilabel")
    prompt = kind.prompt(go_labels, "field", language="en")
    qs = kind.questions("Thanks a lot!", go_labels)
    assert len(qs) == 28 and len(set(qs)) == 28 and qs[15] == question_text("Thanks a lot!", "gratitude")
    text = prompt.render(qs[15])
    assert text == ("Answer each question about the comment with yes or no.\n\nComment: Thanks a lot!\n"
                    "Question: Does the comment express gratitude (thankfulness or appreciation)?\nAnswer:")
    assert prompt.label_continuations() == [" yes", " no"]
    # every question about one text shares the text: it comes before the question
    assert all(prompt.render(q).startswith(prompt.prefix() + "Comment: Thanks a lot!\nQuestion:") for q in qs)
    chat = kind.prompt(go_labels, "chat", language="en").messages(qs[0])
    assert chat[1]["content"].startswith("Comment: Thanks a lot!\n\nDoes the comment express admiration")
    with pytest.raises(UserError, match="takes no shots"):
        kind.prompt(go_labels, "field", shots=("x",), language="en")


def test_binary_calibration_per_label():
    cal = BinaryCalibrator("pool-mean", np.array([0.5, 0.8, 0.2]))
    got = cal.apply(np.array([0.8, 0.8, 0.2]))
    # (p/r) / (p/r + (1-p)/(1-r)): r = 0.5 changes nothing, p = r gives 0.5
    assert got == pytest.approx([0.8, 0.5, 0.5])
    assert BinaryCalibrator("none").apply(np.array([0.3, 0.9])) == pytest.approx([0.3, 0.9])
    fitted = BinaryCalibrator.fitted("pool-mean", np.array([[0.2, 0.9], [0.4, 0.7]]), ["pool"])
    assert fitted.ref == pytest.approx([0.3, 0.8]) and fitted.to_dict()["per_label"] is True


def test_labelling_caches_every_question_and_resumes_after_a_kill(tmp_path, go, go_labels):
    from distill.labeling.labeler import LabelingConfig, label_dataset

    kind = get_task("multilabel")
    ds = kind.read(DataConfig(path=str(go / "dev.tsv"), limit=12), go_labels)
    run = tmp_path / "run"
    cfg = LabelingConfig(progress=False, task="multilabel", chunk_size=8)
    dying = LexiconTeacher(go_labels, die_after=100)  # killed in the 4th text
    with pytest.raises(KeyboardInterrupt):
        label_dataset(ds, go_labels, dying, run, cfg, echo=lambda s: None)
    again = LexiconTeacher(go_labels)
    res = label_dataset(ds, go_labels, again, run, LabelingConfig(progress=False, task="multilabel", chunk_size=8),
                        echo=lambda s: None)
    total = 12 * 28
    # every answer of a finished teacher call is in the cache (12 calls of 8 questions); only the call
    # the kill interrupted (4 questions, never answered) is asked again
    assert len(dying.asked) == 100 and again.calls == total - 96
    assert set(dying.asked) & set(again.asked) == set(dying.asked[96:]) and res.n_rows == 12
    rows = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    thanks = next(r for r in rows if "thank" in r["text"].lower())
    assert thanks["probs"]["gratitude"] == 0.9 and "gratitude" in thanks["labels"]
    assert all(sum(r["probs"].values()) != pytest.approx(1.0) for r in rows)  # independent, not a distribution
    assert all(isinstance(r["gold"], list) for r in rows) and rows[1]["gold"] == ["approval", "neutral"]
    meta = json.loads((run / "teacher.json").read_text())
    assert meta["task"] == "multilabel" and "Does the comment express" in meta["prompt_example"]
    rep = json.loads((run / "teacher_report.json").read_text())
    assert rep["gold"]["n"] == 12 and 0 <= rep["gold"]["micro_f1"] <= 1 and "per_class" in rep["gold"]
    third = LexiconTeacher(go_labels)
    label_dataset(ds, go_labels, third, run, LabelingConfig(progress=False, task="multilabel"), echo=lambda s: None)
    assert third.calls == 0


# ---------------------------------------------------------------------------- student
def test_multilabel_loss_hand_computed():
    z = torch.tensor([[2.0, -1.0]])
    y = torch.tensor([[1.0, 0.0]])
    p = torch.tensor([[0.9, 0.2]])
    hard, _ = multilabel_distillation_loss(z, p, y, alpha=0.0)
    expect = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(-1.0))) / 2  # BCE(sigmoid(2), 1), BCE(sigmoid(-1), 0)
    assert float(hard) == pytest.approx(expect, rel=1e-5)
    # a student whose tempered logits equal the teacher's tempered log-odds has a zero soft term
    logit = torch.log(p / (1 - p))
    soft, parts = multilabel_distillation_loss(logit, p, y, temperature=2.0, alpha=1.0)
    assert float(soft) == pytest.approx(0.0, abs=1e-6) and float(parts["hard"]) > 0
    moved, _ = multilabel_distillation_loss(logit + 1.0, p, y, temperature=2.0, alpha=1.0)
    assert float(moved) > 0.01
    # weights: a mean weighted by example
    two = torch.cat([z, -z])
    per, _ = multilabel_distillation_loss(two, p.repeat(2, 1), y.repeat(2, 1), alpha=0.0, reduction="none")
    w, _ = multilabel_distillation_loss(two, p.repeat(2, 1), y.repeat(2, 1), torch.tensor([3.0, 1.0]), alpha=0.0)
    assert float(w) == pytest.approx(float((3 * per[0] + per[1]) / 4), rel=1e-6)


def test_labels_file_rows_stay_independent(tmp_path, go_labels):
    from distill.training.config import DistillationConfig
    from distill.training.labels import prepare_multilabel_rows, read_labels

    names = go_labels.names
    lines = []
    for i in range(10):
        p = {n: 0.05 for n in names}
        p["joy" if i % 2 else "anger"] = 0.9
        p["neutral"] = 0.6 if i % 3 == 0 else 0.1
        lines.append(json.dumps({"id": str(i), "text": f"text {i}", "probs": p, "label": "joy", "confidence": 0.9,
                                 "labels": [n for n, v in p.items() if v >= 0.5], "source": "scored",
                                 "gold": ["joy", "neutral"]}))
    (tmp_path / "labels.jsonl").write_text("\n".join(lines) + "\n")
    rows = read_labels(tmp_path / "labels.jsonl", labelset=go_labels)
    assert rows.multi_label and rows.probs[0, names.index("anger")] == 0.9  # not renormalised
    assert rows.gold[0] == [names.index("joy"), names.index("neutral")]
    prep = prepare_multilabel_rows(rows, DistillationConfig(eval_fraction=0.2))
    assert prep.hard.shape == (10, 28) and prep.hard[0, names.index("anger")] == 1 and prep.hard[0].sum() == 2
    assert len(prep.eval_idx) == 2 and len(prep.train_idx) == 8
    gold = prepare_multilabel_rows(rows, DistillationConfig(hard_label="gold"))
    assert gold.hard[0].sum() == 2 and gold.hard[0, names.index("joy")] == 1


# ---------------------------------------------------------------------------- metrics and thresholds
def test_multilabel_metrics_hand_computed():
    gold = [("a",), ("a", "b"), ("c",)]
    pred = [("a",), ("b",), ()]
    m = multilabel_metrics(gold, pred, ["a", "b", "c"])
    # tp 2 (a in row 1, b in row 2), fp 0, fn 2 (a in row 2, c in row 3): P 1, R 0.5, F1 2/3
    assert m["micro_precision"] == 1.0 and m["micro_recall"] == 0.5 and m["micro_f1"] == pytest.approx(2 / 3)
    # per label F1: a 2/3 (1 of 2 found), b 1, c 0
    assert m["per_class"]["a"]["f1"] == pytest.approx(2 / 3) and m["per_class"]["b"]["f1"] == 1.0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert m["subset_accuracy"] == pytest.approx(1 / 3) and m["per_class"]["a"]["support"] == 2
    assert m["hamming_loss"] == pytest.approx(2 / 9)
    assert multi_hot([("b", "a"), None], ["a", "b"]).tolist() == [[1, 1], [0, 0]]


def test_thresholds_tuned_per_label():
    probs = np.array([[0.30, 0.9], [0.35, 0.8], [0.10, 0.6], [0.05, 0.2]])
    y = np.array([[1, 1], [1, 1], [0, 0], [0, 0]])
    t = tune_thresholds(probs, y)
    # label 0: only thresholds in (0.10, 0.30] separate it, the nearest to 0.5 is 0.3; label 1: at 0.5 the
    # 0.6 row is a false positive, (0.6, 0.8] separates it, the nearest to 0.5 on the grid is 0.65
    assert t == [0.3, 0.65]
    assert apply_thresholds(probs, ["x", "y"], t) == [("x", "y"), ("x", "y"), (), ()]
    assert apply_thresholds(probs, ["x", "y"]) == [("y",), ("y",), ("y",), ()]
    assert tune_thresholds(probs, np.zeros_like(y)) == [0.5, 0.5]  # no positives: the default stays


def test_runtime_sigmoid_and_thresholds():
    from export.runtime import TASKS

    ml = TASKS["multilabel"]
    p = ml.probs(np.array([[0.0, 2.0, -2.0]]), 1.0)
    assert p[0] == pytest.approx([0.5, 1 / (1 + np.exp(-2)), 1 / (1 + np.exp(2))])
    rows = ml.rows(np.array([[0.55, 0.9, 0.3]]), ["a", "b", "c"], [0.6, 0.5, 0.25])
    assert rows[0]["labels"] == ["b", "c"] and rows[0]["scores"] == [0.9, 0.3]  # most probable first
    assert rows[0]["label"] == "b" and rows[0]["probs"] == {"a": 0.55, "b": 0.9, "c": 0.3}
    assert ml.rows(np.array([[0.55, 0.4]]), ["a", "b"])[0]["labels"] == ["a"]  # 0.5 without thresholds


def test_training_metrics_and_kind_answers():
    from types import SimpleNamespace

    kind = get_task("multilabel")
    assert kind.best_metric == "micro_ap" and kind.runtime == "multilabel" and kind.multi_label
    ev = SimpleNamespace(predictions=np.array([[2.0, -1.0], [-1.0, -3.0]]), label_ids=np.array([[1.0, 1.0], [0.0, 0.0]]))
    m = kind.training_metrics(ev)
    assert m["micro_f1"] == pytest.approx(2 / 3) and m["subset_accuracy"] == 0.5
    # ranked 2.0 (+), -1.0 (+), -1.0 (-), -3.0 (-): precision 1 at the first positive, 2/3 at the tie
    assert m["micro_ap"] == pytest.approx((1 + 2 / 3) / 2)
    # below every 0.5 threshold (micro-F1 0) but ranked right: the checkpoint metric still sees it
    low = SimpleNamespace(predictions=np.array([[-1.0, -2.0], [-3.0, -4.0]]), label_ids=np.array([[1.0, 1.0], [0.0, 0.0]]))
    m = kind.training_metrics(low)
    assert m["micro_f1"] == 0.0 and m["micro_ap"] == 1.0


def test_the_head_starts_at_the_label_priors():
    import torch
    from types import SimpleNamespace

    kind = get_task("multilabel")
    model = SimpleNamespace(classifier=torch.nn.Linear(4, 3))
    rows = SimpleNamespace(probs=np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.5], [1.0, 1.0, 0.5], [0.0, 0.0, 0.5]]))
    kind.init_head(model, rows, SimpleNamespace(train_idx=np.array([0, 1, 2, 3])))
    p = torch.sigmoid(model.classifier.bias).detach().numpy()
    assert p == pytest.approx([0.5, 0.25, 0.5], abs=1e-6)
    get_task("classification").init_head(model, rows, None)  # other kinds: untouched
    assert torch.sigmoid(model.classifier.bias).detach().numpy() == pytest.approx(p)
    row = kind.row_label(np.array([0.2, 0.7, 0.9]), ["a", "b", "c"])
    assert row == {"label": "c", "confidence": 0.9, "labels": ["b", "c"]}


def test_example_config_dry_run_plan(repo_dir):
    from advisor.pipeline.config import load_config

    cfg = load_config(repo_dir / "examples" / "go_emotions.yaml")
    assert cfg["task"] == "multilabel" and cfg["labels"] == "go_emotions"


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_go_emotions_end_to_end_label_train_evaluate_export_predict(tmp_path, go, go_labels):
    """label (stub teacher, killed and resumed) -> train (1 epoch, 2 layers) -> evaluate on gold label
    sets -> export int8 (verified on micro-F1) -> the bundle's runtime and `advisor predict`."""
    import subprocess
    import sys

    from advisor.cli import cli
    from distill.evaluation.evaluate import evaluate_run
    from distill.labeling.labeler import LabelingConfig, label_dataset
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig
    from export.build import export_bundle
    from export.config import ExportConfig
    from export.runtime import Bundle, BundleError

    kind = get_task("multilabel")
    run = tmp_path / "run"
    ds = kind.read(DataConfig(path=str(go / "train.tsv"), limit=120), go_labels)
    dying = LexiconTeacher(go_labels, die_after=500)
    with pytest.raises(KeyboardInterrupt):
        label_dataset(ds, go_labels, dying, run, LabelingConfig(progress=False, task="multilabel"), echo=lambda s: None)
    again = LexiconTeacher(go_labels)
    label_dataset(ds, go_labels, again, run, LabelingConfig(progress=False, task="multilabel"), echo=lambda s: None)
    assert again.calls == len(set(ds.texts)) * 28 - 448  # 7 finished calls of 64 questions were cached

    cfg = DistillationConfig(epochs=1, batch_size=16, max_length=64, layers=2, evals_per_epoch=1, lr=1e-4)
    summary = train_student(run / "labels.jsonl", run, cfg, task="multilabel", progress=False)
    hf = json.loads((run / "student" / "config.json").read_text())
    assert hf["distill_task"] == "multilabel" and hf["problem_type"] == "multi_label_classification"
    assert len(hf["distill_thresholds"]) == 28 and summary["thresholds"]["tuned_on"].startswith("held-out")

    gold_run = tmp_path / "gold_labels"  # the teacher's answers on the gold texts
    gold = kind.read(DataConfig(path=str(go / "test.tsv"), limit=60), go_labels)
    label_dataset(gold, go_labels, LexiconTeacher(go_labels), gold_run, LabelingConfig(progress=False, task="multilabel"),
                  echo=lambda s: None)
    ev = evaluate_run(run, go / "test.tsv", limit=60, teacher_labels=gold_run / "labels.jsonl", progress=False)
    assert set(ev["systems"]) == {"teacher", "student", "tfidf_lr"} and ev["n"] == 60
    for m in ev["systems"].values():
        assert 0 <= m["micro_f1"] <= 1 and 0 <= m["subset_accuracy"] <= 1 and len(m["per_class"]) == 28
    assert ev["systems"]["teacher"]["micro_f1"] > 0.2  # the lexicon finds thanks, love, ... in real comments
    assert "micro-F1" in (run / "report.md").read_text()

    bundle_cfg, verification = export_bundle(run / "student", run / "bundle", ExportConfig(eval_limit=80),
                                             progress=False)
    info = bundle_cfg["onnx_bundle"]
    assert info["task"] == "multilabel" and info["thresholds"] == hf["distill_thresholds"]
    assert verification["passed"] is True, verification.get("summary")
    assert verification["int8_vs_fp32"]["metric"] == "micro_f1" and "calibration" not in info

    b = Bundle.load(run / "bundle")
    assert b.variant == "int8" and b.thresholds == hf["distill_thresholds"]
    text = "Thank you so much, I love this!"
    row = b.predict([text])[0]
    p = row["probs"]
    assert set(p) == set(go_labels.names) and not sum(p.values()) == pytest.approx(1.0)
    assert row["labels"] == sorted([n for n, t in zip(b.labels, b.thresholds) if p[n] >= t], key=lambda n: -p[n])
    with pytest.raises(BundleError, match="cascade is not supported"):
        b.config["onnx_bundle"]["cascade"] = {"threshold": 0.5, "teacher": {}}
        b.predict([text])

    res = CliRunner().invoke(cli, ["predict", str(run / "bundle"), text])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["labels"] == row["labels"] and out["scores"] == [p[n] for n in row["labels"]]

    code = ("import sys, runtime; rc = runtime.main(sys.argv[1:]);"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'distill', 'export', 'core', 'advisor')];"
            "assert not bad, bad; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-B", "-c", code, str(run / "bundle"), text], cwd=run / "bundle",
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip())["labels"] == row["labels"]
