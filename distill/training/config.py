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
from typing import ClassVar

from core.errors import UserError
from core.schema import check_settings, setting

WEIGHTINGS = ("confidence", "none")
HARD_LABELS = ("teacher", "gold")


@dataclass
class StudentConfig:
    """The ``student:`` section: which encoder learns, and how much of it."""

    SECTION: ClassVar[str] = "student"
    model: str | None = setting(None, "Local Hugging Face encoder directory [default: embedded all-MiniLM-L6-v2].",
                                kind="path", flag="--student")
    layers: int | None = setting(None, "Keep only the student's bottom N transformer layers (faster student; "
                                 "default: all).", kind="int")


@dataclass
class DistillationConfig:
    """The ``training:`` section (TextBrewer's DistillationConfig, in spirit): the loss, the
    optimisation and the checkpoints. Every field is a flag of ``advisor distill train`` and a key
    of the config file."""

    SECTION: ClassVar[str] = "training"
    # --- loss ---
    temperature: float = setting(2.0, "Softening temperature T of the KL term.")
    """T: teacher and student distributions are softened with T before the KL term (x T^2)."""
    alpha: float = setting(0.5, "Weight of the soft KL term (0 = hard labels only).")
    """Weight of the soft (KL) term; 1 - alpha goes to cross-entropy on the hard label. 0 = hard only."""
    threshold: float = setting(0.0, "Drop training rows whose teacher confidence is below this.")
    """Drop training rows whose teacher confidence (max prob) is below this (0 keeps everything)."""
    weighting: str = setting("confidence", "Per-example weight.", choices=WEIGHTINGS)
    """Per-example weight: "confidence" (teacher max prob) or "none"."""
    balance: bool = setting(True, "Inverse-frequency class weights on the hard labels.")
    """Re-weight examples by inverse class frequency of the hard labels (n / (k * count))."""
    hard_label: str = setting("teacher", "Hard label of the CE term: the teacher's argmax, or gold where a row has it.",
                              choices=HARD_LABELS)
    """Hard label for the CE term: "teacher" (argmax of probs) or "gold" (gold where a row has one)."""
    # --- student shape ---
    layers: int | None = setting(None, "Keep only the student's bottom N transformer layers (faster student; "
                                 "default: all).", kind="int", yaml=False)
    """Keep only the student's bottom ``layers`` transformer layers (None: all); set as
    ``student.layers`` in a config file. Dropping the top layers before fine-tuning is the simplest
    layer-reduction scheme that works (Sajjad et al. 2023, "On the effect of dropping layers of
    pre-trained transformer models"); each layer dropped cuts the student's latency by about
    1/n_layers."""
    # --- optimisation ---
    epochs: float = setting(2.0, "Passes over the training rows.")
    lr: float = setting(1e-4, "Peak learning rate (linear warm-up and decay).")
    batch_size: int = setting(32, "Per process/device.")
    max_length: int = setting(128, "Tokens per text.")
    weight_decay: float = setting(0.01, "AdamW weight decay.")
    warmup_ratio: float = setting(0.06, "Share of the steps spent warming the learning rate up.")
    # --- evaluation / early stopping / checkpoints ---
    eval_fraction: float = setting(0.1, "Held-out slice of the teacher labels for early stopping (unused with "
                                   "--gold-dev).")
    """Held-out slice of the teacher labels for early stopping (ignored when a gold dev set is given)."""
    patience: int = setting(3, "Evaluations without improvement before early stopping (0: off).")
    """Evaluations without improvement before stopping (0 disables early stopping)."""
    evals_per_epoch: int = setting(2, "Evaluations (and checkpoints) per epoch.")
    save_total_limit: int = setting(2, "Checkpoints kept in RUN_DIR/checkpoints.")
    seed: int = setting(42, "Seed of the split, the initialisation and the data order.")
    max_steps: int = setting(-1, "Stop after this many steps (overrides --epochs when > 0).")
    """Stop after this many optimisation steps (overrides epochs when > 0; for tests and smoke runs)."""
    extra: dict = field(default_factory=dict)

    def validate(self, cli: bool = True) -> "DistillationConfig":
        """Every number finite and in range (``core.limits``), the choices known; the error names the
        command-line flag (``--lr: expected a number in (0, 1], got inf``) or, with ``cli=False``,
        the config key (``config: training.lr: ...``)."""
        check_settings(self, cli=cli)
        if self.layers is not None:
            from core.limits import check_field

            self.layers = check_field("student.layers", self.layers, "--layers" if cli else "config: student.layers")
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
