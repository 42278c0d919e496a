"""A small Chinese encoder built for the tests (no Chinese encoder ships on PyPI, and nothing is
downloaded): a character vocabulary made from the texts given (plus [PAD] [UNK] [CLS] [SEP] [MASK]
and ``##`` continuations of ASCII letters and digits), a ``BertTokenizerFast`` saved with
tokenizer.json, and a randomly initialised tiny ``BertConfig``/``BertModel`` saved as safetensors.
It checks the mechanics of the Chinese paths (cluener, weibo_ner, ocnli, tnews) end to end; its
accuracy means nothing. Use the ``zh_encoder`` fixture (session scope, built from CLUENER, OCNLI and
TNEWS texts when they are there) or call :func:`build_zh_encoder` with texts of your own."""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_zh_encoder(out: Path, texts, *, hidden: int = 32, layers: int = 2, heads: int = 2,
                     max_positions: int = 256, seed: int = 0) -> Path:
    """Write the encoder directory ``out`` (config.json, model.safetensors, tokenizer.json, vocab.txt)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chars = sorted({c for t in texts for c in t if not c.isspace()})
    ascii_ = string.ascii_letters + string.digits
    vocab = SPECIALS + [c for c in chars if c not in SPECIALS] + [c for c in ascii_ if c not in chars]
    vocab += ["##" + c for c in ascii_]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tok = BertTokenizerFast(vocab_file=str(out / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=True,
                            strip_accents=False, model_max_length=max_positions)
    tok.save_pretrained(str(out))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=hidden * 2, max_position_embeddings=max_positions, pad_token_id=0)
    BertModel(cfg).save_pretrained(str(out), safe_serialization=True)
    assert (out / "tokenizer.json").is_file() and (out / "model.safetensors").is_file()
    return out


def _zh_texts(shared: Path, n: int = 3000) -> list[str]:
    texts: list[str] = []
    for path, key in ((shared / "cluener" / "train.json", "text"), (shared / "cluener" / "dev.json", "text"),
                      (shared / "ocnli" / "dev.json", "sentence1"), (shared / "ocnli" / "dev.json", "sentence2"),
                      (shared / "tnews" / "train_few_all.json", "sentence")):
        if path.is_file():
            for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                if i >= n:
                    break
                try:
                    texts.append(str(json.loads(line).get(key) or ""))
                except ValueError:
                    continue
    return texts


@pytest.fixture(scope="session")
def zh_encoder(tmp_path_factory, shared_data) -> Path:
    """A tiny random Chinese BERT whose vocabulary covers the CLUENER/OCNLI/TNEWS characters."""
    texts = _zh_texts(shared_data)
    if not texts:
        pytest.skip("no Chinese data in ../shared/data")
    return build_zh_encoder(tmp_path_factory.mktemp("zh_encoder"), texts)
