"""``advisor export bench``: the bundle's ONNX models vs the PyTorch student vs the teacher.

Every measurement runs in a fresh subprocess (``export/_bench_worker.py``) so that import time,
load time and peak RSS (``ru_maxrss``) belong to that model alone:

* latency: batch 1, ONE thread (onnxruntime intra_op_num_threads=1 / torch.set_num_threads(1)),
  end to end (tokenise + run + softmax), p50/p95/p99 over ``--n`` texts after 5 warm-up texts;
* throughput: batch 32, all cores, texts/s over the same texts (repeated for >= 1 s);
* size on disk (model file; the student's weights; the teacher's file), peak memory of the
  latency process, import + load time.

The teacher (``distill.teachers.load_teacher(spec, labelset).predict_proba``) runs on the first
``--n-teacher`` texts only. Results: printed table + ratios, ``bench.json`` and ``bench.png``
(log-scale latency bars) in ``BUNDLE_DIR/bench/`` or ``--out``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from core.atomic import write_json
from core.offline import OFFLINE_ENV
from core.errors import UserError

WORKER = Path(__file__).with_name("_bench_worker.py")
REPO = Path(__file__).resolve().parents[1]
TARGETS = {"int8_p50_ms_max": 2.0, "teacher_over_student_p50_min": 100.0, "runtime_peak_mb_max": 150.0}
# how the workers measure (every job carries them; _bench_worker.py has no defaults of its own)
WARMUP, TEACHER_WARMUP, ROUNDS = 5, 2, 3  # latency: warm-up texts (the teacher's), rounds over the texts
THROUGHPUT_BATCH, MIN_SECONDS = 32, 1.0  # throughput: batch size, repeated for at least this long


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_texts(bundle: Path, verification: dict, texts_path: Path | None, text_column: str | None,
                n: int, text_pair_column: str | None = None) -> tuple[list[str], str]:
    from export.verify import FALLBACK_TEXTS

    if texts_path is not None:
        if not Path(texts_path).exists():
            raise UserError(f"--texts {texts_path} not found")
        src = Path(texts_path)
    else:
        s = verification.get("eval_source")
        src = Path(s) if s and Path(s).is_file() else None
    if src is None:
        texts = list(FALLBACK_TEXTS)
        source = "built-in sentences (pass --texts for a real sample)"
    else:
        from distill.data.reader import load_texts

        from distill.data.labelset import LabelSet

        info = json.loads((bundle / "config.json").read_text(encoding="utf-8")).get("onnx_bundle") or {}
        ls = LabelSet.from_dict(info["labelset"]) if isinstance(info.get("labelset"), dict) else None  # its preset's format
        if info.get("task") == "ner":  # an entity file (CoNLL, CLUENER JSON, spans): its texts, as verification read them
            from distill.data.ner import read_ner

            texts = list(read_ner(src, ls, limit=n).texts)
        else:
            if info.get("task") == "pairs" and not text_pair_column:  # the preset's second column (mrpc: #2 String)
                from distill.data.reader import pair_column_hint

                text_pair_column = pair_column_hint(ls)
            texts = list(load_texts(src, text_column=text_column, label_column="none", limit=n, labelset=ls,
                                    text_pair_column=text_pair_column).texts)
        source = str(src)
    if not texts:
        raise UserError(f"no texts to benchmark in {source}")
    while len(texts) < min(n, 50):  # tiny files: cycle so percentiles mean something
        texts = texts + texts
    return texts[:n], source


def _run_worker(job: dict, timeout: float = 1800) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump(job, fh)
        path = fh.name
    try:
        env = dict(os.environ, PYTHONPATH="", **OFFLINE_ENV)
        proc = subprocess.run([sys.executable, str(WORKER), path], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=tempfile.gettempdir())
    finally:
        os.unlink(path)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"{job['kind']} {job['mode']} benchmark failed: {err}")
    return json.loads(lines[-1])


def _measure(kind: str, texts: list[str], extra: dict, tp_texts: list[str] | None = None) -> dict:
    extra = {"warmup": WARMUP, "rounds": ROUNDS, "batch": THROUGHPUT_BATCH, "min_seconds": MIN_SECONDS, **extra}
    lat = _run_worker({"kind": kind, "mode": "latency", "texts": texts, **extra})
    thr = _run_worker({"kind": kind, "mode": "throughput", "texts": tp_texts or texts, **extra})
    return {
        **lat["latency"],
        "throughput_texts_per_s": thr["throughput"]["texts_per_s"],
        "throughput_batch": thr["throughput"]["batch_size"],
        "peak_rss_mb": lat["peak_rss_mb"],
        "peak_rss_mb_throughput": thr["peak_rss_mb"],
        "import_s": lat["import_s"],
        "load_s": lat["load_s"],
        "torch_imported": lat["torch_imported"],
        "transformers_imported": lat["transformers_imported"],
        **({"fingerprint": lat["fingerprint"]} if "fingerprint" in lat else {}),
    }


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from core.atomic import atomic_open

    names = list(results)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.27
    for j, (key, lab) in enumerate((("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"))):
        vals = [results[n][key] for n in names]
        bars = ax1.bar([i + (j - 1) * width for i in range(len(names))], vals, width, label=lab)
        if key == "p50_ms":
            for b, v in zip(bars, vals):
                ax1.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(names)))
    ax1.set_xticklabels(names, rotation=15)
    ax1.set_ylabel("ms per text (log)")
    ax1.set_title("latency, batch 1, 1 thread")
    ax1.legend(fontsize=8)
    tp = [results[n]["throughput_texts_per_s"] for n in names]
    bars = ax2.bar(range(len(names)), tp, color="#55A868")
    ax2.set_yscale("log")
    ax2.set_xticks(range(len(names)))
    ax2.set_xticklabels(names, rotation=15)
    ax2.set_ylabel("texts / s (log)")
    ax2.set_title(f"throughput, batch {THROUGHPUT_BATCH}, {os.cpu_count()} cores")
    for b, v in zip(bars, tp):
        ax2.annotate(f"{v:.3g}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=7)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


def teacher_prompt_options(path) -> dict:
    """``template`` and ``shots`` of the prompt recorded in a RUN_DIR/teacher.json (``advisor distill label``).

    Calibration is left out: it rescales the final probabilities (a multiply per text) and its
    one-off fit would only add to the load time."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--teacher-prompt {p} not found (expected RUN_DIR/teacher.json from `advisor distill label`)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"--teacher-prompt {p} is not valid JSON: {exc}") from None
    prompt = data.get("prompt") if isinstance(data, dict) else None
    if not isinstance(prompt, dict) or not isinstance(prompt.get("template"), str):
        raise UserError(f"--teacher-prompt {p} has no prompt.template (is it RUN_DIR/teacher.json?)")
    from distill.teachers.prompts import TEMPLATES

    if prompt["template"] not in TEMPLATES:
        raise UserError(f"--teacher-prompt {p}: unknown template {prompt['template']!r}")
    shots = prompt.get("shots") or []
    if not all(isinstance(x, list) and len(x) == 2 and all(isinstance(y, str) for y in x) for x in shots):
        raise UserError(f"--teacher-prompt {p}: prompt.shots must be [text, label] pairs")
    return {"template": prompt["template"], "shots": shots, "language": prompt.get("language") or "en"}


