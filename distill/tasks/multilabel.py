"""``multilabel``: one text -> any number of k labels (multi-label classification, e.g. GoEmotions).

What differs from ``classification``, layer by layer:

* data: the gold column holds several labels (``2,27``: ids or names joined by the preset's
  ``data.label_sep``, default ``,``; or a JSON list). Each gold value is a tuple of label names; a
  label outside the set or an empty list is a one-line error.
* teacher: one yes/no question per label (``distill.teachers.prompts.YesNoPrompt``), the text
  before the question. Each (text, label) question is its own teacher input
  (``question_text``), so the label cache stores every answer on its own and a resumed run asks
  nothing twice. P(yes) normalised over yes/no is that label's probability; the probabilities of a
  text are independent (they do not sum to 1); calibration divides out a per-label reference
  (``BinaryCalibrator``).
* student: ``AutoModelForSequenceClassification`` with ``problem_type="multi_label_classification"``
  (independent sigmoids), trained with ``multilabel_distillation_loss`` (BCE on the teacher's
  soft per-label probabilities + BCE on hard labels, teacher p >= 0.5); micro-F1 on the held-out
  rows picks the checkpoint; per-label decision thresholds are tuned on the dev set after training
  (``distill_thresholds`` in the student's config.json, ``onnx_bundle.thresholds`` in the bundle).
* measures: micro-F1, macro-F1, subset accuracy, per-label F1 (``multilabel_metrics``).
* runtime: sigmoid + per-label thresholds (``export/runtime.py`` ``TASKS["multilabel"]``).
"""

from __future__ import annotations

from core.errors import UserError
from distill.tasks.classification import ClassificationTask

THRESHOLDS_KEY = "distill_thresholds"  # the student's config.json: one decision threshold per label


