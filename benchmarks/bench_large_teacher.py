"""The named teachers on real data: runtimes, accuracy per data set, the machine's compute limit.

Parts (``--part``, several allowed; every result is merged into ``--out`` as it is measured, with
the machine's load average next to it -- the machine is shared, so compare figures of one run):

* ``peak``: the CPU's measured matmul peak, fp32 (torch, 2048^3) and int8 (``torch._int_mm``),
  and the 1.5B teacher's FLOPs per token from its GGUF tensor shapes: the compute limit.
* ``runtime``: the 1.5B (and the 135M) teacher on the first ``--n-runtime`` SST-2 dev sentences
  through the transformers path (fp32, de-quantised GGUF; the reference) and through llama.cpp
  (batch 1 and batched): texts/s, accuracy, agreement of the argmax and the largest probability
  difference with the reference. The shared-prefix KV cache is on in both.
* ``batch``: llama.cpp texts/s of ``--teacher`` on the first ``--n-runtime`` SST-2 dev sentences at
  each of ``--batch-sizes`` (16 32 64).
* ``pilot``: each candidate prompt (template, k shots; ``--candidates TEMPLATE[::K]``) on 64 texts
  of a split that is *not* evaluated (SST-2 train, AG News train subset, SMS rows outside the
  sample, CLINC150 val, waimai rows outside the sample, TNEWS dev), scored once and calibrated
  three ways (none, content-free, pool-mean); the best (macro-F1) is used by ``teachers``. Shots
  come from a third split that holds neither evaluated nor pilot texts (``dataset(name, "shots")``).
* ``teachers``: accuracy and macro-F1 of each teacher on SST-2 dev (872), AG News (stratified
  1,000 of test.csv), SMS spam (stratified 1,000), CLINC150 (1,000 of the 4,500 in-scope test
  texts), waimai_10k (stratified 1,000, Chinese template) and TNEWS (test_public.json, 2,010).

    .venv/bin/python benchmarks/bench_large_teacher.py --part peak runtime
    .venv/bin/python benchmarks/bench_large_teacher.py --part pilot teachers --teacher qwen2.5-1.5b --sets sst2 ag_news
    .venv/bin/python benchmarks/bench_large_teacher.py --part teachers --sets waimai --limit 300 --prompt options:none:0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.atomic import write_json  # noqa: E402
from core.offline import force_offline  # noqa: E402

force_offline()
SHARED = Path(os.environ.get("BERT_OR_GPT_SHARED", REPO.parent / "shared")) / "data"
OUT = REPO / "benchmarks" / "results" / "teacher_large.json"
SETS = ("sst2", "ag_news", "sms_spam", "clinc150", "waimai", "tnews")
CALIBRATIONS = ("none", "content-free", "pool-mean")  # every one is tried on the same raw scores
CANDIDATES = {  # prompts tried by the pilot: (template, shots); each is scored once, then calibrated 3 ways
    "sst2": [("field", 0), ("options", 0)],
    "ag_news": [("options", 0), ("field", 0), ("chat", 0), ("chat-described", 0)],
    "sms_spam": [("options", 0), ("field", 0), ("chat-described", 0)],
    "clinc150": [("options", 0), ("field", 0)],
    "waimai": [("options", 0), ("field", 0), ("chat", 0)],
    "tnews": [("options", 0), ("field", 0), ("chat", 0)],
}


def load_avg() -> float:
    return round(os.getloadavg()[0], 2)


def merge(out: Path, key: str | tuple, value) -> None:
    """Set ``key`` (or the nested ``(key, sub, ...)``) in the results file, re-read just before:
    runs of other parts or sets may write the same file meanwhile."""
    data = json.loads(out.read_text()) if out.is_file() else {}
    keys = (key,) if isinstance(key, str) else tuple(key)
    node = data
    for k in keys[:-1]:
        node = node.setdefault(k, {})
    node[keys[-1]] = value
    data["cpu"] = cpu_info()
    write_json(out, data)


def cpu_info() -> dict:
    model, flags = "", ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    return {"cpu": model, "cores": len(os.sched_getaffinity(0)),
            "isa": [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f" {f}" in flags]}


# ------------------------------------------------------------------------------------ data
def _strat(texts, gold, n, seed=0):
    """n rows, each class in its proportion (largest remainders), seeded; kept in file order."""
    rng = np.random.default_rng(seed)
    gold = list(gold)
    classes = sorted(set(gold))
    idx_by = {c: [i for i, g in enumerate(gold) if g == c] for c in classes}
    quota = {c: n * len(v) / len(gold) for c, v in idx_by.items()}
    take = {c: int(q) for c, q in quota.items()}
    for c in sorted(classes, key=lambda c: -(quota[c] - take[c]))[: n - sum(take.values())]:
        take[c] += 1
    pick = sorted(i for c in classes for i in rng.choice(idx_by[c], size=take[c], replace=False).tolist())
    return [texts[i] for i in pick], [gold[i] for i in pick], set(pick)


def dataset(name: str, split: str = "eval"):
    """(texts, gold, labelset) for the evaluation ('eval'), the pilot ('pilot') or the k-shot
    examples' ('shots') split; 'shots' holds no text of the other two."""
    if split == "shots":
        return _shots_pool(name)
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    ls = LabelSet.from_spec(name)
    rng = np.random.default_rng(1)
    if name == "sst2":
        d = load_texts(SHARED / "sst2" / ("dev.tsv" if split == "eval" else "train.tsv"), labelset=ls)
        if split == "pilot":
            idx = [i for i in rng.permutation(len(d.texts)) if len(d.texts[i].split()) >= 8][:64]
            return [d.texts[i] for i in idx], [d.gold[i] for i in idx], ls
        return d.texts, d.gold, ls
    if name == "ag_news":
        if split == "pilot":
            d = load_texts(SHARED / "ag_news" / "train_subset" / "train.csv", labelset=ls)
            t, g, _ = _strat(d.texts, d.gold, 64, seed=1)
            return t, g, ls
        d = load_texts(SHARED / "ag_news" / "test.csv", labelset=ls)
        t, g, _ = _strat(d.texts, d.gold, 1000)
        return t, g, ls
    if name in ("sms_spam", "waimai"):
        path = SHARED / "sms_spam" / "SMSSpamCollection" if name == "sms_spam" else SHARED / "waimai_10k" / "waimai_10k.csv"
        d = load_texts(path, labelset=ls)
        t, g, used = _strat(d.texts, d.gold, 1000)
        if split == "pilot":
            rest = [i for i in range(len(d.texts)) if i not in used]
            t2, g2, _ = _strat([d.texts[i] for i in rest], [d.gold[i] for i in rest], 64, seed=1)
            return t2, g2, ls
        return t, g, ls
    if name == "clinc150":
        rows = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
        rows = rows["test" if split == "eval" else "val"]
        idx = sorted(rng.choice(len(rows), size=1000 if split == "eval" else 64, replace=False).tolist())
        return [rows[i][0] for i in idx], [ls.normalize(rows[i][1]) for i in idx], ls
    if name == "tnews":
        d = load_texts(SHARED / "tnews" / ("test_public.json" if split == "eval" else "dev_few_all.json"), labelset=ls)
        if split == "pilot":
            t, g, _ = _strat(d.texts, d.gold, 64, seed=1)
            return t, g, ls
        return d.texts, d.gold, ls
    raise SystemExit(f"unknown data set {name}")


