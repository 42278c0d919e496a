"""The training stage as a library call: ``train_student(labels, out, DistillationConfig, student=...)``.

This module stays light (no torch at import): the inputs are checked first, so a missing labels
file or a student that cannot read the texts fails in a second, not after the slow imports; then
:func:`distill.training.train.train_student` runs the job. ``advisor distill train`` and the
pipeline's train stage both call :func:`train_student` here.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError
from distill.training.config import DistillationConfig


def check_training_inputs(labels: str | Path, out: str | Path, student=None, where: str = "--student") -> None:
    """The output directory can be made, the labels file exists and is not empty, and the student's
    tokenizer reads the labelled texts (``distill.training.student_check``)."""
    from core.rundir import check_creatable

    labels, out = Path(labels), Path(out)
    check_creatable(out, "--out")
    if not labels.is_file():
        raise UserError(f"labels file {labels} not found (run `advisor distill label` first)")
    if not labels.read_bytes().strip():
        raise UserError(f"labels file {labels} is empty")
    _check_student_reads(labels, student, where)


def _check_student_reads(labels: Path, student, where: str) -> None:
    """Refuse a student whose tokenizer cannot read the labelled texts (before the slow training)."""
    from distill.defaults import default_student_dir
    from distill.training.student_check import check_student_reads

    texts = []
    with open(labels, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the trainer reports a malformed file
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                texts.append(row["text"])
            if len(texts) >= 200:
                break
    check_student_reads(student or default_student_dir(), texts, where=where)


def train_student(labels: str | Path, out: str | Path, config: DistillationConfig | None = None, *, student=None,
                  **kwargs) -> dict:
    """Check the inputs, then train (``distill.training.train.train_student``); returns the summary
    written to ``OUT/train.json``. ``kwargs``: ``task`` (the task kind, ``distill.tasks``),
    ``gold_dev``, ``gold_text_column``, ``gold_label_column``, ``resume``, ``progress``, ``labelset``,
    ``callbacks``."""
    from distill.tasks import get_task

    get_task(kwargs.get("task"))  # an unknown kind fails here, before the slow imports
    config = (config or DistillationConfig()).validate()
    check_training_inputs(labels, out, student)
    from distill.training.train import train_student as _train

    return _train(Path(labels), Path(out), config, student=student, **kwargs)


def training_line(out: str | Path, s: dict) -> str:
    """The one-line result of a training, as the commands print it."""
    d = s["data"]
    return (f"student: {Path(out) / 'student'}  ({d['train']} training rows, {d['eval']} held out, "
            f"{d['abstained']} abstained, {d['dropped_by_threshold']} below threshold; "
            f"{s['global_step']} steps{', resumed from ' + Path(s['resumed_from']).name if s['resumed_from'] else ''}; "
            f"best held-out {'micro-F1' if s.get('task') == 'multilabel' else 'accuracy'} "
            f"{'n/a' if s['best_eval_accuracy'] is None else format(s['best_eval_accuracy'], '.3f')})")
