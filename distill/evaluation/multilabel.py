"""The gold evaluation of a multi-label run (``task: multilabel``): student vs teacher vs a TF-IDF
peer (one-vs-rest logistic regression on the teacher's label sets), each scored with
``multilabel_metrics`` (micro-F1, macro-F1, subset accuracy, per-label F1), written as
RUN_DIR/metrics.json and report.md. ``distill.evaluation.evaluate.evaluate_run`` calls it for a
student trained with the multilabel kind.

The student's label set uses the per-label thresholds tuned at training (``distill_thresholds`` in
its config.json); the teacher's and the peer's put a label on at p >= 0.5. The teacher's answers on
the gold texts come, as in the single-label evaluation, from ``--teacher-labels``, the run's cache
(RUN_DIR/gold_teacher) or a re-run of teacher.json (every yes/no question of every gold text)."""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

import numpy as np

from core.atomic import write_json, write_jsonl, write_text
from core.errors import UserError
from core.rundir import LABELS_FILE, TEACHER_FILE
from distill.defaults import MAX_POSITIONS
from distill.evaluation.metrics import apply_thresholds, multilabel_metrics
from distill.evaluation.report import SYSTEMS
from distill.tasks import get_task


def peer_fit(texts: list[str], targets: np.ndarray, seed: int = 0):
    """TF-IDF (word 1-2 grams) + one-vs-rest logistic regression on 0/1 targets per label."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    from distill.evaluation.evaluate import LR_PARAMS, TFIDF_PARAMS

    pipe = make_pipeline(TfidfVectorizer(**TFIDF_PARAMS),
                         OneVsRestClassifier(LogisticRegression(random_state=seed, **LR_PARAMS)))
    import warnings

    with warnings.catch_warnings():  # a label no row has is learnt as "never": sklearn warns, that is fine
        warnings.simplefilter("ignore")
        pipe.fit(texts, targets)
    return pipe


def _student(student_dir: Path, names: list[str], texts: list[str], batch_size: int, progress: bool):
    from distill.tasks.multilabel import THRESHOLDS_KEY
    from distill.training.modeling import load_trained_student, predict_proba

    model, tok = load_trained_student(student_dir)
    model_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if model_names != names:
        raise UserError(f"the student's labels ({', '.join(model_names)}) differ from the run's label set")
    thresholds = getattr(model.config, THRESHOLDS_KEY, None) or [0.5] * len(names)
    max_len = int(min(getattr(tok, "model_max_length", 128) or 128, MAX_POSITIONS))
    t0 = time.perf_counter()
    probs = predict_proba(model, tok, texts, max_length=max_len, batch_size=batch_size, progress=progress,
                          desc="student on gold")
    seconds = time.perf_counter() - t0
    info = {"texts_per_second": len(texts) / max(seconds, 1e-9),
            "parameters": int(sum(p.numel() for p in model.parameters())), "thresholds": list(thresholds)}
    return apply_thresholds(probs, names, thresholds), probs, info


def _teacher_rows(path: Path, texts: list[str], names: list[str]) -> np.ndarray:
    """Per-label probabilities of ``texts`` from a labels.jsonl (matched by text)."""
    from core.pairs import row_text

    by_text = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            by_text[" ".join(str(row_text(row)).split())] = np.array([float(row["probs"][n]) for n in names])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{path.name}: line {lineno} is not a multi-label teacher row (probs for "
                            f"{', '.join(names[:3])}, ...)") from None
    missing = [t for t in texts if " ".join(t.split()) not in by_text]
    if missing:
        raise UserError(f"teacher labels file {path} lacks {len(missing)} of the {len(texts)} gold texts")
    return np.stack([by_text[" ".join(t.split())] for t in texts])


def _teacher(run_dir: Path, ls, texts: list[str], gold_path: Path, teacher_labels, progress: bool):
    """(per-label probabilities, source) of the teacher on the gold texts, or None."""
    from distill.evaluation.evaluate import _teacher_cache, _teacher_json, teacher_from_run

    names = ls.names
    if teacher_labels is not None:
        if not Path(teacher_labels).is_file():
            raise UserError(f"teacher labels file {teacher_labels} not found")
        return _teacher_rows(Path(teacher_labels), texts, names), f"labels file {teacher_labels}"
    tj = _teacher_json(run_dir) or run_dir / TEACHER_FILE
    cache = _teacher_cache(run_dir, gold_path, tj, None, None, len(texts))
    if cache.is_file():
        return _teacher_rows(cache, texts, names), f"cached teacher predictions {cache.name}"
    teacher = teacher_from_run(run_dir, ls)
    if teacher is None:
        return None
    from distill.teachers.prompts import BinaryCalibrator

    kind = get_task("multilabel")
    cal = (json.loads(tj.read_text(encoding="utf-8")).get("calibration") or {}) if tj.is_file() else {}
    calib = BinaryCalibrator(cal.get("method") or "none",
                             None if cal.get("reference") is None else np.asarray(cal["reference"], dtype=np.float64))
    from core.progress import progress_bar

    out = []
    try:
        with progress_bar(len(texts), "teacher on gold", enabled=progress) as bar:
            for t in texts:
                out.append(calib.apply(kind.combine(teacher.score(kind.questions(t, ls))).probs))
                bar.update(1)
    finally:
        teacher.close()
    probs = np.stack(out)
    write_jsonl(cache, ({"text": t, "probs": dict(zip(names, map(float, p))),
                         "labels": [n for n, x in zip(names, p) if x >= 0.5]} for t, p in zip(texts, probs)))
    return probs, "teacher re-run from teacher.json"


def _peer(run_dir: Path, train_info: dict, ls, texts: list[str]):
    from distill.training.labels import read_labels

    labels_file = Path(train_info.get("labels_file") or run_dir / LABELS_FILE)
    if not labels_file.is_file():
        return None
    rows = read_labels(labels_file, labelset=ls)
    y = (rows.probs >= 0.5).astype(int)
    if y.sum() == 0 or y.sum(0).max() == len(y):
        return None
    t0 = time.perf_counter()
    pipe = peer_fit(rows.texts, y)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    probs = np.asarray(pipe.predict_proba(texts), dtype=np.float64)
    seconds = time.perf_counter() - t0
    info = {"texts_per_second": len(texts) / max(seconds, 1e-9), "size_mb": len(pickle.dumps(pipe)) / 1e6,
            "fit_seconds": fit_s, "trained_on": int(len(rows.texts))}
    return apply_thresholds(probs, ls.names), probs, info


def evaluate_multilabel_run(run_dir: str | os.PathLike, gold: str | os.PathLike, text_column: str | None = None,
                            label_column: str | None = None, teacher_labels=None, progress: bool = True,
                            batch_size: int = 64, limit: int | None = None) -> dict:
    from distill.data.reader import load_texts
    from distill.evaluation.evaluate import _optional, load_run_labelset

    run_dir = Path(run_dir)
    ls = load_run_labelset(run_dir)
    names = ls.names
    kind = get_task("multilabel")
    gold_path = Path(gold)
    ds = load_texts(gold_path, text_column=text_column, label_column=label_column, labelset=ls, limit=limit,
                    **kind.reader_options(ls))
    if ds.gold is None:
        raise UserError(f"gold file {gold_path} has no gold label column; pass --label-column")
    texts, y = ds.texts, ds.gold
    systems, preds = {}, {}
    preds["student"], _, systems["student"] = _student(run_dir / "student", names, texts, batch_size, progress)
    teacher = _teacher(run_dir, ls, texts, gold_path, teacher_labels, progress)
    teacher_source = None
    if teacher is not None:
        probs, teacher_source = teacher
        preds["teacher"], systems["teacher"] = apply_thresholds(probs, names), {}
    train_info = _optional(run_dir / "train.json") or {}
    peer = _peer(run_dir, train_info, ls, texts)
    if peer is not None:
        preds["tfidf_lr"], _, systems["tfidf_lr"] = peer
    for name in list(systems):
        systems[name] = {**kind.metrics(y, preds[name], names), **systems[name]}
        if "teacher" in preds:
            systems[name]["agreement_with_teacher"] = float(np.mean([set(a) == set(b) for a, b in
                                                                     zip(preds[name], preds["teacher"])]))
    if "teacher" in systems and systems["teacher"]["micro_f1"]:
        for s in systems.values():
            s["retention"] = s["micro_f1"] / systems["teacher"]["micro_f1"]
    systems = {s: systems[s] for s in SYSTEMS if s in systems}
    ev = {"run_dir": str(run_dir), "gold_file": str(gold_path), "n": len(y), "labels": names, "task": kind.name,
          "main_metric": "micro_f1",
          "gold_distribution": {n: int(sum(1 for g in y if n in g)) for n in names},
          "teacher_source": teacher_source, "systems": systems, "figures": []}
    write_json(run_dir / "metrics.json", ev)
    write_text(run_dir / "report.md", report(ev))
    return ev


def report(ev: dict) -> str:
    """report.md of a multi-label evaluation."""
    systems = ev["systems"]
    lines = [f"# Evaluation on {ev['gold_file']} (multi-label, n={ev['n']})", "",
             f"teacher: {ev.get('teacher_source') or 'not available'}; the student's labels use its tuned "
             f"per-label thresholds, the teacher's and the peer's p >= 0.5.", "",
             "| system | micro-F1 | macro-F1 | subset accuracy | micro precision | micro recall | labels/text |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in systems.items():
        lines.append(f"| {name} | {m['micro_f1']:.3f} | {m['macro_f1']:.3f} | {m['subset_accuracy']:.1%} | "
                     f"{m['micro_precision']:.3f} | {m['micro_recall']:.3f} | {m['mean_labels_pred']:.2f} |")
    lines += ["", "## Per-label F1", "", "| label | support | " + " | ".join(systems) + " |",
              "|---|---:|" + "---:|" * len(systems)]
    for lab in ev["labels"]:
        sup = next(iter(systems.values()))["per_class"][lab]["support"] if systems else 0
        lines.append(f"| {lab} | {sup} | " + " | ".join(f"{m['per_class'][lab]['f1']:.3f}" for m in systems.values())
                     + " |")
    return "\n".join(lines) + "\n"
