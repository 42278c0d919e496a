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

    ner = cfg["onnx_bundle"].get("task") == "ner"
    if ner:  # entity bundles: token logits, entity F1 (export/verify_ner.py)
        from export.verify_ner import verify_ner as verify
    else:
        from export.verify import verify

    def check() -> dict:
        tick("verify")
        return verify(stage, student, eval_set.texts, eval_set.gold, eval_set.source, atol=atol,
                      max_drop=max_drop, progress=verify_progress, cache=cache)

    verification = check()
    if res.int8 is not None:
        verification = _int8_ladder(res, stage, verification, check, assemble, tick, int8_graph)
        cfg = json.loads((stage / B.CONFIG).read_text(encoding="utf-8"))
    # temperature scaling: one softmax label per text (not an entity tagger, not independent sigmoids)
    if calibrate and eval_set.gold is not None and not ner and cfg["onnx_bundle"].get("task") != "multilabel":
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


# ------------------------------------------------------------------ the stage as a library call
def prepare_out(out: Path, force: bool) -> None:
    """``out`` can take a bundle: absent, empty, or (with ``force``) an old bundle."""
    from core.errors import UserError
    from core.rundir import prepare_dir
    from export.runtime import MANIFEST

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    prepare_dir(out.parent if not out.exists() else out, "--out")  # an impossible path fails here, in one line
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise UserError(f"--out {out} is a non-empty directory that is not a bundle; choose another path")
        if not force:
            raise UserError(f"--out {out} already holds a bundle; pass --force to replace it")


def _publish(stage: Path, out: Path) -> None:
    """Move the finished staging directory into place (replacing an old bundle last)."""
    import os
    import shutil

    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_bundle(student_dir, out, config=None, *, eval_data=None, text_column: str | None = None,
                  label_column: str | None = None, labels: str | None = None, verify: bool = True,
                  force: bool = False, keep_work=None, progress: bool = True,
                  text_pair_column: str | None = None) -> tuple[dict, dict]:
    """Export ``student_dir`` (a HF sequence-classification dir) to a verified bundle at ``out``.

    ``config``: an :class:`export.config.ExportConfig`. Verification runs on ``eval_data`` (texts
    with gold labels; default: ``labels.jsonl`` beside the student), ``labels`` names the label set
    of the gold values. The bundle is built in a staging directory and moved into place whole, so
    a failure leaves no half-written bundle. Returns (config.json content, verification); a bundle
    that failed verification is kept (the runtime refuses it) and ``verification["passed"]`` is False.
    """
    import shutil
    import tempfile

    from core.errors import UserError
    from core.progress import progress_bar
    from distill.training.modeling import check_finite_weights, require_safetensors
    from export.config import ExportConfig
    from export.onnx import check_student_dir, detect_target
    from export.verify import find_labelset, load_eval_texts

    from core.schema import check_settings

    c = check_settings(config or ExportConfig())
    out = Path(out)
    student = check_student_dir(student_dir)
    require_safetensors(student, "student")
    check_finite_weights(student, "student")
    if eval_data is not None and not Path(eval_data).exists():
        raise UserError(f"--eval-data {eval_data} not found")
    prepare_out(out, force)
    target = detect_target() if c.target == "auto" else c.target

    hf_cfg = json.loads((student / "config.json").read_text(encoding="utf-8"))
    names = B.label_names(hf_cfg)
    B.bundle_task(hf_cfg)  # a student of an unknown task kind fails before the slow export
    B.resolve_max_length(student, hf_cfg, c.max_length)  # a bad max_length fails before the slow export
    eval_set = None
    if verify and B.bundle_task(hf_cfg) == "ner":  # entity bundles: gold spans (export/verify_ner.py)
        from export.verify_ner import load_ner_eval

        eval_set = EvalSet(*load_ner_eval(student, str(eval_data) if eval_data else None, c.eval_limit))
    elif verify:  # read the eval data first: a bad file fails before the slow export
        eval_set = EvalSet(*load_eval_texts(student, names, str(eval_data) if eval_data else None, text_column,
                                            label_column, labels, c.eval_limit,
                                            text_pair_column=text_pair_column))
    labelset = None
    ls_path = find_labelset(student)
    if ls_path is not None:
        try:
            labelset = json.loads(ls_path.read_text(encoding="utf-8"))
        except ValueError:
            labelset = None

    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    work = Path(tempfile.mkdtemp(prefix="advisor-export-"))
    steps = (["export", "optimise"] + ([] if c.fp32_only else ["quantise"]) + ["bundle"] + (["verify"] if verify else [])
             + (["calibrate"] if c.calibrate and verify and eval_set.gold is not None
                and B.bundle_task(hf_cfg) != "ner" else []))
    bar = progress_bar(len(steps), "export", progress)
    try:
        started = []

        def step(name):  # one call per step; the int8 ladder may add retries: grow the bar rather than overflow it
            if name.startswith("int8 retry"):
                bar.total += 2
            if started and bar.n < bar.total:
                bar.update(1)
            started.append(name)
            bar.set_description(name)

        cfg, verification, _res = build_bundle(
            student, stage, work, target=target, fp32_only=c.fp32_only, int8_graph=c.int8_graph,
            max_length=c.max_length, labelset=labelset, eval_set=eval_set, atol=c.atol, max_drop=c.max_drop,
            calibrate=c.calibrate, step=step)
        bar.update(bar.total - bar.n)
        B.finish(stage, cfg, verification)
        _publish(stage, out)
        if keep_work:
            shutil.copytree(work, keep_work, dirs_exist_ok=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        bar.close()
        shutil.rmtree(work, ignore_errors=True)
    return cfg, verification


def bundle_lines(out, cfg: dict, verification: dict) -> list[str]:
    """What an export made, in the lines the commands print."""
    from export.verify import format_report

    out = Path(out)
    info = cfg["onnx_bundle"]
    lines = [f"bundle: {out}"]
    for f, v in info["models"].items():
        lines.append(f"  {f:<16} {v:<5} {(out / f).stat().st_size / 1e6:6.1f} MB"
                     + (f"  (int8 target {info['target']})" if v == "int8" else ""))
    lines.append(f"  labels: {', '.join(info['labels'])}; max_length {info['max_length']}")
    if verification.get("skipped"):
        return lines + ["verification: skipped (--no-verify)"]
    lines.append(format_report(verification))
    cal = verification.get("calibration")
    if cal:
        lines.append(f"calibration: temperature {cal['temperature']:.3f}; ECE {cal['ece_before']:.3f} -> "
                     f"{cal['ece_after']:.3f} ({cal['ece_after_method']}, {cal['n']} gold texts)")
    attempts = verification.get("int8_attempts") or []
    if len(attempts) > 1:
        tried = ", ".join(f"{a['scheme']} (drop {max(a['drop_pts'] or 0, a['batch1_drop_pts'] or 0):.2f} pts)"
                          for a in attempts)
        lines.append(f"int8 schemes tried on this CPU: {tried}; kept {verification['int8_scheme']}")
    return lines
