"""Bundle assembly: files, config.json (HF form + ``onnx_bundle`` section), manifest, README.

Layout of ``BUNDLE_DIR``::

    model.onnx            the chosen model (int8 by default, fp32 with --fp32-only)
    model_fp32.onnx       the verified fp32 model (only beside an int8 model.onnx; for bench/fallback)
    config.json           the student's Hugging Face config + "onnx_bundle": labels, max_length, ...
    ort_config.json       optimum's record of the quantisation (int8 bundles)
    tokenizer.json        (+ tokenizer_config.json, special_tokens_map.json, vocab.txt when present)
    runtime.py            the torch-free runtime (copy of export/runtime.py)
    README.md             for the device: install, run, check
    verification.json     fp32-vs-PyTorch and int8-vs-fp32 numbers (passed: true/false)
    manifest.json         sha256 + size of every file above

``bench/`` (bench.json, bench.png) may be added later by ``advisor export bench``; it is not part
of the manifest and is not needed on a device.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path

from core.atomic import write_json, write_text
from core.errors import UserError
from distill.defaults import MAX_POSITIONS
from export.runtime import (BUNDLE_FORMAT, CONFIG, FORMAT_VERSION, MANIFEST, TOKENIZER, VERIFICATION,
                            sha256_file)

TOKENIZER_EXTRAS = ("tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
RUNTIME_SRC = Path(__file__).with_name("runtime.py")
README_TEMPLATE = Path(__file__).with_name("device_README.md")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def tool_versions() -> dict:
    return {p: _version(p) for p in ("torch", "transformers", "optimum", "optimum-onnx", "onnxruntime",
                                     "onnx", "tokenizers", "numpy")}


def label_names(hf_config: dict) -> list[str]:
    id2label = hf_config.get("id2label") or {}
    try:
        items = sorted(((int(k), str(v)) for k, v in id2label.items()))
    except (TypeError, ValueError):
        raise UserError("config.json id2label keys must be integers") from None
    if not items or [k for k, _ in items] != list(range(len(items))):
        raise UserError("config.json has no usable id2label (labels 0..k-1)")
    return [v for _, v in items]


def bundle_task(hf_config: dict) -> str:
    """The bundle's ``onnx_bundle.task``: the runtime post-processing of the student's task kind
    (``distill.tasks``; a student that records none is a classifier)."""
    from distill.tasks import get_task, student_task

    return get_task(student_task(hf_config)).runtime


def resolve_max_length(student_dir: Path, hf_config: dict, override: int | None) -> int:
    cap = int(hf_config.get("max_position_embeddings") or MAX_POSITIONS)
    if override is not None:
        if override < 8:
            raise UserError("--max-length must be at least 8")
        if override > cap:
            raise UserError(f"--max-length {override} exceeds the model's max_position_embeddings ({cap})")
        return int(override)
    tok_cfg = student_dir / "tokenizer_config.json"
    mml = None
    if tok_cfg.is_file():
        try:
            mml = json.loads(tok_cfg.read_text(encoding="utf-8")).get("model_max_length")
        except ValueError:
            mml = None
    if isinstance(mml, (int, float)) and 8 <= mml < 1_000_000:
        return int(min(mml, cap))
    return cap


def pad_settings(tokenizer_json: Path, hf_config: dict) -> tuple[int, str]:
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    pad = data.get("padding") or {}
    if "pad_id" in pad and "pad_token" in pad:
        return int(pad["pad_id"]), str(pad["pad_token"])
    pad_id = int(hf_config.get("pad_token_id") or 0)
    vocab = (data.get("model") or {}).get("vocab")
    token = None
    if isinstance(vocab, dict):
        token = next((t for t, i in vocab.items() if i == pad_id), None)
    for added in data.get("added_tokens") or []:
        if added.get("id") == pad_id:
            token = added.get("content")
    return pad_id, token or "[PAD]"


def weights_sha256(student_dir: Path) -> dict:
    out = {}
    from distill.training.modeling import WEIGHT_FILES

    for w in WEIGHT_FILES:
        if (student_dir / w).is_file():
            out[w] = sha256_file(student_dir / w)
    return out


def assemble(stage: Path, student_dir: Path, fp32_onnx: Path, int8_onnx: Path | None, *,
             target: str | None, steps: dict, max_length: int | None, labelset: dict | None,
             ort_config: Path | None = None, session: dict | None = None, task: str | None = None) -> dict:
    """Copy models/tokenizer/runtime into ``stage`` and write config.json. Returns the config.

    ``task``: the runtime's post-processing (``onnx_bundle.task``, a key of ``export.runtime.TASKS``;
    default: the one of the student's task kind, ``distill.tasks``)."""
    stage.mkdir(parents=True, exist_ok=True)
    hf_config = json.loads((student_dir / "config.json").read_text(encoding="utf-8"))
    labels = label_names(hf_config)
    task = task or bundle_task(hf_config)
    ml = resolve_max_length(student_dir, hf_config, max_length)
    pad_id, pad_token = pad_settings(student_dir / TOKENIZER, hf_config)

    if int8_onnx is not None:
        shutil.copy2(int8_onnx, stage / "model.onnx")
        shutil.copy2(fp32_onnx, stage / "model_fp32.onnx")
        models = {"model.onnx": "int8", "model_fp32.onnx": "fp32"}
        if ort_config is not None and ort_config.is_file():
            shutil.copy2(ort_config, stage / "ort_config.json")
    else:
        shutil.copy2(fp32_onnx, stage / "model.onnx")
        models = {"model.onnx": "fp32"}
    shutil.copy2(student_dir / TOKENIZER, stage / TOKENIZER)
    for extra in TOKENIZER_EXTRAS:
        if (student_dir / extra).is_file():
            shutil.copy2(student_dir / extra, stage / extra)
    shutil.copy2(RUNTIME_SRC, stage / "runtime.py")

    hf_config["onnx_bundle"] = {
        "format": BUNDLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "task": task,
        "labels": labels,
        "max_length": ml,
        "pad_id": pad_id,
        "pad_token": pad_token,
        "models": models,
        "default_variant": models["model.onnx"],
        "target": target if int8_onnx is not None else None,
        "labelset": labelset,
        "steps": steps,
        "session": session or {},
        "student": {"path": str(student_dir.resolve()), "weights_sha256": weights_sha256(student_dir)},
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "exported_on": {"machine": platform.machine(), "python": platform.python_version()},
        "versions": tool_versions(),
    }
    if isinstance(hf_config.get("distill_thresholds"), list):  # multilabel: the per-label thresholds tuned at training
        hf_config["onnx_bundle"]["thresholds"] = [float(t) for t in hf_config["distill_thresholds"]]
    write_json(stage / CONFIG, hf_config)
    return hf_config


