"""Distillation hyper-parameters in one dataclass (in the spirit of TextBrewer's DistillationConfig).

See docs/distillation.md for what each option does and why the defaults are what they are, and
docs/benchmarks.md, section 3 for the measurements behind them (soft vs hard on SST-2 and AG News; the
T / alpha sweep is run by ``benchmarks/bench_distill.py --sweep-only``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from core.errors import UserError

WEIGHTINGS = ("confidence", "none")
HARD_LABELS = ("teacher", "gold")


@dataclass
class DistillationConfig:
    # --- loss ---
    temperature: float = 2.0
    """T: teacher and student distributions are softened with T before the KL term (x T^2)."""
    alpha: float = 0.5
    """Weight of the soft (KL) term; 1 - alpha goes to cross-entropy on the hard label. 0 = hard only."""
    threshold: float = 0.0
    """Drop training rows whose teacher confidence (max prob) is below this (0 keeps everything)."""
    weighting: str = "confidence"
    """Per-example weight: "confidence" (teacher max prob) or "none"."""
    balance: bool = True
    """Re-weight examples by inverse class frequency of the hard labels (n / (k * count))."""
    hard_label: str = "teacher"
    """Hard label for the CE term: "teacher" (argmax of probs) or "gold" (gold where a row has one)."""
    # --- student shape ---
    layers: int | None = None
    """Keep only the student's bottom ``layers`` transformer layers (None: all). Dropping the top
    layers before fine-tuning is the simplest layer-reduction scheme that works (Sajjad et al. 2023,
    "On the effect of dropping layers of pre-trained transformer models"); each layer dropped cuts
    the student's latency by about 1/n_layers."""
    # --- optimisation ---
    epochs: float = 2.0
    lr: float = 1e-4
    batch_size: int = 32
    max_length: int = 128
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    # --- evaluation / early stopping / checkpoints ---
    eval_fraction: float = 0.1
    """Held-out slice of the teacher labels for early stopping (ignored when a gold dev set is given)."""
    patience: int = 3
    """Evaluations without improvement before stopping (0 disables early stopping)."""
    evals_per_epoch: int = 2
    save_total_limit: int = 2
    seed: int = 42
    max_steps: int = -1
    """Stop after this many optimisation steps (overrides epochs when > 0; for tests and smoke runs)."""
    extra: dict = field(default_factory=dict)

    def validate(self) -> "DistillationConfig":
        """Every number finite and in range (``core.limits``), the choices known; the error
        names the command-line flag (``--lr: expected a number in (0, 1], got inf``)."""
        from core.limits import check_field

        def bad(msg: str):
            raise UserError(msg)

        for name in ("temperature", "alpha", "threshold", "epochs", "lr", "batch_size", "max_length",
                     "eval_fraction", "patience", "max_steps", "seed", "evals_per_epoch"):
            setattr(self, name, check_field(f"training.{name}", getattr(self, name), "--" + name.replace("_", "-")))
        if self.layers is not None:
            self.layers = check_field("student.layers", self.layers, "--layers")
        for name in ("weight_decay", "warmup_ratio"):
            from core.numbers import check_number

            setattr(self, name, check_number(getattr(self, name), name, float, 0, 1))
        if self.weighting not in WEIGHTINGS:
            bad(f"--weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if self.hard_label not in HARD_LABELS:
            bad(f"--hard-label must be one of {', '.join(HARD_LABELS)}, got {self.hard_label!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DistillationConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise UserError(f"unknown distillation option(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    def fingerprint(self) -> str:
        """Hash of the options that change what a checkpoint means (resume refuses a mismatch)."""
        d = self.to_dict()
        for k in ("patience", "save_total_limit", "extra"):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
