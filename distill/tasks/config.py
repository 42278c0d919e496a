"""The top-level ``task:`` key of a config file and ``--task`` of ``advisor distill label/train``.

The task kind is not one stage's concern (the reader, the teacher, the student and the bundle all
follow it), so it is a top-level setting, like ``labels``, in a section of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.schema import setting
from distill.tasks import DEFAULT_TASK, task_names


@dataclass
class TaskConfig:
    SECTION: ClassVar[str] = ""  # a top-level key: ``task:``, not ``something.task:``
    task: str = setting(DEFAULT_TASK, "Task kind: classification = one text -> one of the labels; pairs = two texts (a sentence "
                        "pair: paraphrase, NLI) -> one of the labels; multilabel = one text -> any number of the labels "
                        "(independent yes/no per label); ner = entities: typed spans of the text (the labels are the "
                        "entity types).",
                        choices=task_names())
