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
    if cfg.get("task") == "ner":  # entity files (distill.data.ner) and a generating teacher
        return lines + _ner_plan(cfg, labelset, stages, probe_texts)
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
    t = cfg["teacher"]
    sent = list(unique)  # the texts the teacher will be asked about
    extra = n_gold
    if t["budget"] is not None:
        from distill.active import ActiveConfig, overhead_calls, plan_rounds, resolve_budget

        calls = resolve_budget(t["budget"], len(unique))
        if calls >= len(unique):
            lines.append(f"teacher budget: {calls} calls covers all {len(unique)} texts: no rounds")
        else:
            over = overhead_calls(section(cfg, "teacher"), len(unique), n_gold or (len(data.texts) if data.gold else 0))
            rounds = plan_rounds(max(calls - over, 1), ActiveConfig().rounds)
            lines.append(f"teacher budget: {calls} calls of {len(unique)} texts ({calls / len(unique):.0%}); "
                         f"up to {over} of them for the gate; {len(rounds)} rounds of "
                         f"{', '.join(map(str, rounds))} calls (the seed sample first, then the texts the "
                         f"student is least sure of); a {ActiveConfig().epochs:g}-epoch student after each round")
            sent = unique[:calls]  # a stand-in of the right size for the time and cost estimates
            extra = 0  # the gate's texts count against the budget
    if label_runs:
        teacher = load_teacher(t["model"], labelset, **section(cfg, "teacher").load_options())
        probe = unique[: max(2, probe_texts)]
        teacher.predict_proba(probe[:2])  # warm-up
        start = time.perf_counter()
        teacher.predict_proba(probe)
        rate = len(probe) / max(time.perf_counter() - start, 1e-9)
        asks = len(kind.questions(unique[0], labelset)) if unique else 1  # multilabel: one question per label
        total = (len(sent) + extra) * asks
        lines.append(f"teacher probe: {rate:.1f} texts/s on {len(probe)} texts -> about "
                     f"{total / rate / 60:.1f} min for {total} "
                     + (f"teacher inputs ({asks} questions per text)" if asks > 1 else "texts"))
        if t["price_per_1k_tokens"]:
            chars = sum(len(x) for x in sent) + 200 * len(sent)  # text + prompt template overhead
            tokens = chars / 4  # ~4 characters per token for English text
            lines.append(f"API cost estimate: ~{tokens / 1000:.0f}k prompt tokens x "
                         f"{t['price_per_1k_tokens']} per 1k = {tokens / 1000 * t['price_per_1k_tokens']:.2f}")
    return lines + _outputs(cfg, stages)


def _ner_plan(cfg: dict, labelset, stages, probe_texts: int) -> list[str]:
    """The entity kind's plan: the pool and gold read as entity files, a generation probe."""
    from distill.data.ner import read_ner
    from distill.labeling.spans import SpanTeacher
    from distill.tasks import get_task
    from distill.teachers import load_teacher
    from distill.teachers.prompts import SpanPrompt, detect_language

    data = get_task("ner").read(section(cfg, "data"), labelset)
    unique = list(dict.fromkeys(data.texts))
    lines = [f"texts to label: {len(unique)} unique of {len(data.texts)} ({data.format}; entity types "
             f"{', '.join(labelset.names)})"]
    if cfg["gold"]["path"]:
        g = read_ner(cfg["gold"]["path"], labelset, limit=cfg["gold"]["limit"])
        if g.gold is None:
            from core.errors import UserError

            raise UserError(f"gold.path {cfg['gold']['path']} holds no entity annotations")
        lines.append(f"gold: {len(g.texts)} texts, {sum(map(len, g.gold))} entities")
    if any(s.name == "label" and a == "run" for s, a in stages):
        t = cfg["teacher"]
        language = t["language"] if t["language"] in ("en", "zh") else detect_language(unique)
        teacher = load_teacher(t["model"], labelset, **section(cfg, "teacher").load_options())
        try:
            gen = SpanTeacher(teacher, SpanPrompt(labelset, language=language))
            probe = unique[: max(1, min(2, probe_texts))]
            start = time.perf_counter()
            gen.score_each(probe, lambda i, r: None)
            rate = len(probe) / max(time.perf_counter() - start, 1e-9)
        finally:
            teacher.close()
        lines.append(f"teacher probe (generation): {rate:.2f} texts/s on {len(probe)} texts -> about "
                     f"{len(unique) / rate / 60:.1f} min for {len(unique)} texts")
    return lines + _outputs(cfg, stages)


def _outputs(cfg: dict, stages) -> list[str]:
    """The files the stages that run will write."""
    run = Path(cfg["run_dir"])
    return ["outputs:"] + [f"  {p}" for stage, action in stages if action != "off" for p in stage.outputs(cfg, run)]