def _shots_pool(name: str):
    """Labelled texts for k-shot examples: outside the evaluated and the pilot texts."""
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    ls = LabelSet.from_spec(name)
    if name == "clinc150":
        rows = json.loads((SHARED / "clinc150" / "data_full.json").read_text(encoding="utf-8"))["train"]
        return [r[0] for r in rows], [ls.normalize(r[1]) for r in rows], ls
    if name == "tnews":
        d = load_texts(SHARED / "tnews" / "train_few_all.json", labelset=ls)
        return d.texts, d.gold, ls
    if name == "ag_news":
        d = load_texts(SHARED / "ag_news" / "train_subset" / "train.csv", labelset=ls)
    elif name == "sst2":
        d = load_texts(SHARED / "sst2" / "train.tsv", labelset=ls)
    else:
        path = SHARED / "sms_spam" / "SMSSpamCollection" if name == "sms_spam" else SHARED / "waimai_10k" / "waimai_10k.csv"
        d = load_texts(path, labelset=ls)
    used = set(dataset(name, "eval")[0]) | set(dataset(name, "pilot")[0])
    keep = [i for i, x in enumerate(d.texts) if x not in used]
    return [d.texts[i] for i in keep], [d.gold[i] for i in keep], ls


def _shots(name: str, k: int, seed: int = 0):
    """k balanced examples (distill.prompts.select_shots, as ``--shots k --shots-file``)."""
    if not k:
        return ()
    from distill.teachers.prompts import select_shots

    texts, gold, ls = dataset(name, "shots")
    return select_shots(texts, gold, ls, k, seed=seed)


