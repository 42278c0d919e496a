"""Classification metrics shared by the teacher report, the student evaluation and the benchmarks.

Everything is computed with :mod:`sklearn.metrics`, except the expected calibration error
(sklearn has no multi-class ECE), which follows Guo et al. 2017: equal-width confidence bins,
ECE = sum_b |B_b|/n * |acc(B_b) - conf(B_b)|, confidence = max probability of the row.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def expected_calibration_error(probs: np.ndarray, correct: Sequence[bool] | np.ndarray,
                               n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins on (0, 1].

    ``probs`` is (n, k) (rows need not sum exactly to 1: the top value is the confidence) or (n,)
    top-label confidences; ``correct`` says whether the argmax prediction was right.
    """
    probs = np.asarray(probs, dtype=np.float64)
    conf = probs.max(axis=1) if probs.ndim == 2 else probs
    correct = np.asarray(correct, dtype=np.float64)
    if conf.shape[0] != correct.shape[0]:
        raise ValueError(f"probs has {conf.shape[0]} rows but correct has {correct.shape[0]}")
    n = conf.shape[0]
    if n == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin b holds confidences in (edges[b], edges[b+1]]; a confidence of exactly 0 goes to bin 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        mask = idx == b
        if mask.any():
            ece += mask.sum() / n * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def classification_metrics(gold: list[str], pred: list[str], labels: list[str],
                           probs: np.ndarray | None = None) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix, ECE.

    ``labels`` fixes the class order (rows of ``confusion`` are gold, columns predicted);
    ``probs`` (n, len(labels)) in the same order adds ``ece``. Predictions outside ``labels``
    (e.g. ``None`` for an abstention) count as wrong and are left out of the confusion matrix.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    gold = [str(g) for g in gold]
    pred = ["<none>" if p is None else str(p) for p in pred]
    labels = [str(x) for x in labels]
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    n = len(gold)
    out: dict = {"n": n}
    if n == 0:
        out.update(accuracy=0.0, macro_f1=0.0, per_class={l: {"precision": 0.0, "recall": 0.0,
                   "f1": 0.0, "support": 0} for l in labels},
                   confusion=[[0] * len(labels) for _ in labels])
        if probs is not None:
            out["ece"] = 0.0
        return out
    out["accuracy"] = float(accuracy_score(gold, pred))
    out["macro_f1"] = float(f1_score(gold, pred, labels=labels, average="macro", zero_division=0))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    out["per_class"] = {
        lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    out["confusion"] = confusion_matrix(gold, pred, labels=labels).astype(int).tolist()
    if probs is not None:
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (n, len(labels)):
            raise ValueError(f"probs has shape {probs.shape}, expected {(n, len(labels))}")
        correct = np.array([g == pr for g, pr in zip(gold, pred)])
        out["ece"] = expected_calibration_error(probs, correct)
    return out


def agreement(a: Sequence, b: Sequence) -> float:
    """Fraction of positions where two prediction lists agree (e.g. student vs teacher)."""
    if len(a) != len(b):
        raise ValueError(f"lengths differ: {len(a)} vs {len(b)}")
    if not len(a):
        return 0.0
    return float(np.mean([x == y for x, y in zip(a, b)]))


def entity_metrics(gold, pred, types=None) -> dict:
    """Entity-level precision/recall/F1 with seqeval's conventions: an entity counts as found only
    when its span AND type match exactly. ``gold``/``pred``: per text, a list of ``(start, end, type)``
    spans (character or token offsets, the same for both). Micro figures over every entity
    (``precision``, ``recall``, ``f1``, the main ones), their macro mean over the types, and
    ``per_type`` (precision, recall, f1, support = gold entities). No entity anywhere: 0."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} texts but pred has {len(pred)}")
    seen = set(types or ())
    tp: dict[str, int] = {}
    n_gold: dict[str, int] = {}
    n_pred: dict[str, int] = {}
    for g, p in zip(gold, pred):
        gs = {tuple(s[:3]) for s in g}
        ps = {tuple(s[:3]) for s in p}
        for s in gs:
            n_gold[s[2]] = n_gold.get(s[2], 0) + 1
        for s in ps:
            n_pred[s[2]] = n_pred.get(s[2], 0) + 1
        for s in gs & ps:
            tp[s[2]] = tp.get(s[2], 0) + 1
    order = list(types or ()) + sorted((set(n_gold) | set(n_pred)) - seen)

    def prf(t, g, p):
        prec = t / p if p else 0.0
        rec = t / g if g else 0.0
        return prec, rec, (2 * prec * rec / (prec + rec) if prec + rec else 0.0)

    per_type = {}
    for typ in order:
        pr, rc, f = prf(tp.get(typ, 0), n_gold.get(typ, 0), n_pred.get(typ, 0))
        per_type[typ] = {"precision": pr, "recall": rc, "f1": f, "support": n_gold.get(typ, 0),
                         "predicted": n_pred.get(typ, 0)}
    T, G, P = sum(tp.values()), sum(n_gold.values()), sum(n_pred.values())
    pr, rc, f = prf(T, G, P)
    with_support = [v for v in per_type.values() if v["support"] or v["predicted"]]  # seqeval: types in gold or pred
    return {"precision": pr, "recall": rc, "f1": f, "entities_gold": G, "entities_pred": P, "entities_correct": T,
            "macro_f1": float(np.mean([v["f1"] for v in with_support])) if with_support else 0.0,
            "n": len(gold), "per_type": per_type}


# ---------------------------------------------------------------------------- multi-label
def multi_hot(sets: Sequence, labels: Sequence[str]) -> np.ndarray:
    """(n, k) 0/1 matrix of label sets (each a collection of names, or None for none) in ``labels`` order."""
    index = {lab: j for j, lab in enumerate(labels)}
    out = np.zeros((len(sets), len(labels)), dtype=np.int64)
    for i, s in enumerate(sets):
        for name in s or ():
            if name not in index:
                raise ValueError(f"label {name!r} is not one of {', '.join(labels)}")
            out[i, index[name]] = 1
    return out


def multilabel_metrics(gold: Sequence, pred: Sequence, labels: Sequence[str], probs: np.ndarray | None = None) -> dict:
    """Multi-label metrics (sklearn): micro-F1 (the main one), macro-F1, subset accuracy (exact match
    of the whole label set, also under ``accuracy``), micro precision/recall, Hamming loss, and
    per-label precision/recall/F1/support. ``gold`` and ``pred`` are label sets (collections of
    names; None for an abstention, i.e. no labels)."""
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

    labels = [str(x) for x in labels]
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} items but pred has {len(pred)}")
    y, p = multi_hot(gold, labels), multi_hot(pred, labels)
    n = len(gold)
    out: dict = {"n": n}
    if n == 0:
        out.update(micro_f1=0.0, macro_f1=0.0, subset_accuracy=0.0, accuracy=0.0, micro_precision=0.0,
                   micro_recall=0.0, hamming_loss=0.0,
                   per_class={l: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for l in labels})
        return out
    out["micro_f1"] = float(f1_score(y, p, average="micro", zero_division=0))
    out["macro_f1"] = float(f1_score(y, p, average="macro", zero_division=0))
    out["subset_accuracy"] = float(accuracy_score(y, p))
    out["accuracy"] = out["subset_accuracy"]
    mp, mr, _, _ = precision_recall_fscore_support(y, p, average="micro", zero_division=0)
    out["micro_precision"], out["micro_recall"] = float(mp), float(mr)
    out["hamming_loss"] = float(hamming_loss(y, p))
    pr, rc, f, s = precision_recall_fscore_support(y, p, average=None, labels=list(range(len(labels))),
                                                   zero_division=0)
    out["per_class"] = {lab: {"precision": float(pr[j]), "recall": float(rc[j]), "f1": float(f[j]),
                              "support": int(s[j])} for j, lab in enumerate(labels)}
    out["mean_labels_gold"] = float(y.sum(1).mean())
    out["mean_labels_pred"] = float(p.sum(1).mean())
    return out


THRESHOLD_GRID = tuple(round(x, 2) for x in np.arange(0.05, 0.96, 0.05))


def tune_thresholds(probs: np.ndarray, y: np.ndarray, grid: Sequence[float] = THRESHOLD_GRID,
                    default: float = 0.5) -> list[float]:
    """Per-label decision thresholds: for each label the grid value that maximises its F1 on
    (``probs``, 0/1 ``y``), ties to the one nearest ``default``; a label with no positive in ``y``
    keeps ``default`` (its F1 cannot be measured there)."""
    from sklearn.metrics import f1_score

    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y)
    out = []
    for j in range(probs.shape[1]):
        if y[:, j].sum() == 0:
            out.append(float(default))
            continue
        best = max(grid, key=lambda t: (f1_score(y[:, j], probs[:, j] >= t, zero_division=0), -abs(t - default)))
        out.append(float(best))
    return out


def apply_thresholds(probs: np.ndarray, labels: Sequence[str], thresholds: Sequence[float] | None = None) -> list[tuple]:
    """The label set of each row: the labels whose probability is >= their threshold (default 0.5)."""
    probs = np.asarray(probs, dtype=np.float64)
    t = np.full(probs.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return [tuple(lab for lab, on in zip(labels, row) if on) for row in probs >= t]
