"""One example of a sentence-pair task (``task: pairs``) travels through the stages as one string:
the two texts joined by :data:`PAIR_SEP`, a control character the reader removes from every text
(so it cannot occur inside one). Everything that keys, deduplicates or stores texts (the label
cache's hash, the pool, shots, the eval set) then holds both texts unchanged, and only the edges
split the pair: the teacher's prompt, the student's tokenizer (``[CLS] a [SEP] b``), the rows of
``labels.jsonl`` (``text`` and ``text_pair``) and the bundle's runtime (which keeps its own copy of
the separator: it is shipped alone)."""

from __future__ import annotations

PAIR_SEP = "\x1f"  # ASCII unit separator: never inside a text (the reader replaces it by a space)


def clean(text: str) -> str:
    """A text with the separator removed (replaced by a space)."""
    return text.replace(PAIR_SEP, " ")


def join_pair(text: str, text_pair: str) -> str:
    return f"{clean(text)}{PAIR_SEP}{clean(text_pair)}"


def is_pair(text: str) -> bool:
    return isinstance(text, str) and PAIR_SEP in text


def split_pair(text: str) -> tuple[str, str]:
    """(text, text_pair) of a joined pair; a lone text is (text, "")."""
    a, _, b = text.partition(PAIR_SEP)
    return a, b


def tokenizer_inputs(texts) -> tuple[list[str], ...]:
    """The positional arguments of a Hugging Face tokenizer call for ``texts``: ``(texts,)``, or
    ``(first texts, second texts)`` when they are joined pairs (``[CLS] a [SEP] b``)."""
    texts = list(texts)
    if texts and any(is_pair(t) for t in texts):
        firsts, seconds = zip(*(split_pair(t) for t in texts))
        return list(firsts), list(seconds)
    return (texts,)


def row_text(row: dict) -> str | None:
    """The text of a labels.jsonl row: ``text``, joined with ``text_pair`` when the row has one."""
    text = row.get("text")
    second = row.get("text_pair")
    if isinstance(text, str) and isinstance(second, str):
        return join_pair(text, second)
    return text


def row_fields(text: str) -> dict:
    """``{"text": ...}`` or, for a joined pair, ``{"text": a, "text_pair": b}`` (the labels.jsonl columns)."""
    if is_pair(text):
        a, b = split_pair(text)
        return {"text": a, "text_pair": b}
    return {"text": text}
