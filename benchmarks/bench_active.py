"""Active distillation benchmark: the student trained on a fully labelled pool vs active distillation
at a budget of 10% and 25% of the teacher calls, on the same pool, the same seeds.

    python benchmarks/bench_active.py --labels-file runs/demo/labels.jsonl \
        --gold ../shared/data/sst2/dev.tsv --pool 2000 --seeds 0 1 2 --budgets 0.10 0.25

The teacher is replayed from a labels file it already wrote for the whole pool (``runs/demo``:
4,000 SST-2 training sentences labelled by the SmolLM2 teacher, content-free calibration): its
answers are the ones it gave, and the replay counts every call, so the figures are those of calling
it (only faster). For each seed: the full-pool student (every teacher label, the normal train
stage), then per budget ``distill.active.active_label_dataset`` (rounds, each round's student
measured on gold) followed by the normal train stage on its labels.jsonl (teacher rows + the last
round's student's labels of the rest). ``--pseudo`` compares the ways of using the student's labels
(weighted, thresholded, none) on the same rounds. Writes ``benchmarks/results/active_sst2.json`` and
``active_sst2.png`` (student gold accuracy vs teacher calls, the full-pool figure marked).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atomic import write_json  # noqa: E402
from core.offline import force_offline  # noqa: E402


def replay_teacher(rows: list[dict], labelset):
    """A teacher that answers every pool text with the probabilities the real teacher gave, and counts."""
    from distill.teachers.base import Scored, Teacher

    answers = {r["text"]: np.array([r["probs"][n] for n in labelset.names]) for r in rows}

    class Replay(Teacher):
        kind = "replay"
        fingerprint = "replay-smollm2-demo"

        def score(self, texts):
            self.calls += len(texts)
            return [Scored(answers[t].copy()) for t in texts]

    return Replay(labelset)


def gold_accuracy(student_dir: Path, texts: list[str], gold: list[str], names: list[str], max_length: int) -> float:
    from distill.active import score_and_embed

    probs, _ = score_and_embed(student_dir, texts, max_length)
    return float(np.mean([names[int(j)] == g for j, g in zip(probs.argmax(1), gold)]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--labels-file", default=str(REPO / "runs" / "demo" / "labels.jsonl"))
    ap.add_argument("--gold", default=str(Path(os.environ.get("BERT_OR_GPT_SHARED", REPO.parent / "shared")) / "data" / "sst2" / "dev.tsv"))
    ap.add_argument("--pool", type=int, default=2000, help="pool texts (the first N of the labels file)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.10, 0.25])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--epochs", type=float, default=2.0, help="epochs of the final students")
    ap.add_argument("--round-epochs", type=float, default=1.0, help="epochs of each round's student")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--pseudo", nargs="+", default=["weighted"], help="weighted thresholded none")
    ap.add_argument("--work", default=None, help="work directory (default: a temporary one, removed)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "active_sst2.json"))
    args = ap.parse_args(argv)
    force_offline()
    from core.atomic import write_jsonl
    from distill.active import ActiveConfig, active_label_dataset
    from distill.data.labelset import LabelSet
    from distill.data.reader import TextDataset, load_texts
    from distill.labeling.gate import GateConfig
    from distill.labeling.labeler import LabelingConfig
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig, StudentConfig

    ls = LabelSet.from_spec("sst2")
    rows = [json.loads(x) for x in Path(args.labels_file).read_text(encoding="utf-8").splitlines()][: args.pool]
    rows = [r for r in rows if r.get("label") is not None]
    pool = TextDataset([r["text"] for r in rows], None, [str(r["id"]) for r in rows])
    g = load_texts(args.gold, labelset=ls, text_column="sentence", label_column="label")
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_active_"))
    work.mkdir(parents=True, exist_ok=True)
    student = StudentConfig(layers=args.layers)

    def train(labels: Path, out: Path, seed: int) -> float:
        cfg = DistillationConfig(epochs=args.epochs, max_length=args.max_length, seed=seed, layers=args.layers)
        t0 = time.perf_counter()
        train_student(labels, out, cfg, progress=False, labelset=ls)
        acc = gold_accuracy(out / "student", g.texts, g.gold, ls.names, args.max_length)
        print(f"    trained {labels} in {time.perf_counter() - t0:.0f}s: gold accuracy {acc:.4f}", flush=True)
        return acc

    result = {"pool": len(rows), "gold": args.gold, "gold_n": len(g.texts), "labels_file": args.labels_file,
              "seeds": args.seeds, "budgets": args.budgets, "rounds": args.rounds, "layers": args.layers,
              "epochs": args.epochs, "round_epochs": args.round_epochs, "max_length": args.max_length,
              "teacher_gold_accuracy": None, "runs": []}
    t_all = time.perf_counter()
    for seed in args.seeds:
        print(f"seed {seed}: full pool ({len(rows)} teacher calls)", flush=True)
        full_dir = work / f"full_s{seed}"
        full_dir.mkdir(exist_ok=True)
        write_jsonl(full_dir / "labels.jsonl", rows)
        acc = train(full_dir / "labels.jsonl", full_dir, seed)
        result["runs"].append({"seed": seed, "budget": 1.0, "teacher_calls": len(rows), "accuracy": acc})
        for b in args.budgets:
            run = work / f"active_{b:g}_s{seed}"
            for pseudo in args.pseudo:
                teacher = replay_teacher(rows, ls)
                active = ActiveConfig(rounds=args.rounds, epochs=args.round_epochs, pseudo=pseudo, seed=seed)
                training = DistillationConfig(max_length=args.max_length, seed=seed)
                t0 = time.perf_counter()
                res = active_label_dataset(pool, ls, teacher, run, LabelingConfig(progress=False, gate=GateConfig(enabled=False)),
                                           b, training=training, student=student, gold=g, active=active,
                                           echo=lambda s: print("    " + s, flush=True))
                summary = res.report["active"]
                label_s = time.perf_counter() - t0
                print(f"  budget {b:.0%} ({pseudo}): {summary['teacher_calls']} calls "
                      f"({teacher.calls} new at the replayed teacher)", flush=True)
                out = run / f"final_{pseudo}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                shutil.copy(run / "labels.jsonl", out / "labels.jsonl")
                shutil.copy(run / "labelset.json", out / "labelset.json")
                acc = train(out / "labels.jsonl", out, seed)
                result["runs"].append({"seed": seed, "budget": b, "pseudo": pseudo,
                                       "teacher_calls": summary["teacher_calls"], "budget_calls": summary["budget_calls"],
                                       "teacher_rows": summary["teacher_rows"], "student_rows": summary["student_rows"],
                                       "accuracy": acc, "label_seconds": round(label_s, 1),
                                       "rounds": [{k: r.get(k) for k in ("round", "calls", "gold_accuracy",
                                                                          "held_out_agreement")}
                                                  for r in summary["rounds"]]})
                write_json(args.out, result)
    # the table: mean and spread per (budget, pseudo)
    table = {}
    full = [r["accuracy"] for r in result["runs"] if r["budget"] == 1.0]
    for r in result["runs"]:
        key = "full" if r["budget"] == 1.0 else f"{r['budget']:.0%} {r['pseudo']}"
        table.setdefault(key, []).append(r["accuracy"])
    result["table"] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v)), "min": float(np.min(v)),
                           "max": float(np.max(v)), "n": len(v),
                           "share_of_full": float(np.mean(v) / np.mean(full)) if full else None}
                       for k, v in table.items()}
    result["seconds"] = round(time.perf_counter() - t_all, 1)
    result["load_at_end"] = os.getloadavg()
    write_json(args.out, result)
    _plot(result, Path(args.out).with_suffix(".png"))
    for k, v in result["table"].items():
        print(f"{k:>18}: {v['mean']:.4f} +- {v['std']:.4f} (n={v['n']}, {v['share_of_full']:.1%} of full)")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _plot(result: dict, path: Path) -> None:
    from distill.evaluation.plots import plot_curve

    series, spread = {}, {}
    full = [r["accuracy"] for r in result["runs"] if r["budget"] == 1.0]
    for r in result["runs"]:
        if r["budget"] == 1.0:
            continue
        name = f"budget {r['budget']:.0%} ({r['pseudo']})"
        pts = [(x["calls"], x["gold_accuracy"]) for x in r["rounds"] if x.get("gold_accuracy") is not None]
        pts.append((r["teacher_calls"], r["accuracy"]))  # the final student, at the budget's end
        series.setdefault(name, []).append(pts)
    mean_series = {}
    for name, runs in series.items():
        by_x: dict = {}
        for pts in runs:
            for i, (x, y) in enumerate(pts):
                by_x.setdefault(i, []).append((x, y))
        mean_series[name] = [(float(np.mean([p[0] for p in v])), float(np.mean([p[1] for p in v]))) for v in by_x.values()]
        spread[name] = [(float(np.mean([p[0] for p in v])), float(np.min([p[1] for p in v])),
                         float(np.max([p[1] for p in v]))) for v in by_x.values()]
    plot_curve(mean_series, path, "teacher calls", "student accuracy on SST-2 dev (gold)",
               f"Active distillation, pool {result['pool']}, {len(result['seeds'])} seed(s)",
               marks={"fully labelled pool": float(np.mean(full)) if full else None},
               vline=("full pool", result["pool"]), spread=spread)


if __name__ == "__main__":
    raise SystemExit(main())