def _open_bundle(bundle: Path) -> tuple[dict, dict]:
    """The bundle's ``onnx_bundle`` config and its verification.json, after the manifest check."""
    from export.runtime import CONFIG, VERIFICATION, BundleError, check_manifest

    try:
        check_manifest(bundle)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    config = json.loads((bundle / CONFIG).read_text(encoding="utf-8"))
    verification = json.loads((bundle / VERIFICATION).read_text(encoding="utf-8"))
    return config["onnx_bundle"], verification


def _bench_onnx(bundle: Path, info: dict, texts: list[str], echo) -> dict[str, dict]:
    """``onnx_<variant>`` -> measurements, for every ONNX model in the bundle (int8 first)."""
    results = {}
    variants = sorted(set(info["models"].values()), key=lambda v: v != "int8")
    for v in variants:
        fname = next(f for f, x in info["models"].items() if x == v)
        echo(f"bench: ONNX {v} ({len(texts)} texts)...")
        results[f"onnx_{v}"] = _measure("onnx", texts, {"bundle": str(bundle.resolve()), "variant": v})
        results[f"onnx_{v}"]["size_mb"] = (bundle / fname).stat().st_size / 1e6
    return results


def _bench_student(info: dict, student_dir, texts: list[str], echo) -> dict | None:
    """The PyTorch student's measurements (--student, else the one recorded in the bundle); None
    when the recorded one is gone."""
    from distill.training.modeling import WEIGHT_FILES

    # absolute paths: the workers run in a scratch directory
    student = Path(student_dir).resolve() if student_dir else Path(info.get("student", {}).get("path", ""))
    if student_dir and not (student / "config.json").is_file():
        raise UserError(f"--student {student} is not a model directory")
    if not (student / "config.json").is_file():
        return None
    echo(f"bench: PyTorch student ({len(texts)} texts)...")
    r = _measure("torch", texts, {"student": str(student), "max_length": info["max_length"]})
    w = next((student / f for f in WEIGHT_FILES if (student / f).is_file()), None)
    r["size_mb"] = w.stat().st_size / 1e6 if w else None
    return r


