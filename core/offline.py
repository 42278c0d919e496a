"""Model loading never reaches a hub: a missing file must fail fast and clearly."""

from __future__ import annotations

import os

# the Hugging Face offline switches (and quiet tokenizer threads), for this process or a child's environment
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false"}


def force_offline() -> None:
    """Set the Hugging Face offline switches before transformers/huggingface_hub are imported."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
