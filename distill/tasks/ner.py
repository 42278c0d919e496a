"""``ner``: token classification (named entities) -> entity spans with character offsets.

An example is a text plus entity spans ``(start, end_exclusive, type)`` in CHARACTER offsets of
the text (``distill.data.ner``: CoNLL, CLUENER JSON, span JSON lines). The label set's names are
the entity types; the student's tags are ``O`` plus ``B-``/``I-`` per type
(``distill.data.ner.bio_labels``).

* labels.jsonl rows: ``{"id", "text", "spans": [{"start", "end", "type", "p"}], "source"}`` (``p``:
  the teacher's confidence in the span, 1 for gold; ``gold_spans`` when the pool had gold).
* student: ``AutoModelForTokenClassification``; :func:`project` turns the char spans into one tag
  per subword token through the fast tokenizer's ``offset_mapping`` (the first token a span touches
  gets ``B-type``, the others ``I-type``; special tokens -100) with soft targets: a span's tokens
  carry mass ``p`` on their entity tag and ``1 - p`` on ``O``.
* loss: :func:`distill.training.losses.token_distillation_loss` (per token), checkpoint metric
  ``entity_f1`` on the held-out rows (token spans, seqeval's exact match).
* measures: :func:`distill.evaluation.metrics.entity_metrics` (precision/recall/F1, per type).
* runtime: ``export/runtime.py`` ``TASKS["ner"]`` decodes token predictions into char spans of the
  original text with :func:`decode` 's rules (kept in step by tests/distill/test_ner.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from distill.tasks.base import TaskKind

IGNORE = -100


# ------------------------------------------------------------------ projection and decoding
def project(offsets, spans, tags: list[str], special=None):
    """(hard tag ids, soft targets) for one text's tokens. ``offsets``: (start, end) per token;
    ``spans``: ``(start, end, type[, p])`` char spans; ``special``: 1 for special tokens. Tokens with
    an empty offset or marked special get -100 and a zero target row."""
    index = {t: i for i, t in enumerate(tags)}
    k = len(tags)
    hard, soft = [], []
    ordered = sorted((int(s[0]), int(s[1]), str(s[2]), float(s[3]) if len(s) > 3 else 1.0) for s in spans)
    started: set[int] = set()
    j = 0
    for i, (a, b) in enumerate(offsets):
        if (special is not None and special[i]) or a >= b:
            hard.append(IGNORE)
            soft.append([0.0] * k)
            continue
        while j < len(ordered) and ordered[j][1] <= a:
            j += 1
        row = [0.0] * k
        if j < len(ordered) and ordered[j][0] < b:  # the token overlaps span j
            s, e, typ, p = ordered[j]
            tag = f"I-{typ}" if j in started else f"B-{typ}"
            started.add(j)
            p = min(max(p, 0.0), 1.0)
            row[index[tag]] += p
            row[0] += 1.0 - p
            hard.append(index[tag] if p >= 0.5 else 0)
        else:
            row[0] = 1.0
            hard.append(0)
        soft.append(row)
    return hard, soft


def decode(offsets, tag_ids, scores, tags: list[str], special=None) -> list[dict]:
    """Char spans ``{"start", "end", "type", "confidence"}`` from one text's token predictions.
    IOB2 read as seqeval does: ``B-x`` opens an entity, ``I-x`` continues an open ``x`` entity and
    otherwise opens one, ``O`` closes. An entity runs from its first token's start to its last
    token's end; its confidence is the mean probability of its tokens' predicted tags."""
    out, cur = [], None
    for i, (a, b) in enumerate(offsets):
        if (special is not None and special[i]) or a >= b:
            continue
        tag = tags[int(tag_ids[i])]
        if tag == "O":
            if cur:
                out.append(cur)
            cur = None
            continue
        prefix, typ = tag[:1], tag[2:]
        if prefix == "I" and cur is not None and cur["type"] == typ:
            cur["end"] = int(b)
            cur["_p"].append(float(scores[i]))
            continue
        if cur:
            out.append(cur)
        cur = {"start": int(a), "end": int(b), "type": typ, "_p": [float(scores[i])]}
    if cur:
        out.append(cur)
    for s in out:
        p = s.pop("_p")
        s["confidence"] = round(sum(p) / len(p), 6)
    return out


def token_spans(tag_ids, tags: list[str]) -> list[tuple[int, int, str]]:
    """Token-index entity spans of a tag-id sequence (seqeval's reading, as :func:`decode`)."""
    return [(s["start"], s["end"], s["type"]) for s in
            decode([(i, i + 1) for i in range(len(tag_ids))], tag_ids, [1.0] * len(tag_ids), tags)]


# ------------------------------------------------------------------ labels.jsonl
@dataclass
class NerRows:
    """The rows of an entity labels.jsonl (abstentions skipped)."""

    names: list[str]  # the student's tags (O, B-t, I-t, ...)
    types: list[str]
    texts: list[str]
    spans: list[list[tuple]]  # (start, end, type, p)
    gold: list[list[tuple] | None]
    ids: list[str]
    n_lines: int = 0
    n_abstained: int = 0
    sha256: str = ""
    labelset: object = None


def read_ner_labels(path, labelset=None) -> NerRows:
    """Parse and check an entity labels.jsonl: every span inside its text, no overlaps, a type of
    the label set (``labelset.json`` beside the file, or ``labelset``)."""
    from distill.data.labelset import LabelSet
    from distill.data.ner import bio_labels, check_spans

    path = Path(path)
    if not path.is_file():
        raise UserError(f"labels file {path} not found (run `advisor distill label` first)")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"labels file {path} is empty")
    if labelset is not None and not isinstance(labelset, LabelSet):
        labelset = LabelSet.from_spec(labelset)
    if labelset is None:
        side = path.parent / "labelset.json"
        if not side.is_file():
            raise UserError(f"{path}: no labelset.json beside it; pass the entity types (--labels)")
        try:
            labelset = LabelSet.from_dict(json.loads(side.read_text(encoding="utf-8")), source=str(side))
        except json.JSONDecodeError as exc:
            raise UserError(f"{side} is not valid JSON ({exc.msg})") from None
    types = list(labelset.names)
    rows = NerRows(bio_labels(types), types, [], [], [], [], labelset=labelset)
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        rows.n_lines += 1
        where = f"{path.name}: line {lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "spans" not in row:
            if isinstance(row, dict) and "probs" in row:
                raise UserError(f"{where} is a classification label row (probs), not an entity row (spans); "
                                f"were the labels made with another task kind?")
            raise UserError(f"{where} is not an entity label row (needs a string 'text' and 'spans')")
        if row.get("source") == "abstained":
            rows.n_abstained += 1
            continue
        text = row["text"]
        spans = _row_spans(row["spans"], text, types, where, check_spans)
        gold = row.get("gold_spans")
        if gold is not None:
            gold = _row_spans(gold, text, types, where + " (gold_spans)", check_spans)
        if not text.strip():
            continue
        rows.texts.append(text)
        rows.spans.append(spans)
        rows.gold.append(gold)
        rows.ids.append(str(row.get("id", lineno - 1)))
    if rows.n_lines == 0:
        raise UserError(f"labels file {path} is empty")
    if not rows.texts:
        raise UserError(f"labels file {path} has no usable rows ({rows.n_abstained} abstained by the teacher)")
    rows.sha256 = hashlib.sha256(raw).hexdigest()
    return rows