def _fmt_bytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def render_readme(stage: Path, config: dict, verification: dict) -> str:
    info = config["onnx_bundle"]
    template = README_TEMPLATE.read_text(encoding="utf-8")
    sizes = "\n".join(
        f"| `{f}` | {v} | {_fmt_bytes((stage / f).stat().st_size)} |" for f, v in info["models"].items())
    if verification.get("skipped"):
        vline = "**Verification was skipped at export (`--no-verify`).**"
    else:
        vline = ("PASSED" if verification.get("passed") else "**FAILED**") + ": " + verification.get("summary", "")
    return template.format(
        labels=", ".join(f"`{x}`" for x in info["labels"]),
        max_length=info["max_length"],
        default_variant=info["default_variant"],
        target=info["target"] or "none (fp32)",
        sizes=sizes,
        verification=vline,
        created=info["created"],
        example_label=info["labels"][-1],
    )


def write_manifest(stage: Path) -> dict:
    files = {}
    for p in sorted(stage.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(stage).as_posix()
        if rel == MANIFEST or rel.startswith("bench/") or p.name.startswith("."):
            continue
        files[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": files,
    }
    write_json(stage / MANIFEST, manifest)
    return manifest


def finish(stage: Path, config: dict, verification: dict) -> dict:
    """verification.json + README.md, then the manifest over every file (a new bundle only)."""
    write_json(stage / VERIFICATION, verification)
    write_text(stage / "README.md", render_readme(stage, config, verification))
    return write_manifest(stage)


def record_verification(bundle: Path, manifest: dict, config: dict, verification: dict) -> dict:
    """Re-verification of an existing bundle: write verification.json and README.md and update only
    their two manifest entries. Every other entry keeps the hash recorded at export, so a file that
    was changed since can never be blessed by verifying it (see ``advisor export verify --resign``)."""
    write_json(bundle / VERIFICATION, verification)
    write_text(bundle / "README.md", render_readme(bundle, config, verification))
    files = dict(manifest["files"])
    for name in (VERIFICATION, "README.md"):
        p = bundle / name
        files[name] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    updated = {**manifest, "files": files,
               "verified": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    write_json(bundle / MANIFEST, updated)
    return updated
