"""Student directory -> ONNX (optimum) -> graph-optimised fp32 -> dynamic int8 (ORTQuantizer).

Pipeline (all through ``optimum.onnxruntime``, optimum-onnx 0.1.0):

1. ``ORTModelForSequenceClassification.from_pretrained(student, export=True)`` -> ``raw/model.onnx``
2. ``ORTOptimizer`` with ``OptimizationConfig(optimization_level=2)`` (ONNX Runtime's transformer
   fusions: Attention, BiasGelu, LayerNormalization...) -> ``fp32/model.onnx``. SkipLayerNormalization
   is NOT fused (see ``OPTIMIZER_FLAGS``): its CPU kernel is slower than the Add + LayerNormalization it
   replaces, and the bundle tells the runtime not to fuse it again at session load.
3. ``ORTQuantizer`` with ``AutoQuantizationConfig.<target>(is_static=False)`` (dynamic int8,
   per-channel weights) -> ``int8/model.onnx``, from the fused fp32 graph by default
   (``int8_graph="optimized"``: symbolic shape inference first, because the quantiser needs a type for every
   tensor and ONNX's own shape inference cannot type the com.microsoft fused ops; falls back to the
   raw export if that fails, recorded in the result) or from the raw export (``"raw"``: ONNX
   Runtime fuses the quantised graph at session load; a little faster, a little less faithful).
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from advisor.errors import UserError
from advisor.offline import force_offline

TARGETS = ("avx512_vnni", "avx2", "arm64")

# Fusions left out on purpose. Measured with onnxruntime 1.32 on one thread (docs/benchmarks.md,
# section 4): a com.microsoft SkipLayerNormalization node on a 24x384 activation takes 61 us, the
# Add + LayerNormalization pair it replaces 14 us; MiniLM-L6 has 12 of them, ~0.6 ms of a ~2.8 ms
# int8 forward pass. The offline optimiser skips the fusion (OPTIMIZER_FLAGS) and the bundle's
# config.json lists the session-level pass to disable (SESSION_DISABLED_OPTIMIZERS), which
# export/runtime.py passes to onnxruntime.InferenceSession(disabled_optimizers=...).
OPTIMIZER_FLAGS = {"disable_skip_layer_norm_fusion": True, "disable_bias_skip_layer_norm_fusion": True}
SESSION_DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]


@dataclass
class ExportResult:
    work_dir: Path
    fp32: Path                       # optimised fp32 model.onnx
    int8: Path | None                # quantised model.onnx (None with fp32_only)
    target: str | None
    steps: dict = field(default_factory=dict)   # what was done, for verification.json/README
    # onnxruntime session settings the bundle's runtime must apply (config.json "session")
    session: dict = field(default_factory=lambda: {"disabled_optimizers": list(SESSION_DISABLED_OPTIMIZERS)})


def check_student_dir(path: str | Path) -> Path:
    """A HF sequence-classification directory (or a RUN_DIR with student/ inside)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"student directory {p} does not exist")
    if not p.is_dir():
        raise UserError(f"{p} is not a model directory (it is a file)")
    if not (p / "config.json").is_file() and (p / "student" / "config.json").is_file():
        p = p / "student"
    if not (p / "config.json").is_file():
        raise UserError(f"{p} is not a model directory: config.json is missing")
    try:
        cfg = json.loads((p / "config.json").read_text(encoding="utf-8"))
    except ValueError as exc:
        raise UserError(f"{p / 'config.json'} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or "model_type" not in cfg:
        raise UserError(f"{p / 'config.json'} is not a Hugging Face model config (no model_type)")
    if not any((p / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
        raise UserError(f"{p} has no weights (model.safetensors or pytorch_model.bin)")
    if not (p / "tokenizer.json").is_file():
        raise UserError(f"{p} has no tokenizer.json (a fast tokenizer is needed for the runtime)")
    archs = cfg.get("architectures") or []
    if archs and not any(a.endswith("ForSequenceClassification") for a in archs):
        raise UserError(
            f"{p} holds a {archs[0]}, not a sequence-classification model; export a trained student "
            f"(RUN_DIR/student)"
        )
    return p


def _quantize_fused(fp32: Path, typed: Path, int8: Path, qcfg) -> None:
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from optimum.onnxruntime import ORTQuantizer

    typed.mkdir(parents=True, exist_ok=True)
    inferred = SymbolicShapeInference.infer_shapes(onnx.load(str(fp32 / "model.onnx")), auto_merge=True)
    onnx.save(inferred, str(typed / "model.onnx"))
    shutil.copy2(fp32 / "config.json", typed / "config.json")
    ORTQuantizer.from_pretrained(str(typed), file_name="model.onnx").quantize(qcfg, str(int8), file_suffix=None)


def _quiet():
    """Silence the exporters' chatter (TracerWarnings, info logs) so progress bars stay readable."""
    warnings.filterwarnings("ignore")
    for name in ("optimum", "transformers", "onnxruntime", "torch.onnx", "root"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover
        pass


def quantization_config(target: str):
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if target == "avx512_vnni":
        return AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True)
    if target == "avx2":
        # reduce_range avoids u8s8 saturation on AVX2/AVX512 CPUs without VNNI (ORT recommendation)
        return AutoQuantizationConfig.avx2(is_static=False, per_channel=True, reduce_range=True)
    if target == "arm64":
        return AutoQuantizationConfig.arm64(is_static=False, per_channel=True)
    raise UserError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")


INT8_GRAPHS = ("raw", "optimized")


def export_student(student_dir: Path, work_dir: Path, target: str | None = "avx512_vnni",
                   fp32_only: bool = False, progress=None, int8_graph: str = "optimized") -> ExportResult:
    """Run export -> optimise -> (quantise) into ``work_dir``; ``progress(step_name)`` is called per step."""
    force_offline()
    _quiet()
    if not fp32_only:
        quantization_config(target)  # validate the target before the slow steps
    tick = progress or (lambda _name: None)
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTOptimizer, ORTQuantizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    _quiet()
    work_dir = Path(work_dir)
    raw, fp32, int8 = work_dir / "raw", work_dir / "fp32", work_dir / "int8"
    steps: dict = {}

    tick("export to ONNX (optimum)")
    try:
        model = ORTModelForSequenceClassification.from_pretrained(str(student_dir), export=True)
        model.save_pretrained(str(raw))
    except Exception as exc:
        raise UserError(f"ONNX export of {student_dir} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    del model
    steps["export"] = {"tool": "optimum.onnxruntime.ORTModelForSequenceClassification(export=True)"}

    tick("graph optimisation (ORTOptimizer)")
    try:
        opt_cfg = OptimizationConfig(optimization_level=2, optimize_for_gpu=False, **OPTIMIZER_FLAGS)
        ORTOptimizer.from_pretrained(str(raw)).optimize(opt_cfg, str(fp32), file_suffix=None)
        steps["optimize"] = {"tool": "optimum.onnxruntime.ORTOptimizer", "optimization_level": 2,
                             "transformer_fusions": True, **OPTIMIZER_FLAGS}
    except Exception as exc:  # model type without fusion support: plain copy, ORT optimises at load
        shutil.copytree(raw, fp32, dirs_exist_ok=True)
        steps["optimize"] = {"tool": "none (copied raw export)", "reason": str(exc).splitlines()[0][:200]}

    result = ExportResult(work_dir=work_dir, fp32=fp32 / "model.onnx", int8=None,
                          target=None if fp32_only else target, steps=steps)
    if fp32_only:
        return result

    tick(f"dynamic int8 quantisation ({target})")
    qcfg = quantization_config(target)
    if int8_graph not in INT8_GRAPHS:
        raise UserError(f"unknown int8 graph {int8_graph!r}; choose raw or optimized")
    if int8_graph == "raw":
        # Quantise the plain export; ONNX Runtime fuses the quantised graph when the session loads.
        # ~10% faster at batch 1 than the fused graph here, but it agreed less with fp32 on both
        # students we measured (docs/benchmarks.md, section 4), so "optimized" is the default.
        ORTQuantizer.from_pretrained(str(raw), file_name="model.onnx").quantize(qcfg, str(int8), file_suffix=None)
        source = "raw export (ONNX Runtime fuses at load)"
    else:
        try:
            _quantize_fused(fp32, work_dir / "fp32_typed", int8, qcfg)
            source = "graph-optimised fp32"
        except Exception as exc:
            shutil.rmtree(int8, ignore_errors=True)
            ORTQuantizer.from_pretrained(str(raw), file_name="model.onnx").quantize(qcfg, str(int8), file_suffix=None)
            source = f"raw export (fused graph not quantisable: {str(exc).splitlines()[0][:160]})"
    steps["quantize"] = {
        "tool": "optimum.onnxruntime.ORTQuantizer", "mode": "dynamic", "target": target,
        "per_channel": bool(qcfg.per_channel), "reduce_range": bool(qcfg.reduce_range),
        "weights_dtype": str(qcfg.weights_dtype), "activations_dtype": str(qcfg.activations_dtype),
        "operators": [str(getattr(o, "value", o)) for o in qcfg.operators_to_quantize],
        "source": source,
        "int8_graph": int8_graph,
    }
    result.int8 = int8 / "model.onnx"
    return result