# ------------------------------------------------------------------------------------ parts
def part_peak(out: Path) -> None:
    import torch

    res = {"load_avg_before": load_avg(), "threads": torch.get_num_threads()}
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    fn = lambda: a @ b  # noqa: E731
    fn()
    res["fp32_gops"] = round(2 * n**3 / min(_timed(fn) for _ in range(7)) / 1e9, 1)
    # int8: onnxruntime's MatMulInteger (MLAS u8 x s8 kernels, AVX2 vpmaddubsw here); torch's CPU
    # _int_mm is a reference loop (0.7 GOPS), no peak
    import onnxruntime as ort
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("MatMulInteger", ["A", "B"], ["C"])], "mm",
                          [helper.make_tensor_value_info("A", TensorProto.UINT8, [n, n]),
                           helper.make_tensor_value_info("B", TensorProto.INT8, [n, n])],
                          [helper.make_tensor_value_info("C", TensorProto.INT32, [n, n])])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = len(os.sched_getaffinity(0))
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"A": rng.integers(0, 255, (n, n), dtype=np.uint8), "B": rng.integers(-127, 127, (n, n), dtype=np.int8)}
    run = lambda: sess.run(None, feed)  # noqa: E731
    run()
    res["int8_gops"] = round(2 * n**3 / min(_timed(run) for _ in range(7)) / 1e9, 1)
    res["int8_kernel"] = "onnxruntime MatMulInteger u8 x s8"
    res.update(teacher_flops())
    res["load_avg_after"] = load_avg()
    print(json.dumps(res, indent=1))
    merge(out, "peak", res)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def teacher_flops(name: str = "qwen2.5-1.5b") -> dict:
    """Parameters from the GGUF's tensor shapes: FLOPs per token = 2 x non-embedding weights; the
    LM head (vocab x hidden, tied to the embedding) runs once per text, at the last position."""
    from gguf import GGUFReader

    from distill.teachers.registry import teacher_path

    r = GGUFReader(str(teacher_path(name, progress=False)))
    total, emb, head = 0, 0, 0
    for t in r.tensors:
        n = int(np.prod([int(x) for x in t.shape]))
        total += n
        if t.name == "token_embd.weight":
            emb = n
        if t.name == "output.weight":
            head = n
    return {"teacher": name, "params_total": total, "params_embedding": emb, "params_output": head,
            "flops_per_token": 2 * (total - emb - head), "head_flops_per_text": 2 * (head or emb)}


def _scores(t, texts):
    t0 = time.perf_counter()
    p = t.predict_proba(texts)
    return p, time.perf_counter() - t0


