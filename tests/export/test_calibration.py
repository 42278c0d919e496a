"""Temperature scaling (export/calibration.py): it recovers a known temperature, lowers the ECE of
an over-confident model, never changes a prediction, and its cross-fitted ECE is not in-sample."""

from __future__ import annotations

import numpy as np
import pytest

from export import calibration as C


def _overconfident(n=4000, k=3, true_t=1.0, scale=3.0, seed=0):
    """Logits whose labels are drawn from softmax(z / true_t), reported as z * scale."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, size=(n, k))
    p = C.softmax(z, true_t)
    gold = np.array([rng.choice(k, p=row) for row in p])
    return z * scale, gold


def test_fit_recovers_the_temperature():
    logits, gold = _overconfident(scale=3.0)
    t = C.fit_temperature(logits, gold)
    assert t == pytest.approx(3.0, rel=0.12)
    assert C.nll(logits, gold, t) < C.nll(logits, gold, 1.0)


def test_calibrate_lowers_ece_and_keeps_predictions():
    logits, gold = _overconfident(scale=4.0, seed=1)
    rep = C.calibrate(logits, gold)
    assert rep["ece_before"] > 0.1
    assert rep["ece_after"] < rep["ece_before"] / 3
    assert rep["ece_after_method"] == "2-fold cross-fitted"
    assert (C.softmax(logits, rep["temperature"]).argmax(1) == logits.argmax(1)).all()


def test_well_calibrated_model_keeps_t_near_one():
    logits, gold = _overconfident(scale=1.0, seed=2)
    assert C.fit_temperature(logits, gold) == pytest.approx(1.0, abs=0.15)


def test_small_sets_say_in_sample_and_empty_is_an_error():
    logits, gold = _overconfident(n=20, seed=3)
    assert C.calibrate(logits, gold)["ece_after_method"].startswith("in-sample")
    with pytest.raises(ValueError):
        C.fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=int))
