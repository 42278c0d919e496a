"""The teacher quality gate: measured before the pool is labelled, so a teacher that cannot do
the task stops the run instead of teaching a student noise.

With gold labels (``--gold FILE``, ``gold:`` in a run config, or the gold column of the input):
the teacher's accuracy and macro-F1 on up to ``size`` gold texts with a bootstrap 95% interval,
against two trivial baselines -- always the majority class, and guessing uniformly at random
(chance). It passes when the interval's lower bound of macro-F1 is above both baselines'
macro-F1 and the lower bound of accuracy is above chance (1/k) -- "clearly above chance"
-- and, when ``min_accuracy`` is set, the accuracy reaches it.

Without gold labels: on a seeded sample of the pool, the label distribution (a teacher that
puts nearly every text in one class has collapsed), the mean confidence, and the agreement of
two prompts (Cohen's kappa between the configured template and a second one, with a bootstrap
interval): a teacher whose answers do not depend on the text agrees with itself no better than
chance. It passes when neither collapse nor chance-level agreement is seen.

Fewer than ``MIN_TEXTS`` texts cannot tell: the gate then reports its figures and lets the run
go on. Every figure goes to ``teacher_gate.json`` and the teacher report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_TEXTS = 30
COLLAPSE_SHARE = 0.95
ADVICE = ("try a larger teacher (--teacher qwen2.5-1.5b), label descriptions (--template described), "
          "or shots (--shots 4 --shots-file FILE); --accept-weak-teacher to go on anyway")


@dataclass
class GateConfig:
    enabled: bool = True
    accept_weak: bool = False
    size: int = 200
    min_accuracy: float | None = None
    n_boot: int = 1000
    seed: int = 0


def _boot(fn, n: int, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = [fn(rng.integers(0, n, n)) for _ in range(n_boot)]
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def gold_gate(gold: list[str], pred: list[str | None], names: list[str], cfg: GateConfig) -> dict:
    """Figures and verdict against gold labels (``pred`` None = abstained, counted wrong)."""
    from sklearn.metrics import f1_score

    n, k = len(gold), len(names)
    present = [c for c in names if c in set(gold)]
    code = {c: i for i, c in enumerate(names)}
    gi = np.array([code[x] for x in gold])
    pi = np.array([code.get(x, k) if x is not None else k for x in pred])  # k: abstained
    cls = np.array([code[c] for c in present])
    g = np.array(gold, dtype=object)
    p = np.array([x if x is not None else "<abstained>" for x in pred], dtype=object)

    def acc(idx):
        return float(np.mean(gi[idx] == pi[idx]))

    def mf1(idx):
        # macro-F1 over the classes present in the full gold sample (sklearn's definition with
        # labels=present, zero_division=0), from counts: the bootstrap calls it a thousand times
        gs, ps = gi[idx], pi[idx]
        tp = np.bincount(gs[gs == ps], minlength=k + 1)[cls]
        pc = np.bincount(ps, minlength=k + 1)[cls]
        gc = np.bincount(gs, minlength=k + 1)[cls]
        den = pc + gc
        return float(np.mean(np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), 0.0)))

    shares = {c: float(np.mean(g == c)) for c in present}
    majority = max(shares, key=shares.get)
    maj_f1 = float(f1_score(g, np.array([majority] * n, dtype=object), labels=present, average="macro", zero_division=0))
    # expected macro-F1 of a uniform random guess over the k labels: precision = share, recall = 1/k
    rand_f1 = float(np.mean([2 * s / k / (s + 1 / k) for s in shares.values()]))
    rep = {
        "mode": "gold", "n": n, "labels": k,
        "accuracy": acc(np.arange(n)),
        "macro_f1": float(f1_score(g, p, labels=present, average="macro", zero_division=0)),
        "chance_accuracy": 1 / k, "majority_class": majority, "majority_accuracy": shares[majority],
        "chance_macro_f1": rand_f1, "majority_macro_f1": maj_f1,
        "abstained": int(sum(x is None for x in pred)),
    }
    if n >= MIN_TEXTS:
        rep["accuracy_ci"] = _boot(acc, n, cfg.n_boot, cfg.seed)
        rep["macro_f1_ci"] = _boot(mf1, n, cfg.n_boot, cfg.seed)
    return _verdict_gold(rep, cfg)


def _verdict_gold(rep: dict, cfg: GateConfig) -> dict:
    if "accuracy_ci" not in rep:
        rep.update(passed=None, reason=f"only {rep['n']} gold texts (< {MIN_TEXTS}): too few to judge")
        return rep
    base_f1 = max(rep["chance_macro_f1"], rep["majority_macro_f1"])
    (alo, ahi), (flo, fhi) = rep["accuracy_ci"], rep["macro_f1_ci"]
    fails = []
    if not flo > base_f1:
        fails.append(f"macro-F1 {rep['macro_f1']:.3f} [95% CI {flo:.3f}-{fhi:.3f}] is not above the baseline "
                     f"{base_f1:.3f} (majority class / chance)")
    if not alo > rep["chance_accuracy"]:
        fails.append(f"accuracy {rep['accuracy']:.3f} [95% CI {alo:.3f}-{ahi:.3f}] is not above chance "
                     f"{rep['chance_accuracy']:.3f}")
    if cfg.min_accuracy is not None and rep["accuracy"] < cfg.min_accuracy:
        fails.append(f"accuracy {rep['accuracy']:.3f} is below the required {cfg.min_accuracy:.3f}")
    rep["passed"] = not fails
    rep["reason"] = ("; ".join(fails) if fails else
                     f"accuracy {rep['accuracy']:.3f} [95% CI {alo:.3f}-{ahi:.3f}], macro-F1 {rep['macro_f1']:.3f} "
                     f"[{flo:.3f}-{fhi:.3f}] vs majority {rep['majority_accuracy']:.3f} / chance {rep['chance_accuracy']:.3f}")
    return rep


def cohen_kappa(a: np.ndarray, b: np.ndarray, k: int) -> float:
    n = len(a)
    if n == 0:
        return 0.0
    po = float(np.mean(a == b))
    pa = np.bincount(a, minlength=k) / n
    pb = np.bincount(b, minlength=k) / n
    pe = float(np.sum(pa * pb))
    return 0.0 if pe >= 1 else (po - pe) / (1 - pe)


def nogold_gate(probs: np.ndarray, probs2: np.ndarray | None, names: list[str], cfg: GateConfig,
                second_template: str | None = None) -> dict:
    """Figures and verdict without gold: distribution, mean confidence, two-prompt agreement."""
    n, k = probs.shape
    pred = probs.argmax(1)
    counts = np.bincount(pred, minlength=k)
    top = int(counts.argmax())
    rep = {
        "mode": "no-gold", "n": n, "labels": k,
        "label_distribution": {names[i]: int(counts[i]) for i in range(k)},
        "top_share": float(counts[top] / n) if n else 0.0,
        "mean_confidence": float(probs.max(1).mean()) if n else 0.0,
        "chance_confidence": 1 / k,
    }
    if probs2 is not None:
        pred2 = probs2.argmax(1)
        rep["second_template"] = second_template
        rep["agreement"] = float(np.mean(pred == pred2))
        rep["kappa"] = cohen_kappa(pred, pred2, k)
        if n >= MIN_TEXTS:
            rep["kappa_ci"] = _boot(lambda idx: cohen_kappa(pred[idx], pred2[idx], k), n, cfg.n_boot, cfg.seed)
    if n < MIN_TEXTS:
        rep.update(passed=None, reason=f"only {n} texts sampled (< {MIN_TEXTS}): too few to judge")
        return rep
    fails = []
    if rep["top_share"] >= COLLAPSE_SHARE:
        fails.append(f"{rep['top_share']:.0%} of {n} sampled texts get the label {names[top]!r} (collapse to one class)")
    if "kappa_ci" in rep and not rep["kappa_ci"][0] > 0:
        fails.append(f"two prompts agree on {rep['agreement']:.0%} of the texts, Cohen's kappa {rep['kappa']:.2f} "
                     f"[95% CI {rep['kappa_ci'][0]:.2f}-{rep['kappa_ci'][1]:.2f}]: no better than chance")
    rep["passed"] = not fails
    rep["reason"] = ("; ".join(fails) if fails else
                     f"no collapse (top class {rep['top_share']:.0%}), mean confidence {rep['mean_confidence']:.2f}"
                     + (f", two prompts agree {rep['agreement']:.0%} (kappa {rep['kappa']:.2f})" if "kappa" in rep else ""))
    return rep


def message(rep: dict) -> str:
    """The one-line error for a failed gate."""
    what = "on gold texts" if rep["mode"] == "gold" else "without gold labels"
    return f"the teacher looks unable to do this task ({what}, n={rep['n']}): {rep['reason']}; {ADVICE}"


def second_template(first: str) -> str:
    """The other prompt of the no-gold agreement check: same label words, different wording."""
    chat = first.startswith("chat")
    if chat:
        return "chat-described" if first != "chat-described" else "chat"
    return "question" if first != "question" else "field"