class MultiLabelTask(ClassificationTask):
    name = "multilabel"
    about = "one text -> any number of the labels (independent yes/no per label)"
    fields = ("text",)
    # the checkpoint is picked on micro average precision, a ranking measure with no threshold: at the
    # fixed 0.5 of micro-F1 a student still near the label priors (28 rare labels) scores 0 at every
    # evaluation, so the first checkpoint "won" (a GoEmotions student kept step 112 of 448)
    best_metric = "micro_ap"
    problem_type = "multi_label_classification"
    runtime = "multilabel"
    multi_label = True

    # data
    def reader_options(self, labelset) -> dict:
        from distill.data.reader import label_sep_hint

        return {"label_sep": label_sep_hint(labelset)}

    def read(self, data, labelset, *, limit=None):
        from distill.data.reader import load_texts

        return load_texts(data.path, text_column=data.text_column, label_column=data.label_column, labelset=labelset,
                          fmt=data.format, limit=limit or data.limit, sample=None if limit else data.sample,
                          seed=data.seed, split=data.split, sep=data.sep, **self.reader_options(labelset))

    # teacher: one yes/no question per label
    def prompt(self, labelset, template, shots=(), language="auto"):
        from distill.teachers.prompts import YesNoPrompt

        if shots:
            raise UserError("task multilabel asks one yes/no question per label and takes no shots; drop --shots")
        return YesNoPrompt(labelset, template or "field", language=language)

    def questions(self, text: str, labelset) -> list[str]:
        """The teacher inputs for one text: one question per label, in label-set order."""
        from distill.teachers.prompts import question_text

        return [question_text(text, name) for name in labelset.names]

    def combine(self, answers) -> object:
        """One text's ``Scored`` from its questions' answers: P(yes) of each label (raw), 'scored'
        when every question was scored, else parsed (an answer read as yes/no) or abstained."""
        import numpy as np

        from distill.teachers.base import Scored

        yes = np.array([float(a.probs[0]) for a in answers], dtype=np.float64)
        sources = {a.source for a in answers}
        if "abstained" in sources:
            why = next((a.reason for a in answers if a.source == "abstained" and a.reason), None)
            return Scored(np.full(len(answers), 0.5), "abstained", None, reason=why)
        return Scored(yes, "scored" if sources == {"scored"} else "parsed")

    def fit_calibration(self, teacher, method, raw_scored):
        """A per-label calibration (``BinaryCalibrator``): the reference P(yes) of each label from
        the content-free inputs asked every question, or the mean over the pool."""
        import numpy as np

        from distill.teachers.prompts import CONTENT_FREE, BinaryCalibrator, question_text

        if method == "pool-mean" and raw_scored:
            return BinaryCalibrator.fitted(method, np.stack(raw_scored), [f"<mean of {len(raw_scored)} pool texts>"])
        if method == "content-free":
            names = teacher.prompt.labelset.names
            res = teacher.score([question_text(cf, n) for cf in CONTENT_FREE for n in names])
            if all(r.source == "scored" for r in res):
                yes = np.array([r.probs[0] for r in res]).reshape(len(CONTENT_FREE), len(names))
                return BinaryCalibrator.fitted(method, yes, CONTENT_FREE)
            return BinaryCalibrator("content-free", None, ["<skipped: teacher gave no scores>"])
        return BinaryCalibrator(method if method in ("none", "content-free", "pool-mean") else "none")

    def row_label(self, p, names) -> dict:
        """labels.jsonl's label fields: ``labels`` (every label with p >= 0.5), ``label`` (the most
        probable one) and ``confidence`` (its probability)."""
        import numpy as np

        j = int(np.argmax(p))
        return {"label": names[j], "confidence": round(float(p[j]), 6),
                "labels": [n for n, x in zip(names, p) if x >= 0.5]}

    # student: independent sigmoids, BCE distillation
    def trainer(self, config):
        from distill.training.trainer_distillation import MultiLabelDistillationTrainer

        return MultiLabelDistillationTrainer, {"temperature": config.temperature, "alpha": config.alpha}

    def training_metrics(self, eval_pred):
        import numpy as np

        from distill.evaluation.metrics import multilabel_metrics

        logits, y = eval_pred.predictions, np.asarray(eval_pred.label_ids)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        pred = np.asarray(logits) >= 0.0  # sigmoid >= 0.5
        names = [str(j) for j in range(y.shape[1])]
        m = multilabel_metrics([[names[j] for j in np.nonzero(r >= 0.5)[0]] for r in y],
                               [[names[j] for j in np.nonzero(r)[0]] for r in pred], names)
        out = {k: m[k] for k in ("micro_f1", "macro_f1", "subset_accuracy")}
        out["micro_ap"] = micro_average_precision(np.asarray(logits), y >= 0.5)
        return out

    def init_head(self, model, rows, prep) -> None:
        """The output biases at the log-odds of each label's rate in the training rows: the student
        starts at the label priors instead of spending its first hundreds of steps learning them
        (28 labels, most on < 5% of the texts; the usual initialisation of a rare-positive sigmoid)."""
        import numpy as np
        import torch

        head = getattr(model, "classifier", None)
        bias = getattr(head, "bias", None)
        if bias is None or len(prep.train_idx) == 0:
            return
        rate = np.clip(np.asarray(rows.probs)[prep.train_idx].mean(axis=0), 1e-3, 1 - 1e-3)
        with torch.no_grad():
            bias.copy_(torch.as_tensor(np.log(rate / (1 - rate)), dtype=bias.dtype))

    # measures
    def metrics(self, gold, pred, labels, probs=None):
        from distill.evaluation.metrics import multilabel_metrics

        return multilabel_metrics(gold, pred, labels, probs=probs)


def micro_average_precision(scores, y) -> float:
    """Micro-averaged average precision of ``scores`` (any monotone score: logits) against 0/1 ``y``
    (sklearn); 0.0 when ``y`` has no positive."""
    import numpy as np
    from sklearn.metrics import average_precision_score

    y = np.asarray(y).astype(int)
    if y.sum() == 0:
        return 0.0
    return float(average_precision_score(y, np.asarray(scores, dtype=np.float64), average="micro"))
