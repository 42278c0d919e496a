"""Temperature scaling of the exported student (Guo et al. 2017, "On Calibration of Modern Neural
Networks"): one scalar T > 0 so that ``softmax(logits / T)`` means what it says. Fitted on gold
labels by minimising the negative log-likelihood; T does not change any prediction, only the
confidence the runtime reports and the cascade's deferral threshold reads.

The ECE after scaling is reported cross-fitted (T fitted on one half of the gold texts, measured
on the other, both ways), so the figure is not flattered by fitting and measuring on the same
texts; the T stored in the bundle is then fitted on all of them.
"""

from __future__ import annotations

import math

import numpy as np

from distill.evaluation.metrics import expected_calibration_error

T_MIN, T_MAX = 0.05, 20.0


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def nll(logits: np.ndarray, gold: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the gold classes under ``softmax(logits / temperature)``."""
    lp = _log_softmax(np.asarray(logits, dtype=np.float64) / temperature)
    return float(-lp[np.arange(len(gold)), gold].mean())


def fit_temperature(logits: np.ndarray, gold: np.ndarray, iters: int = 80) -> float:
    """The T in [0.05, 20] that minimises the NLL (golden-section search on log T; the NLL is
    unimodal in log T for a fixed set of logits)."""
    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    if len(gold) == 0:
        raise ValueError("no gold labels to fit a temperature on")
    lo, hi = math.log(T_MIN), math.log(T_MAX)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(logits, gold, math.exp(a)), nll(logits, gold, math.exp(b))
    for _ in range(iters):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(logits, gold, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(logits, gold, math.exp(b))
    return float(math.exp((lo + hi) / 2))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    return np.exp(_log_softmax(np.asarray(logits, dtype=np.float64) / temperature))


def _ece(logits: np.ndarray, gold: np.ndarray, temperature: float) -> float:
    p = softmax(logits, temperature)
    return expected_calibration_error(p, p.argmax(1) == gold)


def calibrate(logits: np.ndarray, gold: np.ndarray, seed: int = 0) -> dict:
    """Fit T on all gold texts; ECE/NLL before, after in-sample, and after cross-fitted (2 folds)."""
    logits = np.asarray(logits, dtype=np.float64)
    gold = np.asarray(gold, dtype=np.int64)
    t = fit_temperature(logits, gold)
    out = {"method": "temperature scaling (NLL)", "temperature": round(t, 6), "n": int(len(gold)),
           "ece_before": _ece(logits, gold, 1.0), "ece_after_in_sample": _ece(logits, gold, t),
           "nll_before": nll(logits, gold, 1.0), "nll_after": nll(logits, gold, t)}
    if len(gold) >= 40:
        order = np.random.default_rng(seed).permutation(len(gold))
        halves = (order[: len(order) // 2], order[len(order) // 2:])
        conf, correct = [], []
        for fit_idx, eval_idx in (halves, halves[::-1]):
            p = softmax(logits[eval_idx], fit_temperature(logits[fit_idx], gold[fit_idx]))
            conf.append(p.max(1))
            correct.append(p.argmax(1) == gold[eval_idx])
        out["ece_after"] = expected_calibration_error(np.concatenate(conf), np.concatenate(correct))
        out["ece_after_method"] = "2-fold cross-fitted"
    else:  # too few texts to split: the in-sample figure, said as such
        out["ece_after"] = out["ece_after_in_sample"]
        out["ece_after_method"] = "in-sample (fewer than 40 gold texts)"
    return out
