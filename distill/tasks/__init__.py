"""Task kinds: ``get_task(name)`` -> the :class:`TaskKind` that answers, per layer, what a kind of
task means (reader fields, teacher prompt and label distribution, student head and loss, metrics,
the runtime's post-processing). See ``distill.tasks.base`` and docs/dev/task-kinds.md.

Registered here: ``classification`` (single-label, single text), ``pairs`` (two texts -> one label),
``multilabel`` (one text -> any number of labels) and ``ner`` (entities: typed char spans).
"""

from __future__ import annotations

from distill.tasks.base import (DEFAULT_TASK, STUDENT_KEY, TASKS, TaskKind, get_task, register_task, student_task,
                                task_names)
from distill.tasks.classification import ClassificationTask
from distill.tasks.multilabel import MultiLabelTask
from distill.tasks.ner import NerTask
from distill.tasks.pairs import PairsTask

register_task(ClassificationTask())
register_task(PairsTask())
register_task(MultiLabelTask())
register_task(NerTask())

__all__ = ["DEFAULT_TASK", "STUDENT_KEY", "TASKS", "ClassificationTask", "MultiLabelTask", "NerTask", "PairsTask", "TaskKind",
           "get_task", "register_task",
           "student_task", "task_names"]
