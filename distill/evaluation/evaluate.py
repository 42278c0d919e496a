"""Three-way evaluation on a gold set: student vs teacher vs a cheap peer (TF-IDF + logistic
regression trained on the same teacher labels), written as RUN_DIR/metrics.json + report.md + PNGs.

The teacher's predictions on the gold texts come from (in this order):
  1. ``teacher_labels``: a labels.jsonl made by ``advisor distill label`` on the gold file (it may
     carry ``gold``); rows are matched to the gold texts by text;
  2. the cache RUN_DIR/gold_teacher/<key>.jsonl of an earlier evaluate run (key = gold file hash +
     teacher.json hash);
  3. the teacher recorded in RUN_DIR/teacher.json, rebuilt with ``distill.teachers.load_teacher``
     and re-run on the gold texts (same model, prompt, shots and calibration as the training labels).
Without any of them the report has no teacher column (retention/agreement are then n/a).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np

from core.atomic import write_json, write_jsonl, write_text
from core.errors import UserError
from core.pairs import row_fields, row_text
from core.hashing import sha256_file
from core.rundir import LABELS_FILE, LABELSET_FILE, TEACHER_FILE
from distill.defaults import MAX_POSITIONS
from distill.evaluation.metrics import agreement, apply_thresholds
from distill.evaluation.report import SYSTEMS
from distill.teachers.http import DEFAULT_API_KEY_ENV
from distill.tasks import get_task, student_task

TFIDF_PARAMS = {"ngram_range": (1, 2), "min_df": 1, "sublinear_tf": True, "max_features": 200_000}
LR_PARAMS = {"C": 10.0, "max_iter": 2000}



def _required(path: Path):
    """A run file the evaluation needs: a one-line error when missing or damaged."""
    from core.yamlfile import read_json

    return read_json(path, "run file")


def _optional(path: Path):
    """A run file that adds detail: None when missing; damaged -> reported and ignored."""
    from core.rundir import read_state

    data = read_state(path, "run file")
    return data if isinstance(data, dict) else None

def load_run_labelset(run_dir: Path):
    from distill.data.labelset import LabelSet

    for p in (run_dir / LABELSET_FILE, run_dir / "student" / LABELSET_FILE):
        if p.is_file():
            return LabelSet.from_dict(_required(p), source=str(p))
    cfg = run_dir / "student" / "config.json"
    if cfg.is_file():
        id2label = _required(cfg).get("id2label") or {}
        names = [id2label[k] for k in sorted(id2label, key=int)]
        if len(names) >= 2:
            return LabelSet.from_spec(",".join(names))
    raise UserError(f"{run_dir} has no labelset.json and no trained student; is it a run directory?")


def tfidf_peer(train_texts: list[str], train_labels: list[int], k: int, seed: int = 0):
    """TF-IDF (word 1-2 grams) + multinomial logistic regression, fitted on the teacher's labels."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(**TFIDF_PARAMS), LogisticRegression(random_state=seed, **LR_PARAMS))
    pipe.fit(train_texts, train_labels)
    return pipe


def _peer_proba(pipe, texts: list[str], k: int) -> np.ndarray:
    p = pipe.predict_proba(texts)
    out = np.zeros((len(texts), k))
    out[:, pipe.classes_] = p  # classes the teacher never predicted get probability 0
    return out


def _teacher_from_labels_file(path: Path, texts: list[str], names: list[str]) -> tuple[np.ndarray, list]:
    """(probs, preds) for ``texts`` from a teacher labels.jsonl (matched by text)."""
    if not path.is_file():
        raise UserError(f"teacher labels file {path} not found")
    by_text: dict[str, tuple[np.ndarray, str | None]] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            p = row["probs"]
            if set(p) != set(names):
                raise UserError(f"{path.name}: line {lineno} has labels ({', '.join(p)}) that do not match "
                                f"the run's label set ({', '.join(names)})")
            vec = np.array([float(p[n]) for n in names])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UserError(f"{path.name}: line {lineno} is not a teacher label row") from None
        label = None if row.get("source") == "abstained" else row.get("label")
        by_text[" ".join(str(row_text(row) or "").split())] = (vec / max(vec.sum(), 1e-12), label)
    probs, preds, missing = [], [], 0
    for t in texts:
        hit = by_text.get(" ".join(t.split()))
        if hit is None:
            missing += 1
            continue
        probs.append(hit[0])
        preds.append(hit[1])
    if missing:
        raise UserError(f"teacher labels file {path} lacks {missing} of the {len(texts)} gold texts; "
                        f"label the gold file itself with `advisor distill label`")
    return np.stack(probs), preds