def part_runtime(out: Path, n: int, teachers: list[str]) -> None:
    from distill.teachers import load_teacher

    texts, gold, ls = dataset("sst2")
    texts, gold = texts[:n], gold[:n]
    res = {}
    for name in teachers:
        rows = []
        ref = None
        configs = [("transformers fp32 (reference)", {"backend": "transformers", "dtype": "float32", "batch_size": 8}),
                   ("llama-cpp, batch 1", {"backend": "llama-cpp", "batch_size": 1}),
                   ("llama-cpp, batch 16", {"backend": "llama-cpp", "batch_size": 16}),
                   ("llama-cpp, batch 16, 1 thread", {"backend": "llama-cpp", "batch_size": 16, "threads": 1}),
                   ("llama-cpp, batch 16, busy-wait threads", {"backend": "llama-cpp", "batch_size": 16, "poll": 50})]
        for label, opts in configs:
            la = load_avg()
            t0 = time.perf_counter()
            t = load_teacher(name, ls, template="field", **opts)
            load_s = time.perf_counter() - t0
            t.predict_proba(texts[:2])  # warm-up: the shared prefix, thread pools
            p, dt = _scores(t, texts)
            tok = _token_counts(t, texts)
            t.close()
            del t
            row = {"runtime": label, "n": n, "load_s": round(load_s, 1), "texts_per_s": round(n / dt, 2),
                   "accuracy": float(np.mean([ls.names[i] == g for i, g in zip(p.argmax(1), gold)])),
                   "suffix_tokens_mean": tok, "load_avg_before": la, "load_avg_after": load_avg()}
            if ref is None:
                ref = p
            else:
                row["argmax_agreement"] = float(np.mean(p.argmax(1) == ref.argmax(1)))
                row["max_abs_prob_diff"] = float(np.abs(p - ref).max())
                row["mean_abs_prob_diff"] = float(np.abs(p - ref).mean())
            print(name, json.dumps(row), flush=True)
            rows.append(row)
            res[name] = rows
            merge(out, "runtime", res)


def part_batch(out: Path, teacher: str, n: int, sizes: list[int]) -> None:
    """llama.cpp texts/s of ``teacher`` on the first ``n`` SST-2 dev sentences at each batch size."""
    from distill.teachers import load_teacher

    texts, _, ls = dataset("sst2")
    texts = texts[:n]
    rows = []
    for bs in sizes:
        la = load_avg()
        t = load_teacher(teacher, ls, template="field", backend="llama-cpp", batch_size=bs)
        t.predict_proba(texts[:2])  # warm-up: the shared prefix, thread pools
        _, dt = _scores(t, texts)
        t.close()
        row = {"batch": bs, "n": n, "texts_per_s": round(n / dt, 2), "load_avg_before": la, "load_avg_after": load_avg()}
        print(teacher, json.dumps(row), flush=True)
        rows.append(row)
        merge(out, ("batch_sweep", teacher), rows)


def _token_counts(t, texts) -> float | None:
    try:
        from distill.teachers.base import shared_prefix

        prefix = shared_prefix(t._render)
        return round(float(np.mean([len(t._encode(t._render(x)[len(prefix):])) for x in texts])), 1)
    except Exception:  # noqa: BLE001 - a figure for the report only
        return None


def _evaluate(t, texts, gold, ls, template, calibrations, language, shots=()):
    """Raw scores once, then one row per calibration (content-free: "N/A", "", "[MASK]";
    pool-mean: the mean raw probabilities of the evaluated texts themselves, no labels used)."""
    from distill.teachers.prompts import Calibrator, Prompt
    from sklearn.metrics import f1_score
    from tqdm import tqdm

    t.set_prompt(Prompt(ls, template, shots=tuple(shots), language=language))
    t.calibrator = Calibrator("none")
    t0 = time.perf_counter()
    raw = []
    for s in tqdm(range(0, len(texts), 32), desc=f"{template}/{len(shots)} shots", file=sys.stderr, leave=False):
        raw.append(t.score_proba(texts[s : s + 32]))
    dt = time.perf_counter() - t0
    raw = np.concatenate(raw)
    rows = []
    for cal in calibrations:
        if cal == "pool-mean":
            calib = Calibrator.pool_mean(raw)
        else:
            t.calibrator = Calibrator(cal)
            calib = t.fit_calibration() if cal != "none" else t.calibrator
        p = calib.apply(raw)
        pred = [ls.names[i] for i in p.argmax(1)]
        rows.append({"template": template, "calibration": cal, "shots": len(shots), "language": language, "n": len(texts),
                     "accuracy": float(np.mean([a == b for a, b in zip(pred, gold)])),
                     "macro_f1": float(f1_score(gold, pred, average="macro", labels=sorted(set(gold)), zero_division=0)),
                     "texts_per_s": round(len(texts) / dt, 2),
                     "pred_distribution_top": max(pred.count(c) for c in set(pred)) / len(pred),
                     "prompt_hash": t.prompt.hash, **({"confusion": _confusion(gold, pred, ls)} if len(ls) <= 20 else {})})
    return rows


