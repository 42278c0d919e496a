"""Teacher throughput on SST-2 dev texts with the default teacher (SmolLM2-135M-Instruct GGUF).

Compares one-text-at-a-time ``generate`` (the naive way to ask an LLM for a label) with the
batched label scorer in ``distill.teachers.local`` under different numerics, batch sizes, length
sorting and the shared-prefix KV cache; records texts/s, accuracy against gold and agreement with
the fp32 scorer. The machine's load average is recorded with every number: on a shared machine
the numbers are only comparable within one run.

    .venv/bin/python benchmarks/bench_teacher.py                 # ~5 min on 2 idle cores
    .venv/bin/python benchmarks/bench_teacher.py --n 48 --quick  # smoke run
    .venv/bin/python benchmarks/bench_teacher.py --select-prompt # + the full-dev --select-prompt accuracy

Writes benchmarks/results/teacher.json (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atomic import write_json  # noqa: E402
from core.offline import force_offline  # noqa: E402

force_offline()


def cpu_info() -> dict:
    flags, model = "", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags") and not flags:
                flags = line
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    import torch

    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "amx_bf16": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags}


def accuracy(p: np.ndarray, gold: list[str], names: list[str]) -> float:
    return float(np.mean([names[i] == g for i, g in zip(p.argmax(1), gold)]))


def bench_generate(teacher, texts, gold, names) -> dict:
    """One text at a time: render the prompt, greedy-generate 2 tokens, map the words to a label."""
    import torch

    tok, model = teacher.tokenizer, teacher.model
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    preds = []
    t0 = time.perf_counter()
    for t in texts:
        ids = torch.tensor([teacher._encode(teacher._render(t))])
        with torch.inference_mode():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=2, do_sample=False,
                                 pad_token_id=pad)
        preds.append(teacher.labelset.parse_answer(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)))
    dt = time.perf_counter() - t0
    acc = float(np.mean([p == g for p, g in zip(preds, gold)]))
    return {"name": "generate, one at a time (fp32)", "texts_per_s": len(texts) / dt, "n": len(texts),
            "accuracy": acc, "abstained": sum(p is None for p in preds), "load_avg_1m": os.getloadavg()[0]}


def run_config(teacher, texts, gold, names, *, name, batch, dtype, sort=True, share=True, ref=None) -> dict:
    import torch

    want = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    if teacher.model.dtype != want:
        teacher.model.to(want)
        teacher._prefix_cache = {}
    teacher.batch_size, teacher.sort_by_length, teacher.share_prefix = batch, sort, share
    teacher.score(texts[:8])  # warm-up (and the prefix cache for this prompt)
    t0 = time.perf_counter()
    p = teacher.score_proba(texts)
    dt = time.perf_counter() - t0
    row = {"name": name, "dtype": dtype, "batch_size": batch, "sorted": sort, "shared_prefix": share,
           "texts_per_s": len(texts) / dt, "n": len(texts), "accuracy": accuracy(p, gold, names),
           "load_avg_1m": os.getloadavg()[0]}
    if ref is not None:
        row["agreement_with_fp32"] = float(np.mean(p.argmax(1) == ref.argmax(1)))
        row["max_abs_prob_diff"] = float(np.abs(p - ref).max())
    print(f"  {name:<46} {row['texts_per_s']:6.1f} texts/s  acc {row['accuracy']:.1%}  "
          f"(load {row['load_avg_1m']:.1f})", flush=True)
    return row, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=192, help="SST-2 dev texts per scoring config (split over the rounds)")
    ap.add_argument("--n-generate", type=int, default=12, help="texts per round for the generate baseline")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median is reported)")
    ap.add_argument("--quick", action="store_true", help="fewer configs")
    ap.add_argument("--select-prompt", action="store_true", help="also run --select-prompt on all 872 dev texts")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "teacher.json"))
    args = ap.parse_args()

    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet
    from distill.teachers.prompts import Prompt, load_shots
    from distill.teachers import load_teacher

    shared = Path(os.environ.get("BERT_OR_GPT_SHARED", REPO.parent / "shared")) / "data"
    ls = LabelSet.from_spec("sst2")
    dev = load_texts(shared / "sst2" / "dev.tsv", labelset=ls)
    texts, gold = dev.texts[: args.n], dev.gold[: args.n]
    t0 = time.perf_counter()
    teacher = load_teacher(None, ls, dtype="float32")
    load_s = time.perf_counter() - t0
    result = {"benchmark": "teacher throughput, SST-2 dev, default teacher SmolLM2-135M-Instruct (GGUF Q4_1 "
                           "de-quantized by transformers)", "machine": cpu_info(), "load_seconds": load_s,
              "load_avg_at_start": os.getloadavg(), "n": len(texts), "configs": []}
    print(f"teacher loaded in {load_s:.1f}s; {len(texts)} texts; load average {os.getloadavg()[0]:.1f}", flush=True)

    # Configs are run in interleaved rounds (every config once per round, on the same texts) and
    # the median per config is kept: on a shared, oversubscribed machine the load changes by the
    # minute, and interleaving spreads it evenly over the configs being compared.
    shots = load_shots(shared / "sst2" / "train.tsv", ls, 4, seed=0)
    zero, four = Prompt(ls, "field"), Prompt(ls, "field", shots=shots)
    plan = [  # name, prompt, batch, dtype, sorted, shared prefix
        ("score fp32 batch 1", zero, 1, "float32", True, True),
        ("score fp32 batch 16 unsorted", zero, 16, "float32", False, True),
        ("score fp32 batch 16 sorted", zero, 16, "float32", True, True),
        ("score bf16 batch 16 sorted", zero, 16, "bfloat16", True, True),
        ("score bf16 batch 32 sorted", zero, 32, "bfloat16", True, True),
        ("4-shot fp32 b16, prefix recomputed per text", four, 16, "float32", True, False),
        ("4-shot fp32 b16, shared-prefix KV cache", four, 16, "float32", True, True),
        ("4-shot bf16 b32, shared-prefix KV cache", four, 32, "bfloat16", True, True),
    ]
    if args.quick:
        plan = [plan[0], plan[2], plan[3], plan[6]]
    rates: dict[str, list[float]] = {p[0]: [] for p in plan}
    probs: dict[str, list[np.ndarray]] = {p[0]: [] for p in plan}
    gen_rates, gen_rows = [], []
    chunk = max(16, len(texts) // args.rounds)
    for r in range(args.rounds):
        sl = slice(r * chunk, (r + 1) * chunk)
        tx, gd = texts[sl], gold[sl]
        if not tx:
            break
        teacher.model.to(__import__("torch").float32)
        teacher._prefix_cache = {}
        teacher.set_prompt(zero)
        g = bench_generate(teacher, tx[: args.n_generate], gd[: args.n_generate], ls.names)
        gen_rates.append(g["texts_per_s"])
        gen_rows.append(g)
        for name, prompt, b, dt, srt, sh in plan:
            teacher.set_prompt(prompt)
            row, p = run_config(teacher, tx, gd, ls.names, name=f"[round {r + 1}] {name}", batch=b, dtype=dt, sort=srt,
                                share=sh)
            rates[name].append(row["texts_per_s"])
            probs[name].append(p)
    ng = sum(x["n"] for x in gen_rows)
    result["configs"].append({"name": "generate 2 tokens, one text at a time (fp32)", "texts_per_s": float(np.median(gen_rates)),
                              "rounds": gen_rates, "n": ng,
                              "accuracy": float(sum(x["accuracy"] * x["n"] for x in gen_rows) / max(ng, 1)),
                              "abstained": sum(x["abstained"] for x in gen_rows)})
    n_done = sum(len(x) for x in probs[plan[0][0]])
    ref = np.concatenate(probs["score fp32 batch 16 sorted"]) if probs.get("score fp32 batch 16 sorted") else None
    for name, prompt, b, dt, srt, sh in plan:
        p = np.concatenate(probs[name])
        row = {"name": name, "shots": len(prompt.shots), "batch_size": b, "dtype": dt, "sorted": srt, "shared_prefix": sh,
               "texts_per_s": float(np.median(rates[name])), "rounds": rates[name], "n": int(len(p)),
               "accuracy": accuracy(p, gold[: len(p)], ls.names)}
        if ref is not None and len(prompt.shots) == 0 and len(ref) == len(p):
            row["agreement_with_fp32"] = float(np.mean(p.argmax(1) == ref.argmax(1)))
            row["max_abs_prob_diff"] = float(np.abs(p - ref).max())
        result["configs"].append(row)
    result["n"] = n_done
    print("\nmedian texts/s over rounds:")
    for row in result["configs"]:
        print(f"  {row['name']:<46} {row['texts_per_s']:6.1f} texts/s  acc {row['accuracy']:.1%}")
    write_json(args.out, result)

    if args.select_prompt:
        import tempfile

        from distill.labeling.labeler import LabelingConfig, label_dataset

        teacher.model.to(__import__("torch").float32)
        teacher.batch_size, teacher.share_prefix, teacher.sort_by_length = 16, True, True
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            r = label_dataset(dev, ls, teacher, tmp, LabelingConfig(select_prompt=True, calibrate="auto", progress=False),
                              echo=print)
            result["select_prompt_full_dev"] = {
                "command": "advisor distill label --data ../shared/data/sst2/dev.tsv --labels sst2 --out RUN "
                           "--select-prompt --dtype float32",
                "template": r.template, "calibration": r.calibration["method"], "selection": r.selection,
                "accuracy": r.report["gold"]["accuracy"], "macro_f1": r.report["gold"]["macro_f1"],
                "held_out": r.report.get("gold_held_out"), "seconds": time.perf_counter() - t0}
    result["load_avg_at_end"] = os.getloadavg()
    write_json(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
