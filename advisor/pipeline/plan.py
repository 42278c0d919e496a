"""``advisor distill run CONFIG --dry-run``: the plan of a run, without running it."""

from __future__ import annotations

import time
from pathlib import Path

from advisor.pipeline.config import section
from advisor.pipeline.run import plan
from core.offline import force_offline


def dry_run_report(cfg: dict, probe_texts: int = 8) -> list[str]:
    """The plan: stages, texts to label, a teacher-time estimate from a short probe, API cost, outputs."""
    force_offline()
    from distill.data.labelset import LabelSet
    from distill.data.reader import load_texts
    from distill.teachers import load_teacher

    lines = [f"run directory: {cfg['run_dir']}", "stages:"]
    stages = plan(cfg)
    for stage, action in stages:
        lines.append(f"  {stage.name:9} {action}")
    from distill.tasks import get_task

    labelset = LabelSet.from_spec(cfg["labels"])
    kind = get_task(cfg.get("task"))
    data = kind.read(section(cfg, "data"), labelset) if cfg["data"]["label_column"] else section(cfg, "data").load(None)
    unique = list(dict.fromkeys(data.texts))
    n_gold = 0
    if cfg["gold"]["path"]:
        g = cfg["gold"]
        n_gold = len(load_texts(g["path"], text_column=g["text_column"], label_column=g["label_column"],
                                labelset=labelset, limit=g["limit"],
                                text_pair_column=g["text_pair_column"] or cfg["data"]["text_pair_column"],
                                **kind.reader_options(labelset)).texts)
    lines.append(f"texts to label: {len(unique)} unique of {len(data.texts)}"
                 + (f" (+ {n_gold} gold texts for the teacher's evaluation)" if n_gold else ""))
    label_runs = any(s.name == "label" and a == "run" for s, a in stages)
    if label_runs:
        t = cfg["teacher"]
        teacher = load_teacher(t["model"], labelset, **section(cfg, "teacher").load_options())
        probe = unique[: max(2, probe_texts)]
        teacher.predict_proba(probe[:2])  # warm-up
        start = time.perf_counter()
        teacher.predict_proba(probe)
        rate = len(probe) / max(time.perf_counter() - start, 1e-9)
        asks = len(kind.questions(unique[0], labelset)) if unique else 1  # multilabel: one question per label
        total = (len(unique) + n_gold) * asks
        lines.append(f"teacher probe: {rate:.1f} texts/s on {len(probe)} texts -> about "
                     f"{total / rate / 60:.1f} min for {total} "
                     + (f"teacher inputs ({asks} questions per text)" if asks > 1 else "texts"))
        if t["price_per_1k_tokens"]:
            chars = sum(len(x) for x in unique) + 200 * len(unique)  # text + prompt template overhead
            tokens = chars / 4  # ~4 characters per token for English text
            lines.append(f"API cost estimate: ~{tokens / 1000:.0f}k prompt tokens x "
                         f"{t['price_per_1k_tokens']} per 1k = {tokens / 1000 * t['price_per_1k_tokens']:.2f}")
    lines.append("outputs:")
    run = Path(cfg["run_dir"])
    for stage, action in stages:
        if action != "off":
            lines += [f"  {p}" for p in stage.outputs(cfg, run)]
    return lines