def _row_spans(spans, text, types, where, check_spans) -> list[tuple]:
    if not isinstance(spans, list):
        raise UserError(f"{where}: 'spans' must be a list of {{start, end, type, p}}")
    out, conf = [], {}
    for s in spans:
        if not isinstance(s, dict) or not {"start", "end", "type"} <= set(s):
            raise UserError(f"{where}: a span needs start, end and type")
        if not all(isinstance(s[k], int) and not isinstance(s[k], bool) for k in ("start", "end")):
            raise UserError(f"{where}: a span's start and end must be integers")
        p = s.get("p", 1.0)
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= float(p) <= 1.0:
            raise UserError(f"{where}: a span's p must be a number in [0, 1], got {str(p)[:20]}")
        out.append((s["start"], s["end"], s["type"]))
        conf[(s["start"], s["end"], s["type"])] = float(p)
    checked = check_spans(text, out, types, where)
    return [(a, b, t, conf[(a, b, t)]) for a, b, t in checked]


def span_rows(texts, spans, ids=None, source: str = "gold", gold=None) -> list[dict]:
    """labels.jsonl rows for texts and their spans (``(start, end, type[, p])``; p defaults to 1):
    gold spans made into training labels give the supervised reference."""
    rows = []
    for i, (t, sp) in enumerate(zip(texts, spans)):
        row = {"id": ids[i] if ids is not None else str(i), "text": t,
               "spans": [{"start": s[0], "end": s[1], "type": s[2], "text": t[s[0]:s[1]],
                          "p": round(float(s[3]) if len(s) > 3 else 1.0, 6)} for s in sp],
               "source": source}
        if gold is not None and gold[i] is not None:
            row["gold_spans"] = [{"start": s[0], "end": s[1], "type": s[2]} for s in gold[i]]
        rows.append(row)
    return rows


# ------------------------------------------------------------------ training data
@dataclass
class NerPrepared:
    train_idx: list[int]
    eval_idx: list[int]
    stats: dict = field(default_factory=dict)


