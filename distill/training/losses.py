"""The knowledge-distillation loss (the teacher's soft targets mixed with the hard label).

    loss_i = alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, hard_i)
    loss   = sum_i w_i * loss_i / sum_i w_i

teacher_T: the stored teacher probabilities are at T=1, so teacher_T = softmax(log p / T)
(log-probs divided by T, renormalised). student_T = softmax(z / T). The T^2 factor keeps the soft
term's gradient scale independent of T (Hinton et al. 2015). w_i are the per-example weights
(teacher confidence x class-balance weight, computed when the data set is built).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


_EPS = 1e-8


def teacher_log_probs_at_temperature(teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(log p / T): the T=1 teacher distribution re-tempered to T (zeros clamped to 1e-8)."""
    logp = torch.log(teacher_probs.clamp_min(_EPS))
    return F.log_softmax(logp / temperature, dim=-1)


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, hard_labels: torch.Tensor,
                      weights: torch.Tensor | None = None, temperature: float = 2.0, alpha: float = 0.5,
                      class_weights: torch.Tensor | None = None, reduction: str = "mean"):
    """Per-batch distillation loss. Returns ``(loss, parts)`` with the weighted ``kl`` and ``ce`` means.

    ``reduction="none"`` returns the per-example (unweighted) loss vector instead of the mean.
    ``class_weights`` (k,) optionally multiplies each example's weight by ``class_weights[hard]``.
    """
    logits = student_logits.float()
    n = logits.shape[0]
    w = torch.ones(n, device=logits.device) if weights is None else weights.to(logits.device).float()
    if class_weights is not None:
        w = w * class_weights.to(logits.device).float()[hard_labels]
    ce = F.cross_entropy(logits, hard_labels, reduction="none")
    if alpha > 0:
        t_log = teacher_log_probs_at_temperature(teacher_probs.to(logits.device).float(), temperature)
        s_log = F.log_softmax(logits / temperature, dim=-1)
        kl = F.kl_div(s_log, t_log, reduction="none", log_target=True).sum(-1) * temperature**2
    else:
        kl = torch.zeros_like(ce)
    per_example = alpha * kl + (1.0 - alpha) * ce
    if reduction == "none":
        return per_example, {"kl": kl, "ce": ce}
    denom = w.sum().clamp_min(_EPS)
    loss = (w * per_example).sum() / denom
    parts = {"kl": (w * kl).sum().detach() / denom, "ce": (w * ce).sum().detach() / denom}
    return loss, parts


def token_distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, labels: torch.Tensor,
                            weights: torch.Tensor | None = None, temperature: float = 2.0, alpha: float = 0.5):
    """The distillation loss per TOKEN (token classification, NER): ``student_logits`` (B, T, k),
    ``teacher_probs`` (B, T, k) soft tag targets, ``labels`` (B, T) hard tags with -100 on the tokens
    that carry no tag (special tokens, padding). Every tagged token is one example of
    :func:`distillation_loss`; ``weights`` (B,) weigh a text's tokens. Returns ``(loss, parts)``."""
    mask = labels != -100
    k = student_logits.shape[-1]
    if not bool(mask.any()):
        zero = student_logits.sum() * 0.0
        return zero, {"kl": zero.detach(), "ce": zero.detach()}
    w = None
    if weights is not None:
        w = weights.to(student_logits.device).float()[:, None].expand_as(labels)[mask]
    return distillation_loss(student_logits[mask].reshape(-1, k), teacher_probs[mask].reshape(-1, k),
                             labels[mask], w, temperature=temperature, alpha=alpha)


def multilabel_distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, hard_targets: torch.Tensor,
                                 weights: torch.Tensor | None = None, temperature: float = 2.0, alpha: float = 0.5,
                                 reduction: str = "mean"):
    """The distillation loss of independent per-label (sigmoid) outputs (``task: multilabel``)::

        soft_i = T^2 * mean_j BCE(sigmoid(z_ij / T), sigmoid(logit(p_ij) / T))
        hard_i = mean_j BCE(sigmoid(z_ij), y_ij)          (y: teacher p >= 0.5, or gold)
        loss_i = alpha * soft_i + (1 - alpha) * hard_i,   loss = sum_i w_i loss_i / sum_i w_i

    Each label is a two-class distribution [p, 1 - p], re-tempered like the classification loss
    (its log-odds divided by T) and matched with binary cross-entropy with logits; T^2 keeps the
    soft term's gradient scale independent of T. Returns ``(loss, parts)`` with the weighted
    ``soft`` and ``hard`` means (``reduction="none"``: the per-example loss vector instead)."""
    logits = student_logits.float()
    n = logits.shape[0]
    w = torch.ones(n, device=logits.device) if weights is None else weights.to(logits.device).float()
    y = hard_targets.to(logits.device).float()
    hard = F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(-1)
    if alpha > 0:
        p = teacher_probs.to(logits.device).float().clamp(_EPS, 1 - _EPS)
        target = torch.sigmoid(torch.log(p / (1 - p)) / temperature)
        soft = F.binary_cross_entropy_with_logits(logits / temperature, target, reduction="none").mean(-1)
        # minus the target's own entropy: 0 when the student matches the teacher (a KL, as in the classification loss)
        soft = (soft - F.binary_cross_entropy(target, target, reduction="none").mean(-1)) * temperature**2
    else:
        soft = torch.zeros_like(hard)
    per_example = alpha * soft + (1.0 - alpha) * hard
    if reduction == "none":
        return per_example, {"soft": soft, "hard": hard}
    denom = w.sum().clamp_min(_EPS)
    loss = (w * per_example).sum() / denom
    return loss, {"soft": (w * soft).sum().detach() / denom, "hard": (w * hard).sum().detach() / denom}
