"""Acceptance run for the export (issue 5) on a trained SST-2 student.

    .venv/bin/python benchmarks/bench_export.py runs/sst2/student [--work /tmp/export-acc] [--n 300]

1. ``advisor export STUDENT --out WORK/int8`` and ``--fp32-only --out WORK/fp32`` (verified on all
   872 SST-2 dev texts, gold labels);
2. ``advisor predict`` (the real CLI, JSONL on stdin) on all 872 dev texts with both bundles,
   compared with the PyTorch student: fp32 must agree on every text, int8 must lose <= 0.5 pt;
3. ``advisor export bench WORK/int8`` (teacher included) -> latency/throughput/size/memory;
4. everything into ``benchmarks/results/export_acceptance.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEV = REPO.parent / "shared" / "data" / "sst2" / "dev.tsv"
ADVISOR = [sys.executable, "-m", "advisor.cli"]


def sh(args: list[str], **kw) -> subprocess.CompletedProcess:
    t = time.time()
    proc = subprocess.run(args, capture_output=True, text=True, cwd=REPO, **kw)
    print(f"$ {' '.join(args[2:] if args[:3] == ADVISOR else args)}  [{time.time() - t:.0f}s, rc {proc.returncode}]")
    print(proc.stdout[-3000:])
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("student")
    ap.add_argument("--work", default="/tmp/export-acceptance")
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--n-teacher", type=int, default=20)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "export_acceptance.json"))
    args = ap.parse_args()
    work = Path(args.work)
    with open(DEV, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    texts, gold = [r[0] for r in rows], ["positive" if r[1] == "1" else "negative" for r in rows]
    result: dict = {"student": str(Path(args.student).resolve()), "n_dev": len(texts)}

    for name, extra in (("int8", []), ("fp32", ["--fp32-only"])):
        p = sh([*ADVISOR, "export", args.student, "--out", str(work / name), "--force", "--eval-data", str(DEV),
                "--labels", "sst2", "--eval-limit", str(len(texts)), *extra])
        result[f"export_{name}_rc"] = p.returncode
        if (work / name / "verification.json").is_file():
            result[f"verification_{name}"] = json.loads((work / name / "verification.json").read_text())

    # PyTorch reference on all dev texts
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(args.student)
    model = AutoModelForSequenceClassification.from_pretrained(args.student).eval()
    ref = []
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            enc = tok(texts[i:i + 32], truncation=True, padding=True, return_tensors="pt")
            ref += [model.config.id2label[int(j)] for j in model(**enc).logits.argmax(-1)]
    acc = lambda pred: sum(p == g for p, g in zip(pred, gold)) / len(gold)  # noqa: E731
    result["pytorch_accuracy"] = acc(ref)
    stdin = "".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts))
    for name in ("fp32", "int8"):
        for bs in ("32", "1"):
            p = subprocess.run([*ADVISOR, "predict", str(work / name), "--batch-size", bs], input=stdin,
                               capture_output=True, text=True, cwd=REPO)
            if p.returncode:
                print(p.stderr, file=sys.stderr)
                continue
            pred = [json.loads(x)["label"] for x in p.stdout.splitlines()]
            result[f"predict_{name}_b{bs}"] = {
                "accuracy": acc(pred), "agreement_with_pytorch": sum(a == b for a, b in zip(pred, ref)) / len(ref),
                "disagreements": sum(a != b for a, b in zip(pred, ref)),
                "accuracy_drop_pts_vs_pytorch": 100 * (acc(ref) - acc(pred))}
            print(name, "batch", bs, result[f"predict_{name}_b{bs}"])

    p = sh([*ADVISOR, "export", "bench", str(work / "int8"), "--student", args.student, "--texts", str(DEV),
            "--n", str(args.n), "--n-teacher", str(args.n_teacher), "--out", str(work / "bench")])
    if (work / "bench" / "bench.json").is_file():
        result["bench"] = json.loads((work / "bench" / "bench.json").read_text())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
