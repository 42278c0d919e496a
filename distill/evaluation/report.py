"""Human-readable outputs: the student's model card (README.md) and the evaluation report.md."""

from __future__ import annotations

import json

SYSTEMS = ("teacher", "student", "tfidf_lr")  # the gold evaluation's systems, in the order of every table


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * float(x):.1f}%"


def _num(x, nd=3) -> str:
    return "n/a" if x is None else f"{float(x):.{nd}f}"


def _teacher_line(teacher: dict | None) -> str:
    if not teacher:
        return "unknown (no teacher.json beside the labels file)"
    inner = teacher.get("teacher") if isinstance(teacher.get("teacher"), dict) else teacher
    parts = []
    for key in ("kind", "model", "base_url", "server_model", "dtype"):
        v = inner.get(key)
        if v and not isinstance(v, (dict, list)):
            parts.append(f"{key} `{v}`")
    if teacher.get("fingerprint"):
        parts.append(f"fingerprint `{teacher['fingerprint']}`")
    if teacher.get("template"):
        parts.append(f"prompt template `{teacher['template']}`")
    cal = teacher.get("calibration")
    if isinstance(cal, dict) and cal.get("method"):
        parts.append(f"calibration `{cal['method']}`")
    return ", ".join(parts) if parts else "`" + json.dumps(teacher)[:200] + "`"


def build_model_card(summary: dict, teacher: dict | None, evaluation: dict | None) -> str:
    """README.md for RUN_DIR/student: what it is, how it was made, how good it is, its limits."""
    cfg = summary.get("config", {})
    data = summary.get("data", {})
    labels = summary.get("labels", [])
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "tags: [distillation, bert-or-gpt]",
        "---",
        "",
        "# Distilled text classifier (student)",
        "",
        f"A small encoder fine-tuned by `advisor distill train` on the probabilities of a GPT-style "
        f"teacher. Labels ({len(labels)}): {', '.join(f'`{x}`' for x in labels)}.",
        "",
        "```python",
        "from transformers import pipeline",
        'clf = pipeline("text-classification", model="PATH/TO/student")',
        'clf("an example text")',
        "```",
        "",
        "## How it was made",
        "",
        f"- Base encoder: `{summary.get('student_base')}`",
        f"- Teacher: {_teacher_line(teacher)}",
        f"- Training data: `{summary.get('labels_file')}` (sha256 {str(summary.get('labels_sha256'))[:12]}...): "
        f"{data.get('rows')} rows, {data.get('abstained')} abstained (skipped), {data.get('train')} trained on, "
        f"{data.get('eval')} held out, {data.get('dropped_by_threshold')} dropped below the confidence threshold.",
        f"- Loss: {cfg.get('alpha')} x T^2 x KL(teacher_T || student_T) + {1 - float(cfg.get('alpha', 0)):.2f} x "
        f"CE(hard label = {cfg.get('hard_label')}), T = {cfg.get('temperature')}, weighting = {cfg.get('weighting')}, "
        f"class balance = {cfg.get('balance')}, threshold = {cfg.get('threshold')}.",
        f"- Optimisation: {summary.get('global_step')} steps ({_num(summary.get('epochs_done'), 2)} epochs), "
        f"lr {cfg.get('lr')}, batch {cfg.get('batch_size')} x {summary.get('world_size', 1)} process(es), "
        f"max_length {cfg.get('max_length')}, seed {cfg.get('seed')}; early stopping on {summary.get('early_stopping')} "
        f"(best accuracy {_num(summary.get('best_eval_accuracy'))}).",
        "",
        "## Evaluation",
        "",
    ]
    if evaluation:
        lines += comparison_table(evaluation)
        lines += ["", f"Gold set: `{evaluation.get('gold_file')}` ({evaluation.get('n')} texts)."]
    else:
        lines += [
            "No gold evaluation yet. Held-out agreement with the teacher: "
            f"{_pct(summary.get('best_eval_accuracy'))}. Run `advisor distill evaluate RUN_DIR --gold FILE` "
            "to compare student, teacher and a TF-IDF baseline on gold labels.",
        ]
    lines += [
        "",
        "## Limits",
        "",
        "- The student learns the teacher's labels, errors included; it is only as good as the teacher on "
        "inputs like the training texts, and it has never seen gold labels unless you supplied them.",
        f"- Inputs longer than {cfg.get('max_length')} tokens are truncated.",
        "- It always answers with one of the labels above: it cannot abstain or flag out-of-domain inputs, "
        "and its probabilities are only roughly calibrated (see ECE in the evaluation).",
        "- English only if the base encoder is English-only (all-MiniLM-L6-v2 is).",
        "",
    ]
    return "\n".join(lines)


