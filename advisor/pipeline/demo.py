"""The demo's data and config (``advisor demo``: the whole product on the embedded defaults, in
minutes, on a laptop; the command is ``advisor/commands/demo.py``).

1. a sample recommendation (a sentiment classifier, no labels, 20 ms budget at 500 QPS);
2. the whole pipeline (label -> train -> evaluate -> export -> verify -> bench) on SST-2 with
   the embedded SmolLM2 teacher and MiniLM student: ``../shared/data`` when it is beside the
   checkout, else the sample shipped in ``advisor/demo_data``;
3. a summary table and ``report.md`` with the plots.
"""

from __future__ import annotations

import os
from pathlib import Path


DEMO_DATA = Path(__file__).resolve().parents[1] / "demo_data"
DEMO_ANSWERS = {"task": "classification", "labeled": 0, "latency_ms": 20, "qps": 500}


def find_sst2() -> tuple[Path, Path, str]:
    """(train file, dev file, where from): the shared data beside the checkout, else the packaged sample."""
    candidates = []
    if os.environ.get("BERT_OR_GPT_SHARED"):
        candidates.append(Path(os.environ["BERT_OR_GPT_SHARED"]) / "data" / "sst2")
    candidates += [Path(__file__).resolve().parents[3] / "shared" / "data" / "sst2",
                   Path.cwd().parent / "shared" / "data" / "sst2"]
    for c in candidates:
        if (c / "train.tsv").is_file() and (c / "dev.tsv").is_file():
            return c / "train.tsv", c / "dev.tsv", str(c)
    return DEMO_DATA / "sst2_train_sample.tsv", DEMO_DATA / "sst2_dev.tsv", f"{DEMO_DATA} (packaged sample)"


MIN_WORDS = 8


def full_sentences(rows: list[str], min_words: int = MIN_WORDS) -> list[str]:
    """The rows of at least ``min_words`` words that are not part of a longer row.

    SST-2's train.tsv holds every review sentence AND the phrases of its parse tree (67k rows from
    about 6,900 sentences; median 7 words), while the texts the student will serve (dev.tsv) are
    whole sentences (median 19 words). A pool sampled from all rows is mostly overlapping
    fragments of the same sentences; keeping the sentences themselves gives the teacher distinct
    texts that look like the traffic. Measured on the demo (docs/benchmarks.md, section 1):
    the student went from 80.4% (4,000 rows of >= 8 words) to 81.7% (4,000 full sentences), against
    the teacher's 80.7%. Longest first, a row is kept unless it occurs inside one already kept."""
    kept: list[str] = []
    joined = ""
    for r in sorted({r for r in rows if len(r.split()) >= min_words}, key=lambda r: (-len(r), r)):
        if r not in joined:
            kept.append(r)
            joined += "\n" + r
    return kept


def build_pool(train: Path, out: Path, sample: int, seed: int = 0) -> int:
    """The unlabelled pool: ``sample`` full SST-2 training sentences (see ``full_sentences``).

    Gold labels are dropped: the teacher labels the pool. Written atomically; returns the number
    of rows."""
    import csv
    import random

    from core.atomic import atomic_open

    with open(train, encoding="utf-8", newline="") as fh:
        rows = [r[0].strip() for r in csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)][1:]
    sentences = full_sentences(rows)
    pick = random.Random(seed).sample(sentences, min(sample, len(sentences)))
    with atomic_open(out, "w") as fh:
        fh.write("".join(f"{t}\n" for t in pick))
    return len(pick)


def demo_config(run_dir: Path, pool: Path, dev: Path) -> dict:
    """The demo's pipeline config. Choices measured on SST-2 (docs/benchmarks.md): the completion
    prompt with contextual calibration; - because calibrated confidence tracks correctness - a 0.6
    confidence threshold with 3 epochs; and the student's bottom 4 of 6 layers, which scored the
    same as all 6 (0.817) with a third less compute per text (int8 batch 1: 1.8 ms vs 2.4 ms)."""
    return {
        "run_dir": str(run_dir),
        "labels": "sst2",
        "data": {"path": str(pool)},
        "teacher": {"template": "field", "calibrate": "content-free"},
        "student": {"layers": 4},
        "training": {"max_length": 64, "threshold": 0.6, "epochs": 3.0},
        "gold": {"path": str(dev), "text_column": "sentence", "label_column": "label"},
        "export": {"target": "auto"},
        "bench": {"n": 200, "teacher_n": 20},
    }
