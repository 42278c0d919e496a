"""The student: any local Hugging Face *encoder* directory, given a classification head sized from
the label set (id2label/label2id in its config), saved back as a normal HF model directory."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from core.errors import UserError, first_line
from core.offline import force_offline

force_offline()

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # a model directory's (unsharded) weights, safe one first


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)


def resolve_student_dir(student: str | os.PathLike | None) -> Path:
    from distill.defaults import default_student_dir

    if student is None:
        return default_student_dir()
    path = Path(student)
    if not path.is_dir():
        raise UserError(f"student directory {path} does not exist (give a local Hugging Face encoder directory)")
    return path


# How encoder configs name their layer count (DistilBERT: n_layers; most others: num_hidden_layers).
LAYER_COUNT_KEYS = ("num_hidden_layers", "n_layers", "num_layers", "n_layer")


def layer_count(config) -> int | None:
    """The transformer layer count of a config object or a parsed config.json dict (None if absent)."""
    get = config.get if isinstance(config, dict) else (lambda k: getattr(config, k, None))
    for key in LAYER_COUNT_KEYS:
        value = get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def check_encoder(path: Path):
    """Load the config of ``path`` and make sure it is an encoder that can take a sequence-classification
    head (BERT, RoBERTa, DistilBERT, DeBERTa, ELECTRA, XLM-R, ModernBERT, ...). Returns the config."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    if not (path / "config.json").is_file():
        raise UserError(f"student directory {path} has no config.json: not a Hugging Face model directory")
    try:
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - any config failure is a bad directory
        raise UserError(f"cannot read the model config in {path}: {exc}") from None
    model_type = getattr(config, "model_type", None)
    archs = [a for a in (getattr(config, "architectures", None) or [])]
    causal = [a for a in archs if a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))]
    if (
        getattr(config, "is_decoder", False)
        or getattr(config, "is_encoder_decoder", False)
        or causal
        or model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
        or model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES
    ):
        what = causal[0] if causal else (model_type or "unknown")
        raise UserError(
            f"student directory {path} is not an encoder ({what}); the student must be a BERT-style "
            f"encoder such as all-MiniLM-L6-v2, BERT, RoBERTa, DistilBERT or DeBERTa"
        )
    return config


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    try:
        with _quiet_transformers():
            tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, use_fast=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot load a tokenizer from {path}: {exc}") from None
    if not getattr(tok, "is_fast", False):
        raise UserError(f"the tokenizer in {path} is not a fast tokenizer (tokenizer.json is needed)")
    return tok


def load_student(student: str | os.PathLike | None, labels: list[str], layers: int | None = None, *,
                 head=None, problem_type: str | None = "single_label_classification"):
    """(model, tokenizer, path): the encoder with a fresh ``len(labels)``-way head.

    ``head``: the transformers auto class that adds the head (the task kind's choice, see
    ``distill.tasks``; default ``AutoModelForSequenceClassification``); ``problem_type`` goes to the
    model's config. A directory that already is a classifier for other labels gets its head
    re-initialised. ``layers``: keep only the bottom ``layers`` transformer layers (the config's
    ``num_hidden_layers`` is lowered before loading, so the top layers' weights are not loaded).
    """
    if head is None:
        from transformers import AutoModelForSequenceClassification as head

    path = resolve_student_dir(student)
    config = check_encoder(path)
    shape = {}
    if layers is not None:
        have = layer_count(config)
        if have is None:
            raise UserError(f"the student in {path} does not say how many layers it has; drop --layers")
        if not 1 <= layers <= have:
            raise UserError(f"--layers {layers}: the student in {path} has {have} layers (choose 1..{have})")
        shape["num_hidden_layers"] = layers
    require_safetensors(path, "student")
    tok = load_tokenizer(path)
    id2label = {i: name for i, name in enumerate(labels)}
    label2id = {name: i for i, name in enumerate(labels)}
    try:
        with _quiet_transformers():
            model = head.from_pretrained(
                str(path), num_labels=len(labels), id2label=id2label, label2id=label2id,
                ignore_mismatched_sizes=True, local_files_only=True, use_safetensors=True, **shape,
            )
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot load the student model from {path}: {first_line(exc)[:300]}") from None
    if problem_type is not None:
        model.config.problem_type = problem_type
    return model, tok, path


