"""Student directory -> a verified bundle in a staging directory (the library call behind
``advisor export``).

export -> optimise -> quantise -> assemble -> verify. When the int8 model fails verification
while the fp32 one passes, the next int8 scheme of the target's ladder (``export.onnx.LADDERS``)
replaces it and the bundle is verified again, until one passes; every attempt is recorded in
``verification.json`` (``int8_attempts``) and the chosen scheme in ``config.json``. Only when no
scheme passes does the bundle stay failed (the runtime then refuses it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.atomic import write_json
from export import bundle as B
from export import calibration
from export.onnx import ExportResult, export_student, ladder, quantize


@dataclass
class EvalSet:
    """What verification runs on: texts, gold labels (names) or None, and where they came from."""

    texts: list[str]
    gold: list[str] | None
    source: str


def _int8_outcome(scheme: str, verification: dict) -> dict:
    q = verification.get("int8_vs_fp32") or {}
    return {"scheme": scheme, "passed": q.get("passed"), "drop_pts": q.get("drop_pts"),
            "batch1_drop_pts": (q.get("batch1") or {}).get("drop_pts")}


def build_bundle(student: Path, stage: Path, work: Path, *, target: str | None, fp32_only: bool = False,
                 int8_graph: str = "optimized", max_length: int | None = None, labelset: dict | None = None,
                 eval_set: EvalSet | None = None, atol: float, max_drop: float, calibrate: bool = True,
                 step: Callable[[str], None] | None = None,
                 verify_progress: Callable[[int], None] | None = None) -> tuple[dict, dict, ExportResult]:
    """Write a complete, verified (unless ``eval_set`` is None) bundle into ``stage``.

    Returns (config, verification, export result). ``step(name)`` is called as each step starts;
    ``verify_progress(n)`` as texts are scored."""
    from export.verify import verify

    tick = step or (lambda _name: None)
    res = export_student(student, work, target=target, fp32_only=fp32_only, progress=tick, int8_graph=int8_graph)
    tick("assemble bundle")

    def assemble() -> dict:
        return B.assemble(stage, student, res.fp32, res.int8, target=res.target, steps=res.steps,
                          max_length=max_length, labelset=labelset, session=res.session,
                          ort_config=(res.int8.parent / "ort_config.json") if res.int8 else None)

    cfg = assemble()
    if eval_set is None:
        return cfg, {"passed": None, "skipped": True, "summary": "verification skipped (--no-verify)"}, res

    cache: dict = {}

    def check() -> dict:
        tick("verify")
        return verify(stage, student, eval_set.texts, eval_set.gold, eval_set.source, atol=atol,
                      max_drop=max_drop, progress=verify_progress, cache=cache)

    verification = check()
    if res.int8 is not None:
        verification = _int8_ladder(res, stage, verification, check, assemble, tick, int8_graph)
        cfg = json.loads((stage / B.CONFIG).read_text(encoding="utf-8"))
    if calibrate and eval_set.gold is not None:
        tick("calibrate (temperature scaling)")
        labels = cfg["onnx_bundle"]["labels"]
        gold = np.array([labels.index(g) for g in eval_set.gold])
        cal = calibration.calibrate(cache["shipped"], gold)
        cal["fit_on"] = eval_set.source
        cfg["onnx_bundle"]["calibration"] = cal
        write_json(stage / B.CONFIG, cfg)
        verification["calibration"] = {k: cal[k] for k in ("temperature", "ece_before", "ece_after", "ece_after_method", "n")}
    return cfg, verification, res


def _int8_ladder(res: ExportResult, stage: Path, verification: dict, check, assemble, tick,
                 int8_graph: str) -> dict:
    """Replace a failing int8 model with the target's next scheme until one passes."""
    chosen = res.steps["quantize"]["scheme"]
    attempts = [_int8_outcome(chosen, verification)]
    fp32_ok = verification["fp32_vs_pytorch"]["passed"]
    # A failed fp32 check is an export bug, not a quantisation one: no int8 scheme can fix it.
    for scheme in (ladder(res.target)[1:] if fp32_ok else []):
        if verification["passed"]:
            break
        tick(f"int8 retry ({scheme.name})")
        quantize(res, scheme, int8_graph)
        for leftover in ("model.onnx", "ort_config.json"):
            (stage / leftover).unlink(missing_ok=True)
        assemble()
        verification = check()
        chosen = scheme.name
        attempts.append(_int8_outcome(scheme.name, verification))
    verification["int8_scheme"] = chosen
    verification["int8_attempts"] = attempts
    if not verification["passed"] and len(attempts) > 1:
        verification["summary"] += (f"; no int8 scheme passed ({', '.join(a['scheme'] for a in attempts)}): "
                                    f"ship the fp32 model with --fp32-only or allow a larger --max-drop")
    return verification
