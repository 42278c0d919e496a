"""Reproducible pools (texts for the teacher to label) and gold sets from ../shared/data.

* SST-2: the pool is ``n_pool`` texts sampled (seeded) from train.tsv, minus any text that also
  occurs in dev.tsv; the gold set is dev.tsv (872 sentences).
* AG News: test.csv (7,600 rows, 1,900 per class) is shuffled with a fixed seed; the gold set is
  the first ``n_gold`` rows stratified by class (n_gold / 4 per class), the pool ``n_pool`` rows
  sampled from the rest. The two never overlap.

Files are written as JSONL (``id``, ``text``, ``label``) so that ``advisor distill label`` and
``advisor distill evaluate`` read them without format options::

    python -m benchmarks.shared_data sst2 OUT_DIR [--data DIR] [--n-pool 4000] [--seed 0]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from core.atomic import write_jsonl
from core.errors import UserError

DEFAULT_SEED = 0


def shared_data_dir() -> Path:
    root = Path(os.environ.get("BERT_OR_GPT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    return root / "data"


def _dataset(texts, gold, ids):
    from distill.data.reader import TextDataset

    return TextDataset(texts=list(texts), gold=list(gold), ids=list(ids))


def sst2_splits(data_dir: str | os.PathLike | None = None, n_pool: int = 4000, seed: int = DEFAULT_SEED):
    """(pool, gold) TextDatasets for SST-2."""
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    d = Path(data_dir or shared_data_dir()) / "sst2"
    ls = LabelSet.from_spec("sst2")
    gold = load_texts(d / "dev.tsv", labelset=ls)
    train = load_texts(d / "train.tsv", labelset=ls)
    dev_texts = {" ".join(t.split()).casefold() for t in gold.texts}
    cand = [i for i, t in enumerate(train.texts) if " ".join(t.split()).casefold() not in dev_texts]
    if n_pool > len(cand):
        raise UserError(f"SST-2 train has only {len(cand)} usable texts, asked for {n_pool}")
    pick = np.sort(np.random.default_rng(seed).choice(len(cand), size=n_pool, replace=False))
    idx = [cand[i] for i in pick]
    pool = _dataset([train.texts[i] for i in idx], [train.gold[i] for i in idx], [f"train-{train.ids[i]}" for i in idx])
    gold = _dataset(gold.texts, gold.gold, [f"dev-{i}" for i in gold.ids])
    return pool, gold


def ag_news_splits(data_dir: str | os.PathLike | None = None, n_pool: int = 4000, n_gold: int = 1000,
                   seed: int = DEFAULT_SEED):
    """(pool, gold) TextDatasets for AG News, both from test.csv, disjoint, fixed seed."""
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    d = Path(data_dir or shared_data_dir()) / "ag_news"
    ls = LabelSet.from_spec("ag_news")
    full = load_texts(d / "test.csv", labelset=ls)
    k = len(ls)
    if n_gold % k:
        raise UserError(f"n_gold must be a multiple of {k} (stratified)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(full.texts))
    per_class = {n: 0 for n in ls.names}
    gold_idx, rest = [], []
    for i in perm:
        g = full.gold[i]
        if per_class[g] < n_gold // k:
            per_class[g] += 1
            gold_idx.append(int(i))
        else:
            rest.append(int(i))
    if n_pool > len(rest):
        raise UserError(f"AG News has only {len(rest)} texts left for the pool, asked for {n_pool}")
    pool_idx = sorted(rest[:n_pool])
    gold_idx = sorted(gold_idx)

    def sub(ix, tag):
        return _dataset([full.texts[i] for i in ix], [full.gold[i] for i in ix], [f"{tag}-{full.ids[i]}" for i in ix])

    return sub(pool_idx, "test"), sub(gold_idx, "test")


def write_split(ds, path: str | os.PathLike) -> Path:
    path = Path(path)
    write_jsonl(path, ({"id": i, "text": t, "label": g} for i, t, g in zip(ds.ids, ds.texts, ds.gold)))
    return path


def synthetic_teacher_rows(ds, names: list[str], flip: float = 0.2, seed: int = DEFAULT_SEED) -> list[dict]:
    """labels.jsonl rows imitating a noisy teacher from gold labels (tests and development only:
    benchmark numbers always come from the real teacher). A fraction ``flip`` of rows get a wrong
    label; confidences are drawn lower for flipped rows, as a real teacher is less sure when wrong."""
    rng = np.random.default_rng(seed)
    k = len(names)
    rows = []
    for i, (t, g) in enumerate(zip(ds.texts, ds.gold)):
        gi = names.index(g)
        wrong = rng.random() < flip
        if wrong:
            gi = int(rng.choice([j for j in range(k) if j != gi]))
        logits = rng.normal(0.0, 1.0, size=k)
        logits[gi] += rng.uniform(0.5, 2.0) if wrong else rng.uniform(1.5, 5.0)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        gi = int(p.argmax())
        row = {"id": ds.ids[i], "text": t, "probs": {n: float(x) for n, x in zip(names, p)},
               "label": names[gi], "confidence": float(p[gi]), "source": "scored", "gold": g}
        rows.append(row)
    return rows


def prepare(name: str, out_dir: str | os.PathLike, data_dir=None, n_pool: int = 4000, n_gold: int = 1000,
            seed: int = DEFAULT_SEED) -> dict:
    """Write OUT_DIR/pool.jsonl and OUT_DIR/gold.jsonl for ``name`` (sst2 | ag_news)."""
    out = Path(out_dir)
    if name == "sst2":
        pool, gold = sst2_splits(data_dir, n_pool=n_pool, seed=seed)
        preset = "sst2"
    elif name == "ag_news":
        pool, gold = ag_news_splits(data_dir, n_pool=n_pool, n_gold=n_gold, seed=seed)
        preset = "ag_news"
    else:
        raise UserError(f"unknown shared data set {name!r}; use sst2 or ag_news")
    return {"pool": write_split(pool, out / "pool.jsonl"), "gold": write_split(gold, out / "gold.jsonl"),
            "preset": preset, "n_pool": len(pool.texts), "n_gold": len(gold.texts), "seed": seed}


if __name__ == "__main__":  # pragma: no cover - thin CLI
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=["sst2", "ag_news"])
    ap.add_argument("out_dir")
    ap.add_argument("--data", default=None)
    ap.add_argument("--n-pool", type=int, default=4000)
    ap.add_argument("--n-gold", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    a = ap.parse_args()
    r = prepare(a.name, a.out_dir, a.data, a.n_pool, a.n_gold, a.seed)
    print({k: str(v) for k, v in r.items()})
