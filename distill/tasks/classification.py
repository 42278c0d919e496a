"""``classification``: one text -> one of k labels (single-label text classification).

Every piece is the code the stages ran before task kinds existed, now answered here: the reader's
text and label columns, the teacher's per-label probabilities (calibrated when they were scored),
an ``AutoModelForSequenceClassification`` student trained with the distillation loss
(``distill.training.losses``; hard labels only when ``alpha`` is 0), accuracy to pick the
checkpoint, ``classification_metrics`` on gold, and softmax + argmax in the bundle's runtime.
Stage modules are imported inside the methods: naming the task (the CLI, the config schema) stays
free of torch and transformers.
"""

from __future__ import annotations

from distill.tasks.base import TaskKind


class ClassificationTask(TaskKind):
    name = "classification"
    about = "one text -> one of k labels (softmax over the labels)"
    fields = ("text",)
    best_metric = "accuracy"
    problem_type = "single_label_classification"
    runtime = "classification"

    # data: one text column (+ an optional gold label column)
    def read(self, data, labelset, *, limit=None):
        return data.load(labelset, limit=limit)

    # teacher: the label set's prompt; a scored answer is calibrated, a parsed one is taken as is
    def prompt(self, labelset, template, shots=(), language="auto"):
        from distill.teachers.prompts import Prompt

        return Prompt(labelset, template, shots=shots, language=language)

    def distribution(self, scored, calibrator):
        import numpy as np

        if scored.source == "scored":
            return calibrator.apply(scored.probs)
        return np.asarray(scored.probs, dtype=np.float64)

    # student: a sequence-classification head on the encoder, the distillation loss
    def load_student(self, student, labels, layers=None):
        from transformers import AutoModelForSequenceClassification

        from distill.tasks.base import STUDENT_KEY
        from distill.training.modeling import load_student

        model, tok, path = load_student(student, labels, layers=layers, head=AutoModelForSequenceClassification,
                                        problem_type=self.problem_type)
        setattr(model.config, STUDENT_KEY, self.name)  # saved in the student's config.json
        return model, tok, path

    def encode(self, tokenizer, texts, max_length):
        enc = tokenizer(list(texts), truncation=True, max_length=max_length)
        return {k: v for k, v in enc.items()}

    def trainer(self, config):
        if config.alpha > 0:
            from distill.training.trainer_distillation import DistillationTrainer

            return DistillationTrainer, {"temperature": config.temperature, "alpha": config.alpha}
        from distill.training.trainer import StudentTrainer

        return StudentTrainer, {}  # alpha = 0: hard labels only (weighted cross-entropy)

    def training_metrics(self, eval_pred):
        from distill.training.trainer import compute_accuracy

        return compute_accuracy(eval_pred)

    # measures
    def metrics(self, gold, pred, labels, probs=None):
        from distill.evaluation.metrics import classification_metrics

        return classification_metrics(gold, pred, labels, probs=probs)
