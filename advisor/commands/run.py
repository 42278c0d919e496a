"""``advisor distill run CONFIG.yaml``: the whole pipeline from one config file."""

from __future__ import annotations

from pathlib import Path

import click

from core.limits import option_type as _num
from advisor.pipeline.config import load_config


def _abs(value: str | None) -> str | None:
    """CLI paths are relative to the working directory (config paths to the config's folder)."""
    if value is None or "://" in value:
        return value
    return str(Path(value).expanduser().resolve())


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
@click.option("--budget", default=None,
              help="Override teacher.budget: at most this many teacher calls (an integer) or this share of the "
                   "pool (0.25 or 25%); active distillation (docs/budgets.md).")
@click.option("--accept-weak-teacher", is_flag=True, default=None,
              help="Override teacher.accept_weak_teacher: go on when the teacher gate fails.")
@click.option("--export/--no-export", "export_enabled", default=None, help="Override export.enabled.")
@click.option("--bench/--no-bench", "bench_enabled", default=None, help="Override bench.enabled.")
def run(config: str, dry_run: bool, run_dir, data, labels, teacher, student, layers, gold, sample, epochs, max_steps,
        budget, accept_weak_teacher, export_enabled, bench_enabled) -> None:
    """Run label -> train -> evaluate -> export -> verify -> bench from one CONFIG file.

    Stages whose inputs did not change are skipped; an interrupted stage resumes. Every config key is
    validated before any work starts. Flags override config keys.
    """
    from advisor.pipeline.run import run_pipeline

    from core.numbers import parse_budget
    from distill.teachers.registry import named

    budget = None if budget is None else parse_budget(budget, "--budget")

    teacher = teacher if teacher and named(teacher) is not None else _abs(teacher)  # a named teacher stays a name
    overrides = {"run_dir": _abs(run_dir), "data.path": _abs(data), "labels": labels, "teacher.model": teacher,
                 "student.model": _abs(student), "student.layers": layers, "gold.path": _abs(gold), "data.sample": sample,
                 "training.epochs": epochs, "training.max_steps": max_steps, "teacher.budget": budget, "export.enabled": export_enabled,
                 "bench.enabled": bench_enabled, "teacher.accept_weak_teacher": accept_weak_teacher or None}
    cfg = load_config(config, overrides)
    if dry_run:
        from advisor.pipeline.plan import dry_run_report

        for line in dry_run_report(cfg):
            click.echo(line)
        return
    run_pipeline(cfg, echo=click.echo)
    click.echo(f"done: {cfg['run_dir']}")