def _teacher_size_mb(spec: str | None) -> float | None:
    """Size on disk of the teacher (the file, or a folder's files); None when unknown."""
    if spec:
        path = Path(spec)
    else:
        from distill.defaults import default_teacher_gguf

        path = default_teacher_gguf()
    size = (path.stat().st_size if path.is_file() else
            sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0)
    return size / 1e6 or None


def _bench_teacher(info: dict, teacher_spec, prompt_opts: dict, texts: list[str], echo) -> dict:
    """The teacher's measurements on ``texts`` (--teacher, else the embedded default)."""
    from distill.teachers.http import redact_url

    labelset = info.get("labelset") or {"labels": [{"name": x} for x in info["labels"]]}
    spec = None if teacher_spec in (None, "", "default") else teacher_spec
    if spec and "://" not in spec and Path(spec).exists():
        spec = str(Path(spec).resolve())
    echo(f"bench: teacher {redact_url(spec) or '(embedded default)'} ({len(texts)} texts)...")
    r = _measure("teacher", texts, {"spec": spec, "labelset": labelset, "repo": str(REPO), "warmup": TEACHER_WARMUP,
                                    "prompt": prompt_opts, "task": info.get("task")},
                 tp_texts=(texts * (1 + THROUGHPUT_BATCH // len(texts)))[:THROUGHPUT_BATCH])
    r["size_mb"] = _teacher_size_mb(spec)
    r["prompt"] = {"template": prompt_opts.get("template", "default"), "shots": len(prompt_opts.get("shots", []))}
    return r


def _ratios(results: dict, base_name: str) -> dict[str, float]:
    """Every other model's latency, throughput and size relative to the baseline's."""
    base = results[base_name]
    ratios = {}
    for name, r in results.items():
        if name == base_name:
            continue
        ratios[f"{name}_over_{base_name}_p50"] = r["p50_ms"] / base["p50_ms"]
        ratios[f"{name}_over_{base_name}_cpu_p50"] = r["cpu_p50_ms"] / base["cpu_p50_ms"]
        ratios[f"{base_name}_over_{name}_throughput"] = base["throughput_texts_per_s"] / r["throughput_texts_per_s"]
        if r.get("size_mb") and base.get("size_mb"):
            ratios[f"{name}_over_{base_name}_size"] = r["size_mb"] / base["size_mb"]
    return ratios


def _check(value, op: str, target) -> dict:
    return {"value": value, "target": f"{op} {target}", "ok": value <= target if op == "<=" else value >= target}


def _checks(results: dict, base: dict) -> dict[str, dict]:
    """The baseline against TARGETS (latency, memory, no torch), and the teacher's slowdown."""
    checks = {
        "student_p50_ms": _check(base["p50_ms"], "<=", TARGETS["int8_p50_ms_max"]),
        "student_cpu_p50_ms": _check(base["cpu_p50_ms"], "<=", TARGETS["int8_p50_ms_max"]),
        "runtime_peak_rss_mb": _check(base["peak_rss_mb"], "<=", TARGETS["runtime_peak_mb_max"]),
        "runtime_imports_torch": {"value": base["torch_imported"], "target": "False", "ok": not base["torch_imported"]},
    }
    if "teacher" in results:
        t = results["teacher"]
        checks["teacher_over_student_p50"] = _check(t["p50_ms"] / base["p50_ms"], ">=",
                                                    TARGETS["teacher_over_student_p50_min"])
        checks["teacher_over_student_cpu_p50"] = _check(t["cpu_p50_ms"] / base["cpu_p50_ms"], ">=",
                                                        TARGETS["teacher_over_student_p50_min"])
    return checks


def _machine() -> dict:
    return {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
            "loadavg_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def _method() -> dict:
    return {"latency": f"batch 1, 1 thread, end-to-end predict (tokenise+model+softmax), {WARMUP} warm-up texts "
                       f"(teacher {TEACHER_WARMUP}), {ROUNDS} rounds over the texts, the round with the lowest p50 "
                       "reported (round_p50s_ms lists all); p*_ms wall clock, cpu_p*_ms CPU time of the calling thread",
            "throughput": f"batch {THROUGHPUT_BATCH} (texts sorted by length), all {os.cpu_count()} cores, "
                          f">= {MIN_SECONDS:g} s",
            "memory": "peak RSS (VmHWM on Linux; ru_maxrss elsewhere) of a fresh process that imports, loads and runs batch 1"}


def _print_report(report: dict, out_dir: Path, echo) -> None:
    """The results table, a load warning, the ratios, the checks and the notes."""
    echo(f"\n{'model':<16}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'cpu p50':>9}{'texts/s':>10}{'size MB':>9}"
         f"{'peak MB':>9}{'import+load s':>15}")
    for name, r in report["results"].items():
        size = f"{r['size_mb']:.1f}" if r.get("size_mb") else "-"
        echo(f"{name:<16}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['cpu_p50_ms']:>9.2f}"
             f"{r['throughput_texts_per_s']:>10.1f}{size:>9}{r['peak_rss_mb']:>9.0f}{r['import_s'] + r['load_s']:>15.2f}")
    load = report["machine"]["loadavg_at_end"]
    if load and load[0] > 0.75 * (os.cpu_count() or 1):
        echo(f"warning: load average {load[0]:.1f} on {os.cpu_count()} cores: wall-clock latencies are inflated; "
             f"'cpu p50' (CPU time of the one inference thread) approximates a quiet machine")
    echo("ratios: " + ", ".join(f"{k} {v:.1f}x" for k, v in report["ratios"].items()))
    for k, c in report["checks"].items():
        val = f"{c['value']:.2f}" if isinstance(c["value"], float) else str(c["value"])
        echo(f"check {k}: {val} (target {c['target']}) {'ok' if c['ok'] else 'MISSED'}")
    for note in report["notes"]:
        echo(f"note: {note}")
    echo(f"wrote {out_dir / 'bench.json'} and {out_dir / 'bench.png'}")


def run_bench(bundle_dir, *, student_dir=None, teacher_spec=None, teacher_prompt=None, no_teacher=False, no_pytorch=False,
              texts_path=None, text_column=None, n=300, n_teacher=20, out=None, echo=print,
              text_pair_column=None) -> dict:
    from core.rundir import prepare_dir

    bundle = Path(bundle_dir)
    if n < 1 or n_teacher < 1:
        raise UserError("--n and --n-teacher must be >= 1")
    prompt_opts = teacher_prompt_options(teacher_prompt) if teacher_prompt and not no_teacher else {}
    info, verification = _open_bundle(bundle)
    texts, source = _load_texts(bundle, verification, texts_path, text_column, n, text_pair_column)
    out_dir = Path(out) if out else bundle / "bench"
    prepare_dir(out_dir, "--out")  # an impossible --out fails now, not after the measurements

    results = _bench_onnx(bundle, info, texts, echo)
    notes: list[str] = []
    if not no_pytorch:
        student = _bench_student(info, student_dir, texts, echo)
        if student is not None:
            results["pytorch_student"] = student
        else:
            notes.append("PyTorch student skipped: the student recorded in the bundle is gone (pass --student)")
    if not no_teacher:
        try:
            results["teacher"] = _bench_teacher(info, teacher_spec, prompt_opts, texts[:n_teacher], echo)
        except UserError as exc:
            if teacher_spec:
                raise UserError(f"teacher benchmark failed: {exc}") from None
            notes.append(f"teacher skipped: {exc}")

    base_name = "onnx_int8" if "onnx_int8" in results else next(iter(results))
    report = {
        "bundle": str(bundle.resolve()),
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": _machine(),
        "texts": {"source": source, "n": len(texts), "n_teacher": min(n_teacher, len(texts))},
        "method": _method(),
        "baseline": base_name,
        "results": results,
        "ratios": _ratios(results, base_name),
        "checks": _checks(results, results[base_name]),
        "notes": notes,
    }
    write_json(out_dir / "bench.json", report)
    _plot(results, out_dir / "bench.png")
    _print_report(report, out_dir, echo)
    return report