def _confusion(gold, pred, ls) -> dict:
    """gold label -> {predicted label: count} (non-zero cells only)."""
    out: dict[str, dict[str, int]] = {}
    for g, p in zip(gold, pred):
        out.setdefault(g, {}).setdefault(p, 0)
        out[g][p] += 1
    return {g: out[g] for g in ls.names if g in out}


def _parse_prompt(spec: str) -> tuple[str, str | None, int]:
    """'template[:calibration[:shots]]' -> (template, calibration or None, shots)."""
    parts = spec.split(":")
    return parts[0], (parts[1] if len(parts) > 1 and parts[1] else None), int(parts[2]) if len(parts) > 2 else 0


def part_pilot(out: Path, teacher: str, sets: list[str], candidates: list[str] | None = None,
               threads: int | None = None) -> None:
    """Every candidate (template, shots) on the set's pilot texts, each calibration on the same raw
    scores; rows accumulate over runs (a candidate measured again replaces its old rows)."""
    from distill.teachers.prompts import detect_language
    from distill.teachers import load_teacher

    for name in sets:
        texts, gold, ls = dataset(name, "pilot")
        lang = detect_language(texts)
        t = load_teacher(teacher, ls, **({"threads": threads} if threads else {}))
        cands = [(tp, k) for tp, _, k in map(_parse_prompt, candidates)] if candidates else CANDIDATES[name]
        for template, k in cands:
            la = load_avg()
            rows = _evaluate(t, texts, gold, ls, template, CALIBRATIONS, lang, _shots(name, k))
            for r in rows:
                r.update(load_avg_before=la, load_avg_after=load_avg())
                print(teacher, name, json.dumps(r), flush=True)
            data = json.loads(out.read_text()) if out.is_file() else {}
            old = data.get("pilot", {}).get(teacher, {}).get(name, [])
            merge(out, ("pilot", teacher, name),
                  [r for r in old if (r["template"], r.get("shots", 0)) != (template, k)] + rows)
        t.close()


DEFAULT_PROMPT = {  # used when no pilot ran for the set: fixed before looking at the evaluation texts
    "sst2": ("field", "content-free", 0), "ag_news": ("options", "none", 0), "sms_spam": ("options", "none", 0),
    "clinc150": ("options", "none", 0), "waimai": ("options", "none", 0), "tnews": ("options", "none", 0),
}


def part_teachers(out: Path, teacher: str, sets: list[str], limit: int | None = None, threads: int | None = None,
                  prompt: str | None = None) -> None:
    """Each set's evaluation texts with the prompt the pilot chose (best macro-F1, then accuracy),
    or ``--prompt``; the other calibrations of the same raw scores are kept for reference only."""
    from distill.teachers.prompts import detect_language
    from distill.teachers import load_teacher

    for name in sets:
        data = json.loads(out.read_text()) if out.is_file() else {}
        pilot = [r for r in (data.get("pilot", {}).get(teacher, {}) or {}).get(name) or ()
                 if not r.get("excluded_from_choice")]  # e.g. rows of label descriptions since reverted
        if prompt:
            template, cal, k = _parse_prompt(prompt)
            cal, chosen = cal or "none", "--prompt"
        elif pilot:
            best = max(pilot, key=lambda r: (r["macro_f1"], r["accuracy"]))
            template, cal, k, chosen = best["template"], best["calibration"], best.get("shots", 0), "pilot"
        else:
            (template, cal, k), chosen = DEFAULT_PROMPT[name], "fixed in advance"
        texts, gold, ls = dataset(name)
        full = len(texts)
        if limit and len(texts) > limit:  # a stratified, seeded subset when the CPU budget is short
            texts, gold, _ = _strat(texts, gold, limit, seed=2)
        lang = detect_language(texts)
        t = load_teacher(teacher, ls, **({"threads": threads} if threads else {}))
        la = load_avg()
        cals = [cal] + [c for c in CALIBRATIONS if c != cal]
        rows = _evaluate(t, texts, gold, ls, template, cals, lang, _shots(name, k))
        r = rows[0]
        r.update(teacher=teacher, data=name, backend=t.kind, load_avg_before=la, load_avg_after=load_avg(),
                 chosen_by=chosen, pruned_texts=getattr(t, "pruned", 0), of=full, describe=t.describe(),
                 other_calibrations={x["calibration"]: {"accuracy": x["accuracy"], "macro_f1": x["macro_f1"]}
                                     for x in rows[1:]})
        t.close()
        print(json.dumps(r), flush=True)
        merge(out, ("teachers", teacher, name), r)


