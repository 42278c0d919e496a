"""``DistillationTrainer``: a ``StudentTrainer`` whose ``compute_loss`` is a distillation loss of
:mod:`distill.training.losses` (the teacher's soft targets mixed with the hard label). The task
kinds whose outputs differ subclass it with their own loss: ``TokenDistillationTrainer`` (ner, one
distribution per token) and ``MultiLabelDistillationTrainer`` (multilabel, one sigmoid per label)."""

from __future__ import annotations

from distill.training.losses import distillation_loss, multilabel_distillation_loss, token_distillation_loss
from distill.training.trainer import StudentTrainer


class DistillationTrainer(StudentTrainer):
    """HF ``Trainer`` whose loss is :func:`distillation_loss` (the batches carry ``teacher_probs``
    and ``weights`` beside ``labels``). Everything else (DDP, checkpoints, resume, early stopping)
    is the stock ``Trainer``: the same code runs under ``torchrun`` and ``accelerate launch``.
    A subclass changes the loss by setting ``loss_fn`` (same signature and ``(loss, parts)`` result).
    """

    loss_fn = staticmethod(distillation_loss)

    def __init__(self, *args, temperature: float = 2.0, alpha: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        teacher_probs = inputs.pop("teacher_probs")
        weights = inputs.pop("weights", None)
        outputs = model(**inputs)
        loss, _ = self.loss_fn(outputs.logits, teacher_probs, labels, weights,
                               temperature=self.temperature, alpha=self.alpha)
        return (loss, outputs) if return_outputs else loss


class TokenDistillationTrainer(DistillationTrainer):
    """Token classification (NER): :func:`distill.training.losses.token_distillation_loss`, the
    distillation loss on every tagged token (``alpha`` 0: cross-entropy on the hard tags only)."""

    loss_fn = staticmethod(token_distillation_loss)


class MultiLabelDistillationTrainer(DistillationTrainer):
    """Independent per-label outputs (``task: multilabel``): the loss is
    :func:`distill.training.losses.multilabel_distillation_loss` (``labels`` are 0/1 targets per
    label); ``alpha`` 0 trains on the hard targets alone (BCE)."""

    loss_fn = staticmethod(multilabel_distillation_loss)
