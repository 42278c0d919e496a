"""Can the student read the data? Checked before any teacher time is spent.

An encoder whose vocabulary lacks the data's script turns most of each text into ``[UNK]``
(the English all-MiniLM-L6-v2 on Chinese reviews: ~70% of the tokens); a student trained on
that learns nothing the teacher said, and the pipeline would only find out after labelling and
training. ``check_student_reads`` measures the share of unknown tokens on a sample of the texts
and refuses the student above ``MAX_UNKNOWN``, naming the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError

MAX_UNKNOWN = 0.05


def _tokenizer(student_dir: Path):
    """(encode(text) -> ids, unk id or None) from tokenizer.json, else transformers."""
    tj = student_dir / "tokenizer.json"
    if tj.is_file():
        from tokenizers import Tokenizer

        tk = Tokenizer.from_file(str(tj))
        tk.no_padding()
        tk.no_truncation()
        unk = None
        try:
            model = json.loads(tj.read_text(encoding="utf-8")).get("model") or {}
            if model.get("unk_token"):
                unk = tk.token_to_id(model["unk_token"])
        except (OSError, ValueError):
            pass
        return (lambda t: tk.encode(t, add_special_tokens=False).ids), unk
    from core.offline import force_offline

    force_offline()
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a refusal is one line: no tokenizer advice on stderr around it
    try:
        tok = AutoTokenizer.from_pretrained(student_dir)
    finally:
        hf_logging.set_verbosity(old)
    return (lambda t: tok(t, add_special_tokens=False).input_ids), tok.unk_token_id


def unknown_share(student_dir: str | Path, texts: list[str], sample: int = 200) -> tuple[float, int]:
    """(share of [UNK] tokens, tokens counted) over the first ``sample`` non-empty texts.

    (0.0, 0) when the directory has no readable tokenizer: loading the student reports that."""
    if not Path(student_dir).is_dir():
        return 0.0, 0
    try:
        encode, unk = _tokenizer(Path(student_dir))
    except Exception:  # noqa: BLE001 - loading the student says why, with its own error
        return 0.0, 0
    if unk is None:  # byte-level BPE: no unknown token at all
        return 0.0, 0
    n = u = 0
    for t in [x for x in texts if x and x.strip()][:sample]:
        ids = encode(t)
        n += len(ids)
        u += sum(1 for i in ids if i == unk)
    return (u / n if n else 0.0), n


def check_student_reads(student_dir: str | Path, texts: list[str], where: str = "student.model",
                        sample: int = 200) -> float:
    """Raise a one-line UserError when the student's tokenizer cannot read the texts."""
    share, n = unknown_share(student_dir, texts, sample)
    if share > MAX_UNKNOWN:
        from distill.teachers.prompts import detect_language

        lang = {"zh": "Chinese"}.get(detect_language(texts), "this language")
        raise UserError(f"the student's tokenizer ({student_dir}) cannot read this data: {share:.0%} of {n} tokens "
                        f"of the first {min(sample, len(texts))} texts are unknown ([UNK]); point {where} to an encoder "
                        f"for {lang} (e.g. a Chinese or multilingual BERT directory)")
    return share
