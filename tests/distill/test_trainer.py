"""Distillation loss against hand computations, data preparation, and a real (tiny) training run
that is interrupted after its first checkpoint and resumed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.atomic import write_json, write_jsonl
from core.errors import UserError
from distill.training.config import DistillationConfig
from distill.training.labels import LabelledRows, prepare_rows, read_labels
from distill.training.losses import distillation_loss, teacher_log_probs_at_temperature


# ------------------------------------------------------------------------------------------- loss
def _np_softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_teacher_is_retempered_from_t1_probs():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0]])
    T = 3.0
    got = teacher_log_probs_at_temperature(p, T).exp().numpy()
    # softmax(log p / T) = p^(1/T) / sum p^(1/T)
    want = p.clamp_min(1e-8).numpy() ** (1 / T)
    want = want / want.sum(-1, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(teacher_log_probs_at_temperature(p, 1.0).exp().numpy(),
                               p.clamp_min(1e-8).numpy() / p.clamp_min(1e-8).numpy().sum(-1, keepdims=True), rtol=1e-5)


def test_kl_term_matches_hand_computation():
    z = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    p = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    y = np.array([0, 2])
    T = 2.0
    pt = p ** (1 / T)
    pt /= pt.sum(-1, keepdims=True)
    qt = _np_softmax(z / T)
    kl = (pt * (np.log(pt) - np.log(qt))).sum(-1) * T**2
    loss, parts = distillation_loss(torch.tensor(z), torch.tensor(p), torch.tensor(y), temperature=T, alpha=1.0)
    assert loss.item() == pytest.approx(kl.mean(), rel=1e-5)
    assert parts["kl"].item() == pytest.approx(kl.mean(), rel=1e-5)
    # the mixed loss is the alpha-weighted sum of the two terms
    ce = -np.log(_np_softmax(z))[np.arange(2), y]
    mixed, _ = distillation_loss(torch.tensor(z), torch.tensor(p), torch.tensor(y), temperature=T, alpha=0.3)
    assert mixed.item() == pytest.approx((0.3 * kl + 0.7 * ce).mean(), rel=1e-5)


def test_alpha_zero_is_cross_entropy():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 4, generator=g)
    p = torch.softmax(torch.randn(8, 4, generator=g), -1)
    y = torch.randint(0, 4, (8,), generator=g)
    loss, parts = distillation_loss(z, p, y, temperature=4.0, alpha=0.0)
    assert loss.item() == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    assert parts["kl"].item() == 0.0


def test_kl_is_zero_when_student_matches_teacher():
    p = torch.tensor([[0.8, 0.2], [0.3, 0.7]])
    z = torch.log(p)  # student logits reproduce the teacher exactly at every T
    loss, _ = distillation_loss(z, p, torch.tensor([0, 1]), temperature=2.5, alpha=1.0)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_example_and_class_weights():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    p = torch.tensor([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    y = torch.tensor([0, 1, 0])
    per, _ = distillation_loss(z, p, y, temperature=2.0, alpha=0.5, reduction="none")
    w = torch.tensor([1.0, 2.0, 0.0])
    loss, _ = distillation_loss(z, p, y, weights=w, temperature=2.0, alpha=0.5)
    assert loss.item() == pytest.approx(((w * per).sum() / w.sum()).item(), rel=1e-6)
    # a zero weight removes the row entirely
    loss2, _ = distillation_loss(z[:2], p[:2], y[:2], weights=w[:2], temperature=2.0, alpha=0.5)
    assert loss.item() == pytest.approx(loss2.item(), rel=1e-6)
    cw = torch.tensor([1.0, 3.0])
    loss3, _ = distillation_loss(z, p, y, weights=torch.ones(3), class_weights=cw, temperature=2.0, alpha=0.5)
    eff = cw[y]
    assert loss3.item() == pytest.approx(((eff * per).sum() / eff.sum()).item(), rel=1e-6)


def test_gradient_scale_of_soft_term_is_temperature_independent():
    """With the T^2 factor the soft-term gradient stays O(1) as T grows (Hinton et al.)."""
    z = torch.tensor([[3.0, 0.0, -1.0]], requires_grad=True)
    p = torch.tensor([[0.2, 0.5, 0.3]])
    norms = []
    for T in (1.0, 4.0, 16.0):
        z.grad = None
        loss, _ = distillation_loss(z, p, torch.tensor([1]), temperature=T, alpha=1.0)
        loss.backward()
        norms.append(z.grad.norm().item())
    assert max(norms) / min(norms) < 5  # without T^2 it would shrink ~T times per step (256x here)


# ------------------------------------------------------------------------------------------- data
def _rows(probs, teacher=None, gold=None):
    probs = np.asarray(probs, dtype=float)
    n = len(probs)
    return LabelledRows(names=["a", "b"], texts=[f"t{i}" for i in range(n)], probs=probs,
                        teacher=list(teacher if teacher is not None else probs.argmax(1)),
                        gold=list(gold if gold is not None else [None] * n), ids=[str(i) for i in range(n)],
                        n_lines=n)


def test_threshold_drops_rows_and_weights():
    probs = [[0.95, 0.05], [0.55, 0.45], [0.2, 0.8], [0.4, 0.6], [0.99, 0.01], [0.3, 0.7]]
    rows = _rows(probs)
    cfg = DistillationConfig(eval_fraction=0.0, threshold=0.65, balance=False, weighting="confidence")
    prep = prepare_rows(rows, cfg)
    assert prep.train_idx.tolist() == [0, 2, 4, 5]  # 0.55 and 0.6 dropped
    assert prep.dropped_threshold == 2
    np.testing.assert_allclose(prep.weights[prep.train_idx], [0.95, 0.8, 0.99, 0.7])
    cfg = DistillationConfig(eval_fraction=0.0, threshold=0.0, balance=False, weighting="none")
    prep = prepare_rows(rows, cfg)
    assert len(prep.train_idx) == 6 and np.all(prep.weights == 1.0)
    with pytest.raises(UserError, match="threshold"):
        prepare_rows(rows, DistillationConfig(eval_fraction=0.0, threshold=0.995))


def test_class_balance_and_gold_hard_labels():
    probs = [[0.9, 0.1]] * 6 + [[0.1, 0.9]] * 2
    rows = _rows(probs, gold=[None, None, None, None, None, 1, None, None])  # row 5: gold b, teacher a
    prep = prepare_rows(rows, DistillationConfig(eval_fraction=0.0, weighting="none", balance=True))
    # counts a=6, b=2 -> weights n/(k*count) = 8/12 and 8/4
    np.testing.assert_allclose(prep.class_weights, [8 / 12, 2.0])
    assert prep.hard.tolist() == [0] * 6 + [1] * 2
    prep = prepare_rows(rows, DistillationConfig(eval_fraction=0.0, weighting="none", hard_label="gold"))
    assert prep.hard.tolist() == [0] * 5 + [1] + [1] * 2
    assert prep.stats["gold_used_as_hard_label"] == 1


def test_held_out_slice_is_seeded_and_disjoint():
    rows = _rows([[0.8, 0.2]] * 50 + [[0.3, 0.7]] * 50)
    a = prepare_rows(rows, DistillationConfig(eval_fraction=0.2, seed=1))
    b = prepare_rows(rows, DistillationConfig(eval_fraction=0.2, seed=1))
    c = prepare_rows(rows, DistillationConfig(eval_fraction=0.2, seed=2))
    assert len(a.eval_idx) == 20 and len(a.train_idx) == 80
    assert not set(a.eval_idx) & set(a.train_idx)
    assert a.eval_idx.tolist() == b.eval_idx.tolist() != c.eval_idx.tolist()


def test_read_labels_validates(tmp_path):
    good = {"id": "1", "text": "x", "probs": {"neg": 0.2, "pos": 0.8}, "label": "pos", "confidence": 0.8,
            "source": "scored"}
    abst = {"id": "2", "text": "y", "probs": {"neg": 0.5, "pos": 0.5}, "label": None, "source": "abstained"}
    p = tmp_path / "labels.jsonl"
    write_jsonl(p, [good, abst, {**good, "id": "3", "gold": "neg"}])
    rows = read_labels(p)
    assert rows.names == ["neg", "pos"] and len(rows.texts) == 2 and rows.n_abstained == 1
    assert rows.gold == [None, 0]
    # labelset.json beside the file fixes the order; probs keys from another label set are refused
    write_json(tmp_path / "labelset.json", {"labels": [{"name": "World"}, {"name": "Sports"}]})
    with pytest.raises(UserError, match="another label set"):
        read_labels(p)
    (tmp_path / "labelset.json").unlink()
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match="empty"):
        read_labels(tmp_path / "empty.jsonl")
    write_jsonl(tmp_path / "abst.jsonl", [abst])
    with pytest.raises(UserError, match="no usable rows"):
        read_labels(tmp_path / "abst.jsonl")
    write_jsonl(tmp_path / "badgold.jsonl", [{**good, "gold": "maybe"}])
    with pytest.raises(UserError, match="gold label"):
        read_labels(tmp_path / "badgold.jsonl")


# ------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, shared_data):
    """200 SST-2 training sentences with synthetic noisy teacher probabilities."""
    from distill.data.labelset import LabelSet
    from benchmarks.shared_data import sst2_splits, synthetic_teacher_rows

    ls = LabelSet.from_spec("sst2")
    pool, _ = sst2_splits(shared_data, n_pool=200, seed=3)
    d = tmp_path_factory.mktemp("tiny")
    write_jsonl(d / "labels.jsonl", synthetic_teacher_rows(pool, ls.names, flip=0.15, seed=3))
    write_json(d / "labelset.json", ls.to_dict())
    return d


class _CountSteps:
    """A TrainerCallback counting the optimisation steps this process actually ran."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Counter(TrainerCallback):
            def __init__(self):
                self.steps = []

            def on_step_end(self, args, state, control, **kw):
                self.steps.append(state.global_step)

        return Counter()


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_training_interrupted_then_resumed(tiny_run):
    from transformers import AutoModelForSequenceClassification, pipeline

    from distill.training.train import train_student

    run = tiny_run / "run"
    cfg = DistillationConfig(epochs=1, max_length=32, batch_size=16, lr=1e-4, eval_fraction=0.1, seed=0)
    # 180 training rows / 16 = 12 steps; evaluation + checkpoint every 6 steps
    first = _CountSteps()
    s1 = train_student(tiny_run / "labels.jsonl", run, cfg, stop_after_steps=6, progress=False, callbacks=[first])
    assert s1["interrupted"] and s1["global_step"] == 6 and s1["max_steps"] == 12
    assert first.steps == list(range(1, 7))
    assert (run / "checkpoints" / "checkpoint-6" / "trainer_state.json").is_file()
    assert not (run / "student").exists()  # an interrupted run saves no student

    second = _CountSteps()
    s2 = train_student(tiny_run / "labels.jsonl", run, cfg, resume=True, progress=False, callbacks=[second])
    assert s2["resumed_from"].endswith("checkpoint-6")
    assert second.steps == list(range(7, 13))  # continued at step 7, did not start over
    assert s2["global_step"] == 12 and not s2["interrupted"]
    assert [h["step"] for h in s2["eval_history"]] == [6, 12]
    train_json = json.loads((run / "train.json").read_text())
    assert train_json["resumed_from"].endswith("checkpoint-6")


    # the student is a normal HF model directory
    student = run / "student"
    for f in ("config.json", "model.safetensors", "tokenizer.json", "README.md"):
        assert (student / f).is_file(), f
    model = AutoModelForSequenceClassification.from_pretrained(student)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert model.config.label2id == {"negative": 0, "positive": 1}
    clf = pipeline("text-classification", model=str(student), device=-1)
    out = clf(["a wonderful , moving film", "dull and lifeless"])
    assert {o["label"] for o in out} <= {"negative", "positive"}
    assert all(0.0 <= o["score"] <= 1.0 for o in out)
    card = (student / "README.md").read_text()
    assert "Limits" in card and "negative" in card and "T = 2.0" in card
    assert math.isfinite(s2["train_loss"])

    # checkpoints made with other options are never mixed into a new job: it starts over
    third = _CountSteps()
    s3 = train_student(tiny_run / "labels.jsonl", run, DistillationConfig(**{**cfg.to_dict(), "alpha": 0.9}),
                       resume=True, progress=False, stop_after_steps=1, callbacks=[third])
    assert s3["resumed_from"] is None and third.steps == [1]
    assert not (run / "checkpoints" / "checkpoint-12").exists()
