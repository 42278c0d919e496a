"""Cascade and calibration benchmark: a bundle's student, a teacher behind an OpenAI-compatible
server, and gold texts split in two halves (the threshold is chosen on one, measured on the other,
so no figure is in-sample).

    python benchmarks/bench_cascade.py --bundle runs/demo/bundle --gguf default \
        --data ../shared/data/sst2/dev.tsv --text-column sentence --label-column label --labels sst2

``--gguf PATH|default`` starts llama.cpp's server on 127.0.0.1 for the run (needs
``make setup-server``); ``--teacher URL`` uses a server that is already up. For each deferral rate:
the threshold chosen on half A, then on half B the student alone, the teacher alone and the
cascade (accuracy, deferral actually observed, teacher calls), plus the student's ECE on half B
before and after the bundle's temperature. Writes ``benchmarks/results/cascade_<name>.json`` and a
PNG of accuracy against deferral on half B.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atomic import write_json  # noqa: E402
from core.offline import force_offline  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(gguf: str, log: Path, threads: int) -> tuple[subprocess.Popen, str]:
    import httpx

    if gguf == "default":
        from distill.defaults import default_teacher_gguf

        gguf = str(default_teacher_gguf())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", gguf, "--port", str(port),
                             "--host", "127.0.0.1", "--n_ctx", "2048", "--n_threads", str(threads)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"llama.cpp server exited: {log.read_text()[-1000:]}")
        try:
            if httpx.get(url + "/models", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama.cpp server did not come up in 300 s")


def plot(result: dict, path: Path, name: str) -> None:
    """Accuracy against deferral on half B (texts in order of the student's confidence), with the
    points whose thresholds were chosen on half A."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate, acc = np.array(result["curve_half_b"]["defer_rate"]), np.array(result["curve_half_b"]["accuracy"])
    b = result["rows"][0]["half_b"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.plot(100 * rate, 100 * acc, label="cascade (half B, least confident first)")
    ax.axhline(100 * b["accuracy_student"], ls="--", color="tab:orange", label="student alone")
    ax.axhline(100 * b["accuracy_teacher"], ls=":", color="tab:green", label="teacher alone")
    for r in result["rows"]:
        ax.plot([100 * r["half_b"]["deferred"]], [100 * r["half_b"]["accuracy_cascade"]], "o", color="tab:red")
    ax.plot([], [], "o", color="tab:red", label="threshold chosen on half A, measured on B")
    ax.set_xlabel("texts deferred to the teacher (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"cascade on {name} ({b['n']} held-out gold texts)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--teacher", default=None, help="URL of a running OpenAI-compatible server")
    ap.add_argument("--gguf", default=None, help="start llama.cpp's server on this GGUF ('default': SmolLM2)")
    ap.add_argument("--template", default=None)
    ap.add_argument("--teacher-calibrate", default=None)
    ap.add_argument("--data", required=True)
    ap.add_argument("--text-column", default=None)
    ap.add_argument("--label-column", default=None)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--rates", default="0.05,0.1,0.2,0.3")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="sst2")
    ap.add_argument("--replot", action="store_true", help="only redraw the PNG from the results JSON")
    args = ap.parse_args()
    res_dir = REPO / "benchmarks" / "results"
    if args.replot:
        plot(json.loads((res_dir / f"cascade_{args.name}.json").read_text()), res_dir / f"cascade_{args.name}.png",
             args.name)
        return
    force_offline()
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet
    from export.calibration import softmax
    from export.cascade import cascade_curve, configure
    from export.runtime import Bundle, CascadeTeacher, TeacherError
    from distill.evaluation.metrics import expected_calibration_error

    ls = LabelSet.from_spec(args.labels)
    ds = load_texts(args.data, text_column=args.text_column, label_column=args.label_column, labelset=ls,
                    limit=args.limit)
    order = np.random.default_rng(args.seed).permutation(len(ds.texts))
    half_a, half_b = order[: len(order) // 2], order[len(order) // 2:]
    texts_a, gold_a = [ds.texts[i] for i in half_a], [ds.gold[i] for i in half_a]
    texts_b, gold_b = [ds.texts[i] for i in half_b], [ds.gold[i] for i in half_b]

    work = Path(tempfile.mkdtemp(prefix="bench-cascade-"))
    proc = None
    try:
        if args.gguf:
            proc, url = start_server(args.gguf, work / "server.log", args.threads)
        elif args.teacher:
            url = args.teacher
        else:
            raise SystemExit("give --teacher URL or --gguf PATH")
        base = Bundle.load(args.bundle)
        labels = base.labels
        gb = np.array([labels.index(g) for g in gold_b])
        logits_b = base.logits(texts_b)
        t = base.temperature
        student_b = softmax(logits_b, t)
        ece = {"temperature": t,
               "ece_before": expected_calibration_error(softmax(logits_b), softmax(logits_b).argmax(1) == gb),
               "ece_after": expected_calibration_error(student_b, student_b.argmax(1) == gb), "n": len(gb)}
        from distill.teachers import load_teacher

        opts = {k: v for k, v in (("template", args.template), ("calibrate", args.teacher_calibrate)) if v}
        teacher = load_teacher(url, ls, timeout=120, **opts)
        t0 = time.perf_counter()
        teacher_a = np.concatenate([teacher.predict_proba(texts_a[i:i + 32]) for i in range(0, len(texts_a), 32)])
        teacher_rate = len(texts_a) / (time.perf_counter() - t0)
        print(f"teacher on half A: {teacher_rate:.2f} texts/s", flush=True)
        rows, teacher_b = [], None
        for rate in [float(r) for r in args.rates.split(",")]:
            bundle = work / f"bundle-{rate}"
            shutil.copytree(args.bundle, bundle, ignore=shutil.ignore_patterns("bench"))
            t0 = time.perf_counter()
            section = configure(bundle, url, texts_a, gold_a, f"{args.data} (half A)", defer_rate=rate,
                                template=args.template, teacher_calibrate=args.teacher_calibrate, timeout=120,
                                teacher_probs=teacher_a)
            choose_s = time.perf_counter() - t0
            b = Bundle.load(bundle)
            if teacher_b is None:  # the teacher alone on half B, through the bundle's own client
                client = CascadeTeacher(section["teacher"])
                teacher_b = []
                for text in texts_b:
                    try:
                        teacher_b.append(labels.index(client.classify(text, labels)[0]))
                    except TeacherError:
                        teacher_b.append(-1)
                teacher_b = np.array(teacher_b)
            t0 = time.perf_counter()
            preds = b.predict(texts_b)
            predict_s = time.perf_counter() - t0
            pred = np.array([labels.index(r["label"]) for r in preds])
            deferred = np.array([bool(r.get("deferred")) for r in preds])
            rows.append({
                "defer_rate_target": rate, "threshold": section["threshold"],
                "half_a": section["gold"],
                "half_b": {"n": len(gb), "deferred": float(deferred.mean()), "teacher_calls": int(deferred.sum()),
                           "teacher_errors": int(sum(1 for r in preds if r.get("teacher_error"))),
                           "accuracy_student": float((student_b.argmax(1) == gb).mean()),
                           "accuracy_teacher": float((teacher_b == gb).mean()),
                           "accuracy_cascade": float((pred == gb).mean()),
                           "predict_seconds": round(predict_s, 1)},
                "choose_seconds": round(choose_s, 1)})
            print(json.dumps(rows[-1]["half_b"] | {"rate": rate}), flush=True)
        curve = cascade_curve(student_b, teacher_b, gb)
        out = {"bundle": str(args.bundle), "data": args.data, "teacher": args.gguf or url, "seed": args.seed,
               "teacher_options": opts, "teacher_texts_per_s_half_a": round(teacher_rate, 2),
               "calibration_half_b": ece, "rows": rows,
               "curve_half_b": {"defer_rate": [round(float(x), 4) for x in curve.defer_rate],
                                "accuracy": [round(float(x), 4) for x in curve.accuracy]},
               "load_avg": os.getloadavg()}
        write_json(res_dir / f"cascade_{args.name}.json", out)
        plot(out, res_dir / f"cascade_{args.name}.png", args.name)
        print(f"wrote {res_dir / f'cascade_{args.name}.json'}")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
