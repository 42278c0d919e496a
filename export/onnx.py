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

from core.errors import UserError
from core.offline import force_offline

TARGETS = ("avx512_vnni", "avx2", "arm64")


def detect_target() -> str:
    """The int8 target of this machine: arm64, avx512_vnni when the CPU has VNNI, else avx2."""
    import platform

    if platform.machine().lower() in {"arm64", "aarch64", "armv8l"}:
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="ignore")
    except OSError:
        flags = ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"

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
    from distill.training.modeling import WEIGHT_FILES

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
    if not any((p / w).is_file() for w in WEIGHT_FILES):
        raise UserError(f"{p} has no weights (model.safetensors or pytorch_model.bin)")
    if not (p / "tokenizer.json").is_file():
        raise UserError(f"{p} has no tokenizer.json (a fast tokenizer is needed for the runtime)")
    archs = cfg.get("architectures") or []
    if archs and not any(a.endswith(("ForSequenceClassification", "ForTokenClassification")) for a in archs):
        raise UserError(
            f"{p} holds a {archs[0]}, not a sequence- or token-classification model; export a trained student "
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


@dataclass(frozen=True)
class Int8Scheme:
    """One way to quantise the student dynamically to int8 (all per-channel weights).

    ``preset`` is the optimum ``AutoQuantizationConfig`` constructor: ``avx512_vnni``/``avx512``/
    ``arm64`` give u8 activations x s8 weights (u8s8), ``avx2`` gives u8 x u8 (u8u8).
    ``reduce_range`` quantises weights to 7 bits. ``keep_fp32`` names node groups left unquantised
    (``ffn_output``: each layer's feed-forward output projection, whose input - the GELU output -
    holds the largest activations of a BERT layer)."""

    name: str
    preset: str
    reduce_range: bool = False
    keep_fp32: tuple[str, ...] = ()
    why: str = ""


SCHEMES = {s.name: s for s in (
    Int8Scheme("u8s8", "avx512_vnni",
               why="VNNI's VPDPBUSD accumulates u8 x s8 in 32 bits: fastest, no saturation"),
    Int8Scheme("u8s8-7bit", "avx512", reduce_range=True,
               why="u8s8 with 7-bit weights, onnxruntime's setting for x86 without VNNI: VPMADDUBSW's "
                   "16-bit pair sums cannot saturate, and it is the fastest int8 kernel there"),
    Int8Scheme("u8s8-arm64", "arm64", why="arm64 SDOT/UDOT kernels"),
    Int8Scheme("u8u8", "avx2", why="u8 x u8 is widened before multiplying: no saturation, full 8-bit "
                                   "weights, ~25% slower than u8s8 on AVX2"),
    Int8Scheme("u8s8-ffn-fp32", "avx512_vnni", keep_fp32=("ffn_output",),
               why="u8s8 with the feed-forward output projections (the largest activations) kept in fp32"),
    Int8Scheme("u8s8-7bit-ffn-fp32", "avx512", reduce_range=True, keep_fp32=("ffn_output",),
               why="u8s8-7bit with the feed-forward output projections kept in fp32"),
    Int8Scheme("u8u8-ffn-fp32", "avx2", keep_fp32=("ffn_output",),
               why="u8u8 with the feed-forward output projections kept in fp32"),
)}

# What each target tries, in order: the export keeps the first scheme whose bundle passes
# verification (int8 vs fp32 drop <= --max-drop at batch 32 and batch 1) and fails only when none
# does. Fastest first, then more faithful ones (docs/benchmarks.md, section 4, "int8 on a CPU
# without VNNI": on an AVX2-only EPYC every scheme flipped 0.8-2% of SST-2 dev texts at batch 1,
# so which one passes a 0.5-point limit depends on the student; keeping the FFN output
# projections in fp32 cut the largest logit error by 27-46%, at most of the int8 speed-up).
LADDERS = {
    "avx512_vnni": ("u8s8", "u8u8", "u8s8-ffn-fp32", "u8u8-ffn-fp32"),
    "avx2": ("u8s8-7bit", "u8u8", "u8s8-7bit-ffn-fp32", "u8u8-ffn-fp32"),
    "arm64": ("u8s8-arm64", "u8u8", "u8u8-ffn-fp32"),
}


def _nodes_for(groups: tuple[str, ...], onnx_path: Path) -> list[str]:
    """Node names of ``groups`` in the graph at ``onnx_path`` (names as optimum/ORT export them)."""
    if not groups:
        return []
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    out = []
    for node in graph.node:
        if "ffn_output" in groups and node.op_type == "MatMul" and "/output/dense/" in node.name \
                and "/attention/" not in node.name:
            out.append(node.name)
    return out


def quantization_config(target: str, scheme: Int8Scheme | str | None = None, graph: Path | None = None):
    """optimum's config for ``scheme`` (default: the target's first), with ``keep_fp32`` nodes of
    ``graph`` excluded."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    if target not in LADDERS:
        raise UserError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")
    scheme = SCHEMES[scheme] if isinstance(scheme, str) else (scheme or SCHEMES[LADDERS[target][0]])
    exclude = _nodes_for(scheme.keep_fp32, graph) if graph is not None else []
    make = getattr(AutoQuantizationConfig, scheme.preset)
    kwargs = {"is_static": False, "per_channel": True, "nodes_to_exclude": exclude}
    if scheme.reduce_range:  # only the avx2/avx512 presets take it; the others are full range
        kwargs["reduce_range"] = True
    return make(**kwargs)


def ladder(target: str) -> list[Int8Scheme]:
    if target not in LADDERS:
        raise UserError(f"unknown --target {target!r}; choose one of {', '.join(TARGETS)}")
    return [SCHEMES[n] for n in LADDERS[target]]


INT8_GRAPHS = ("raw", "optimized")


def export_student(student_dir: Path, work_dir: Path, target: str | None = "avx512_vnni",
                   fp32_only: bool = False, progress=None, int8_graph: str = "optimized",
                   scheme: Int8Scheme | str | None = None) -> ExportResult:
    """Run export -> optimise -> (quantise with ``scheme``, default the target's first) into
    ``work_dir``; ``progress(step_name)`` is called per step."""
    force_offline()
    _quiet()
    if not fp32_only:
        quantization_config(target, scheme)  # validate the target before the slow steps
        if int8_graph not in INT8_GRAPHS:
            raise UserError(f"unknown int8 graph {int8_graph!r}; choose raw or optimized")
    tick = progress or (lambda _name: None)
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTModelForTokenClassification, ORTOptimizer
    from optimum.onnxruntime.configuration import OptimizationConfig

    archs = json.loads((Path(student_dir) / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    ort_class = (ORTModelForTokenClassification if any(a.endswith("ForTokenClassification") for a in archs)
                 else ORTModelForSequenceClassification)  # task ner: one tag per token

    _quiet()
    work_dir = Path(work_dir)
    raw, fp32 = work_dir / "raw", work_dir / "fp32"
    steps: dict = {}

    tick("export to ONNX (optimum)")
    try:
        model = ort_class.from_pretrained(str(student_dir), export=True)
        model.save_pretrained(str(raw))
    except Exception as exc:
        raise UserError(f"ONNX export of {student_dir} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    del model
    steps["export"] = {"tool": f"optimum.onnxruntime.{ort_class.__name__}(export=True)"}

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
    scheme = SCHEMES[scheme] if isinstance(scheme, str) else (scheme or ladder(target)[0])
    tick(f"dynamic int8 quantisation ({target}, {scheme.name})")
    result.int8 = quantize(result, scheme, int8_graph)
    return result


def quantize(result: ExportResult, scheme: Int8Scheme, int8_graph: str = "optimized") -> Path:
    """Quantise the exported student with ``scheme`` into ``work_dir/int8-<scheme>/``; records the
    step in ``result.steps["quantize"]`` and returns the int8 model.onnx."""
    from optimum.onnxruntime import ORTQuantizer

    if int8_graph not in INT8_GRAPHS:
        raise UserError(f"unknown int8 graph {int8_graph!r}; choose raw or optimized")
    work_dir = result.work_dir
    raw, fp32, int8 = work_dir / "raw", work_dir / "fp32", work_dir / f"int8-{scheme.name}"
    shutil.rmtree(int8, ignore_errors=True)
    if int8_graph == "raw":
        # Quantise the plain export; ONNX Runtime fuses the quantised graph when the session loads.
        # ~10% faster at batch 1 than the fused graph here, but it agreed less with fp32 on both
        # students we measured (docs/benchmarks.md, section 4), so "optimized" is the default.
        qcfg = quantization_config(result.target, scheme, raw / "model.onnx")
        ORTQuantizer.from_pretrained(str(raw), file_name="model.onnx").quantize(qcfg, str(int8), file_suffix=None)
        source = "raw export (ONNX Runtime fuses at load)"
    else:
        qcfg = quantization_config(result.target, scheme, fp32 / "model.onnx")
        try:
            _quantize_fused(fp32, work_dir / "fp32_typed", int8, qcfg)
            source = "graph-optimised fp32"
        except Exception as exc:
            shutil.rmtree(int8, ignore_errors=True)
            qcfg = quantization_config(result.target, scheme, raw / "model.onnx")
            ORTQuantizer.from_pretrained(str(raw), file_name="model.onnx").quantize(qcfg, str(int8), file_suffix=None)
            source = f"raw export (fused graph not quantisable: {str(exc).splitlines()[0][:160]})"
    result.steps["quantize"] = {
        "tool": "optimum.onnxruntime.ORTQuantizer", "mode": "dynamic", "target": result.target,
        "scheme": scheme.name, "why": scheme.why,
        "per_channel": bool(qcfg.per_channel), "reduce_range": bool(qcfg.reduce_range),
        "weights_dtype": str(qcfg.weights_dtype), "activations_dtype": str(qcfg.activations_dtype),
        "operators": [str(getattr(o, "value", o)) for o in qcfg.operators_to_quantize],
        "kept_fp32": list(qcfg.nodes_to_exclude),
        "source": source,
        "int8_graph": int8_graph,
    }
    result.int8 = int8 / "model.onnx"
    return result.int8
