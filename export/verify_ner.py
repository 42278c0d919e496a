"""Proof that an entity (``ner``) bundle still is the student, the token-level analogue of
:mod:`export.verify`:

1. fp32 ONNX (the shipped runtime: tokenizers + onnxruntime) vs the PyTorch student on the eval
   texts: max |logit diff| over every token <= ``atol`` and the same tag on every token.
2. int8 vs fp32 on entity F1 (seqeval's exact span + type match): with gold spans the drop of the
   int8 F1 below the fp32 F1, without gold 100 x (1 - F1 of the int8 entities against the fp32 ones);
   either must be <= ``max_drop`` points, at batch 32 and one text at a time.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.rundir import LABELS_FILE


def load_ner_eval(student_dir: Path, eval_data: str | None, limit: int):
    """(texts, gold spans or None, source): the gold file (``--eval-data``, read with the student's
    label set: the entity types) or the texts of labels.jsonl beside the student."""
    from core.rundir import LABELSET_FILE
    from distill.data.labelset import LabelSet
    from distill.data.ner import read_ner

    if limit is not None and limit <= 0:
        raise UserError(f"--eval-limit must be positive, got {limit}")
    ls_path = next((p for p in (student_dir / LABELSET_FILE, student_dir.parent / LABELSET_FILE) if p.is_file()), None)
    ls = LabelSet.from_dict(json.loads(ls_path.read_text(encoding="utf-8"))) if ls_path else None
    if eval_data:
        if ls is None:
            raise UserError(f"{student_dir} has no labelset.json (the entity types) to read --eval-data with")
        ds = read_ner(eval_data, ls, limit=limit)
        return ds.texts, ds.gold, str(Path(eval_data))
    lj = student_dir.parent / LABELS_FILE
    texts = []
    if lj.is_file():
        for line in lj.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                raise UserError(f"{lj}: a line is not valid JSON") from None
            if isinstance(row, dict) and isinstance(row.get("text"), str) and row["text"].strip():
                texts.append(row["text"])
            if len(texts) >= limit:
                break
    if not texts:
        raise UserError(f"no texts to verify the entity bundle on: pass --eval-data (a gold entity file)")
    return texts, None, str(lj)


def _pytorch(student_dir: Path, texts: list[str], max_length: int) -> list[np.ndarray]:
    from core.offline import force_offline

    force_offline()
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(student_dir))
    model = AutoModelForTokenClassification.from_pretrained(str(student_dir))
    model.eval()
    out = []
    with torch.inference_mode():
        for s in range(0, len(texts), 32):
            enc = tok(texts[s:s + 32], truncation=True, max_length=max_length, padding=True, return_tensors="pt")
            logits = model(**enc).logits.float().numpy()
            for row, m in zip(logits, enc["attention_mask"].numpy()):
                out.append(row[m.astype(bool)])
    return out


def _onnx(bundle, texts: list[str], batch_size: int) -> tuple[list[np.ndarray], list]:
    """Per text: the unpadded token logits, and the encodings (offsets, special tokens)."""
    logits, encs = [], []
    for s in range(0, len(texts), batch_size):
        enc = bundle.tokenizer.encode_batch(texts[s:s + batch_size])
        feed = {"input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
                "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64)}
        (out,) = bundle.session.run(["logits"], {n: feed[n] for n in bundle._inputs})
        for row, e in zip(out, enc):
            logits.append(row[np.asarray(e.attention_mask, dtype=bool)])
            encs.append(e)
    return logits, encs


def _spans(bundle, texts, logits, encs) -> list[list[tuple]]:
    from export.runtime import TASKS

    ner = TASKS["ner"]
    out = []
    for t, lg, e in zip(texts, logits, encs):
        n = len(lg)
        special = [s for s in e.special_tokens_mask[:n]]
        sp = ner.spans(t, e.offsets[:n], special, ner.probs(lg, bundle.temperature), bundle.labels)
        out.append([(s["start"], s["end"], s["type"]) for s in sp])
    return out


def verify_ner(bundle_dir: Path, student_dir: Path, texts: list[str], gold, source: str, *, atol: float,
               max_drop: float, progress=None, cache: dict | None = None) -> dict:
    """Both checks on an assembled entity bundle; returns verification.json (the shape of
    :func:`export.verify.verify`, with ``metric: entity_f1``)."""
    from distill.evaluation.metrics import entity_metrics
    from export.runtime import Bundle

    cache = {} if cache is None else cache
    fp32 = Bundle.load(bundle_dir, "fp32", check=False, allow_unverified=True)
    has_int8 = "int8" in fp32.config["onnx_bundle"]["models"].values()
    if "pytorch" not in cache:
        cache["pytorch"] = _pytorch(student_dir, texts, fp32.max_length)
        cache["onnx_fp32"] = _onnx(fp32, texts, 32)
        if progress:
            progress(2 * len(texts))
    ref, (f32, encs) = cache["pytorch"], cache["onnx_fp32"]
    max_diff, total, same, mism = 0.0, 0, 0, []
    for i, (a, b) in enumerate(zip(ref, f32)):
        if a.shape != b.shape:
            mism.append(i)
            max_diff = float("inf")
            continue
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        max_diff = max(max_diff, float(d.max()) if d.size else 0.0)
        eq = a.argmax(-1) == b.argmax(-1)
        total += len(eq)
        same += int(eq.sum())
        if not eq.all():
            mism.append(i)
    fp32_ok = bool(max_diff <= atol and not mism)
    types = [lab[2:] for lab in fp32.labels if lab.startswith("B-")]
    fp32_spans = _spans(fp32, texts, f32, encs)
    result: dict = {"passed": None, "summary": "", "n_texts": len(texts), "eval_source": source,
                    "has_gold": gold is not None, "task": "ner",
                    "thresholds": {"atol": atol, "max_drop_pts": max_drop},
                    "fp32_vs_pytorch": {"max_abs_diff": max_diff, "mean_abs_diff": None, "tokens": total,
                                        "argmax_identical": len(texts) - len(mism),
                                        "tokens_identical": same, "argmax_mismatches": mism[:20],
                                        "passed": fp32_ok}}
    parts = [f"fp32 vs PyTorch max|diff| {max_diff:.2e} (<= {atol:g}) over {total} tokens, same tags on "
             f"{len(texts) - len(mism)}/{len(texts)} texts"]
    passed = fp32_ok
    if gold is not None:
        f1_fp32 = entity_metrics(gold, fp32_spans, types)["f1"]
        result["fp32_vs_pytorch"]["entity_f1_fp32"] = f1_fp32
    if has_int8:
        int8 = Bundle.load(bundle_dir, "int8", check=False, allow_unverified=True)
        i32, e32 = _onnx(int8, texts, 32)
        i1, e1 = _onnx(int8, texts, 1)
        if progress:
            progress(len(texts))
        s32, s1 = _spans(int8, texts, i32, e32), _spans(int8, texts, i1, e1)
        agree = entity_metrics(fp32_spans, s32, types)["f1"]
        agree_b1 = entity_metrics(fp32_spans, s1, types)["f1"]
        q = {"metric": "entity_f1" if gold is not None else "entity_agreement_with_fp32",
             "agreement_with_fp32": agree, "per_class": {},
             "batch1": {"agreement_with_fp32": agree_b1,
                        "agreement_with_batch32": entity_metrics(s32, s1, types)["f1"]}}
        if gold is not None:
            f_i8, f_b1 = entity_metrics(gold, s32, types), entity_metrics(gold, s1, types)
            drop, drop_b1 = 100 * (f1_fp32 - f_i8["f1"]), 100 * (f1_fp32 - f_b1["f1"])
            q.update(entity_f1_fp32=f1_fp32, entity_f1_int8=f_i8["f1"],
                     per_type={t: v["f1"] for t, v in f_i8["per_type"].items()})
            q["batch1"]["entity_f1_int8"] = f_b1["f1"]
            parts.append(f"int8 entity F1 {100 * f_i8['f1']:.2f} (batch 1: {100 * f_b1['f1']:.2f}) vs fp32 "
                         f"{100 * f1_fp32:.2f} (drop {max(drop, drop_b1):+.2f} pts, max {max_drop:g})")
        else:
            drop, drop_b1 = 100 * (1 - agree), 100 * (1 - agree_b1)
            parts.append(f"int8 entities agree with fp32's at F1 {100 * agree:.2f} (batch 1: {100 * agree_b1:.2f}) "
                         f"(drop {max(drop, drop_b1):.2f} pts, max {max_drop:g})")
        q["drop_pts"] = round(drop, 4)
        q["batch1"]["drop_pts"] = round(drop_b1, 4)
        q["passed"] = bool(max(drop, drop_b1) <= max_drop + 1e-9)
        passed = passed and q["passed"]
        result["int8_vs_fp32"] = q
    result["passed"] = bool(passed)
    result["summary"] = "; ".join(parts)
    return result


def format_ner_report(v: dict) -> str:
    lines = [f"verification on {v['n_texts']} texts ({v['eval_source']}): " + ("PASSED" if v["passed"] else "FAILED"),
             "  " + v["summary"].replace("; ", "\n  ")]
    return "\n".join(lines)
