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

from advisor.errors import UserError

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
        def bad(msg: str):
            raise UserError(msg)

        if not self.temperature > 0:
            bad(f"--temperature must be > 0, got {self.temperature}")
        if not 0.0 <= self.alpha <= 1.0:
            bad(f"--alpha must be in [0, 1], got {self.alpha}")
        if not 0.0 <= self.threshold < 1.0:
            bad(f"--threshold must be in [0, 1), got {self.threshold}")
        if self.weighting not in WEIGHTINGS:
            bad(f"--weighting must be one of {', '.join(WEIGHTINGS)}, got {self.weighting!r}")
        if self.hard_label not in HARD_LABELS:
            bad(f"--hard-label must be one of {', '.join(HARD_LABELS)}, got {self.hard_label!r}")
        if self.layers is not None and self.layers < 1:
            bad(f"--layers must be >= 1, got {self.layers}")
        if not self.epochs > 0:
            bad(f"--epochs must be > 0, got {self.epochs}")
        if not self.lr > 0:
            bad(f"--lr must be > 0, got {self.lr}")
        if self.batch_size < 1:
            bad(f"--batch-size must be >= 1, got {self.batch_size}")
        if not 8 <= self.max_length <= 4096:
            bad(f"--max-length must be in [8, 4096], got {self.max_length}")
        if not 0.0 <= self.eval_fraction < 0.9:
            bad(f"--eval-fraction must be in [0, 0.9), got {self.eval_fraction}")
        if self.patience < 0:
            bad(f"--patience must be >= 0, got {self.patience}")
        if self.evals_per_epoch < 1:
            bad(f"evals_per_epoch must be >= 1, got {self.evals_per_epoch}")
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
