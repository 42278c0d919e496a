"""End-to-end distillation benchmark: real default teacher -> student, on SST-2 and AG News.

For each data set (pools and gold sets from ``benchmarks.shared_data``, fixed seed):
  1. ``advisor distill label`` the pool with the default teacher (embedded SmolLM2-135M GGUF);
  2. ``advisor distill label`` the gold set with the same teacher (its predictions on gold);
  3. ``advisor distill train`` the default student with the default options ("soft"), and again
     with ``--alpha 0`` ("hard": the teacher's argmax only);
  4. ``advisor distill evaluate`` both on the gold set (teacher from step 2, TF-IDF + LR peer on the
     same teacher labels) and collect the three-way table into benchmarks/results/distill_<set>.json.

``--sweep`` runs the small option sweep that justifies the defaults (T, alpha, threshold) on
SST-2 *training* data only: the teacher-labelled pool is split (seeded) into 1,200 training rows and
a check slice scored against the pool's own gold labels -- never dev.tsv, which stays the test set.

Every step is an ``advisor`` command run as a subprocess; labelling is cached and training resumes,
so an interrupted benchmark continues where it stopped. Examples::

    python benchmarks/bench_distill.py                      # sst2 + ag_news, label/train/evaluate
    python benchmarks/bench_distill.py --datasets sst2 --sweep
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atomic import write_json, write_jsonl  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
PY = sys.executable
SETS = {
    # name: (preset, pool size, gold size, train options)
    "sst2": ("sst2", 4000, None, ["--max-length", "64", "--epochs", "1"]),
    "ag_news": ("ag_news", 500, 200, ["--max-length", "128"]),
}
SWEEP = [  # (name, extra train options) -- base = the defaults; 700 training rows, 2 epochs
    ("T=1", ["--temperature", "1"]),
    ("T=2 (default)", []),
    ("T=4", ["--temperature", "4"]),
    ("alpha=0 (hard only)", ["--alpha", "0"]),
    ("alpha=0.2", ["--alpha", "0.2"]),
    ("threshold=0.7", ["--threshold", "0.7"]),
]


def sh(args: list[str], log: Path) -> float:
    """Run ``python -m advisor.cli ARGS``; stdout/stderr appended to ``log``; returns seconds."""
    cmd = [PY, "-m", "advisor.cli", *args]
    print("$ advisor " + " ".join(shlex.quote(a) for a in args), flush=True)
    t0 = time.time()
    with open(log, "a") as fh:
        fh.write("$ advisor " + " ".join(shlex.quote(a) for a in args) + "\n")
        fh.flush()
        p = subprocess.run(cmd, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}); see {log}")
    return time.time() - t0


def label(data: Path, preset: str, out: Path, log: Path) -> float:
    if (out / "labels.jsonl").is_file() and (out / "teacher.json").is_file():
        return 0.0
    return sh(["distill", "label", "--data", str(data), "--labels", preset, "--out", str(out), "--quiet"], log)


def train_eval(labels: Path, run: Path, gold: Path, gold_teacher: Path, opts: list[str], log: Path) -> dict:
    t_train = 0.0
    if not (run / "student" / "model.safetensors").is_file():
        t_train = sh(["distill", "train", "--labels", str(labels), "--out", str(run), "--quiet", *opts], log)
    sh(["distill", "evaluate", str(run), "--gold", str(gold), "--teacher-labels", str(gold_teacher), "--quiet"], log)
    m = json.loads((run / "metrics.json").read_text())
    t = json.loads((run / "train.json").read_text())
    return {"metrics": m, "train": {k: t[k] for k in ("config", "data", "global_step", "epochs_done",
                                                      "best_eval_accuracy", "train_seconds")},
            "train_wall_seconds": round(t_train, 1), "options": opts}


def row(name: str, m: dict) -> dict:
    keys = ("accuracy", "macro_f1", "agreement_with_teacher", "retention", "ece", "texts_per_second", "size_mb")
    return {"system": name, **{k: m.get(k) for k in keys}}


def table_md(rows: list[dict]) -> str:
    def f(x, pct=False, nd=3):
        if x is None:
            return "n/a"
        return f"{100 * x:.1f}%" if pct else f"{x:.{nd}f}"

    out = ["| system | accuracy | macro-F1 | agreement w/ teacher | retention | ECE |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['system']} | {f(r['accuracy'], True)} | {f(r['macro_f1'])} | "
                   f"{f(r['agreement_with_teacher'], True)} | {f(r['retention'])} | {f(r['ece'])} |")
    return "\n".join(out)


def bench_set(name: str, runs: Path) -> dict:
    from benchmarks.shared_data import prepare

    preset, n_pool, n_gold, opts = SETS[name]
    log = runs / f"{name}.log"
    kw = {"n_pool": n_pool}
    if n_gold:
        kw["n_gold"] = n_gold
    data = prepare(name, runs / f"{name}_data", **kw)
    t_label = label(data["pool"], preset, runs / name, log)
    t_gold = label(data["gold"], preset, runs / f"{name}_gold_teacher", log)
    labels = runs / name / "labels.jsonl"
    gold_teacher = runs / f"{name}_gold_teacher" / "labels.jsonl"
    soft = train_eval(labels, runs / f"{name}_soft", data["gold"], gold_teacher, opts, log)
    hard = train_eval(labels, runs / f"{name}_hard", data["gold"], gold_teacher, opts + ["--alpha", "0"], log)
    s, h = soft["metrics"]["systems"], hard["metrics"]["systems"]
    rows = [row("teacher (SmolLM2-135M, default prompt)", s["teacher"]),
            row("student soft (default: alpha 0.5, T 2)", s["student"]),
            row("student hard (alpha 0)", h["student"]),
            row("TF-IDF + LR on the same teacher labels", s["tfidf_lr"])]
    res = {
        "dataset": name, "pool": {"file": str(data["pool"]), "n": data["n_pool"], "seed": data["seed"]},
        "gold": {"file": str(data["gold"]), "n": data["n_gold"]},
        "teacher_labelling_seconds": {"pool": round(t_label, 1), "gold": round(t_gold, 1)},
        "table": rows, "soft": soft, "hard": hard,
        "student_beats_teacher": s["student"]["accuracy"] >= s["teacher"]["accuracy"],
        "student_beats_tfidf": s["student"]["accuracy"] > s["tfidf_lr"]["accuracy"],
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    write_json(RESULTS / f"distill_{name}.json", res)
    print(f"\n## {name}\n" + table_md(rows), flush=True)
    return res


def sweep(runs: Path, n_train: int = 700, seed: int = 0, labels: Path | None = None) -> dict:
    """Option sweep on SST-2 training data only (see the module docstring)."""
    import numpy as np

    labels = labels or runs / "sst2" / "labels.jsonl"
    if not labels.is_file():
        raise SystemExit("run the sst2 benchmark first (it labels the pool)")
    rows = [json.loads(x) for x in labels.read_text().splitlines() if x.strip()]
    perm = np.random.default_rng(seed).permutation(len(rows))
    tr = [rows[i] for i in perm[:n_train]]
    ck = [rows[i] for i in perm[n_train:]]
    d = runs / "sweep"
    d.mkdir(parents=True, exist_ok=True)
    write_jsonl(d / "labels.jsonl", [{k: v for k, v in r.items() if k != "gold"} for r in tr])
    for f in ("labelset.json", "teacher.json"):
        if (labels.parent / f).is_file():
            (d / f).write_bytes((labels.parent / f).read_bytes())
    write_jsonl(d / "check.jsonl", [{"id": r["id"], "text": r["text"], "label": r["gold"]} for r in ck])
    write_jsonl(d / "check_teacher.jsonl", ck)
    log = runs / "sweep.log"
    base = ["--max-length", "64", "--epochs", "2"]
    out = []
    for name, opts in SWEEP:
        tag = name.split(" ")[0].replace("=", "")
        r = train_eval(d / "labels.jsonl", d / tag, d / "check.jsonl", d / "check_teacher.jsonl", base + opts, log)
        s = r["metrics"]["systems"]
        out.append({"setting": name, "options": opts, "student_accuracy": s["student"]["accuracy"],
                    "student_macro_f1": s["student"]["macro_f1"], "student_ece": s["student"]["ece"],
                    "teacher_accuracy": s["teacher"]["accuracy"], "tfidf_accuracy": s["tfidf_lr"]["accuracy"],
                    "steps": r["train"]["global_step"], "train_seconds": r["train"]["train_seconds"]})
        print(f"{name:24s} student {s['student']['accuracy']:.3f}  teacher {s['teacher']['accuracy']:.3f}", flush=True)
    res = {"data": f"SST-2 pool (train.tsv): {len(rows)} teacher-labelled rows from {labels}, split with seed "
                   f"{seed} into {n_train} for training and {len(ck)} scored against their own gold labels "
                   f"(never dev.tsv)", "base_options": base, "results": out}
    write_json(RESULTS / "distill_sweep.json", res)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="sst2,ag_news")
    ap.add_argument("--runs", default=str(REPO / "runs" / "bench"), help="Working directory for the runs.")
    ap.add_argument("--sweep", action="store_true", help="Also run the option sweep (needs the sst2 labels).")
    ap.add_argument("--sweep-only", action="store_true")
    ap.add_argument("--sweep-labels", default=None, help="labels.jsonl for the sweep [default: RUNS/sst2/labels.jsonl]")
    ap.add_argument("--sweep-train", type=int, default=700, help="rows of the sweep labels used for training")
    a = ap.parse_args()
    runs = Path(a.runs)
    runs.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not a.sweep_only:
        for name in [x.strip() for x in a.datasets.split(",") if x.strip()]:
            bench_set(name, runs)
    if a.sweep or a.sweep_only:
        sweep(runs, n_train=a.sweep_train, labels=Path(a.sweep_labels) if a.sweep_labels else None)


if __name__ == "__main__":
    main()
