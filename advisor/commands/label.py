"""``advisor distill label``: per-class teacher probabilities for a text file, cached and resumable."""

from __future__ import annotations

import click

from core.schema import collect, meta, option, options
from distill.data.config import DataConfig, GoldConfig
from distill.labeling.config import TeacherConfig
from distill.tasks.config import TaskConfig
from distill.training.config import StudentConfig


def _echo(msg: str) -> None:
    click.echo(msg, err=True)


def _teacher_help() -> str:
    from distill.teachers.registry import TEACHERS

    named = " ".join(f"'{t.summary()}'." for t in TEACHERS.values())
    return meta(TeacherConfig, "model")["help"] + " Named teachers: " + named


@click.command("label")
@options(DataConfig, path={"required": True})
@click.option("--labels", "labels_spec", required=True,
              help="Label set: 'neg,pos', '0=neg,1=pos', a .yaml/.json file, or a preset (sst2, ag_news, sms_spam, waimai, tnews, clinc150; sentence pairs: mrpc, ocnli).")
@click.option("--out", "out_dir", required=True, help="Run directory (labels.jsonl, cache.sqlite, teacher report).")
@option(TaskConfig, "task")
@options(TeacherConfig, model={"help": _teacher_help()})
@options(GoldConfig, exclude=("limit",),
                  path={"help": "Labelled texts for the teacher gate (default: the gold rows of --data; none: checks "
                                "without gold)."})
@options(StudentConfig, model={"help": "With --budget: the student of the rounds (a local encoder directory) "
                                        "[default: embedded all-MiniLM-L6-v2]."},
         layers={"help": "With --budget: keep the rounds' student's bottom N layers."})
@click.option("--quiet", is_flag=True, help="No progress bar.")
def label(labels_spec, out_dir, task, quiet, **kwargs) -> None:
    """Label texts with a GPT teacher: per-class probabilities into RUN_DIR/labels.jsonl.

    \b
    Example:
      advisor distill label --data ../shared/data/sst2/dev.tsv --labels sst2 --out runs/sst2 --select-prompt
    """
    from distill.labeling.stage import label as run_label
    from distill.labeling.stage import labeling_lines

    data, teacher, gold = collect(DataConfig, kwargs), collect(TeacherConfig, kwargs), collect(GoldConfig, kwargs)
    student = collect(StudentConfig, kwargs)
    if teacher.budget is not None:  # active distillation (docs/budgets.md)
        from distill.active import active_lines, label_active

        res = label_active(data, labels_spec, teacher, out_dir, gold, task=task, progress=not quiet, echo=_echo,
                           student=student)
    else:
        if student.model is not None or student.layers is not None:
            from core.errors import UserError

            raise UserError("--student and --layers choose the student of the rounds of --budget; without a "
                            "budget, train the student with `advisor distill train`")
        res = run_label(data, labels_spec, teacher, out_dir, gold, task=task, progress=not quiet, echo=_echo)
    for line in labeling_lines(res, out_dir):
        click.echo(line)
    if teacher.budget is not None:
        for line in active_lines(res.report["active"]):
            click.echo(line)
