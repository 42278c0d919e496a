"""One benchmark measurement in a fresh process (so import time and peak RSS are this model's alone).

Run by ``export.bench`` as ``python _bench_worker.py JOB.json``; prints one JSON line. Only the
standard library is imported at module level: the ONNX modes import the bundle's own
``runtime.py`` (onnxruntime + tokenizers + numpy) exactly as a device would, and report whether
torch was loaded (it must not be).
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402


def _rss_mb() -> float:
    """Peak resident memory of this process in MB.

    Linux: VmHWM from /proc/self/status, which belongs to the address space created by exec.
    ru_maxrss is NOT used there: it survives fork+exec, so a worker started by a big parent
    (pytest, the exporting CLI) would report the parent's peak. Elsewhere: ru_maxrss.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return kb / 1024 / (1024 if sys.platform == "darwin" else 1)


def _percentiles(xs: list[float]) -> dict:
    s = sorted(xs)

    def pct(p: float) -> float:  # linear interpolation, like numpy's default
        k = (len(s) - 1) * p / 100
        f = int(k)
        c = min(f + 1, len(s) - 1)
        return s[f] + (s[c] - s[f]) * (k - f)

    return {"p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99), "mean_ms": sum(s) / len(s),
            "n": len(s)}


def _latency(fn, texts: list[str], warmup: int, rounds: int) -> dict:
    """Batch-1 latency over ``texts``, ``rounds`` times; the round with the lowest p50 is reported.

    timeit's rule: interference (other VMs on the host, a slower phase of the CPU) only ever
    adds time, so the fastest round is the best estimate of the model's own cost. Every model in
    a bench gets the same rule, so their ratios stay fair; the p50 of every round is kept."""
    for t in texts[:warmup]:
        fn([t])
    best, p50s = None, []
    for _ in range(max(1, rounds)):
        lat, cpu = [], []
        for t in texts:
            c1, t1 = time.thread_time(), time.perf_counter()
            fn([t])
            lat.append((time.perf_counter() - t1) * 1000)
            cpu.append((time.thread_time() - c1) * 1000)
        # CPU time of the calling thread (one thread: all the work runs on it). On a busy machine the
        # wall-clock numbers include waiting for a core; the CPU-time ones approximate a quiet machine.
        c = _percentiles(cpu)
        res = {**_percentiles(lat), "cpu_p50_ms": c["p50_ms"], "cpu_p95_ms": c["p95_ms"], "cpu_p99_ms": c["p99_ms"]}
        p50s.append(res["p50_ms"])
        if best is None or res["p50_ms"] < best["p50_ms"]:
            best = res
    return {**best, "rounds": len(p50s), "round_p50s_ms": p50s}


def _throughput(fn, texts: list[str], batch: int, min_seconds: float) -> dict:
    texts = sorted(texts, key=len)  # batches of similar length, as Bundle.predict does for long inputs
    fn(texts[:batch])  # warm-up
    done, t1 = 0, time.perf_counter()
    while True:
        for s in range(0, len(texts), batch):
            fn(texts[s:s + batch])
            done += len(texts[s:s + batch])
        el = time.perf_counter() - t1
        if el >= min_seconds:
            break
    return {"texts_per_s": done / el, "batch_size": batch, "texts": done, "seconds": el}


def main() -> None:
    job = json.loads(open(sys.argv[1], encoding="utf-8").read())
    texts: list[str] = job["texts"]
    mode, kind = job["mode"], job["kind"]  # mode: latency|throughput; kind: onnx|torch|teacher
    threads = 1 if mode == "latency" else None
    out: dict = {"kind": kind, "mode": mode}
    t_imp = time.perf_counter()
    if kind == "onnx":
        sys.path.insert(0, job["bundle"])
        import runtime  # the bundle's own copy

        out["import_s"] = time.perf_counter() - t_imp
        t_load = time.perf_counter()
        b = runtime.Bundle.load(job["bundle"], job["variant"], threads=threads, allow_unverified=True)
        out["load_s"] = time.perf_counter() - t_load
        # an entity bundle has no per-text probabilities: time what its users call (tags -> spans)
        fn = b.predict if b.task == "ner" else b.predict_proba
    elif kind == "torch":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer

        out["import_s"] = time.perf_counter() - t_imp
        torch.set_num_threads(1 if threads == 1 else (os.cpu_count() or 1))
        t_load = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(job["student"])
        with open(os.path.join(job["student"], "config.json"), encoding="utf-8") as fh:
            tagger = json.load(fh).get("distill_task") == "ner"  # a token-classification student
        head = AutoModelForTokenClassification if tagger else AutoModelForSequenceClassification
        model = head.from_pretrained(job["student"]).eval()
        out["load_s"] = time.perf_counter() - t_load
        ml = int(job["max_length"])

        def fn(batch):
            with torch.inference_mode():
                # a joined sentence pair (core/pairs.py's separator) is encoded as a pair, as the bundle does
                args = (batch,) if not any("\x1f" in t for t in batch) else tuple(
                    map(list, zip(*(t.split("\x1f", 1) for t in batch))))
                enc = tok(*args, truncation=True, max_length=ml, padding=True, return_tensors="pt")
                return torch.softmax(model(**enc).logits, -1).numpy()
    elif kind == "teacher":
        sys.path.insert(0, job["repo"])
        from core.offline import force_offline

        force_offline()
        from distill.data.labelset import LabelSet
        from distill.teachers import load_teacher

        out["import_s"] = time.perf_counter() - t_imp
        t_load = time.perf_counter()
        from distill.teachers.prompts import Shot

        prompt = job.get("prompt") or {}
        teacher = load_teacher(job["spec"], LabelSet.from_dict(job["labelset"]), threads=threads or (os.cpu_count() or 1),
                               batch_size=1 if threads == 1 else int(job["batch"]), template=prompt.get("template"),
                               shots=tuple(Shot(t, lab) for t, lab in prompt.get("shots", [])),
                               language=prompt.get("language"))
        out["load_s"] = time.perf_counter() - t_load
        out["fingerprint"] = getattr(teacher, "fingerprint", "")
        if job.get("task") == "multilabel":  # one yes/no question per label: a text costs every question
            from distill.tasks import get_task

            ml, ls = get_task("multilabel"), LabelSet.from_dict(job["labelset"])
            teacher.set_prompt(ml.prompt(ls, prompt.get("template"), language=prompt.get("language") or "en"))

            def fn(batch, teacher=teacher, ml=ml, ls=ls):
                return teacher.score_proba([q for t in batch for q in ml.questions(t, ls)])
        else:
            fn = teacher.predict_proba
    else:
        raise SystemExit(f"unknown kind {kind}")
    if mode == "latency":
        out["latency"] = _latency(fn, texts, int(job["warmup"]), int(job["rounds"]))
    else:
        out["throughput"] = _throughput(fn, texts, int(job["batch"]), float(job["min_seconds"]))
    out["peak_rss_mb"] = _rss_mb()
    out["torch_imported"] = "torch" in sys.modules
    out["transformers_imported"] = "transformers" in sys.modules
    out["process_s"] = time.perf_counter() - T0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
