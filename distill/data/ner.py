"""Entity (NER) data: a text plus entity spans ``(start, end_exclusive, type)`` in CHARACTER offsets.

Readers (``read_ner``; the format comes from ``--format``, the preset's ``data.format`` or the file):
  * ``conll``: ``token<TAB>tag`` lines (IOB2 tags ``O`` / ``B-type`` / ``I-type``), a blank line
    between sentences. The tokens are joined with one space (``data.joiner``; default: nothing when
    every token is one CJK character, else a space) and the spans' character offsets computed.
    ``data.token_char: 0`` takes the token's first character only (Weibo NER writes ``科0``: the
    character followed by its position in the segmented word).
  * ``cluener``: JSON lines ``{"text": ..., "label": {type: {mention: [[start, end], ...]}}}`` with
    an INCLUSIVE end offset (CLUENER2020); ``text[start:end + 1]`` must be the mention.
  * ``spans``: JSON lines ``{"text": ..., "spans": [{"start", "end", "type"}, ...]}`` with an
    exclusive end (the toolkit's own labels.jsonl rows read back as gold).

Gold rules (every violation is a one-line ``UserError``): a span must lie inside its text and be
non-empty, spans of one text must not overlap, every type must be in the label set (the label set's
names are the entity types; its aliases map raw types). A preset may say ``data.overlaps: longest``
(CLUENER: one nested mention in train.json) to keep the longer of two overlapping gold spans instead. A CoNLL ``I-x`` tag that follows ``O`` or
another type starts a new entity, as seqeval does (IOB2 repair); such tags are counted in
``NerDataset.repaired``. A tag that is not ``O``/``B-x``/``I-x`` is an error.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

NER_FORMATS = ("conll", "cluener", "spans")

Span = tuple[int, int, str]


@dataclass
class NerDataset:
    """Texts with their gold spans (``gold`` None when the file holds no annotations)."""

    texts: list[str]
    gold: list[list[Span]] | None
    ids: list[str]
    source: str = ""
    format: str = ""
    repaired: int = 0  # I- tags after O / another type, read as B- (seqeval's convention)
    dropped_overlaps: int = 0  # nested spans dropped (a preset's data.overlaps: longest)
    text_column: str | None = "text"
    label_column: str | None = None
    skipped_empty: int = 0
    types: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)


def check_spans(text: str, spans, types=None, where: str = "", overlaps: str = "error",
                dropped: list | None = None) -> list[Span]:
    """The spans sorted by start, checked against the text: inside it, non-empty, not overlapping,
    a known type. ``types``: the allowed types (None: any). ``overlaps="longest"`` keeps the longer
    of two overlapping spans (the first on a tie) and appends the other to ``dropped``, for data
    whose nested mentions BIO cannot represent (a preset's ``data.overlaps``)."""
    out = []
    for s in spans:
        try:
            start, end, typ = int(s[0]), int(s[1]), str(s[2])
        except (TypeError, ValueError, IndexError):
            raise UserError(f"{where}: a span must be (start, end, type), got {str(s)[:60]}") from None
        if not 0 <= start < end <= len(text):
            raise UserError(f"{where}: span [{start}, {end}) {typ!r} is outside the text (length {len(text)}) or "
                            f"empty")
        if types is not None and typ not in types:
            raise UserError(f"{where}: entity type {typ!r} is not in the label set ({', '.join(types)})")
        out.append((start, end, typ))
    out.sort()
    if overlaps == "longest":
        kept: list[Span] = []
        for sp in sorted(out, key=lambda x: (x[0] - x[1], x[0])):
            if any(sp[0] < k[1] and k[0] < sp[1] for k in kept):
                if dropped is not None:
                    dropped.append(sp)
                continue
            kept.append(sp)
        out = sorted(kept)
    for a, b in zip(out, out[1:]):
        if b[0] < a[1]:
            raise UserError(f"{where}: overlapping spans [{a[0]}, {a[1]}) {a[2]!r} {text[a[0]:a[1]]!r} and "
                            f"[{b[0]}, {b[1]}) {b[2]!r} {text[b[0]:b[1]]!r}")
    return out


def _type(labelset, raw: str, where: str) -> str:
    if labelset is None:
        return raw
    try:
        return labelset.normalize(raw)
    except UserError:
        raise UserError(f"{where}: entity type {raw[:40]!r} is not in the label set "
                        f"({', '.join(labelset.names)})") from None


def _is_cjk(ch: str) -> bool:
    return len(ch) == 1 and ("CJK" in unicodedata.name(ch, "") or unicodedata.east_asian_width(ch) in "WF")


def tags_to_spans(tags: list[str], where: str = "") -> tuple[list[tuple[int, int, str]], int]:
    """IOB2 tags -> ``(first, last_exclusive, type)`` token spans and the number of repaired tags
    (an ``I-x`` after ``O`` or after another type starts an entity, as in seqeval)."""
    spans, repaired = [], 0
    cur = None  # [start, end, type]
    for i, tag in enumerate(tags):
        if tag == "O":
            if cur:
                spans.append(tuple(cur))
            cur = None
            continue
        prefix, _, typ = tag.partition("-")
        if prefix not in ("B", "I") or not typ:
            raise UserError(f"{where}: tag {tag[:30]!r} is not O, B-type or I-type (IOB2)")
        if prefix == "I" and cur is not None and cur[2] == typ:
            cur[1] = i + 1
            continue
        if prefix == "I":
            repaired += 1
        if cur:
            spans.append(tuple(cur))
        cur = [i, i + 1, typ]
    if cur:
        spans.append(tuple(cur))
    return spans, repaired


def _read_conll(path: Path, text: str, labelset, hints: dict) -> NerDataset:
    token_char = hints.get("token_char")
    sentences: list[list[tuple[str, str, int]]] = []
    cur: list[tuple[str, str, int]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            if cur:
                sentences.append(cur)
            cur = []
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) < 2:
            parts = line.split()
        if len(parts) < 2 or not parts[0].strip():
            raise UserError(f"{path.name}: line {n} is not 'token<TAB>tag'")
        tok, tag = parts[0].strip(), parts[-1].strip()
        if token_char is not None:
            tok = tok[int(token_char)]
        cur.append((tok, tag, n))
    if cur:
        sentences.append(cur)
    if not sentences:
        raise UserError(f"input file {path} has no sentences")
    joiner = hints.get("joiner")
    if joiner is None:
        joiner = "" if all(_is_cjk(t) for s in sentences for t, _, _ in s) else " "
    texts, gold, repaired, any_entity = [], [], 0, False
    for sent in sentences:
        where = f"{path.name}: line {sent[0][2]}"
        tok_spans, rep = tags_to_spans([t for _, t, _ in sent], where)
        repaired += rep
        starts, pos = [], 0
        for tok, _, _ in sent:
            starts.append(pos)
            pos += len(tok) + len(joiner)
        s = joiner.join(tok for tok, _, _ in sent)
        spans = [(starts[a], starts[b - 1] + len(sent[b - 1][0]), _type(labelset, typ, where)) for a, b, typ in tok_spans]
        any_entity = any_entity or bool(spans)
        texts.append(s)
        gold.append(check_spans(s, spans, labelset.names if labelset is not None else None, where))
    return NerDataset(texts, gold, [str(i) for i in range(len(texts))], str(path), "conll", repaired,
                      label_column="tag")


def _json_lines(path: Path, text: str):
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path.name}: line {n} is not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise UserError(f"{path.name}: line {n} is not an object with a string 'text'")
        yield n, obj


