"""The ``export:`` and ``bench:`` sections: how the student becomes a bundle, how strictly it is
verified, and how it is benchmarked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.schema import setting
from export.onnx import TARGETS

INT8_GRAPHS = ("optimized", "raw")


@dataclass
class ExportConfig:
    SECTION: ClassVar[str] = "export"
    enabled: bool = setting(True, "Run the export, verify and bench stages.", cli=False)
    target: str = setting("auto", "int8 kernel target (arm64 for phones/boards); auto = this machine.",
                          choices=("auto", *TARGETS))
    fp32_only: bool = setting(False, "Ship the fp32 model only (no quantisation).")
    int8_graph: str = setting("optimized", "Quantise the offline-fused fp32 graph, or the plain export (ORT fuses at "
                              "load: ~10% faster, less faithful).", choices=INT8_GRAPHS)
    max_length: int | None = setting(None, "Token limit (default: the tokenizer's, capped by the model's).",
                                     kind="int")
    calibrate: bool = setting(True, "With gold labels: fit a temperature on them so the runtime's probabilities are "
                              "calibrated.")
    # --- verification ---
    max_drop: float = setting(0.5, "Max int8 accuracy drop (or disagreement with fp32 without gold), in points.")
    atol: float = setting(1e-4, "Max |fp32 ONNX - PyTorch| logit difference.")
    eval_limit: int = setting(1000, "Verify on at most N texts (the pipeline: gold.limit when set).")


@dataclass
class BenchConfig:
    SECTION: ClassVar[str] = "bench"
    enabled: bool = setting(True, "Run the bench stage.", cli=False)
    n: int = setting(300, "Texts for batch-1 latency.")
    teacher_n: int = setting(20, "Texts for the (slow) teacher.", flag="--n-teacher")
