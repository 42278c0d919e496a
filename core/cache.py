"""The toolkit's folder in the user's cache: ``$XDG_CACHE_HOME/bert-or-gpt`` (``~/.cache/bert-or-gpt``).

The named teachers' GGUF files and de-quantised copies (``gguf/``, overridable with
``$BERT_OR_GPT_GGUF_CACHE``) and the advisor's measurements (``advisor/``, overridable with
``$BERT_OR_GPT_CACHE``) live below it."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bert-or-gpt"