def _read_json(path: Path, text: str, labelset, fmt: str, hints: dict) -> NerDataset:
    texts, gold, ids, has_gold, dropped = [], [], [], False, []
    names = labelset.names if labelset is not None else None
    for n, obj in _json_lines(path, text):
        where = f"{path.name}: line {n}"
        t = obj["text"]
        spans = []
        if fmt == "cluener" and obj.get("label") is not None:
            has_gold = True
            lab = obj["label"]
            if not isinstance(lab, dict):
                raise UserError(f"{where}: 'label' must be an object type -> {{mention: [[start, end], ...]}}")
            for typ, mentions in lab.items():
                typ = _type(labelset, str(typ), where)
                if not isinstance(mentions, dict):
                    raise UserError(f"{where}: label {typ!r} must map mentions to [[start, end], ...]")
                for mention, offsets in mentions.items():
                    for off in offsets if isinstance(offsets, list) else [None]:
                        if not (isinstance(off, list) and len(off) == 2 and all(isinstance(x, int) for x in off)):
                            raise UserError(f"{where}: mention {mention[:30]!r} needs [start, end] offsets")
                        start, end = off[0], off[1] + 1  # CLUENER ends are inclusive
                        if 0 <= start < end <= len(t) and t[start:end] != mention:
                            raise UserError(f"{where}: offsets [{off[0]}, {off[1]}] (inclusive end) give "
                                            f"{t[start:end]!r}, not the mention {mention[:30]!r}")
                        spans.append((start, end, typ))
        elif fmt == "spans" and obj.get("spans") is not None:
            has_gold = True
            if not isinstance(obj["spans"], list):
                raise UserError(f"{where}: 'spans' must be a list of {{start, end, type}}")
            for s in obj["spans"]:
                if not isinstance(s, dict) or not {"start", "end", "type"} <= set(s):
                    raise UserError(f"{where}: a span needs start, end and type")
                spans.append((s["start"], s["end"], _type(labelset, str(s["type"]), where)))
        if not t.strip():
            continue
        texts.append(t)
        gold.append(check_spans(t, spans, names, where, hints.get("overlaps", "error"), dropped))
        ids.append(str(obj.get("id", n - 1)))
    if not texts:
        raise UserError(f"input file {path} has no non-empty texts")
    if len(set(ids)) != len(ids):
        ids = [str(i) for i in range(len(ids))]
    return NerDataset(texts, gold if has_gold else None, ids, str(path), fmt,
                      label_column="label" if fmt == "cluener" else "spans", dropped_overlaps=len(dropped))


