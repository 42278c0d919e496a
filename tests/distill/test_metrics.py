"""distill.evaluation.metrics / distill.evaluation.plots against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from distill.evaluation.metrics import agreement, classification_metrics, expected_calibration_error
from distill.evaluation.plots import plot_bars, plot_confusion

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_classification_metrics_by_hand():
    labels = ["neg", "pos", "neu"]
    gold = ["neg", "neg", "pos", "pos", "pos", "neu"]
    pred = ["neg", "pos", "pos", "pos", "neg", "neg"]
    m = classification_metrics(gold, pred, labels)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(3 / 6)
    # rows = gold, columns = pred, in label order
    assert m["confusion"] == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    # neg: tp=1 fp=2 fn=1 -> P=1/3 R=1/2 ; pos: tp=2 fp=1 fn=1 -> P=2/3 R=2/3 ; neu: 0
    assert m["per_class"]["neg"]["precision"] == pytest.approx(1 / 3)
    assert m["per_class"]["neg"]["recall"] == pytest.approx(1 / 2)
    assert m["per_class"]["pos"]["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["neu"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    f1_neg = 2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    assert m["macro_f1"] == pytest.approx((f1_neg + 2 / 3 + 0) / 3)
    assert "ece" not in m


def test_abstention_counts_as_wrong_and_stays_out_of_confusion():
    m = classification_metrics(["a", "b", "b"], ["a", None, "b"], ["a", "b"])
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion"] == [[1, 0], [0, 1]]
    assert m["per_class"]["b"]["recall"] == pytest.approx(0.5)


def test_ece_by_hand():
    # 15 bins of width 1/15. Confidences 0.9, 0.9 (one right) share bin (0.867, 0.933]: |0.5 - 0.9|;
    # 0.7 (right) is alone in (0.667, 0.733]: |1 - 0.7|; 0.55 (wrong) alone in (0.533, 0.6]: |0 - 0.55|
    probs = np.array([[0.9, 0.1], [0.1, 0.9], [0.7, 0.3], [0.45, 0.55]])
    correct = [True, False, True, False]
    expected = 2 / 4 * 0.4 + 1 / 4 * 0.3 + 1 / 4 * 0.55
    assert expected_calibration_error(probs, correct) == pytest.approx(expected)
    m = classification_metrics(["a", "a", "a", "a"], ["a", "b", "a", "b"], ["a", "b"], probs=probs)
    assert m["ece"] == pytest.approx(expected)
    # perfectly calibrated: confidence 1.0 and always right
    assert expected_calibration_error(np.array([[1.0, 0.0]] * 3), [True] * 3) == pytest.approx(0.0)
    # two confidences in one bin are averaged before the difference is taken
    both = expected_calibration_error(np.array([[0.6, 0.4], [0.55, 0.45]]), [True, False])
    assert both == pytest.approx(abs(0.5 - 0.575))


def test_metrics_reject_mismatched_inputs():
    with pytest.raises(ValueError):
        classification_metrics(["a"], ["a", "b"], ["a", "b"])
    with pytest.raises(ValueError):
        classification_metrics(["a", "b"], ["a", "b"], ["a", "b"], probs=np.ones((2, 3)) / 3)


def test_agreement():
    assert agreement(["a", "b", "c", "a"], ["a", "b", "a", "b"]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        agreement(["a"], [])


def test_plots_write_png(tmp_path):
    plot_confusion([[5, 1], [2, 7]], ["neg", "pos"], tmp_path / "c.png", "confusion")
    plot_bars({"teacher": 0.8, "student": 0.85, "tfidf": 0.7}, tmp_path / "sub" / "b.png", "acc", "accuracy")
    plot_bars({"a": 10.0, "b": 1000.0}, tmp_path / "log.png", "speed", "texts/s", log=True)
    for name in ("c.png", "sub/b.png", "log.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert not [p for p in tmp_path.rglob("*.tmp")]  # atomic writes leave no temp files
