"""The student's training data: teacher labels read from ``labels.jsonl`` (the contract in
docs/dev/CONTRACTS.md), the held-out split, hard labels and weights, and the torch dataset and
collator that feed the Trainer."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.errors import UserError
from core.pairs import row_text, tokenizer_inputs
from core.rundir import LABELSET_FILE
from distill.training.config import DistillationConfig
from distill.training.processes import warn as _warn


# ----------------------------------------------------------------------------------- data
@dataclass
class LabelledRows:
    """Teacher labels read from labels.jsonl, usable rows only (abstentions skipped)."""

    names: list[str]
    texts: list[str]
    probs: np.ndarray  # (n, k), rows sum to 1, label-set order (multi-label: independent per label)
    teacher: list[int]  # teacher hard label (argmax / "label")
    gold: list  # label index (multi-label: a list of label indices) or None
    ids: list[str]
    n_lines: int = 0
    n_abstained: int = 0
    sha256: str = ""
    labelset: object = None
    weights: np.ndarray | None = None  # per row, the row's own "weight" (1 where absent)
    pseudo: np.ndarray | None = None  # per row, True where "source" is "student" (active distillation)
    multi_label: bool = False  # rows carry "labels" (task multilabel): probs are not normalised


def _load_labelset_for(labels_path: Path, labelset=None):
    from distill.data.labelset import LabelSet

    if labelset is not None:
        return LabelSet.from_spec(labelset) if not isinstance(labelset, LabelSet) else labelset
    side = labels_path.parent / LABELSET_FILE
    if side.is_file():
        try:
            return LabelSet.from_dict(json.loads(side.read_text(encoding="utf-8")), source=str(side))
        except json.JSONDecodeError as exc:
            raise UserError(f"{side} is not valid JSON ({exc.msg})") from None
    return None


def _json_type(v) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}.get(type(v), type(v).__name__)


def read_labels(path: str | os.PathLike, labelset=None) -> LabelledRows:
    """Parse and validate labels.jsonl (the contract in docs/dev/CONTRACTS.md).

    The label set comes from ``labelset`` (a spec or LabelSet), else ``labelset.json`` beside the
    file, else the ``probs`` keys of the first row. Every row's ``probs`` must have exactly the
    label-set's names; ``label`` and ``gold`` must be names of the set.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"labels file {path} not found (run `advisor distill label` first)")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"labels file {path} is empty")
    ls = _load_labelset_for(path, labelset)
    names = list(ls.names) if ls is not None else None
    texts, probs, teacher, gold, ids, weights, pseudo = [], [], [], [], [], [], []
    n_lines = n_abst = n_empty = 0
    multi = False
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        n_lines += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path.name}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "text" not in row or "probs" not in row:
            raise UserError(f"{path.name}: line {lineno} is not a teacher label row (needs 'text' and 'probs')")
        p = row["probs"]
        if not isinstance(p, dict):
            raise UserError(f"{path.name}: line {lineno}: 'probs' must be an object label -> probability")
        if names is None:
            names = list(p)
            if len(names) < 2:
                raise UserError(f"{path.name}: line {lineno}: 'probs' needs at least two labels")
        if set(p) != set(names):
            raise UserError(
                f"{path.name}: line {lineno} has labels ({', '.join(map(str, p))}) that do not match the "
                f"label set ({', '.join(names)}); was it made with another label set?"
            )
        label = row.get("label")
        if row.get("source") == "abstained" or label is None:
            n_abst += 1
            continue
        try:
            vec = np.array([float(p[n]) for n in names], dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(f"{path.name}: line {lineno}: probabilities must be numbers") from None
        if not np.all(np.isfinite(vec)) or (vec < 0).any() or vec.sum() <= 0:
            raise UserError(f"{path.name}: line {lineno}: probabilities must be finite, >= 0 and not all 0")
        if label not in names:
            raise UserError(f"{path.name}: line {lineno}: label {label!r} is not in the label set ({', '.join(names)})")
        g = row.get("gold")
        if isinstance(row.get("labels"), list):  # multi-label: independent probabilities in [0, 1]
            multi = True
            if (vec > 1).any():
                raise UserError(f"{path.name}: line {lineno}: a multi-label row's probabilities must be <= 1")
        if g is not None and isinstance(g, list):
            try:
                gold.append([names.index(x if x in names else ls.normalize(x)) for x in g])
            except (AttributeError, ValueError):
                raise UserError(f"{path.name}: line {lineno}: gold labels {g!r} are not all in the label set") from None
        elif g is not None:
            if g not in names:
                if ls is not None:
                    g = ls.normalize(g)
                else:
                    raise UserError(f"{path.name}: line {lineno}: gold label {g!r} is not in the label set ({', '.join(names)})")
            gold.append(names.index(g))
        else:
            gold.append(None)
        text = row["text"]
        if not isinstance(text, str):
            raise UserError(f"{path.name}: line {lineno}: 'text' must be a string, got a JSON {_json_type(text)}")
        if "text_pair" in row:  # a sentence pair (task: pairs): both texts, joined (core.pairs)
            second = row["text_pair"]
            if not isinstance(second, str) or not second.strip() or not text.strip():
                raise UserError(f"{path.name}: line {lineno}: a sentence pair needs two non-empty strings "
                                f"'text' and 'text_pair'")
            text = row_text(row)
        if not text.strip():
            n_empty += 1
            gold.pop()
            continue
        w = row.get("weight", 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or not 0 <= w <= 1:
            raise UserError(f"{path.name}: line {lineno}: 'weight' must be a number in [0, 1], got {w!r}")
        weights.append(float(w))
        pseudo.append(row.get("source") == "student")
        texts.append(text)
        probs.append(vec if multi else vec / vec.sum())
        teacher.append(names.index(label))
        ids.append(str(row.get("id", lineno - 1)))
    if n_lines == 0:
        raise UserError(f"labels file {path} is empty")
    if not texts:
        why = [f"{n_abst} abstained by the teacher" if n_abst else "", f"{n_empty} with an empty text" if n_empty else ""]
        raise UserError(f"labels file {path} has no usable rows ({', '.join(w for w in why if w)})")
    return LabelledRows(
        names=names, texts=texts, probs=np.stack(probs), teacher=teacher, gold=gold, ids=ids,
        n_lines=n_lines, n_abstained=n_abst, sha256=hashlib.sha256(raw).hexdigest(), labelset=ls,
        weights=np.asarray(weights, dtype=np.float64), pseudo=np.asarray(pseudo, dtype=bool), multi_label=multi,
    )


class EncodedDataset(torch.utils.data.Dataset):
    """Pre-tokenised rows (unpadded) plus ``labels``, ``teacher_probs`` and ``weights``."""

    def __init__(self, encodings: dict, labels, teacher_probs, weights):
        self.enc = encodings
        # one label index per row, or (multi-label) one 0/1 target per label
        self.labels = [np.asarray(x, dtype=np.float32) if np.ndim(x) else int(x) for x in labels]
        self.teacher_probs = np.asarray(teacher_probs, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.enc.items()}
        item["labels"] = self.labels[i]
        item["teacher_probs"] = self.teacher_probs[i]
        item["weights"] = float(self.weights[i])
        return item


class Collator:
    """Pads the token fields with the tokenizer; stacks labels / teacher_probs / weights."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        # pre-tokenised rows are padded here on purpose; silence the "use __call__" advice
        getattr(tokenizer, "deprecation_warnings", {})["Asking-to-pad-a-fast-tokenizer"] = True

    def __call__(self, features: list[dict]) -> dict:
        tok = [{k: v for k, v in f.items() if k not in ("labels", "teacher_probs", "weights")} for f in features]
        batch = self.tokenizer.pad(tok, padding=True, return_tensors="pt")
        batch = dict(batch)
        if np.ndim(features[0]["labels"]):  # multi-label targets
            batch["labels"] = torch.tensor(np.stack([f["labels"] for f in features]), dtype=torch.float32)
        else:
            batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        batch["teacher_probs"] = torch.tensor(np.stack([f["teacher_probs"] for f in features]), dtype=torch.float32)
        batch["weights"] = torch.tensor([f["weights"] for f in features], dtype=torch.float32)
        return batch


@dataclass
class PreparedData:
    train_idx: np.ndarray
    eval_idx: np.ndarray
    hard: np.ndarray  # hard label per row (teacher argmax or gold)
    weights: np.ndarray  # per row, training weight (confidence x class balance)
    confidence: np.ndarray
    dropped_threshold: int = 0
    class_weights: list[float] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def split_rows(rows: LabelledRows, conf: np.ndarray, config: DistillationConfig,
               has_gold_dev: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """(held-out indices, training indices, rows dropped by ``threshold``): a seeded
    ``eval_fraction`` of the teacher's rows is held out (none when a gold dev set picks the
    checkpoint); the training rows below ``threshold`` confidence are dropped."""
    n = len(conf)
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    pseudo = rows.pseudo if rows.pseudo is not None else np.zeros(n, dtype=bool)
    # the held-out slice is the teacher's: a student's own labels (active distillation) are no yardstick
    perm = np.concatenate([perm[~pseudo[perm]], perm[pseudo[perm]]])
    n_teacher = int((~pseudo).sum())
    n_eval = 0 if has_gold_dev else int(round(config.eval_fraction * n_teacher))
    if n_eval and n - n_eval < 2:
        n_eval = 0
    eval_idx = np.sort(perm[:n_eval])
    train_idx = np.sort(perm[n_eval:])
    keep = conf[train_idx] >= config.threshold
    return eval_idx, train_idx[keep], int((~keep).sum())


def prepare_rows(rows: LabelledRows, config: DistillationConfig, has_gold_dev: bool = False) -> PreparedData:
    """Split off the held-out slice, pick hard labels, drop low-confidence rows, compute weights.

    The held-out slice (``eval_fraction`` of the usable rows, seeded) is taken before the
    threshold filter, so early stopping sees the teacher's full distribution.
    """
    n, k = rows.probs.shape
    conf = rows.probs.max(axis=1)
    hard = np.asarray(rows.teacher, dtype=np.int64).copy()
    n_gold_used = 0
    if config.hard_label == "gold":
        for i, g in enumerate(rows.gold):
            if g is not None:
                hard[i] = g
                n_gold_used += 1
    eval_idx, train_idx, dropped = split_rows(rows, conf, config, has_gold_dev)
    if len(train_idx) == 0:
        raise UserError(
            f"--threshold {config.threshold} drops every training row (highest teacher confidence is "
            f"{conf.max():.3f}); lower it"
        )
    w = conf.copy() if config.weighting == "confidence" else np.ones(n)
    if rows.weights is not None:
        w = w * rows.weights  # a row's own weight (the student's labels of active distillation)
    counts = np.bincount(hard[train_idx], minlength=k).astype(np.float64)
    present = [rows.names[i] for i in range(k) if counts[i] > 0]
    if len(present) < 2:
        raise UserError(
            f"all {len(train_idx)} training rows have the same label ({present[0] if present else '?'}): a "
            f"classifier cannot learn from one class; label more varied data, or check the teacher "
            f"(teacher_report.md: it may answer one label for everything)")
    if len(present) < k:
        _warn(f"no training rows for {', '.join(n for n in rows.names if n not in present)}: the student "
              f"will never predict it")
    if config.balance:
        cw = np.where(counts > 0, len(train_idx) / (k * np.maximum(counts, 1)), 0.0)
    else:
        cw = np.ones(k)
    w = w * cw[hard]
    stats = {
        "rows": int(rows.n_lines), "abstained": int(rows.n_abstained), "usable": int(n),
        "train": int(len(train_idx)), "eval": int(len(eval_idx)), "dropped_by_threshold": dropped,
        "hard_label_source": config.hard_label, "gold_used_as_hard_label": int(n_gold_used),
        "train_class_counts": {rows.names[i]: int(c) for i, c in enumerate(counts)},
        "class_weights": {rows.names[i]: float(c) for i, c in enumerate(cw)},
        "mean_teacher_confidence": float(conf.mean()),
        "student_rows": int(rows.pseudo.sum()) if rows.pseudo is not None else 0,
    }
    return PreparedData(train_idx=train_idx, eval_idx=eval_idx, hard=hard, weights=w, confidence=conf,
                        dropped_threshold=dropped, class_weights=cw.tolist(), stats=stats)


def prepare_multilabel_rows(rows: LabelledRows, config: DistillationConfig, has_gold_dev: bool = False) -> PreparedData:
    """:func:`prepare_rows` for multi-label rows: the hard targets are the labels the teacher puts
    on (p >= 0.5; ``hard_label: gold`` takes the gold set where a row has one), the confidence of a
    row is the mean over labels of max(p, 1 - p) (``threshold`` filters on it, ``weighting:
    confidence`` weighs by it); ``balance`` has no per-row class to balance and is not applied."""
    n, k = rows.probs.shape
    hard = (rows.probs >= 0.5).astype(np.float32)
    n_gold_used = 0
    if config.hard_label == "gold":
        for i, g in enumerate(rows.gold):
            if g is not None:
                hard[i] = 0.0
                hard[i, list(g)] = 1.0
                n_gold_used += 1
    conf = np.maximum(rows.probs, 1.0 - rows.probs).mean(axis=1)
    eval_idx, train_idx, dropped = split_rows(rows, conf, config, has_gold_dev)
    if len(train_idx) == 0:
        raise UserError(f"--threshold {config.threshold} drops every training row (highest mean per-label teacher "
                        f"confidence is {conf.max():.3f}); lower it")
    counts = hard[train_idx].sum(axis=0)
    if counts.sum() == 0:
        raise UserError(f"the teacher puts no label on any of the {len(train_idx)} training rows (every p < 0.5): "
                        f"nothing to learn; check the teacher (teacher_report.md)")
    absent = [rows.names[j] for j in range(k) if counts[j] == 0]
    if absent:
        _warn(f"no training row has {', '.join(absent[:10])}{' ...' if len(absent) > 10 else ''} on (teacher p >= 0.5): "
              f"the student learns it only from the soft targets")
    w = conf.copy() if config.weighting == "confidence" else np.ones(n)
    stats = {
        "rows": int(rows.n_lines), "abstained": int(rows.n_abstained), "usable": int(n),
        "train": int(len(train_idx)), "eval": int(len(eval_idx)), "dropped_by_threshold": dropped,
        "hard_label_source": config.hard_label, "gold_used_as_hard_label": int(n_gold_used),
        "train_class_counts": {rows.names[j]: int(c) for j, c in enumerate(counts)},
        "mean_labels_per_text": float(hard[train_idx].sum(axis=1).mean()),
        "mean_teacher_confidence": float(conf.mean()),
    }
    return PreparedData(train_idx=train_idx, eval_idx=eval_idx, hard=hard, weights=w, confidence=conf,
                        dropped_threshold=dropped, class_weights=[1.0] * k, stats=stats)


def _encode(tokenizer, texts: list[str], max_length: int) -> dict:
    enc = tokenizer(*tokenizer_inputs(texts), truncation=True, max_length=max_length)
    return {k: v for k, v in enc.items()}