def comparison_table(ev: dict) -> list[str]:
    systems = ev["systems"]
    order = [s for s in SYSTEMS if s in systems]
    kind = systems.get("teacher", {}).get("kind")
    names = {"teacher": "teacher (classifier)" if kind == "classifier" else "teacher (GPT)",
             "student": "student (BERT)", "tfidf_lr": "TF-IDF + LR"}
    if ev.get("task") == "multilabel":  # label sets: micro-F1 is the main metric
        out = ["| system | micro-F1 | macro-F1 | subset accuracy | agreement with teacher | texts/s |",
               "|---|---|---|---|---|---|"]
        for s in order:
            m = systems[s]
            out.append(f"| {names[s]} | {_num(m.get('micro_f1'))} | {_num(m.get('macro_f1'))} | "
                       f"{_pct(m.get('subset_accuracy'))} | {_pct(m.get('agreement_with_teacher'))} | "
                       f"{_num(m.get('texts_per_second'), 1)} |")
        return out
    out = [
        "| system | accuracy | macro-F1 | agreement with teacher | retention | ECE | texts/s | size (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in order:
        m = systems[s]
        out.append(
            f"| {names[s]} | {_pct(m.get('accuracy'))} | {_num(m.get('macro_f1'))} | "
            f"{_pct(m.get('agreement_with_teacher'))} | {_num(m.get('retention'))} | {_num(m.get('ece'))} | "
            f"{_num(m.get('texts_per_second'), 1)} | {_num(m.get('size_mb'), 1)} |"
        )
    return out


def build_report(ev: dict) -> str:
    """report.md: the three-way comparison with gains and losses, per-class table, figures."""
    systems = ev["systems"]
    labels = ev["labels"]
    st, te = systems.get("student", {}), systems.get("teacher")
    lines = [
        "# Distillation report",
        "",
        f"Gold set: `{ev['gold_file']}`, {ev['n']} texts, labels: {', '.join(labels)}. "
        f"Run dir: `{ev['run_dir']}`.",
        "",
        "## Student vs teacher vs cheap peer (on gold labels)",
        "",
        *comparison_table(ev),
        "",
        "Retention = accuracy / teacher accuracy. ECE = expected calibration error (15 bins, top label). "
        "texts/s measured on this machine while scoring the gold set (teacher: "
        f"{ev.get('teacher_source', 'n/a')}).",
        "",
        "## What you gained and what you lost",
        "",
    ]
    if te:
        d_acc = st.get("accuracy", 0) - te.get("accuracy", 0)
        lines.append(f"- Accuracy: student {_pct(st.get('accuracy'))} vs teacher {_pct(te.get('accuracy'))} "
                     f"({'+' if d_acc >= 0 else ''}{100 * d_acc:.1f} points).")
        if st.get("texts_per_second") and te.get("texts_per_second"):
            lines.append(f"- Speed: {st['texts_per_second'] / te['texts_per_second']:.1f}x the teacher's throughput "
                         f"({_num(st['texts_per_second'], 1)} vs {_num(te['texts_per_second'], 1)} texts/s).")
        if st.get("size_mb") and te.get("size_mb"):
            lines.append(f"- Size: {_num(st['size_mb'], 1)} MB vs {_num(te['size_mb'], 1)} MB on disk.")
        if st.get("ece") is not None and te.get("ece") is not None:
            lines.append(f"- Calibration (ECE, lower is better): student {_num(st['ece'])} vs teacher {_num(te['ece'])}.")
        lost = [lab for lab in labels
                if st["per_class"][lab]["f1"] + 0.02 < te["per_class"][lab]["f1"]]
        if lost:
            lines.append(f"- Classes where the student is worse than the teacher (F1 more than 2 points lower): "
                         f"{', '.join(lost)}.")
        else:
            lines.append("- No class where the student's F1 is more than 2 points below the teacher's.")
    else:
        lines.append("- No teacher predictions on the gold set: retention and agreement are not available.")
    if "tfidf_lr" in systems:
        d = st.get("accuracy", 0) - systems["tfidf_lr"].get("accuracy", 0)
        lines.append(f"- Versus the cheap peer (TF-IDF + logistic regression on the same teacher labels): "
                     f"{'+' if d >= 0 else ''}{100 * d:.1f} accuracy points.")
    lines += ["", "## Per class (precision / recall / F1)", "",
              "| label | support | " + " | ".join(s for s in systems) + " |",
              "|---|---|" + "---|" * len(systems)]
    for lab in labels:
        sup = next(iter(systems.values()))["per_class"][lab]["support"]
        cells = []
        for s in systems:
            pc = systems[s]["per_class"][lab]
            cells.append(f"{pc['precision']:.2f} / {pc['recall']:.2f} / {pc['f1']:.2f}")
        lines.append(f"| {lab} | {sup} | " + " | ".join(cells) + " |")
    lines += ["", "## Figures", ""]
    for fig in ev.get("figures", []):
        lines.append(f"![{fig}]({fig})")
    lines.append("")
    return "\n".join(lines)
