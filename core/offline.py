"""Model loading never reaches a hub: a missing file must fail fast and clearly."""

from __future__ import annotations

import os


def force_offline() -> None:
    """Set the Hugging Face offline switches before transformers/huggingface_hub are imported."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
