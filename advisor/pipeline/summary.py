"""The run's one-page summary: teacher vs student vs TF-IDF peer on gold, and the latency, size and
memory of the teacher, the PyTorch student and the ONNX fp32/int8 bundles, with ratios.

Built from the files the stages wrote (``metrics.json`` from evaluate, ``bundle/bench/bench.json``
from bench) into ``summary.json`` and ``report.md`` (the evaluation report followed by the cost
side, linking every PNG) in the run directory.
"""

from __future__ import annotations

from pathlib import Path

from core.atomic import write_json, write_text

SYSTEM_NAMES = {"teacher": "GPT teacher", "student": "BERT student (PyTorch)", "tfidf_lr": "TF-IDF + LR peer"}
BENCH_NAMES = {"teacher": "GPT teacher", "pytorch_student": "student, PyTorch",
               "onnx_fp32": "student, ONNX fp32", "onnx_int8": "student, ONNX int8"}


def _load(path: Path) -> dict | None:
    from core.rundir import read_state

    data = read_state(path, "run file")  # a damaged file is reported and left out of the summary
    return data if isinstance(data, dict) else None


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def build_summary(run_dir: str | Path) -> dict:
    run = Path(run_dir)
    metrics, bench = _load(run / "metrics.json"), _load(run / "bundle" / "bench" / "bench.json")
    verification = _load(run / "bundle" / "verification.json")
    summary: dict = {"run_dir": str(run), "accuracy": {}, "latency": {}, "ratios": {}, "checks": {}}
    if metrics:
        summary["gold_n"] = metrics.get("n")
        for name, m in metrics["systems"].items():
            summary["accuracy"][name] = {"accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
                                         "ece": m.get("ece"), "agreement_with_teacher": m.get("agreement_with_teacher")}
        acc = summary["accuracy"]
        if "student" in acc and "teacher" in acc:
            summary["checks"]["student_at_least_teacher"] = acc["student"]["accuracy"] >= acc["teacher"]["accuracy"]
        if "student" in acc and "tfidf_lr" in acc:
            summary["checks"]["student_beats_tfidf_peer"] = acc["student"]["accuracy"] > acc["tfidf_lr"]["accuracy"]
    if bench:
        for name, r in bench["results"].items():
            summary["latency"][name] = {k: r.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_texts_per_s",
                                                              "size_mb", "peak_rss_mb")}
        summary["ratios"] = bench.get("ratios", {})
        summary["checks"].update({k: v.get("ok") for k, v in bench.get("checks", {}).items()})
    if verification:
        summary["verification"] = {k: verification.get(k) for k in ("passed", "summary", "skipped", "int8_scheme")
                                   if k in verification}
        if verification.get("passed") is not None:  # None: skipped on purpose (--no-verify)
            summary["checks"]["bundle_verification_passed"] = bool(verification["passed"])
    active = _load(run / "active" / "summary.json") if (run / "active" / "summary.json").is_file() else None
    if active:  # active distillation (teacher.budget): the rounds, and the final student at the budget's end
        summary["active"] = active
        final = (summary["accuracy"].get("student") or {}).get("accuracy")
        if final is not None:
            active = dict(active, final_student={"calls": active["teacher_calls"], "gold_accuracy": final})
            summary["active"] = active
    state = _load(run / "pipeline.json")
    failed = [(name, rec) for name, rec in ((state or {}).get("stages") or {}).items()
              if isinstance(rec, dict) and rec.get("status") == "failed"]
    if failed:
        name, rec = failed[0]
        summary["failed_stage"] = {"stage": name, "reason": rec.get("reason")}
    return summary


def summary_markdown(summary: dict, run: Path, metrics: dict | None) -> str:
    """The evaluation report (quality, gains and losses, per class) followed by the cost side."""
    from distill.evaluation.report import build_report

    lines = [build_report(metrics).rstrip(), ""] if metrics else [f"# Run report: `{run.name}`", ""]
    if summary.get("failed_stage"):
        f = summary["failed_stage"]
        lines += [f"> **FAILED: stage `{f['stage']}`.** {f.get('reason') or ''}", ""]
    if summary.get("active"):
        from distill.active import active_markdown, plot_active_curve

        a = summary["active"]
        f = a.get("final_student")
        curve = plot_active_curve(a, run / "active_curve.png",
                                  final=(f["calls"], f["gold_accuracy"]) if f else None)
        lines += active_markdown(dict(a, curve_png="active_curve.png" if curve else None))
        if a.get("final_student"):
            lines += ["", f"Final student (trained on the teacher's {a['teacher_rows']} rows and the student's "
                          f"{a['student_rows']}): gold accuracy {a['final_student']['gold_accuracy']:.3f} with "
                          f"{a['teacher_calls']} teacher calls (its own point on the curve)."]
        lines.append("")
    if summary["latency"]:
        lines += ["## Cost: latency (batch 1, one thread), throughput, size, memory", "",
                  "| system | p50 ms | p95 ms | p99 ms | texts/s (batch 32) | size MB | peak RSS MB |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in summary["latency"].items():
            lines.append(f"| {BENCH_NAMES.get(name, name)} | {_fmt(r['p50_ms'], '.2f')} | {_fmt(r['p95_ms'], '.2f')} | "
                         f"{_fmt(r['p99_ms'], '.2f')} | {_fmt(r['throughput_texts_per_s'], '.1f')} | "
                         f"{_fmt(r['size_mb'], '.1f')} | {_fmt(r['peak_rss_mb'], '.0f')} |")
        lines += ["", "Ratios:", ""]
        lines += [f"- `{k}`: {v:.1f}x" for k, v in summary["ratios"].items() if v is not None and "_cpu_" not in k]
        lines += ["", "![latency](bundle/bench/bench.png)", ""]
    if summary["checks"]:
        lines += ["## Checks", ""] + [f"- {'PASS' if ok else 'FAIL'} `{k}`" for k, ok in summary["checks"].items()]
        lines.append("")
    details = [f for f in ("teacher_report.md", "bundle/verification.json", "bundle/bench/bench.json", "pipeline.json")
               if (run / f).is_file()]
    if details:
        lines += ["## Details", ""] + [f"- [{f}]({f})" for f in details]
    return "\n".join(lines) + "\n"


def summary_table(summary: dict) -> str:
    """A compact terminal table: accuracy and p50 latency side by side."""
    rows = [("system", "gold acc", "p50 ms", "size MB")]
    for name in ("teacher", "tfidf_lr", "student"):
        if name in summary["accuracy"]:
            lat = summary["latency"].get(name) or (summary["latency"].get("pytorch_student") if name == "student" else None) or {}
            rows.append((SYSTEM_NAMES[name], _fmt(summary["accuracy"][name]["accuracy"]),
                         _fmt(lat.get("p50_ms"), ".2f"), _fmt(lat.get("size_mb"), ".1f")))
    for name in ("onnx_fp32", "onnx_int8"):
        if name in summary["latency"]:
            r = summary["latency"][name]
            rows.append((BENCH_NAMES[name], "", _fmt(r["p50_ms"], ".2f"), _fmt(r["size_mb"], ".1f")))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def write_summary(run_dir: str | Path) -> dict:
    run = Path(run_dir)
    summary = build_summary(run)
    write_json(run / "summary.json", summary)
    write_text(run / "report.md", summary_markdown(summary, run, _load(run / "metrics.json")))
    return summary
