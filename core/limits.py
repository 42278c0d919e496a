"""The allowed range of every numeric option, keyed by its config field (``training.lr``).

One table for the command-line flags (``--lr``: :func:`option_type`) and the config file
(``advisor.pipeline.config``): both go through :func:`core.numbers.check_number`, so a value is
refused the same way wherever it comes from (NaN/inf, out of range, wrong type), with the flag or
the field named.
"""

from __future__ import annotations

from core.numbers import INT_CAP, Number, check_number

MAX_SHOTS = 64  # k-shot examples in one prompt: more only makes every request longer (and slower)

# field: (kind, lo, hi[, open ends: "lo", "hi", "lohi"])
LIMITS: dict[str, tuple] = {
    "data.limit": (int, 1, INT_CAP),
    "data.sample": (int, 1, INT_CAP),
    "data.seed": (int, 0, INT_CAP),
    "teacher.shots": (int, 0, MAX_SHOTS),
    "teacher.dev_size": (int, 1, 100_000),
    "teacher.batch_size": (int, 1, 4096),
    "teacher.concurrency": (int, 1, 256),
    "teacher.timeout": (float, 0, 86_400, "lo"),
    "teacher.max_retries": (int, 0, 100),
    "teacher.price_per_1k_tokens": (float, 0, 1e6),
    "teacher.gate_size": (int, 1, 100_000),
    "student.layers": (int, 1, 1000),
    "training.layers": (int, 1, 1000),  # the same count, carried by DistillationConfig for the trainer
    "training.temperature": (float, 0, 100, "lo"),
    "training.alpha": (float, 0, 1),
    "training.threshold": (float, 0, 1, "hi"),
    "training.epochs": (float, 0, 10_000, "lo"),
    "training.batch_size": (int, 1, 65_536),
    "training.lr": (float, 0, 1, "lo"),
    "training.max_length": (int, 8, 4096),
    "training.max_steps": (int, -1, INT_CAP),
    "training.seed": (int, 0, INT_CAP),
    "training.eval_fraction": (float, 0, 0.9, "hi"),
    "training.patience": (int, 0, 100_000),
    "training.evals_per_epoch": (int, 1, 1000),
    "training.weight_decay": (float, 0, 1),
    "training.warmup_ratio": (float, 0, 1),
    "training.save_total_limit": (int, 1, 1000),
    "gold.limit": (int, 1, INT_CAP),
    "export.max_drop": (float, 0, 100),
    "export.atol": (float, 0, 1e3, "lo"),
    "export.eval_limit": (int, 1, INT_CAP),
    "export.max_length": (int, 8, 100_000),
    "bench.n": (int, 1, 1_000_000),
    "bench.teacher_n": (int, 1, 1_000_000),
    "predict.threads": (int, 1, 1024),
    "predict.batch_size": (int, 1, 65_536),
}


def _spec(field: str) -> tuple:
    kind, lo, hi, *rest = LIMITS[field]
    return kind, lo, hi, (rest[0] if rest else "")


def option_type(field: str) -> Number:
    """The click type of the flag that sets ``field``."""
    return Number(*_spec(field))


def check_field(field: str, value, name: str | None = None):
    """``value`` checked against ``field``'s range; the error names ``name`` (default: the field)."""
    return check_number(value, name or field, *_spec(field))