def _teacher_json(run_dir: Path) -> Path | None:
    """RUN_DIR/teacher.json, else the one beside the labels file the student was trained on."""
    if (run_dir / TEACHER_FILE).is_file():
        return run_dir / TEACHER_FILE
    tj = run_dir / "train.json"
    if tj.is_file():
        lf = (_optional(tj) or {}).get("labels_file")
        if lf and (Path(lf).parent / TEACHER_FILE).is_file():
            return Path(lf).parent / TEACHER_FILE
    return None


def teacher_from_run(run_dir: Path, labelset):
    """Rebuild the run's teacher from RUN_DIR/teacher.json with the contract API
    ``distill.teachers.load_teacher(spec, labelset, **options)``: same model, prompt template,
    shots and fitted calibration as the labels the student learned from. None if impossible."""
    info_path = _teacher_json(run_dir)
    if info_path is None:
        return None
    meta = _required(info_path)
    t = meta.get("teacher") or {}
    prompt = meta.get("prompt") or {}
    from distill.teachers.prompts import Calibrator, Shot
    from distill.teachers import load_teacher

    options: dict = {"template": meta.get("template") or prompt.get("template"),
                     "shots": tuple(Shot(str(a), str(b)) for a, b in prompt.get("shots") or ()),
                     "language": prompt.get("language")}
    # the recorded batch size, else the backend's own default
    batch = {"batch_size": int(t["batch_size"])} if t.get("batch_size") else {}
    if t.get("kind") == "classifier":  # a trained student (two-stage distillation)
        spec = t.get("model")
        options = batch
        if not spec or not Path(spec).exists():
            return None
    elif t.get("kind") == "local":
        spec = t.get("model")
        options.update(dtype=t.get("dtype") or "auto", trust_remote_code=bool(t.get("trust_remote_code")), **batch)
        if not spec or not Path(spec).exists():
            return None
    elif t.get("kind") == "llama-cpp":
        spec = t.get("model")
        options.update(backend="llama-cpp", **batch)
        if not spec or not Path(spec).exists():
            return None
    elif t.get("base_url"):
        spec = t["base_url"]
        if "***" in spec:  # the URL's credentials were redacted when teacher.json was written
            raise UserError(f"the teacher URL in {info_path} had credentials, which are never stored; pass "
                            f"--teacher-labels (the teacher's labels of the gold file) or give the server key "
                            f"through ${t.get('api_key_env') or DEFAULT_API_KEY_ENV} instead of the URL")
        options.update({k: t[k] for k in ("server_model", "api_key_env", "concurrency", "timeout", "max_retries")
                        if t.get(k) is not None})
    else:
        return None
    teacher = load_teacher(spec, labelset, **options)
    kind = get_task(meta.get("task"))
    if kind.name != "classification" and teacher.kind != "classifier":  # the kind's prompt (e.g. both texts of a pair)
        teacher.set_prompt(kind.prompt(labelset, teacher.prompt.template, shots=teacher.prompt.shots,
                                       language=prompt.get("language") or "en"))
    cal = meta.get("calibration") or {}
    if cal.get("method") and cal.get("method") != "none" and cal.get("reference") is not None:
        teacher.calibrator = Calibrator(cal["method"], np.asarray(cal["reference"], dtype=np.float64),
                                        list(cal.get("inputs") or []))
    if teacher.fingerprint != meta.get("fingerprint"):
        raise UserError(f"the teacher in {info_path} changed since labelling (fingerprint "
                        f"{meta.get('fingerprint')} -> {teacher.fingerprint}); pass --teacher-labels")
    return teacher


