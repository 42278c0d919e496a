"""Hard-label student training on ``transformers.Trainer``.

:class:`StudentTrainer` fine-tunes on hard labels with per-example weights (weighted
cross-entropy); :class:`distill.training.trainer_distillation.DistillationTrainer` subclasses it
with the soft+hard distillation loss (as SetFit does). The callbacks and the accuracy metric used
while training live here too; the job that runs a training (``advisor distill train``) is
:mod:`distill.training.train`.
"""

from __future__ import annotations

import math

import numpy as np

from core.offline import force_offline

force_offline()

import torch.nn.functional as F  # noqa: E402
from transformers import Trainer, TrainerCallback  # noqa: E402


class StudentTrainer(Trainer):
    """``Trainer`` fine-tuning on hard ``labels``, each example weighted by ``weights`` (if present):
    loss = sum_i w_i CE_i / sum_i w_i. Extra batch keys (``teacher_probs``) are ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # our loss is a per-batch weighted mean and ignores num_items_in_batch, so let Trainer
        # divide by the gradient-accumulation steps itself
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        inputs.pop("teacher_probs", None)
        weights = inputs.pop("weights", None)
        outputs = model(**inputs)
        ce = F.cross_entropy(outputs.logits.float(), labels, reduction="none")
        if weights is None:
            loss = ce.mean()
        else:
            w = weights.float()
            loss = (w * ce).sum() / w.sum().clamp_min(1e-8)
        return (loss, outputs) if return_outputs else loss


def compute_accuracy(eval_pred) -> dict:
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    pred = np.asarray(logits).argmax(-1)
    labels = np.asarray(labels)
    from sklearn.metrics import f1_score

    return {"accuracy": float((pred == labels).mean()),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))}


class StopAfterStepsCallback(TrainerCallback):
    """Stop training (as an interruption would) once ``global_step`` reaches ``step``, right after
    that step's checkpoint. Used by tests and smoke runs to exercise resume."""

    def __init__(self, step: int):
        self.step = int(step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control


class FiniteLossCallback(TrainerCallback):
    """Stop at the first logged loss (or gradient norm) that is NaN or infinite: the weights are
    garbage from then on, so training ends and the stage fails instead of saving them."""

    def __init__(self):
        self.bad: tuple[int, str, float] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "grad_norm", "eval_loss"):
            v = (logs or {}).get(key)
            if isinstance(v, (int, float)) and not math.isfinite(v) and self.bad is None:
                self.bad = (int(state.global_step), key, float(v))
                control.should_training_stop = True
                control.should_save = False
        return control


def check_finite_model(model) -> str | None:
    """The name of the first parameter holding NaN/inf, or None."""
    import torch

    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            return name
    return None
