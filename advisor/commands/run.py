"""``advisor distill run CONFIG.yaml``: the whole pipeline from one config file."""

from __future__ import annotations

import time
from pathlib import Path

import click

from core.limits import option_type as _num
from advisor.pipeline.config import load_config


def _abs(value: str | None) -> str | None:
    """CLI paths are relative to the working directory (config paths to the config's folder)."""
    if value is None or "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


def dry_run_report(cfg: dict, probe_texts: int = 8) -> list[str]:
    """The plan: stages, texts to label, a teacher-time estimate from a short probe, API cost, outputs."""
    from core.offline import force_offline

    force_offline()
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet
    from advisor.pipeline.run import plan
    from distill.teachers import load_teacher

    lines = [f"run directory: {cfg['run_dir']}", "stages:"]
    stages = plan(cfg)
    for stage, action in stages:
        lines.append(f"  {stage.name:9} {action}")
    labelset = LabelSet.from_spec(cfg["labels"])
    d = cfg["data"]
    data = load_texts(d["path"], text_column=d["text_column"], label_column=d["label_column"],
                      labelset=labelset if d["label_column"] else None, limit=d["limit"], sample=d["sample"],
                      seed=d["seed"], sep=d.get("sep"))
    unique = list(dict.fromkeys(data.texts))
    n_gold = 0
    if cfg["gold"]["path"]:
        g = cfg["gold"]
        n_gold = len(load_texts(g["path"], text_column=g["text_column"], label_column=g["label_column"],
                                labelset=labelset, limit=g["limit"]).texts)
    lines.append(f"texts to label: {len(unique)} unique of {len(data.texts)}"
                 + (f" (+ {n_gold} gold texts for the teacher's evaluation)" if n_gold else ""))
    label_runs = any(s.name == "label" and a == "run" for s, a in stages)
    if label_runs:
        t = cfg["teacher"]
        options = {k: t[k] for k in ("server_model", "api_key_env", "template", "calibrate", "batch_size",
                                     "concurrency", "timeout", "max_retries", "backend") if t[k] is not None}
        teacher = load_teacher(t["model"], labelset, **options)
        probe = unique[: max(2, probe_texts)]
        teacher.predict_proba(probe[:2])  # warm-up
        start = time.perf_counter()
        teacher.predict_proba(probe)
        rate = len(probe) / max(time.perf_counter() - start, 1e-9)
        total = len(unique) + n_gold
        lines.append(f"teacher probe: {rate:.1f} texts/s on {len(probe)} texts -> about "
                     f"{total / rate / 60:.1f} min for {total} texts")
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


@click.command("run")
@click.argument("config", type=str)
@click.option("--dry-run", is_flag=True, help="Print the plan, a teacher-time estimate and the outputs; do nothing.")
@click.option("--run-dir", default=None, help="Override run_dir.")
@click.option("--data", default=None, help="Override data.path.")
@click.option("--labels", default=None, help="Override labels (names, preset or file).")
@click.option("--teacher", default=None,
              help="Override teacher.model (a named teacher such as qwen2.5-1.5b, HF dir, .gguf, or http(s):// server).")
@click.option("--student", default=None, help="Override student.model.")
@click.option("--layers", type=_num("student.layers"), default=None, help="Override student.layers (keep the bottom N layers).")
@click.option("--gold", default=None, help="Override gold.path.")
@click.option("--sample", type=_num("data.sample"), default=None, help="Override data.sample.")
@click.option("--epochs", type=_num("training.epochs"), default=None, help="Override training.epochs.")
@click.option("--max-steps", type=_num("training.max_steps"), default=None, help="Override training.max_steps.")
@click.option("--accept-weak-teacher", is_flag=True, default=None,
              help="Override teacher.accept_weak_teacher: go on when the teacher gate fails.")
@click.option("--export/--no-export", "export_enabled", default=None, help="Override export.enabled.")
@click.option("--bench/--no-bench", "bench_enabled", default=None, help="Override bench.enabled.")
def run(config: str, dry_run: bool, run_dir, data, labels, teacher, student, layers, gold, sample, epochs, max_steps,
        accept_weak_teacher, export_enabled, bench_enabled) -> None:
    """Run label -> train -> evaluate -> export -> verify -> bench from one CONFIG file.

    Stages whose inputs did not change are skipped; an interrupted stage resumes. Every config key is
    validated before any work starts. Flags override config keys.
    """
    from advisor.pipeline.run import run_pipeline

    from distill.teachers.registry import named

    teacher = teacher if teacher and named(teacher) is not None else _abs(teacher)  # a named teacher stays a name
    overrides = {"run_dir": _abs(run_dir), "data.path": _abs(data), "labels": labels, "teacher.model": teacher,
                 "student.model": _abs(student), "student.layers": layers, "gold.path": _abs(gold), "data.sample": sample,
                 "training.epochs": epochs, "training.max_steps": max_steps, "export.enabled": export_enabled,
                 "bench.enabled": bench_enabled, "teacher.accept_weak_teacher": accept_weak_teacher or None}
    cfg = load_config(config, overrides)
    if dry_run:
        for line in dry_run_report(cfg):
            click.echo(line)
        return
    run_pipeline(cfg)
    click.echo(f"done: {cfg['run_dir']}")