def part_table(out: Path) -> None:
    """The markdown tables of docs/benchmarks.md, section 5, from the results file."""
    d = json.loads(out.read_text())
    for name, rows in (d.get("runtime") or {}).items():
        print(f"\n{name}, {rows[0]['n']} SST-2 dev sentences, template field\n")
        print("| runtime | texts/s | load s | accuracy | argmax agreement | max abs. prob. diff | load avg |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for r in rows:
            print(f"| {r['runtime']} | {r['texts_per_s']:.2f} | {r['load_s']:.1f} | {r['accuracy']:.3f} | "
                  f"{r.get('argmax_agreement', 1.0):.3f} | {r.get('max_abs_prob_diff', 0.0):.3f} | "
                  f"{r['load_avg_before']}-{r['load_avg_after']} |")
    t = d.get("teachers") or {}
    sets = [s for s in SETS if any(s in v for v in t.values())]
    if sets:
        print("\n| data set | teacher | n (of) | prompt | accuracy | macro-F1 | texts/s | load avg |")
        print("|---|---|---:|---|---:|---:|---:|---|")
        for s_ in sets:
            for teacher, v in t.items():
                r = v.get(s_)
                if r:
                    prompt = (f"{r['template']}{' (zh)' if r['language'] == 'zh' else ''}"
                              f"{', %d shots' % r['shots'] if r.get('shots') else ''}, {r['calibration']}")
                    print(f"| {s_} | {teacher} | {r['n']} ({r['of']}) | {prompt} | {r['accuracy']:.3f} | "
                          f"{r['macro_f1']:.3f} | {r['texts_per_s']:.2f} | {r['load_avg_before']}-{r['load_avg_after']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", nargs="+", choices=("peak", "runtime", "batch", "pilot", "teachers", "table"), required=True)
    ap.add_argument("--teacher", default="qwen2.5-1.5b")
    ap.add_argument("--runtime-teachers", nargs="+", default=["qwen2.5-1.5b", "smollm2-135m"])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    ap.add_argument("--n-runtime", type=int, default=64)
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[16, 32, 64], help="batch: llama.cpp batch sizes to time")
    ap.add_argument("--threads", type=int, default=None, help="llama.cpp threads for the pilot and teachers parts (default: all cores)")
    ap.add_argument("--limit", type=int, default=None, help="evaluate a stratified subset of at most N texts per set")
    ap.add_argument("--candidates", nargs="+", default=None,
                    help="pilot: TEMPLATE[::SHOTS] candidates instead of the built-in list")
    ap.add_argument("--prompt", default=None, help="teachers: TEMPLATE[:CALIBRATION[:SHOTS]] instead of the pilot's choice")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    for part in a.part:
        if part == "peak":
            part_peak(a.out)
        elif part == "runtime":
            part_runtime(a.out, a.n_runtime, a.runtime_teachers)
        elif part == "batch":
            part_batch(a.out, a.teacher, a.n_runtime, a.batch_sizes)
        elif part == "pilot":
            part_pilot(a.out, a.teacher, a.sets, a.candidates, a.threads)
        elif part == "table":
            part_table(a.out)
        else:
            part_teachers(a.out, a.teacher, a.sets, a.limit, a.threads, a.prompt)


if __name__ == "__main__":
    main()