class TokenDataset:
    """Pre-tokenised texts with per-token ``labels`` and ``teacher_probs`` and a per-text weight."""

    def __init__(self, enc: dict, weights=None):
        self.enc = enc
        self.weights = weights

    def __len__(self) -> int:
        return len(self.enc["input_ids"])

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.enc.items()}
        item["weights"] = 1.0 if self.weights is None else float(self.weights[i])
        return item


class TokenCollator:
    """Pads the token fields with the tokenizer, ``labels`` with -100 and ``teacher_probs`` with 0."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        getattr(tokenizer, "deprecation_warnings", {})["Asking-to-pad-a-fast-tokenizer"] = True

    def __call__(self, features: list[dict]) -> dict:
        import numpy as np
        import torch

        tok = [{k: v for k, v in f.items() if k not in ("labels", "teacher_probs", "weights")} for f in features]
        batch = dict(self.tokenizer.pad(tok, padding=True, return_tensors="pt"))
        n, width = batch["input_ids"].shape
        k = len(features[0]["teacher_probs"][0]) if features[0]["teacher_probs"] else 1
        labels = np.full((n, width), IGNORE, dtype=np.int64)
        probs = np.zeros((n, width, k), dtype=np.float32)
        right = self.tokenizer.padding_side != "left"
        for i, f in enumerate(features):
            m = len(f["labels"])
            sl = slice(0, m) if right else slice(width - m, width)
            labels[i, sl] = f["labels"]
            if m:
                probs[i, sl] = np.asarray(f["teacher_probs"], dtype=np.float32)
        batch["labels"] = torch.from_numpy(labels)
        batch["teacher_probs"] = torch.from_numpy(probs)
        batch["weights"] = torch.tensor([f["weights"] for f in features], dtype=torch.float32)
        return batch


class NerTask(TaskKind):
    name = "ner"
    about = "entities (token classification) -> typed spans with character offsets"
    fields = ("text", "spans")
    best_metric = "entity_f1"
    problem_type = None
    runtime = "ner"

    # data
    def read(self, data, labelset, *, limit=None):
        from distill.data.ner import read_ner

        return read_ner(data.path, labelset, fmt=data.format if data.format in ("conll", "cluener", "spans") else None,
                        limit=limit or data.limit, sample=None if limit else data.sample, seed=data.seed)

    # teacher: a generated list of mentions (distill.teachers.prompts.SpanPrompt)
    def prompt(self, labelset, template, shots=(), language="auto"):
        from distill.teachers.prompts import SpanPrompt

        return SpanPrompt(labelset, language=language)

    def distribution(self, scored, calibrator):
        raise UserError("task ner: the teacher proposes spans (a generated answer), not a label distribution")

    # student
    def load_student(self, student, labels, layers=None):
        from transformers import AutoModelForTokenClassification

        from distill.data.ner import bio_labels
        from distill.tasks.base import STUDENT_KEY
        from distill.training.modeling import load_student

        tags = labels if labels and labels[0] == "O" else bio_labels(labels)
        model, tok, path = load_student(student, tags, layers=layers, head=AutoModelForTokenClassification,
                                        problem_type=None)
        setattr(model.config, STUDENT_KEY, self.name)
        return model, tok, path

    def encode(self, tokenizer, texts, max_length, spans=None, tags=None):
        """The student's inputs; with ``spans`` (per text, ``(start, end, type[, p])``) and ``tags`` also
        the per-token ``labels`` and soft ``teacher_probs`` (:func:`project`)."""
        enc = tokenizer(list(texts), truncation=True, max_length=max_length, return_offsets_mapping=True,
                        return_special_tokens_mask=True)
        offsets = enc.pop("offset_mapping")
        special = enc.pop("special_tokens_mask")
        out = {k: v for k, v in enc.items()}
        if spans is not None:
            out["labels"], out["teacher_probs"] = [], []
            for off, sp, sm in zip(offsets, spans, special):
                hard, soft = project(off, sp, tags, sm)
                out["labels"].append(hard)
                out["teacher_probs"].append(soft)
        return out

    def trainer(self, config):
        from distill.training.trainer_distillation import TokenDistillationTrainer

        return TokenDistillationTrainer, {"temperature": config.temperature, "alpha": config.alpha}

    def training_metrics(self, eval_pred):
        import numpy as np

        from distill.evaluation.metrics import entity_metrics

        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        pred = np.asarray(logits).argmax(-1)
        labels = np.asarray(labels)
        k = np.asarray(logits).shape[-1]
        tags = ["O"] + [f"{'BI'[(i - 1) % 2]}-t{(i - 1) // 2}" for i in range(1, k)]  # B/I alternate after O
        gold_s, pred_s = [], []
        for p, g in zip(pred, labels):
            m = g != IGNORE
            gold_s.append(token_spans(g[m], tags))
            pred_s.append(token_spans(p[m], tags))
        m = entity_metrics(gold_s, pred_s)
        mask = labels != IGNORE
        return {"entity_f1": m["f1"], "entity_precision": m["precision"], "entity_recall": m["recall"],
                "accuracy": float((pred[mask] == labels[mask]).mean()) if mask.any() else 0.0}

    # the training job's data (distill.training.train asks for it)
    def training_rows(self, labels, labelset, config, gold_dev=None):
        """(rows, prepared split, gold dev set or None) of an entity labels.jsonl."""
        import numpy as np

        rows = read_ner_labels(labels, labelset)
        dev = None
        if gold_dev is not None:
            from distill.data.ner import read_ner

            dev = read_ner(gold_dev, rows.labelset)
            if dev.gold is None:
                raise UserError(f"--gold-dev {gold_dev} holds no entity annotations")
        n = len(rows.texts)
        perm = np.random.default_rng(config.seed).permutation(n)
        n_eval = 0 if dev is not None else int(round(config.eval_fraction * n))
        if n_eval and n - n_eval < 2:
            n_eval = 0
        eval_idx, train_idx = sorted(perm[:n_eval].tolist()), sorted(perm[n_eval:].tolist())
        counts = {t: 0 for t in rows.types}
        for i in train_idx:
            for s in rows.spans[i]:
                counts[s[2]] += 1
        conf = [s[3] for sp in rows.spans for s in sp]
        stats = {"rows": rows.n_lines, "abstained": rows.n_abstained, "usable": n, "train": len(train_idx),
                 "eval": len(eval_idx), "dropped_by_threshold": 0, "train_entity_counts": counts,
                 "mean_span_confidence": float(np.mean(conf)) if conf else None,
                 "texts_without_entities": int(sum(1 for i in train_idx if not rows.spans[i]))}
        if not any(counts.values()):
            raise UserError(f"{labels}: the {len(train_idx)} training texts hold no entity at all; a tagger cannot "
                            f"learn from them (check the teacher: teacher_report.md)")
        return rows, NerPrepared(train_idx, eval_idx, stats), dev

    def datasets(self, tok, rows: NerRows, prep: NerPrepared, dev, config):
        tags = rows.names
        tr = prep.train_idx
        train = TokenDataset(self.encode(tok, [rows.texts[i] for i in tr], config.max_length,
                                         [rows.spans[i] for i in tr], tags))
        ev = None
        if dev is not None:
            ev = TokenDataset(self.encode(tok, dev.texts, config.max_length, dev.gold, tags))
        elif prep.eval_idx:
            ei = prep.eval_idx
            ev = TokenDataset(self.encode(tok, [rows.texts[i] for i in ei], config.max_length,
                                          [rows.spans[i] for i in ei], tags))
        return train, (ev if ev is not None and len(ev) else None)

    def collator(self, tok):
        return TokenCollator(tok)

    # measures
    def metrics(self, gold, pred, labels, probs=None):
        from distill.evaluation.metrics import entity_metrics

        return entity_metrics(gold, pred, labels)


def predict_spans(model, tokenizer, texts: list[str], max_length: int = 128, batch_size: int = 32) -> list[list[dict]]:
    """A token-classification model's entities for each text: char spans of the text (:func:`decode`)."""
    import torch

    tags = [model.config.id2label[i] for i in range(model.config.num_labels)]
    out: list[list[dict]] = [[] for _ in texts]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                            return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
            offsets = enc.pop("offset_mapping").tolist()
            special = enc.pop("special_tokens_mask").tolist()
            probs = torch.softmax(model(**enc).logits.float(), -1)
            conf, ids = probs.max(-1)
            mask = enc["attention_mask"].tolist()
            for j, i in enumerate(idx):
                sp = [a or (1 - m) for a, m in zip(special[j], mask[j])]
                out[i] = decode(offsets[j], ids[j].tolist(), conf[j].tolist(), tags, sp)
    return out


def load_tagger(path):
    """(model, tokenizer) of a saved entity student directory, in eval mode."""
    from transformers import AutoModelForTokenClassification

    from core.errors import first_line
    from distill.training.modeling import _quiet_transformers, load_tokenizer, require_safetensors

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"no trained student in {path} (run `advisor distill train` first)")
    require_safetensors(path, "tagger")
    tok = load_tokenizer(path)
    try:
        with _quiet_transformers():
            model = AutoModelForTokenClassification.from_pretrained(str(path), local_files_only=True,
                                                                    use_safetensors=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot load the tagger in {path}: {first_line(exc)[:300]}") from None
    model.eval()
    return model, tok
