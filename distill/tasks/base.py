"""The task-kind seam: what a kind of task is, and the registry that names the kinds.

A task kind (today: ``classification``, one text -> one of k labels) answers, once, every question
a stage asks that depends on the kind of task, so a new kind (sentence pairs, multi-label, token
classification) is one subclass here plus one entry in the runtime's table, not an ``if`` in
every stage:

==========  ==========================================  ==========================================
layer       the question                                the kind's answer (``TaskKind`` member)
==========  ==========================================  ==========================================
data        which fields a row holds, how it is read    ``fields``, :meth:`read`
teacher     what the teacher is asked; how its scores   :meth:`prompt`, :meth:`distribution`
            become a label distribution
student     the head, the input encoding, the loss      :meth:`load_student`, :meth:`encode`,
            and the metric that picks the checkpoint    :meth:`trainer`, :meth:`training_metrics`,
                                                        ``best_metric``
measures    the metrics on gold                         :meth:`metrics`
export      the runtime's post-processing (softmax +    ``runtime`` (a key of
            argmax, sigmoid + thresholds, ...)          ``export.runtime.TASKS``)
==========  ==========================================  ==========================================

``register_task(kind)`` adds a kind (built-ins are registered by ``distill.tasks``);
``get_task(name)`` returns it, or a one-line ``UserError`` naming the known kinds. The kind a
trained student was made for is recorded in its ``config.json`` (``distill_task``, see
:func:`student_task`) and, at export, in the bundle's ``config.json`` (``onnx_bundle.task``).
This module imports nothing from the stages: it is the contract, the kinds fill it in.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError

DEFAULT_TASK = "classification"
STUDENT_KEY = "distill_task"  # the key of a student's config.json that names its task kind


class TaskKind:
    """One kind of task. Subclasses set the class attributes and implement every method; each
    method is the one place its layer asks about the kind (the table in the module docstring)."""

    name: str = ""
    about: str = ""
    # --- data: the fields of one example (text / text and text_pair / tokens)
    fields: tuple[str, ...] = ("text",)
    # --- student: the Trainer's metric for early stopping and the best checkpoint (a key of
    # training_metrics' result) and the HF config's problem_type
    best_metric: str = "accuracy"
    problem_type: str | None = None
    # --- several labels per text (multilabel): the teacher is asked one question per label, the
    # labels are independent probabilities, the label stage's gate and prompt selection do not apply
    multi_label: bool = False
    # --- export: the bundle's onnx_bundle.task, i.e. the runtime's post-processing (export/runtime.py TASKS)
    runtime: str = ""

    # data
    def read(self, data, labelset, *, limit: int | None = None):
        """The examples of a ``DataConfig`` (``distill.data.reader.TextDataset``)."""
        raise NotImplementedError

    def reader_options(self, labelset) -> dict:
        """Extra ``distill.data.reader.load_texts`` options for any labelled file of this kind
        (gold, dev): e.g. multi-label gold's ``label_sep``."""
        return {}

    # teacher
    def prompt(self, labelset, template: str | None, shots=(), language: str = "auto"):
        """What the teacher is asked (a ``distill.teachers.prompts.Prompt``)."""
        raise NotImplementedError

    def distribution(self, scored, calibrator):
        """The teacher's label distribution for one answer (``Scored``), as stored in labels.jsonl."""
        raise NotImplementedError

    def questions(self, text: str, labelset) -> list[str]:
        """The teacher inputs one text costs (each cached on its own); one: the text itself."""
        return [text]

    def combine(self, answers):
        """One text's ``Scored`` from the answers to its :meth:`questions` (one: that answer)."""
        return answers[0]

    def fit_calibration(self, teacher, method: str, raw_scored):
        """The fitted calibrator for the teacher's current prompt (``raw_scored``: the raw
        probabilities of the scored texts, for pool-mean)."""
        import numpy as np

        from distill.teachers.prompts import Calibrator

        teacher.calibrator = Calibrator(method)
        if method == "pool-mean":
            return teacher.fit_calibration(np.stack(raw_scored) if raw_scored else None)
        return teacher.fit_calibration()

    def row_label(self, p, names) -> dict:
        """labels.jsonl's ``label`` and ``confidence`` for the distribution ``p``."""
        import numpy as np

        j = int(np.argmax(p))
        return {"label": names[j], "confidence": round(float(p[j]), 6)}

    # student
    def load_student(self, student, labels: list[str], layers: int | None = None):
        """(model, tokenizer, path): the encoder with this kind's head sized for ``labels``."""
        raise NotImplementedError

    def init_head(self, model, rows, prep) -> None:
        """Set the fresh head's parameters from the training rows before training (default: leave the
        random initialisation)."""

    def encode(self, tokenizer, texts, max_length: int) -> dict:
        """The student's inputs for the examples (unpadded; the collator pads)."""
        raise NotImplementedError

    def trainer(self, config) -> tuple[type, dict]:
        """The ``transformers.Trainer`` subclass whose ``compute_loss`` is this kind's loss, and its
        extra keyword arguments, for a ``DistillationConfig``."""
        raise NotImplementedError

    def training_metrics(self, eval_pred) -> dict:
        """The Trainer's ``compute_metrics`` on the held-out rows (must hold ``best_metric``)."""
        raise NotImplementedError

    # measures
    def metrics(self, gold, pred, labels: list[str], probs=None) -> dict:
        """The metrics on gold that the evaluation report and the teacher report show."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<task kind {self.name}>"


TASKS: dict[str, TaskKind] = {}


def register_task(kind: TaskKind) -> TaskKind:
    """Add (or replace) a task kind under ``kind.name``; returns it."""
    if not isinstance(kind, TaskKind) or not kind.name:
        raise TypeError(f"register_task needs a named TaskKind, got {kind!r}")
    TASKS[kind.name] = kind
    return kind


def task_names() -> tuple[str, ...]:
    return tuple(TASKS)


def get_task(name: str | TaskKind | None = None) -> TaskKind:
    """The registered kind called ``name`` (None: the default, ``classification``)."""
    if isinstance(name, TaskKind):
        return name
    name = DEFAULT_TASK if name is None else name
    kind = TASKS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise UserError(f"unknown task kind {str(name)[:60]!r}; known kinds: {', '.join(TASKS) or 'none'}")
    return kind


def student_task(student) -> str:
    """The task kind a student directory (or its parsed ``config.json``) was trained for; a student
    made before task kinds were recorded is ``classification``."""
    cfg = student
    if not isinstance(student, dict):
        try:
            cfg = json.loads((Path(student) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cfg = {}
    value = cfg.get(STUDENT_KEY) if isinstance(cfg, dict) else None
    return value if isinstance(value, str) and value else DEFAULT_TASK