def detect_ner_format(path: Path, fmt: str | None, hints: dict) -> str:
    if fmt:
        if fmt not in NER_FORMATS:
            raise UserError(f"task ner reads the formats {', '.join(NER_FORMATS)}, not {fmt!r}")
        return fmt
    if hints.get("format") in NER_FORMATS:
        return hints["format"]
    if path.suffix.lower() in {".json", ".jsonl"}:
        with path.open(encoding="utf-8", errors="replace") as fh:
            first = next((ln for ln in fh if ln.strip()), "")
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            obj = {}
        return "spans" if isinstance(obj, dict) and "spans" in obj else "cluener"
    return "conll"


def read_ner(path, labelset=None, fmt: str | None = None, limit: int | None = None, sample: int | None = None,
             seed: int = 0) -> NerDataset:
    """The texts and gold spans of an entity file (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"input file {path} not found")
    for name, value in (("--limit", limit), ("--sample", sample)):
        if value is not None and value <= 0:
            raise UserError(f"{name} must be positive, got {value}")
    hints = dict(labelset.data) if labelset is not None and labelset.data else {}
    kind = detect_ner_format(path, fmt, hints)
    from distill.data.reader import _read_utf8

    text = _read_utf8(path)
    ds = _read_conll(path, text, labelset, hints) if kind == "conll" else _read_json(path, text, labelset, kind, hints)
    if sample is not None and sample < len(ds.texts):
        import numpy as np

        keep = sorted(np.random.default_rng(seed).choice(len(ds.texts), size=sample, replace=False).tolist())
        ds.texts, ds.ids = [ds.texts[i] for i in keep], [ds.ids[i] for i in keep]
        ds.gold = [ds.gold[i] for i in keep] if ds.gold is not None else None
    if limit is not None:
        ds.texts, ds.ids = ds.texts[:limit], ds.ids[:limit]
        ds.gold = ds.gold[:limit] if ds.gold is not None else None
    ds.types = list(labelset.names) if labelset is not None else sorted({t for g in ds.gold or [] for *_, t in g})
    return ds


def bio_labels(types) -> list[str]:
    """The student's tag set: ``O`` then ``B-t``, ``I-t`` for every type (label-set order)."""
    out = ["O"]
    for t in types:
        out += [f"B-{t}", f"I-{t}"]
    return out
