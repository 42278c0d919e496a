"""Proof that the bundle still is the student.

1. fp32 ONNX (through the shipped runtime: tokenizers + onnxruntime) vs the PyTorch student
   (transformers tokenizer + model) on the eval texts: max |logit diff| <= ``atol`` and identical
   argmax on every text.
2. int8 vs fp32: accuracy drop (with gold labels) or disagreement (without) <= ``max_drop`` points.
   Per-class precision/recall/F1 and prediction counts before/after, and the flips.
The thresholds' defaults, and the eval texts' limit, are :class:`export.config.ExportConfig`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.rundir import LABELS_FILE, LABELSET_FILE
from export.config import ExportConfig

# Used only when there is neither --eval-data nor RUN_DIR/labels.jsonl: a few varied sentences so
# that the fp32 check still runs (the int8 check on so few texts allows no flip at all).
FALLBACK_TEXTS = [
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "The battery lasts all day and the screen is gorgeous.",
    "Terrible customer service, I waited two hours and nobody answered.",
    "Stocks rallied on Tuesday after the central bank held interest rates steady.",
    "The team clinched the championship with a goal in the final minute.",
    "Congratulations! You have won a free cruise, reply YES to claim your prize now",
    "Can you remind me to call mom at 6 pm tomorrow?",
    "what is the weather going to be like this weekend in boston",
    "Researchers released a new open-source compiler for embedded devices.",
    "meh.",
    "I loved every minute of it, the acting, the music, the ending, everything!",
    "an ugly , pointless , stupid movie",
    "The package arrived damaged and the refund process is a nightmare.",
    "a",
    "Quarterly earnings beat expectations, sending shares up 8% in after-hours trading.",
]


def find_labelset(student_dir: Path) -> Path | None:
    """labelset.json in the student dir (the trainer writes one) or beside it in RUN_DIR."""
    for p in (student_dir / LABELSET_FILE, student_dir.parent / LABELSET_FILE):
        if p.is_file():
            return p
    return None


def _labelset_for(student_dir: Path, labels: list[str], spec: str | None):
    from distill.data.labelset import Label, LabelSet

    if spec:
        ls = LabelSet.from_spec(spec)
    elif find_labelset(student_dir) is not None:
        path = find_labelset(student_dir)
        try:
            ls = LabelSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise UserError(f"{path} is not valid JSON: {exc}") from None
    else:  # the student's own labels; gold may also be the class index ("0", "1", ...)
        ls = LabelSet(labels=tuple(Label(name=n, aliases=(str(i),)) for i, n in enumerate(labels)))
    if list(ls.names) != list(labels):
        raise UserError(f"label set {list(ls.names)} does not match the student's labels {labels} (same order)")
    return ls


def load_eval_texts(student_dir: Path, labels: list[str], eval_data: str | None = None,
                    text_column: str | None = None, label_column: str | None = None,
                    labels_spec: str | None = None, limit: int = ExportConfig.eval_limit,
                    text_pair_column: str | None = None):
    """-> (texts, gold or None, source description)."""
    if limit is not None and limit <= 0:
        raise UserError(f"--eval-limit must be positive, got {limit}")
    if eval_data:
        from distill.data.reader import load_texts

        ls = _labelset_for(student_dir, labels, labels_spec)
        from distill.data.reader import pair_column_hint
        from distill.tasks import get_task, student_task

        kind = get_task(student_task(student_dir))
        if text_pair_column is None and "text_pair" in kind.fields:  # a pairs student: the preset's second column
            text_pair_column = pair_column_hint(ls)
        ds = load_texts(eval_data, text_column=text_column, label_column=label_column, labelset=ls, limit=limit,
                        text_pair_column=text_pair_column, **kind.reader_options(ls))
        if not ds.texts:
            raise UserError(f"--eval-data {eval_data} has no texts")
        return list(ds.texts), (list(ds.gold) if ds.gold is not None else None), str(Path(eval_data))
    lj = student_dir.parent / LABELS_FILE
    if lj.is_file():
        from core.pairs import row_text

        texts, gold = [], []
        with open(lj, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    raise UserError(f"{lj} line {n} is not valid JSON") from None
                text = row_text(row) if isinstance(row, dict) else None
                if not isinstance(text, str) or not text.strip():
                    continue
                texts.append(text)
                gold.append(row.get("gold"))
                if len(texts) >= limit:
                    break
        if texts:
            has_gold = all((isinstance(g, str) and g in labels)
                           or (isinstance(g, list) and g and all(x in labels for x in g)) for g in gold)
            return texts, (gold if has_gold else None), str(lj)
    return list(FALLBACK_TEXTS[:limit]), None, "built-in sentences (no --eval-data, no labels.jsonl)"


def pytorch_logits(student_dir: Path, texts: list[str], max_length: int, batch_size: int = 32,
                   progress=None) -> np.ndarray:
    from core.offline import force_offline

    force_offline()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(student_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(student_dir))
    model.eval()
    from core.pairs import tokenizer_inputs

    lengths = [len(x) for x in tok(*tokenizer_inputs(texts), truncation=True, max_length=max_length)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    out = np.empty((len(texts), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            enc = tok(*tokenizer_inputs([texts[i] for i in idx]), truncation=True, max_length=max_length, padding=True,
                      return_tensors="pt")
            out[idx] = model(**enc).logits.float().numpy()
            if progress:
                progress(len(idx))
    return out


def _class_report(labels, gold, pred_a, pred_b) -> dict:
    """Per class: predictions before/after, flips, and (with gold) precision/recall/F1 before/after."""
    rep = {}
    metrics_a = metrics_b = None
    if gold is not None:
        from distill.evaluation.metrics import classification_metrics

        metrics_a = classification_metrics(gold, pred_a, labels)["per_class"]
        metrics_b = classification_metrics(gold, pred_b, labels)["per_class"]
    for lab in labels:
        row = {
            "predicted_fp32": int(sum(p == lab for p in pred_a)),
            "predicted_int8": int(sum(p == lab for p in pred_b)),
            "flipped_away": int(sum(a == lab and b != lab for a, b in zip(pred_a, pred_b))),
            "flipped_to": int(sum(a != lab and b == lab for a, b in zip(pred_a, pred_b))),
        }
        if metrics_a is not None:
            for m in ("precision", "recall", "f1"):
                row[f"{m}_fp32"] = round(metrics_a[lab][m], 4)
                row[f"{m}_int8"] = round(metrics_b[lab][m], 4)
                row[f"{m}_change_pts"] = round(100 * (metrics_b[lab][m] - metrics_a[lab][m]), 2)
            row["support"] = metrics_a[lab]["support"]
        rep[lab] = row
    return rep


def verify(bundle_dir: Path, student_dir: Path, texts: list[str], gold: list[str] | None, source: str, *,
           atol: float = ExportConfig.atol, max_drop: float = ExportConfig.max_drop, progress=None,
           cache: dict | None = None) -> dict:
    """Run both checks on an assembled (not yet manifested) bundle; returns verification.json.

    ``cache``: a dict kept between calls on the same bundle whose int8 model is being replaced
    (the export's int8 ladder): the PyTorch and fp32 ONNX logits are computed once."""
    from export.runtime import Bundle

    cache = {} if cache is None else cache
    fp32 = Bundle.load(bundle_dir, "fp32", check=False, allow_unverified=True)
    if fp32.task == "multilabel":
        return verify_multilabel(bundle_dir, fp32, student_dir, texts, gold, source, atol=atol, max_drop=max_drop,
                                 progress=progress, cache=cache)
    labels = fp32.labels
    has_int8 = "int8" in fp32.config["onnx_bundle"]["models"].values()

    if "pytorch" not in cache:
        cache["pytorch"] = pytorch_logits(student_dir, texts, fp32.max_length, progress=progress)
        cache["onnx_fp32"] = fp32.logits(texts)
        if progress:
            progress(len(texts))
    ref, onnx_fp32 = cache["pytorch"], cache["onnx_fp32"]
    cache["shipped"] = onnx_fp32
    diff = np.abs(ref.astype(np.float64) - onnx_fp32.astype(np.float64))
    ref_pred = ref.argmax(1)
    fp32_pred = onnx_fp32.argmax(1)
    mism = np.nonzero(ref_pred != fp32_pred)[0]
    max_diff = float(diff.max()) if diff.size else 0.0
    fp32_ok = bool(max_diff <= atol and len(mism) == 0)
    result: dict = {
        "passed": None,
        "summary": "",
        "n_texts": len(texts),
        "eval_source": source,
        "has_gold": gold is not None,
        "thresholds": {"atol": atol, "max_drop_pts": max_drop},
        "fp32_vs_pytorch": {
            "max_abs_diff": max_diff,
            "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
            "argmax_identical": int(len(texts) - len(mism)),
            "argmax_mismatches": [int(i) for i in mism[:20]],
            "passed": fp32_ok,
        },
    }
    parts = [f"fp32 vs PyTorch max|diff| {max_diff:.2e} (<= {atol:g}), "
             f"argmax identical {len(texts) - len(mism)}/{len(texts)}"]
    passed = fp32_ok
    fp32_labels = [labels[i] for i in fp32_pred]
    if gold is not None:
        acc_fp32 = float(np.mean([g == p for g, p in zip(gold, fp32_labels)]))
        result["fp32_vs_pytorch"]["accuracy_fp32"] = acc_fp32
        result["fp32_vs_pytorch"]["accuracy_pytorch"] = float(np.mean([g == labels[i] for g, i in zip(gold, ref_pred)]))
    if has_int8:
        int8 = Bundle.load(bundle_dir, "int8", check=False, allow_unverified=True)
        # Dynamic int8 quantises activations per tensor, i.e. over the whole batch: a text's result
        # depends slightly on its batch-mates. Check both ways the runtime is used: batches of 32
        # (predict's default, throughput) and one text at a time (a device answering one request).
        onnx_int8 = int8.logits(texts)
        cache["shipped"] = onnx_int8  # model.onnx's logits at batch 32, for calibration
        onnx_int8_b1 = int8.logits(texts, batch_size=1)
        if progress:
            progress(len(texts))
        int8_labels = [labels[i] for i in onnx_int8.argmax(1)]
        b1_labels = [labels[i] for i in onnx_int8_b1.argmax(1)]
        agree = float(np.mean([a == b for a, b in zip(fp32_labels, int8_labels)]))
        q = {"agreement_with_fp32": agree,
             "max_abs_logit_diff_vs_fp32": float(np.abs(onnx_int8 - onnx_fp32).max()),
             "per_class": _class_report(labels, gold, fp32_labels, int8_labels)}
        agree_b1 = float(np.mean([a == b for a, b in zip(fp32_labels, b1_labels)]))
        q["batch1"] = {"agreement_with_fp32": agree_b1,
                       "agreement_with_batch32": float(np.mean([a == b for a, b in zip(int8_labels, b1_labels)])),
                       "max_abs_logit_diff_vs_batch32": float(np.abs(onnx_int8_b1 - onnx_int8).max())}
        if gold is not None:
            acc_int8 = float(np.mean([g == p for g, p in zip(gold, int8_labels)]))
            acc_b1 = float(np.mean([g == p for g, p in zip(gold, b1_labels)]))
            drop, drop_b1 = 100 * (acc_fp32 - acc_int8), 100 * (acc_fp32 - acc_b1)
            q.update(metric="accuracy", accuracy_fp32=acc_fp32, accuracy_int8=acc_int8)
            q["batch1"]["accuracy_int8"] = acc_b1
            parts.append(f"int8 accuracy {100 * acc_int8:.2f}% (batch 1: {100 * acc_b1:.2f}%) vs fp32 "
                         f"{100 * acc_fp32:.2f}% (drop {max(drop, drop_b1):+.2f} pts, max {max_drop:g})")
        else:
            drop, drop_b1 = 100 * (1 - agree), 100 * (1 - agree_b1)
            q.update(metric="agreement_with_fp32")
            parts.append(f"int8 agrees with fp32 on {100 * agree:.2f}% (batch 1: {100 * agree_b1:.2f}%) "
                         f"(drop {max(drop, drop_b1):.2f} pts, max {max_drop:g})")
        q["drop_pts"] = round(drop, 4)
        q["batch1"]["drop_pts"] = round(drop_b1, 4)
        q["passed"] = bool(max(drop, drop_b1) <= max_drop + 1e-9)
        passed = passed and q["passed"]
        result["int8_vs_fp32"] = q
    result["passed"] = bool(passed)
    result["summary"] = "; ".join(parts)
    return result


def verify_multilabel(bundle_dir: Path, fp32, student_dir: Path, texts: list[str], gold, source: str, *,
                      atol: float, max_drop: float, progress=None, cache: dict | None = None) -> dict:
    """:func:`verify` for a multi-label bundle (``onnx_bundle.task: multilabel``): fp32 ONNX vs
    PyTorch (max |logit diff| <= ``atol`` and the same label sets under the bundle's thresholds);
    int8 vs fp32 on micro-F1 against gold label sets (without gold: the micro-F1 of int8's label
    sets against fp32's), batch 32 and batch 1, drop <= ``max_drop`` points."""
    from distill.evaluation.metrics import apply_thresholds, multilabel_metrics
    from export.runtime import Bundle

    cache = {} if cache is None else cache
    labels = fp32.labels
    th = fp32.thresholds
    if "pytorch" not in cache:
        cache["pytorch"] = pytorch_logits(student_dir, texts, fp32.max_length, progress=progress)
        cache["onnx_fp32"] = fp32.logits(texts)
        if progress:
            progress(len(texts))
    ref, onnx_fp32 = cache["pytorch"], cache["onnx_fp32"]
    cache["shipped"] = onnx_fp32

    def sets(logits):
        return apply_thresholds(fp32._task.probs(logits, 1.0), labels, th)

    diff = np.abs(ref.astype(np.float64) - onnx_fp32.astype(np.float64))
    ref_sets, fp32_sets = sets(ref), sets(onnx_fp32)
    mism = [i for i, (a, b) in enumerate(zip(ref_sets, fp32_sets)) if set(a) != set(b)]
    max_diff = float(diff.max()) if diff.size else 0.0
    fp32_ok = bool(max_diff <= atol and not mism)
    result: dict = {
        "passed": None, "summary": "", "n_texts": len(texts), "eval_source": source, "has_gold": gold is not None,
        "task": "multilabel", "thresholds": {"atol": atol, "max_drop_pts": max_drop},
        "fp32_vs_pytorch": {"max_abs_diff": max_diff, "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
                            "argmax_identical": int(len(texts) - len(mism)),  # here: identical label sets
                            "argmax_mismatches": [int(i) for i in mism[:20]], "passed": fp32_ok}}
    parts = [f"fp32 vs PyTorch max|diff| {max_diff:.2e} (<= {atol:g}), label sets identical "
             f"{len(texts) - len(mism)}/{len(texts)}"]
    passed = fp32_ok
    ref_sets_gold = gold if gold is not None else fp32_sets
    f1_fp32 = multilabel_metrics(ref_sets_gold, fp32_sets, labels)["micro_f1"]
    if gold is not None:
        result["fp32_vs_pytorch"]["micro_f1_fp32"] = f1_fp32
        result["fp32_vs_pytorch"]["micro_f1_pytorch"] = multilabel_metrics(gold, ref_sets, labels)["micro_f1"]
    if "int8" in fp32.config["onnx_bundle"]["models"].values():
        int8 = Bundle.load(bundle_dir, "int8", check=False, allow_unverified=True)
        onnx_int8 = int8.logits(texts)
        cache["shipped"] = onnx_int8
        onnx_int8_b1 = int8.logits(texts, batch_size=1)
        if progress:
            progress(len(texts))
        int8_sets, b1_sets = sets(onnx_int8), sets(onnx_int8_b1)
        m8 = multilabel_metrics(ref_sets_gold, int8_sets, labels)
        m1 = multilabel_metrics(ref_sets_gold, b1_sets, labels)
        drop, drop_b1 = 100 * (f1_fp32 - m8["micro_f1"]), 100 * (f1_fp32 - m1["micro_f1"])
        q = {"metric": "micro_f1" if gold is not None else "micro_f1_vs_fp32",
             "micro_f1_fp32": f1_fp32, "micro_f1_int8": m8["micro_f1"],
             "agreement_with_fp32": float(np.mean([set(a) == set(b) for a, b in zip(fp32_sets, int8_sets)])),
             "max_abs_logit_diff_vs_fp32": float(np.abs(onnx_int8 - onnx_fp32).max()) if len(texts) else 0.0,
             "per_class": {}, "drop_pts": round(drop, 4),
             "batch1": {"micro_f1_int8": m1["micro_f1"], "drop_pts": round(drop_b1, 4),
                        "agreement_with_fp32": float(np.mean([set(a) == set(b) for a, b in zip(fp32_sets, b1_sets)])),
                        "agreement_with_batch32": float(np.mean([set(a) == set(b) for a, b in zip(int8_sets, b1_sets)])),
                        "max_abs_logit_diff_vs_batch32": float(np.abs(onnx_int8_b1 - onnx_int8).max()) if len(texts) else 0.0}}
        q["passed"] = bool(max(drop, drop_b1) <= max_drop + 1e-9)
        parts.append(f"int8 micro-F1 {100 * m8['micro_f1']:.2f} (batch 1: {100 * m1['micro_f1']:.2f}) vs fp32 "
                     f"{100 * f1_fp32:.2f}" + ("" if gold is not None else " (against fp32's label sets, no gold)")
                     + f" (drop {max(drop, drop_b1):+.2f} pts, max {max_drop:g})")
        passed = passed and q["passed"]
        result["int8_vs_fp32"] = q
    result["passed"] = bool(passed)
    result["summary"] = "; ".join(parts)
    return result


def format_report(v: dict) -> str:
    """Human-readable lines for the terminal."""
    if v.get("task") == "ner":  # entity bundles: export/verify_ner.py
        from export.verify_ner import format_ner_report

        return format_ner_report(v)
    if v.get("task") == "multilabel":
        lines = [f"verification on {v['n_texts']} texts ({v['eval_source']}): " + ("PASSED" if v["passed"] else "FAILED")]
        lines += ["  " + part for part in v["summary"].split("; ")]
        return "\n".join(lines)
    lines = [f"verification on {v['n_texts']} texts ({v['eval_source']}): "
             + ("PASSED" if v["passed"] else "FAILED")]
    f = v["fp32_vs_pytorch"]
    lines.append(f"  fp32 ONNX vs PyTorch: max|diff| {f['max_abs_diff']:.2e} (limit {v['thresholds']['atol']:g}), "
                 f"mean {f['mean_abs_diff']:.1e}, argmax identical {f['argmax_identical']}/{v['n_texts']}"
                 + ("" if f["passed"] else "  <-- FAIL"))
    q = v.get("int8_vs_fp32")
    if q:
        if q["metric"] == "accuracy":
            lines.append(f"  int8 vs fp32: accuracy {100 * q['accuracy_int8']:.2f}% vs {100 * q['accuracy_fp32']:.2f}% "
                         f"(drop {q['drop_pts']:+.2f} pts, limit {v['thresholds']['max_drop_pts']:g}); "
                         f"agreement {100 * q['agreement_with_fp32']:.2f}%" + ("" if q["passed"] else "  <-- FAIL"))
            b1 = q["batch1"]
            lines.append(f"  int8 one text at a time: accuracy {100 * b1['accuracy_int8']:.2f}% "
                         f"(drop {b1['drop_pts']:+.2f} pts); agrees with batch-32 int8 on "
                         f"{100 * b1['agreement_with_batch32']:.2f}%")
        else:
            lines.append(f"  int8 vs fp32 (no gold): agreement {100 * q['agreement_with_fp32']:.2f}% "
                         f"(drop {q['drop_pts']:.2f} pts, limit {v['thresholds']['max_drop_pts']:g})"
                         + ("" if q["passed"] else "  <-- FAIL"))
            b1 = q["batch1"]
            lines.append(f"  int8 one text at a time: agreement with fp32 {100 * b1['agreement_with_fp32']:.2f}% "
                         f"(drop {b1['drop_pts']:.2f} pts); agrees with batch-32 int8 on "
                         f"{100 * b1['agreement_with_batch32']:.2f}%")
        for lab, r in q["per_class"].items():
            s = (f"    {lab}: predicted {r['predicted_fp32']} -> {r['predicted_int8']}, "
                 f"flips away {r['flipped_away']}, to {r['flipped_to']}")
            if "recall_fp32" in r:
                s += (f"; recall {100 * r['recall_fp32']:.1f} -> {100 * r['recall_int8']:.1f}, "
                      f"F1 {100 * r['f1_fp32']:.1f} -> {100 * r['f1_int8']:.1f}")
            lines.append(s)
    return "\n".join(lines)


def verify_bundle(bundle_dir, student_dir=None, config=None, *, eval_data=None, text_column: str | None = None,
                  label_column: str | None = None, labels: str | None = None, resign: bool = False,
                  progress: bool = True, text_pair_column: str | None = None) -> dict:
    """Verify an existing bundle against its PyTorch student and record the result in the bundle
    (verification.json, README.md, their manifest entries); returns the verification.

    The bundle's files must still match the manifest made at export (a changed, added, missing or
    symlinked file is refused); ``resign`` verifies the files as they are and signs them anew.
    ``config``: an :class:`export.config.ExportConfig` (``max_drop``, ``atol``, ``eval_limit``)."""
    import os

    from core.progress import progress_bar
    from core.schema import check_settings
    from distill.training.modeling import require_safetensors
    from export import bundle as B
    from export.onnx import check_student_dir
    from export.runtime import CONFIG, MANIFEST, BundleError, check_manifest, check_regular_files, read_config

    c = check_settings(config or ExportConfig())
    bundle_dir = Path(bundle_dir)
    if not os.path.lexists(bundle_dir / MANIFEST) or not os.path.lexists(bundle_dir / CONFIG):
        raise UserError(f"{bundle_dir} is not a bundle (no manifest.json/config.json); run `advisor export` first")
    if eval_data is not None and not Path(eval_data).exists():
        raise UserError(f"--eval-data {eval_data} not found")
    try:
        if resign:  # regular files inside the bundle still enforced; the hashes are renewed
            check_regular_files(bundle_dir)
            manifest = None
        else:
            manifest = check_manifest(bundle_dir)
        cfg = read_config(bundle_dir)
        if not isinstance(cfg.get("onnx_bundle"), dict):
            raise BundleError(f"{bundle_dir / 'config.json'} has no 'onnx_bundle' section")
    except BundleError as exc:
        hint = "" if resign else " (to accept the files as they are now, verify with --resign)"
        raise UserError(f"{exc}{hint}") from None
    info = cfg["onnx_bundle"]
    recorded = (info.get("student") or {}).get("path") if isinstance(info.get("student"), dict) else None
    student = check_student_dir(student_dir or recorded or "")
    require_safetensors(student, "student")
    ner = info.get("task") == "ner"  # entity bundles: export/verify_ner.py
    if ner:
        from export.verify_ner import load_ner_eval, verify_ner

        texts, gold, source = load_ner_eval(student, str(eval_data) if eval_data else None, c.eval_limit)
    else:
        texts, gold, source = load_eval_texts(student, B.label_names(cfg), str(eval_data) if eval_data else None,
                                              text_column, label_column, labels, c.eval_limit,
                                              text_pair_column=text_pair_column)
    bar = progress_bar(len(texts) * 3, "verify", progress)
    try:
        verification = (verify_ner if ner else verify)(bundle_dir, student, texts, gold, source, atol=c.atol,
                                                       max_drop=c.max_drop, progress=bar.update)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    finally:
        bar.close()
    scheme = ((info.get("steps") or {}).get("quantize") or {}).get("scheme") if isinstance(info.get("steps"), dict) else None
    if scheme and verification.get("int8_vs_fp32"):
        verification["int8_scheme"] = scheme  # chosen at export (export/build.py); kept on re-verification
    if resign:
        B.finish(bundle_dir, cfg, verification)
    else:
        B.record_verification(bundle_dir, manifest, cfg, verification)
    return verification
