"""The teacher report: what the teacher said about the data and, where gold labels exist, how good
that was (accuracy, macro-F1, confusion matrix PNG). Writes teacher_report.json and .md."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from core.atomic import write_json, write_text
from distill.data.labelset import LabelSet
from distill.teachers.base import SOURCES


def summarize(rows: list[dict], labelset: LabelSet) -> dict:
    names = labelset.names
    n = len(rows)
    sources = Counter(r["source"] for r in rows)
    dist = Counter(r["label"] for r in rows if r["label"] is not None)
    conf = [r["confidence"] for r in rows if r["confidence"] is not None]
    rep: dict = {
        "rows": n,
        "unique_texts": len({r["text"] for r in rows}),
        "sources": {s: sources.get(s, 0) for s in SOURCES},
        "label_distribution": {k: dist.get(k, 0) for k in names},
        "label_share": {k: (dist.get(k, 0) / n if n else 0.0) for k in names},
        "mean_confidence": float(np.mean(conf)) if conf else None,
        "coverage": (n - sources.get("abstained", 0)) / n if n else 0.0,
    }
    reasons = Counter(r["reason"] for r in rows if r["source"] == "abstained" and r.get("reason"))
    if reasons:  # answers that could not be read (e.g. a logprob > 0): why, most frequent first
        rep["abstain_reasons"] = dict(reasons.most_common(10))
    return rep


def gold_metrics(rows: list[dict], labelset: LabelSet, task: str | None = None) -> dict | None:
    rows = [r for r in rows if r.get("gold") is not None]
    if not rows:
        return None
    from distill.evaluation.metrics import classification_metrics

    names = labelset.names
    probs = np.array([[r["probs"][k] for k in names] for r in rows], dtype=np.float64)
    if task is not None:
        from distill.tasks import get_task

        kind = get_task(task)
        if kind.multi_label:  # the label set of each row (p >= 0.5) against the gold set
            return kind.metrics([r["gold"] for r in rows], [r.get("labels") or () for r in rows], names, probs=probs)
    return classification_metrics([r["gold"] for r in rows], [r["label"] for r in rows], names, probs=probs)


def write_report(rows: list[dict], labelset: LabelSet, out_dir, teacher_meta: dict | None = None,
                 held_out_exclude: set[str] | None = None) -> dict:
    out = Path(out_dir)
    rep = summarize(rows, labelset)
    teacher_meta = teacher_meta or {}
    rep["teacher"] = teacher_meta.get("teacher", {})
    rep["template"] = teacher_meta.get("template")
    rep["calibration"] = (teacher_meta.get("calibration") or {}).get("method")
    rep["selection"] = teacher_meta.get("selection", [])
    rep["gate"] = teacher_meta.get("gate")
    task = teacher_meta.get("task")
    m = gold_metrics(rows, labelset, task)
    if m is not None and "confusion" not in m:  # multi-label: micro/macro-F1, subset accuracy, per label
        rep["gold"] = m
    elif m is not None:
        rep["gold"] = m
        if held_out_exclude:
            rest = [r for r in rows if r["id"] not in held_out_exclude]
            hm = gold_metrics(rest, labelset, task)
            if hm is not None:
                rep["gold_held_out"] = {"n": hm["n"], "accuracy": hm["accuracy"], "macro_f1": hm["macro_f1"],
                                        "note": "rows not used to select the prompt"}
        from distill.evaluation.plots import plot_confusion

        plot_confusion(m["confusion"], labelset.names, out / "teacher_confusion.png",
                       f"Teacher vs gold (accuracy {m['accuracy']:.1%}, n={m['n']})")
        rep["confusion_png"] = "teacher_confusion.png"
    write_json(out / "teacher_report.json", rep)
    write_text(out / "teacher_report.md", to_markdown(rep, labelset))
    return rep


def to_markdown(rep: dict, labelset: LabelSet) -> str:
    t = rep.get("teacher", {})
    lines = ["# Teacher report", ""]
    lines.append(f"- teacher: `{t.get('kind', '?')}` {t.get('model') or t.get('server_model') or ''} "
                 f"(fingerprint `{t.get('fingerprint', '?')}`)")
    lines.append(f"- prompt template: `{rep.get('template')}`, calibration: `{rep.get('calibration')}`")
    lines.append(f"- rows: {rep['rows']} ({rep['unique_texts']} unique texts)")
    s = rep["sources"]
    lines.append(f"- sources: scored {s['scored']}, parsed {s['parsed']}, abstained {s['abstained']} "
                 f"(coverage {rep['coverage']:.1%})")
    mc = rep.get("mean_confidence")
    lines.append(f"- mean confidence: {mc:.3f}" if mc is not None else "- mean confidence: n/a")
    lines += ["", "## Label distribution", "", "| label | count | share |", "|---|---:|---:|"]
    for k in labelset.names:
        lines.append(f"| {k} | {rep['label_distribution'][k]} | {rep['label_share'][k]:.1%} |")
    if rep.get("selection"):
        lines += ["", "## Prompt selection (gold dev set)", "", "| template | calibration | accuracy |", "|---|---|---:|"]
        for r in rep["selection"]:
            lines.append(f"| {r['template']} | {r.get('calibration', '')} | {r['accuracy']:.1%} |")
    gate = rep.get("gate")
    if gate:
        verdict = {True: "passed", False: "failed", None: "no verdict"}[gate.get("passed")]
        lines += ["", "## Teacher gate (before labelling)", "", f"- verdict: **{verdict}** ({gate.get('reason')})",
                  f"- measured on: {gate.get('n')} texts, {gate.get('source')}"]
        for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
            if key in gate:
                ci = gate.get(f"{key}_ci")
                lines.append(f"- {name}: {gate[key]:.3f}" + (f" (95% bootstrap CI {ci[0]:.3f}-{ci[1]:.3f})" if ci else ""))
        if "chance_accuracy" in gate:
            lines.append(f"- baselines: chance accuracy {gate['chance_accuracy']:.3f}, majority class "
                         f"`{gate['majority_class']}` {gate['majority_accuracy']:.3f}; macro-F1 chance "
                         f"{gate['chance_macro_f1']:.3f}, majority {gate['majority_macro_f1']:.3f}")
        if "top_share" in gate:
            lines.append(f"- label distribution: {gate['label_distribution']} (top share {gate['top_share']:.1%})")
            lines.append(f"- mean confidence: {gate['mean_confidence']:.3f} (chance {gate['chance_confidence']:.3f})")
        if "kappa" in gate:
            ci = gate.get("kappa_ci")
            lines.append(f"- agreement with template `{gate['second_template']}`: {gate['agreement']:.1%}, "
                         f"Cohen's kappa {gate['kappa']:.2f}" + (f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if ci else ""))
    g = rep.get("gold")
    if g and "micro_f1" in g:  # multi-label
        lines += ["", "## Against gold (multi-label, a label is on at p >= 0.5)", "", f"- n: {g['n']}",
                  f"- micro-F1: {g['micro_f1']:.3f}", f"- macro-F1: {g['macro_f1']:.3f}",
                  f"- subset accuracy (exact set): {g['subset_accuracy']:.1%}",
                  f"- labels per text: gold {g['mean_labels_gold']:.2f}, teacher {g['mean_labels_pred']:.2f}",
                  "", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for k, r in g["per_class"].items():
            lines.append(f"| {k} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |")
        g = None
    if g:
        lines += ["", "## Against gold", "", f"- n: {g['n']}", f"- accuracy: {g['accuracy']:.1%}",
                  f"- macro-F1: {g['macro_f1']:.3f}"]
        if "ece" in g:
            lines.append(f"- ECE: {g['ece']:.3f}")
        if rep.get("gold_held_out"):
            h = rep["gold_held_out"]
            lines.append(f"- held out from prompt selection: accuracy {h['accuracy']:.1%} (n={h['n']})")
        lines += ["", "Confusion (rows gold, columns teacher):", "",
                  "| gold \\ teacher | " + " | ".join(labelset.names) + " |",
                  "|---|" + "---:|" * len(labelset.names)]
        for k, row in zip(labelset.names, g["confusion"]):
            lines.append(f"| {k} | " + " | ".join(str(x) for x in row) + " |")
        lines += ["", "![confusion](teacher_confusion.png)"]
    return "\n".join(lines) + "\n"
