"""A fine-tuned encoder classifier as a teacher: two-stage ("teacher assistant") distillation.

The GPT teacher is the expensive part: it labels a few thousand texts. A full-size student trained
on those labels (``advisor distill train``) is ~50x cheaper per text, so it can label a pool ten or
a hundred times larger. A smaller student trained on that pool learns more than it would from the
GPT's few thousand labels alone (Mirzadeh et al., 2020, "Improved Knowledge Distillation via
Teacher Assistant"; DistilBERT and TinyBERT distil on large pools for the same reason).

``--teacher RUN_DIR/student`` selects it: any local sequence-classification model directory whose
labels are the label set's names. Prompts, shots and calibration do not apply.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.defaults import MAX_POSITIONS
from distill.teachers.base import Scored, Teacher, dir_digest


def is_classifier_dir(spec: str | os.PathLike | None) -> bool:
    """True for a local model directory whose config.json names a *ForSequenceClassification model."""
    if not spec:
        return False
    cfg = Path(spec).expanduser() / "config.json"
    try:
        archs = json.loads(cfg.read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, ValueError, AttributeError):
        return False
    return any(str(a).endswith("ForSequenceClassification") for a in archs)


PROMPT_OPTIONS = ("template", "select_prompt", "shots", "calibrate")


def prompt_options_set(**values) -> list[str]:
    """Which of PROMPT_OPTIONS were given a value: a classifier teacher takes none of them."""
    return [k for k in PROMPT_OPTIONS if values.get(k) not in (None, False, 0, "none")]


class ClassifierTeacher(Teacher):
    kind = "classifier"

    def __init__(self, path: str | os.PathLike, labelset: LabelSet, batch_size: int = 64,
                 max_length: int | None = None, threads: int | None = None, **_ignored):
        super().__init__(labelset)
        if batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {batch_size}")
        from distill.training.modeling import load_trained_student

        self.path = Path(path).expanduser()
        self.model, self.tokenizer = load_trained_student(self.path)
        if threads:
            import torch

            torch.set_num_threads(threads)
        id2label = {int(i): str(n) for i, n in (self.model.config.id2label or {}).items()}
        names = [id2label.get(i, "") for i in range(self.model.config.num_labels)]
        if sorted(names) != sorted(labelset.names):
            raise UserError(f"teacher {self.path} predicts labels ({', '.join(names)}), not the label set's "
                            f"({', '.join(labelset.names)})")
        self.order = [names.index(n) for n in labelset.names]  # model column of each label-set class
        self.batch_size = batch_size
        model_max = getattr(self.tokenizer, "model_max_length", None) or MAX_POSITIONS
        self.max_length = int(max_length or min(model_max, MAX_POSITIONS))
        self.fingerprint = hashlib.sha256(
            f"classifier|{dir_digest(self.path)}|{self.max_length}".encode()).hexdigest()[:16]

    def describe(self) -> dict:
        from distill.training.modeling import layer_count

        return {
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "model": str(self.path),
            "architecture": type(self.model).__name__,
            "layers": layer_count(self.model.config),
            "parameters": int(sum(p.numel() for p in self.model.parameters())),
            "max_length": self.max_length,
            "batch_size": self.batch_size,
        }

    def score(self, texts: list[str]) -> list[Scored]:
        from distill.training.modeling import predict_proba

        probs = predict_proba(self.model, self.tokenizer, list(texts), max_length=self.max_length,
                              batch_size=self.batch_size)[:, self.order]
        return [Scored(p) for p in probs]
