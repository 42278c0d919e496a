"""``advisor distill train`` (student on teacher probabilities) and ``advisor distill evaluate``
(student vs teacher vs TF-IDF peer on a gold set). Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path

import click

from core.limits import option_type as _num
from core.schema import option, options
from distill.tasks.config import TaskConfig
from distill.training.config import DistillationConfig, StudentConfig


@click.command()
@click.option("--labels", "labels", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Teacher labels (RUN_DIR/labels.jsonl from `advisor distill label`).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: writes OUT/student/, OUT/checkpoints/, OUT/train.json.")
@option(TaskConfig, "task")
@option(StudentConfig, "model", "--student", "student", type=click.Path(path_type=Path))
@options(DistillationConfig, prefixed=False)  # every training setting, declared once on the dataclass
@click.option("--gold-dev", type=click.Path(path_type=Path), default=None,
              help="Gold-labelled dev file for early stopping instead of held-out teacher labels.")
@click.option("--text-column", default=None, help="Text column of --gold-dev.")
@click.option("--label-column", default=None, help="Label column of --gold-dev.")
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the last checkpoint in OUT/checkpoints (or start over).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(labels, out, task, student, gold_dev, text_column, label_column, resume, quiet, **training):
    """Train a small encoder student on the teacher's probabilities (knowledge distillation)."""
    from distill.training.api import train_student, training_line

    config = DistillationConfig(**training).validate()
    from distill.training.processes import is_main

    s = train_student(labels, out, config, student=student, task=task, gold_dev=gold_dev, gold_text_column=text_column,
                      gold_label_column=label_column, resume=resume, progress=not quiet)
    if is_main():
        click.echo(training_line(out, s))


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--gold", required=True, type=click.Path(path_type=Path), help="Gold-labelled file.")
@click.option("--text-column", default=None)
@click.option("--label-column", default=None)
@click.option("--text-pair-column", default=None,
              help="Second text column of a sentence-pair gold file (default: the label preset's, e.g. mrpc's).")
@click.option("--limit", type=_num("gold.limit"), default=None, help="Evaluate on the first N gold texts only.")
@click.option("--teacher-labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The teacher's labels.jsonl for the gold file (from `advisor distill label`); "
                   "default: re-run the teacher recorded in RUN_DIR/teacher.json.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(run_dir, gold, text_column, label_column, text_pair_column, limit, teacher_labels, quiet):
    """Compare student, teacher and a TF-IDF + logistic-regression peer on gold labels."""
    from distill.evaluation.evaluate import evaluate_run
    from distill.evaluation.report import comparison_table

    ev = evaluate_run(run_dir, gold, text_column=text_column, label_column=label_column,
                      teacher_labels=teacher_labels, progress=not quiet, limit=limit,
                      text_pair_column=text_pair_column)
    click.echo("\n".join(ev.get("table") or comparison_table(ev)))  # task ner: its own table
    click.echo(f"report: {Path(run_dir) / 'report.md'}  metrics: {Path(run_dir) / 'metrics.json'}")