def _run_teacher(run_dir: Path, labelset, texts: list[str], progress: bool, chunk: int = 64):
    """(probs, preds, seconds) of the run's teacher on ``texts``, or None without teacher.json."""
    from tqdm.auto import tqdm

    teacher = teacher_from_run(run_dir, labelset)
    if teacher is None:
        return None
    names = labelset.names
    t0 = time.perf_counter()
    parts = []
    try:
        for i in tqdm(range(0, len(texts), chunk), desc="teacher on gold", unit="batch", disable=not progress):
            scored = teacher.score(texts[i:i + chunk])
            for r in scored:
                p = np.asarray(r.probs, dtype=np.float64)
                if r.source == "scored":
                    p = teacher.calibrator.apply(p)
                parts.append((p, None if r.source == "abstained" else names[int(np.argmax(p))]))
    finally:
        teacher.close()
    dt = time.perf_counter() - t0
    return np.stack([p for p, _ in parts]), [lab for _, lab in parts], dt


def _dir_size_mb(path: Path, suffixes=(".safetensors", ".bin", ".onnx", ".gguf")) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.suffix in suffixes) / 1e6


def _per_second(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def _student_dir(run_dir: Path) -> Path:
    """RUN_DIR/student, checked: a one-line error for a missing run or an untrained one."""
    if not run_dir.is_dir():
        raise UserError(f"run directory {run_dir} not found")
    student_dir = run_dir / "student"
    if not (student_dir / "config.json").is_file():
        raise UserError(f"{run_dir} has no trained student (run `advisor distill train --out {run_dir}` first)")
    return student_dir


def _read_gold(gold_path: Path, labelset, text_column, label_column, limit,
               text_pair_column=None) -> tuple[list[str], list[str]]:
    """(texts, gold label names) of the gold file; it must have a gold label column."""
    from distill.data.reader import load_texts

    ds = load_texts(gold_path, text_column=text_column, label_column=label_column, labelset=labelset, limit=limit,
                    text_pair_column=text_pair_column)
    if ds.gold is None:
        raise UserError(f"gold file {gold_path} has no gold label column; pass --label-column")
    return ds.texts, ds.gold


def _score_student(student_dir: Path, names: list[str], texts: list[str], batch_size: int,
                   progress: bool) -> tuple[list[str], np.ndarray, dict]:
    """(predicted names, probabilities, speed/size) of the trained student on ``texts``."""
    from distill.training.modeling import load_trained_student, predict_proba

    model, tok = load_trained_student(student_dir)
    model_names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if model_names != names:
        raise UserError(f"the student's labels ({', '.join(model_names)}) differ from the run's label set "
                        f"({', '.join(names)})")
    max_len = int(min(getattr(tok, "model_max_length", 128) or 128, MAX_POSITIONS))
    t0 = time.perf_counter()
    probs = predict_proba(model, tok, texts, max_length=max_len, batch_size=batch_size, progress=progress,
                          desc="student on gold")
    seconds = time.perf_counter() - t0
    info = {"texts_per_second": _per_second(len(texts), seconds), "size_mb": _dir_size_mb(student_dir),
            "parameters": int(sum(p.numel() for p in model.parameters()))}
    return [names[i] for i in probs.argmax(1)], probs, info


def _teacher_cache(run_dir: Path, gold_path: Path, teacher_json: Path, text_column, label_column, limit,
                   text_pair_column=None) -> Path:
    """RUN_DIR/gold_teacher/<key>.jsonl: the key hashes the gold file, teacher.json and the reading options."""
    key = hashlib.sha256((sha256_file(gold_path) if gold_path.is_file() else str(gold_path)).encode()
                         + (teacher_json.read_bytes() if teacher_json.is_file() else b"")
                         + json.dumps([text_column, label_column, limit]
                                      + ([text_pair_column] if text_pair_column else [])).encode()).hexdigest()[:16]
    return run_dir / "gold_teacher" / f"{key}.jsonl"


def _teacher_predictions(run_dir: Path, labelset, texts: list[str], gold_path: Path, teacher_labels,
                         cache: Path, progress: bool):
    """(probs, preds, source, texts per second) of the teacher on the gold texts, from the first of
    --teacher-labels, the cache, a re-run of teacher.json (then cached); None without any of them."""
    names = labelset.names
    if teacher_labels is not None:
        probs, preds = _teacher_from_labels_file(Path(teacher_labels), texts, names)
        return probs, preds, f"labels file {teacher_labels}", None
    if cache.is_file():
        probs, preds = _teacher_from_labels_file(cache, texts, names)
        meta = _optional(cache.with_suffix(".json")) or {}
        return probs, preds, f"cached teacher predictions {cache.name}", meta.get("texts_per_second")
    res = _run_teacher(run_dir, labelset, texts, progress)
    if res is None:
        return None
    probs, preds, seconds = res
    speed = _per_second(len(texts), seconds)
    write_jsonl(cache, ({**row_fields(t), "probs": dict(zip(names, map(float, p))), "label": lab,
                         "source": "scored" if lab is not None else "abstained"}
                        for t, p, lab in zip(texts, probs, preds)))
    write_json(cache.with_suffix(".json"), {"gold_file": str(gold_path), "n": len(texts), "texts_per_second": speed})
    return probs, preds, "teacher re-run from teacher.json", speed


def _teacher_system(teacher_json: Path, own_teacher: bool, speed) -> dict:
    """Speed, size and kind of the teacher row. Size and kind describe the run's own teacher: not
    known for a --teacher-labels file (in two-stage distillation that file is the GPT's, the run's
    teacher a classifier)."""
    tinfo = (_optional(teacher_json) or {}) if own_teacher else {}
    size = None
    inner = tinfo.get("teacher") if isinstance(tinfo.get("teacher"), dict) else {}
    for k in ("model", "model_path", "path"):
        v = inner.get(k) or tinfo.get(k)
        if isinstance(v, str) and Path(v).exists():
            size = _dir_size_mb(Path(v))
            break
    return {"texts_per_second": speed, "size_mb": size, "kind": inner.get("kind")}


def _score_peer(run_dir: Path, train_info: dict, labelset, texts: list[str]):
    """(predicted names, probabilities, speed/size) of the TF-IDF peer fitted on the teacher labels
    the student was trained on; None without them or when they hold a single class."""
    from distill.training.labels import read_labels

    names = labelset.names
    labels_file = Path(train_info.get("labels_file") or run_dir / LABELS_FILE)
    rows = read_labels(labels_file, labelset=labelset) if labels_file.is_file() else None
    # a classifier needs two classes: a teacher that gave every text the same label leaves no peer
    if rows is None or len({x for x in rows.teacher if x is not None}) < 2:
        return None
    t0 = time.perf_counter()
    pipe = tfidf_peer(rows.texts, rows.teacher, len(names), seed=0)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    probs = _peer_proba(pipe, texts, len(names))
    seconds = time.perf_counter() - t0
    info = {"texts_per_second": _per_second(len(texts), seconds), "size_mb": len(pickle.dumps(pipe)) / 1e6,
            "fit_seconds": fit_s, "trained_on": int(len(rows.texts))}
    return [names[i] for i in probs.argmax(1)], probs, info


def _add_metrics(systems: dict, preds: dict, probs: dict, y: list[str], names: list[str], run_dir: Path,
                 kind) -> list[str]:
    """Gold metrics (and agreement/retention against the teacher) into ``systems``, one confusion
    plot per system; returns the figure file names. ``kind``: the student's task kind (its metrics)."""
    from distill.evaluation.plots import plot_confusion

    teacher_acc = None
    for name in SYSTEMS:
        if name not in preds:
            continue
        m = kind.metrics(y, preds[name], names, probs=probs[name])
        systems[name] = {**m, **systems[name]}
        if name == "teacher":
            teacher_acc = m["accuracy"]
    figures = []
    for name in systems:
        if "teacher" in preds:
            systems[name]["agreement_with_teacher"] = agreement(preds[name], preds["teacher"])
            systems[name]["retention"] = (systems[name]["accuracy"] / teacher_acc) if teacher_acc else None
        fig = f"confusion_{name}.png"
        plot_confusion(systems[name]["confusion"], names, run_dir / fig, f"{name} on gold (n={len(y)})")
        figures.append(fig)
    return figures


def evaluate_run(run_dir: str | os.PathLike, gold: str | os.PathLike, text_column: str | None = None,
                 label_column: str | None = None, teacher_labels: str | os.PathLike | None = None,
                 progress: bool = True, batch_size: int = 64, limit: int | None = None,
                 text_pair_column: str | None = None) -> dict:
    from distill.evaluation.plots import plot_bars
    from distill.evaluation.report import build_model_card, build_report

    run_dir = Path(run_dir)
    student_dir = _student_dir(run_dir)
    if student_task(student_dir) == "ner":  # spans, not one label per text: distill.evaluation.ner
        from distill.evaluation.ner import evaluate_ner

        return evaluate_ner(run_dir, gold, load_run_labelset(run_dir), limit=limit, teacher_labels=teacher_labels,
                            progress=progress)
    if get_task(student_task(student_dir)).multi_label:  # label sets, not one label: its own evaluation
        return evaluate_multilabel_run(run_dir, gold, text_column=text_column, label_column=label_column,
                                       teacher_labels=teacher_labels, progress=progress, batch_size=batch_size,
                                       limit=limit)
    ls = load_run_labelset(run_dir)
    names = ls.names
    gold_path = Path(gold)
    if student_task(student_dir) == "pairs" and not text_pair_column:  # both texts, or the student reads half a pair
        from distill.data.reader import pair_column_hint

        text_pair_column = pair_column_hint(ls)
        if text_pair_column is None:
            raise UserError(f"{run_dir} holds a sentence-pair student: name the gold file's second text column "
                            f"(--text-pair-column)")
    texts, y = _read_gold(gold_path, ls, text_column, label_column, limit, text_pair_column)

    systems: dict[str, dict] = {}
    preds: dict[str, list] = {}
    probs: dict[str, np.ndarray] = {}
    preds["student"], probs["student"], systems["student"] = _score_student(student_dir, names, texts, batch_size,
                                                                            progress)
    teacher_json = _teacher_json(run_dir) or run_dir / TEACHER_FILE
    cache = _teacher_cache(run_dir, gold_path, teacher_json, text_column, label_column, limit, text_pair_column)
    teacher = _teacher_predictions(run_dir, ls, texts, gold_path, teacher_labels, cache, progress)
    teacher_source = None
    if teacher is not None:
        probs["teacher"], preds["teacher"], teacher_source, speed = teacher
        systems["teacher"] = _teacher_system(teacher_json, teacher_labels is None, speed)
    train_info = _optional(run_dir / "train.json") or {}
    peer = _score_peer(run_dir, train_info, ls, texts)
    if peer is not None:
        preds["tfidf_lr"], probs["tfidf_lr"], systems["tfidf_lr"] = peer

    figures = _add_metrics(systems, preds, probs, y, names, run_dir, get_task(student_task(student_dir)))
    systems = {s: systems[s] for s in SYSTEMS if s in systems}
    plot_bars({s: v["accuracy"] for s, v in systems.items()}, run_dir / "accuracy.png", "accuracy on gold", "accuracy")
    figures.insert(0, "accuracy.png")
    ev = {
        "run_dir": str(run_dir), "gold_file": str(gold_path), "n": len(y), "labels": names,
        "gold_distribution": {n: int(sum(1 for g in y if g == n)) for n in names},
        "teacher_source": teacher_source, "systems": systems, "figures": figures,
        "peer": {"tfidf": {k: list(v) if isinstance(v, tuple) else v for k, v in TFIDF_PARAMS.items()},
                 "logistic_regression": LR_PARAMS},
    }
    write_json(run_dir / "metrics.json", ev)
    write_text(run_dir / "report.md", build_report(ev))
    teacher_info = _optional(teacher_json)
    if train_info:
        write_text(student_dir / "README.md", build_model_card(train_info, teacher_info, ev))
    return ev


# ---------------------------------------------------------------------------- multi-label runs
# The gold evaluation of a multi-label run (``task: multilabel``): student vs teacher vs a TF-IDF
# peer (one-vs-rest logistic regression on the teacher's label sets), each scored with
# ``multilabel_metrics`` (micro-F1, macro-F1, subset accuracy, per-label F1), written as
# RUN_DIR/metrics.json and report.md. ``distill.evaluation.evaluate.evaluate_run`` calls it for a
# student trained with the multilabel kind.
# 
# The student's label set uses the per-label thresholds tuned at training (``distill_thresholds`` in
# its config.json); the teacher's and the peer's put a label on at p >= 0.5. The teacher's answers on
# the gold texts come, as in the single-label evaluation, from ``--teacher-labels``, the run's cache
# (RUN_DIR/gold_teacher) or a re-run of teacher.json (every yes/no question of every gold text).

def multilabel_peer_fit(texts: list[str], targets: np.ndarray, seed: int = 0):
    """TF-IDF (word 1-2 grams) + one-vs-rest logistic regression on 0/1 targets per label."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(TfidfVectorizer(**TFIDF_PARAMS),
                         OneVsRestClassifier(LogisticRegression(random_state=seed, **LR_PARAMS)))
    import warnings

    with warnings.catch_warnings():  # a label no row has is learnt as "never": sklearn warns, that is fine
        warnings.simplefilter("ignore")
        pipe.fit(texts, targets)
    return pipe


def _ml_student(student_dir: Path, names: list[str], texts: list[str], batch_size: int, progress: bool):
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


def _ml_teacher_rows(path: Path, texts: list[str], names: list[str]) -> np.ndarray:
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


def _ml_teacher(run_dir: Path, ls, texts: list[str], gold_path: Path, teacher_labels, progress: bool):
    """(per-label probabilities, source) of the teacher on the gold texts, or None."""
    names = ls.names
    if teacher_labels is not None:
        if not Path(teacher_labels).is_file():
            raise UserError(f"teacher labels file {teacher_labels} not found")
        return _ml_teacher_rows(Path(teacher_labels), texts, names), f"labels file {teacher_labels}"
    tj = _teacher_json(run_dir) or run_dir / TEACHER_FILE
    cache = _teacher_cache(run_dir, gold_path, tj, None, None, len(texts))
    if cache.is_file():
        return _ml_teacher_rows(cache, texts, names), f"cached teacher predictions {cache.name}"
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


def _ml_peer(run_dir: Path, train_info: dict, ls, texts: list[str]):
    from distill.training.labels import read_labels

    labels_file = Path(train_info.get("labels_file") or run_dir / LABELS_FILE)
    if not labels_file.is_file():
        return None
    rows = read_labels(labels_file, labelset=ls)
    y = (rows.probs >= 0.5).astype(int)
    if y.sum() == 0 or y.sum(0).max() == len(y):
        return None
    t0 = time.perf_counter()
    pipe = multilabel_peer_fit(rows.texts, y)
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
    preds["student"], _, systems["student"] = _ml_student(run_dir / "student", names, texts, batch_size, progress)
    teacher = _ml_teacher(run_dir, ls, texts, gold_path, teacher_labels, progress)
    teacher_source = None
    if teacher is not None:
        probs, teacher_source = teacher
        preds["teacher"], systems["teacher"] = apply_thresholds(probs, names), {}
    train_info = _optional(run_dir / "train.json") or {}
    peer = _ml_peer(run_dir, train_info, ls, texts)
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
    write_text(run_dir / "report.md", multilabel_report(ev))
    return ev


def multilabel_report(ev: dict) -> str:
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
