"""Issue 14's figures for the task kinds ``pairs`` (MRPC), ``multilabel`` (GoEmotions) and ``ner``
(WNUT-17): the supervised reference (the student fine-tuned on the gold training labels), its
TF-IDF peer, the int8-vs-fp32 drop on each kind's main metric and the int8 latency per text.

Every step is the toolkit's own CLI (``advisor gold-labels``, ``advisor distill train --alpha 0``,
``advisor distill evaluate``, ``advisor export``, ``advisor export bench``), run as a subprocess,
so the figures are what a user gets. Steps whose output exists are skipped (rerun-safe)::

    python -m benchmarks.bench_tasks --part supervised [--sets mrpc,go_emotions,wnut17] [--runs DIR]

``--part teacher`` distils from a teacher instead (``--teacher qwen2.5-1.5b``): the teacher labels a
seeded pool of ``--pool`` training texts (their gold withheld) and the gold test texts, the student
trains on the pool's labels and the evaluation shows teacher, student and TF-IDF side by side.

Writes ``benchmarks/results/tasks_<part>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.shared_data import shared_data_dir

REPO = Path(__file__).resolve().parents[1]
ADVISOR = [sys.executable, "-m", "advisor.cli"]

# set -> (task, label preset, train file, test file, extra gold-labels options, evaluate/export options)
SETS = {
    "mrpc": dict(task="pairs", labels="mrpc", train="mrpc/msr_paraphrase_train.txt",
                 test="mrpc/msr_paraphrase_test.txt", cols=["--label-column", "Quality"],
                 eval_cols=["--label-column", "Quality"], main="accuracy", train_limit=None),
    "go_emotions": dict(task="multilabel", labels="go_emotions", train="go_emotions/train.tsv",
                        test="go_emotions/test.tsv", cols=[], eval_cols=[], main="micro_f1", train_limit=8000),
    "wnut17": dict(task="ner", labels="wnut17", train="wnut17/wnut17train.conll",
                   test="wnut17/emerging.test.annotated", cols=[], eval_cols=[], main="f1", train_limit=None),
}


def sh(cmd: list[str], log: Path) -> float:
    """Run one CLI step, its output appended to ``log``; a failure stops the set with the tail."""
    t0 = time.perf_counter()
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n")
        fh.flush()
        rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO,
                             env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)})
    if rc != 0:
        raise RuntimeError(f"exit {rc}: {' '.join(cmd[2:5])} (see {log})")
    return round(time.perf_counter() - t0, 1)


def _limit_rows(path: Path, n: int | None) -> None:
    if n is None:
        return
    lines = path.read_text().splitlines()
    if len(lines) > n:
        import random

        random.Random(0).shuffle(lines)
        path.write_text("\n".join(lines[:n]) + "\n")


def supervised(name: str, spec: dict, runs: Path, data: Path, args) -> dict:
    run = runs / f"{name}_sup"
    run.mkdir(parents=True, exist_ok=True)
    log = run / "bench.log"
    secs = {}
    train, test = str(data / spec["train"]), str(data / spec["test"])
    if not (run / "labels.jsonl").is_file():
        secs["gold_labels"] = sh(ADVISOR + ["gold-labels", train, "--task", spec["task"], "--label-set", spec["labels"],
                                            "--out", str(run)] + spec["cols"], log)
        _limit_rows(run / "labels.jsonl", spec["train_limit"])
    if not (run / "student" / "config.json").is_file():
        secs["train"] = sh(ADVISOR + ["distill", "train", "--labels", str(run / "labels.jsonl"), "--task", spec["task"],
                                      "--alpha", "0", "--out", str(run), "--quiet"] + args.train_opts, log)
    return finish(name, spec, run, test, log, secs, args)


def finish(name, spec, run: Path, test: str, log: Path, secs: dict, args, teacher_labels=None) -> dict:
    limit = ["--limit", str(args.gold_limit)] if args.gold_limit else []
    if not (run / "metrics.json").is_file():
        secs["evaluate"] = sh(ADVISOR + ["distill", "evaluate", str(run), "--gold", test, "--quiet"] + spec["eval_cols"]
                              + limit + (["--teacher-labels", str(teacher_labels)] if teacher_labels else []), log)
    bundle = run / "bundle"
    if not (bundle / "config.json").is_file():
        secs["export"] = sh(ADVISOR + ["export", "model", str(run / "student"), "--out", str(bundle), "--eval-data", test,
                                       "--labels", spec["labels"], "--eval-limit", str(args.gold_limit or 1000)]
                            + spec["eval_cols"], log)
    if not (bundle / "bench" / "bench.json").is_file():
        secs["bench"] = sh(ADVISOR + ["export", "bench", str(bundle), "--no-teacher", "--n", str(args.n)], log)
    return collect(name, spec, run, secs)


def collect(name, spec, run: Path, secs: dict) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    cfg = json.loads((run / "bundle" / "config.json").read_text()).get("onnx_bundle", {})
    bench = json.loads((run / "bundle" / "bench" / "bench.json").read_text())
    return {"set": name, "task": spec["task"], "run": str(run), "seconds": secs, "metrics": metrics,
            "verification": cfg.get("verification"), "bench": bench, "train": _json(run / "train.json")}


def _json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", choices=["supervised"], default="supervised")
    ap.add_argument("--sets", default="mrpc,go_emotions,wnut17")
    ap.add_argument("--runs", default=str(REPO / "runs" / "tasks"))
    ap.add_argument("--gold-limit", type=int, default=None, help="Evaluate/verify on the first N gold rows.")
    ap.add_argument("--n", type=int, default=300, help="Texts for the batch-1 latency.")
    ap.add_argument("--train-opts", default="", help="Extra `advisor distill train` options (one string).")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.train_opts = args.train_opts.split()
    runs, data = Path(args.runs), shared_data_dir()
    out = Path(args.out or REPO / "benchmarks" / "results" / f"tasks_{args.part}.json")
    results = json.loads(out.read_text()) if out.is_file() else {}
    load = os.getloadavg()
    for name in args.sets.split(","):
        t0 = time.perf_counter()
        try:
            res = supervised(name, SETS[name], runs, data, args)
        except RuntimeError as exc:
            res = {"set": name, "error": str(exc)}
        res["load_at_start"] = [round(x, 2) for x in load]
        res["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
        res["wall_s"] = round(time.perf_counter() - t0, 1)
        results[name] = res
        out.write_text(json.dumps(results, indent=1))
        print(name, res.get("error") or "done", res["wall_s"], "s", flush=True)
        load = os.getloadavg()


if __name__ == "__main__":
    main()