def require_safetensors(path: str | os.PathLike, what: str = "model") -> None:
    """Refuse a model directory whose only weights are a pickle (``pytorch_model.bin``): loading a
    pickle can run code, so this toolkit reads ``model.safetensors`` only -- say so, instead of
    failing later with an unrelated message (e.g. "No module named 'tensorflow'")."""
    p = Path(path)
    if (p / "model.safetensors").is_file() or any(p.glob("model-*-of-*.safetensors")):
        return
    if (p / "pytorch_model.bin").is_file() or any(p.glob("pytorch_model-*-of-*.bin")):
        raise UserError(
            f"the {what} in {p} has only pytorch_model.bin (a pickle, which can run code when loaded); this "
            f"toolkit loads model.safetensors only: where you trust the file, convert it with "
            f"AutoModelForSequenceClassification.from_pretrained(DIR).save_pretrained(DIR, safe_serialization=True)")


def check_finite_weights(path: str | os.PathLike, what: str = "student") -> None:
    """Refuse a model whose saved weights hold NaN or infinity (a run that diverged before training
    checked for it): exporting it would only produce NaN logits."""
    import torch
    from safetensors import safe_open

    p = Path(path)
    for f in sorted([p / "model.safetensors", *p.glob("model-*-of-*.safetensors")]):
        if not f.is_file():
            continue
        try:
            with safe_open(str(f), framework="pt") as fh:
                for key in fh.keys():
                    t = fh.get_tensor(key)
                    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                        raise UserError(f"the {what} in {p} has non-finite weights ({key} holds NaN or inf): its "
                                        f"training diverged; train it again with a lower --lr")
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged file
            raise UserError(f"cannot read the {what}'s weights {f}: {first_line(exc)[:200]}") from None


def load_trained_student(path: str | os.PathLike):
    """(model, tokenizer) of a saved student directory, in eval mode."""
    from transformers import AutoModelForSequenceClassification

    path = Path(path)
    if not (path / "config.json").is_file():
        raise UserError(f"no trained student in {path} (run `advisor distill train` first)")
    require_safetensors(path, "classifier")
    tok = load_tokenizer(path)
    try:
        with _quiet_transformers():
            model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True,
                                                                       use_safetensors=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot load the classifier in {path}: {first_line(exc)[:300]}") from None
    model.eval()
    return model, tok


def predict_proba(model, tokenizer, texts: list[str], max_length: int = 128, batch_size: int = 64,
                  progress: bool = False, desc: str = "student") -> "np.ndarray":
    """Softmax probabilities (n, k) in the model's label order (joined sentence pairs, ``core.pairs``,
    are encoded as pairs); a multi-label student's are independent sigmoids."""
    import numpy as np
    import torch
    from tqdm.auto import tqdm

    from core.pairs import tokenizer_inputs

    out = []
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # length-sorted batches: less padding
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    with torch.inference_mode():
        for idx in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
            enc = tokenizer(*tokenizer_inputs([texts[i] for i in idx]), truncation=True, max_length=max_length,
                            padding=True, return_tensors="pt")
            logits = model(**enc).logits.float()
            multi = getattr(model.config, "problem_type", None) == "multi_label_classification"
            out.append((idx, (torch.sigmoid(logits) if multi else torch.softmax(logits, -1)).cpu().numpy()))
    k = model.config.num_labels
    probs = np.zeros((len(texts), k), dtype=np.float64)
    for idx, p in out:
        probs[idx] = p
    return probs


def save_student(model, tokenizer, out_dir: str | os.PathLike, card: str, max_length: int) -> Path:
    """Write the student directory atomically: save into a sibling temp dir, then swap it in."""
    from core.atomic import write_text

    out_dir = Path(out_dir)
    tmp = out_dir.parent / f".{out_dir.name}.tmp"
    old = out_dir.parent / f".{out_dir.name}.old"
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.model_max_length = int(max_length)
    tokenizer.save_pretrained(str(tmp))
    write_text(tmp / "README.md", card)
    if out_dir.exists():
        os.replace(out_dir, old)
    os.replace(tmp, out_dir)
    if old.exists():
        shutil.rmtree(old)
    return out_dir
