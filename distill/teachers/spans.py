"""Reading a generated entity answer: strict parsing, locating mentions in the text, and per-span
confidence from the generated tokens' log-probabilities.

The answer is one JSON object per line, ``{"type": ..., "text": ...}`` (a JSON list of such objects
is read too; ``none`` or an empty answer means no entity). Every line that is not such an object,
or whose type is not in the label set, is dropped and counted (``invalid_lines``, ``unknown_type``);
a mention that does not occur in the text is dropped and counted (``not_in_text``). A mention that
occurs several times in the text is taken at EVERY occurrence (``[A-Za-z0-9]`` mentions only where
they are not inside a longer word). Overlapping spans keep the longer (the earlier on a tie; the
other is counted in ``overlapping``). A span's confidence is ``exp(mean log-prob)`` of the
generated tokens that spell its mention in the answer (no log-probs from the backend: 1).
"""

from __future__ import annotations

import json
import math
import re

from distill.data.ner import check_spans

COUNTERS = ("mentions", "invalid_lines", "unknown_type", "not_in_text", "overlapping")


def _lines(answer: str) -> list[tuple[int, str]]:
    """(char offset in the answer, line) of every line; a JSON list answer is one 'line'."""
    out, pos = [], 0
    for line in answer.split("\n"):
        out.append((pos, line))
        pos += len(line) + 1
    return out


def _objects(answer: str, counts: dict) -> list[tuple[dict, int, int]]:
    """(object, start, end of its mention value in the answer) for every readable object."""
    s = answer.strip().strip("`")
    if s.lower().startswith("json"):
        s = s[4:]
    found = []
    stripped = s.strip()
    if not stripped or stripped.lower().rstrip(".") in ("none", "无", "没有", "[]"):
        return []
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list):
            for it in items:
                if isinstance(it, dict) and isinstance(it.get("text"), str):
                    at = answer.find(json.dumps(it["text"], ensure_ascii=False)[1:-1])
                    found.append((it, at, at + len(it["text"]) if at >= 0 else -1))
                else:
                    counts["invalid_lines"] += 1
            return found
    for off, line in _lines(answer):
        t = line.strip().rstrip(",")
        if not t or t.strip("`").strip() in ("", "json") or t.lower().rstrip(".") in ("none", "无"):
            continue
        try:
            obj = json.loads(t)
        except json.JSONDecodeError:
            counts["invalid_lines"] += 1
            continue
        if not (isinstance(obj, dict) and isinstance(obj.get("text"), str) and isinstance(obj.get("type"), str)):
            counts["invalid_lines"] += 1
            continue
        m = re.search(r'"text"\s*:\s*"', line)
        start = off + m.end() if m else -1
        found.append((obj, start, start + len(json.dumps(obj["text"], ensure_ascii=False)) - 2 if m else -1))
    return found


def _occurrences(text: str, mention: str) -> list[int]:
    out, i = [], text.find(mention)
    word = bool(re.fullmatch(r"\w.*\w|\w", mention)) and mention.isascii()
    while i >= 0:
        before = text[i - 1] if i > 0 else ""
        after = text[i + len(mention)] if i + len(mention) < len(text) else ""
        if not word or not ((before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum())):
            out.append(i)
        i = text.find(mention, i + 1)
    return out


def _confidence(tokens, logprobs, start: int, end: int) -> float:
    """exp(mean log-prob) of the tokens overlapping answer chars [start, end); 1 without log-probs."""
    if not tokens or not logprobs or start < 0:
        return 1.0
    pos, picked = 0, []
    for tok, lp in zip(tokens, logprobs):
        a, b = pos, pos + len(tok)
        pos = b
        if a < end and b > start and lp is not None and math.isfinite(lp):
            picked.append(lp)
    return float(math.exp(sum(picked) / len(picked))) if picked else 1.0


def parse_span_answer(answer: str, text: str, labelset, tokens=None, logprobs=None) -> tuple[list[tuple], dict]:
    """((start, end, type, p) spans of ``text``, counters) for one generated answer."""
    counts = {k: 0 for k in COUNTERS}
    spans = []
    for obj, a, b in _objects(answer or "", counts):
        try:
            typ = labelset.normalize(obj.get("type", ""))
        except Exception:  # noqa: BLE001 - a type outside the set
            counts["unknown_type"] += 1
            continue
        mention = obj["text"].strip()
        if not mention:
            counts["invalid_lines"] += 1
            continue
        where = _occurrences(text, mention)
        if not where:
            counts["not_in_text"] += 1
            continue
        counts["mentions"] += 1
        p = round(_confidence(tokens, logprobs, a, b), 6)
        spans += [(i, i + len(mention), typ, p) for i in where]
    # dedupe (the same mention listed twice), then resolve overlaps: the longer span wins
    best: dict[tuple, float] = {}
    for s, e, t, p in spans:
        best[(s, e, t)] = max(best.get((s, e, t), 0.0), p)
    dropped: list = []
    kept = check_spans(text, list(best), None, "teacher answer", overlaps="longest", dropped=dropped)
    counts["overlapping"] += len(dropped)
    return [(s, e, t, best[(s, e, t)]) for s, e, t in kept], counts
