"""Input texts for labelling: CSV, TSV, JSONL, plain text and ``datasets.save_to_disk`` folders.

``load_texts`` returns a :class:`TextDataset` (texts, optional gold label names, stable ids).
Rules:
  * ``.tsv`` files are read with ``csv.QUOTE_NONE`` (SST-2 style); ``.csv`` with normal quoting.
  * CSV/TSV files have a header row unless a preset (``LabelSet.data``) says ``header: false``.
  * Text column: ``text_column`` or the first of text/sentence/content/review/message/... or the
    only column; the gold column: ``label_column`` (``"none"`` to ignore), else a column named
    label/labels/gold/class/category/target if present *and* a label set is given.
  * Ids: an ``id``/``idx``/``guid`` column if present and unique, else the 0-based data row number.
  * Empty texts are skipped (their row numbers stay unused). ``sample`` picks a seeded random subset
    (kept in file order); ``limit`` then keeps the first N.
Every bad input raises :class:`core.errors.UserError` with one line.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import UserError
from distill.data.labelset import LabelSet

TEXT_COLUMNS = ("text", "sentence", "content", "review", "message", "document", "body", "input", "question", "utterance")
LABEL_COLUMNS = ("label", "labels", "gold", "class", "category", "target", "intent")
ID_COLUMNS = ("id", "idx", "guid", "uid")
FORMATS = ("csv", "tsv", "jsonl", "txt", "dataset")


@dataclass
class TextDataset:
    texts: list[str]
    gold: list[str] | None  # normalised label names (via LabelSet) or None
    ids: list[str]  # stable ids (row number or an id column)
    text_column: str | None = None
    label_column: str | None = None
    source: str = ""
    skipped_empty: int = 0
    text_pair_column: str | None = None  # sentence pairs: each text is ``core.pairs.join_pair(a, b)``

    def __len__(self) -> int:
        return len(self.texts)


def _read_utf8(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise UserError(f"input file {path} is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserError(f"input file {path} is not valid UTF-8 (line {line}, byte {exc.start}); re-encode it as UTF-8") from None
    return text


def _detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt in {"json", "ndjson"}:
            fmt = "jsonl"
        if fmt in {"text", "lines"}:
            fmt = "txt"
        if fmt not in FORMATS:
            raise UserError(f"unknown input format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    if path.is_dir():
        return "dataset"
    suf = path.suffix.lower()
    if suf in {".csv"}:
        return "csv"
    if suf in {".tsv", ".tab"}:
        return "tsv"
    if suf in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suf in {".txt", ".text", ""}:
        return "txt"
    raise UserError(f"cannot tell the format of {path.name}; pass --format ({', '.join(FORMATS)})")


def _rows_delimited(path: Path, fmt: str, header: bool, columns: list[str] | None) -> tuple[list[str], list[dict]]:
    text = _read_utf8(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    if fmt == "tsv":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [r for r in reader if r and any(c.strip() for c in r)]
    except csv.Error as exc:
        raise UserError(f"{path.name}: malformed {fmt.upper()} ({exc})") from None
    if not rows:
        raise UserError(f"input file {path} is empty")
    if header:
        cols = [c.strip() for c in rows[0]]
        rows = rows[1:]
    else:
        cols = list(columns) if columns else [str(i) for i in range(max(len(r) for r in rows))]
    if not rows:
        raise UserError(f"input file {path} has a header but no data rows")
    out = []
    for r in rows:
        if len(r) > len(cols) and not header and columns:
            # more fields than named columns: glue the tail onto the last column (unquoted commas)
            r = r[: len(cols) - 1] + [("\t" if fmt == "tsv" else ",").join(r[len(cols) - 1 :])]
        out.append({c: (r[i] if i < len(r) else "") for i, c in enumerate(cols)})
    return cols, out


SEPARATORS = (";", "\t", "|", ",")
_SEP_NAMES = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}


def _sep_flag(sep: str) -> str:
    return "--sep tab" if sep == "\t" else f"--sep '{sep}'"


def detect_label_suffix(lines: list[str], labelset: LabelSet | None = None) -> tuple[str, list[str]] | None:
    """``(separator, values)`` when (nearly) every line ends in a separator plus one of a small set of
    short values -- ``great film;positive`` -- i.e. the file holds TEXT<sep>LABEL lines, not texts."""
    lines = [ln.rstrip("\r\n") for ln in lines if ln.strip()]
    if len(lines) < 2:
        return None
    known = set()
    if labelset is not None:
        for lab in labelset.labels:
            known |= {lab.name.casefold(), *(a.casefold() for a in lab.aliases)}
    for sep in SEPARATORS:
        tails, heads = [], []
        for ln in lines:
            if sep not in ln:
                break
            head, tail = ln.rsplit(sep, 1)
            tail = tail.strip()
            if not tail or len(tail) > 24 or " " in tail or not head.strip():
                break
            tails.append(tail)
            heads.append(head)
        else:
            body = tails[1:] if tails[0].casefold() in LABEL_COLUMNS else tails  # a header line
            values = sorted(set(body))
            if not body:
                continue
            from_labels = bool(known) and all(v.casefold() in known for v in values)
            repeated = len(values) <= 20 and len(values) <= len(body) / 2
            if from_labels or repeated:
                return sep, values
    return None


def _rows_sep(path: Path, sep: str) -> tuple[list[str], list[dict]]:
    """TEXT<sep>LABEL lines (the last ``sep`` splits), or a delimited file with a header naming its
    columns (``id;text;label``): read with ``sep`` as the delimiter."""
    text = _read_utf8(path)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    first = [f.strip() for f in lines[0].split(sep)]
    if len(first) > 2 and any(f.casefold() in TEXT_COLUMNS for f in first):
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        try:
            rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=sep) if r and any(c.strip() for c in r)]
        except csv.Error as exc:
            raise UserError(f"{path.name}: malformed {_SEP_NAMES.get(sep, repr(sep))}-separated file ({exc})") from None
        cols = [c.strip() for c in rows[0]]
        return cols, [{c: (r[i] if i < len(r) else "") for i, c in enumerate(cols)} for r in rows[1:]]
    head, _, tail = lines[0].rpartition(sep)
    header = head.strip().casefold() in TEXT_COLUMNS and tail.strip().casefold() in LABEL_COLUMNS
    cols = [head.strip(), tail.strip()] if header else ["text", "label"]
    out = []
    for n, ln in enumerate(lines[1:] if header else lines, 2 if header else 1):
        if sep not in ln:
            raise UserError(f"{path.name}: line {n} has no {_SEP_NAMES.get(sep, repr(sep))} separator "
                            f"(expected TEXT{sep if sep != chr(9) else '<tab>'}LABEL)")
        t, _, lab = ln.rpartition(sep)
        out.append({cols[0]: t, cols[1]: lab.strip()})
    if not out:
        raise UserError(f"input file {path} has a header but no data rows")
    return cols, out


def _refuse_label_suffix(path: Path, lines: list[str], labelset: LabelSet | None, fmt: str) -> None:
    found = detect_label_suffix(lines, labelset)
    if found:
        sep, values = found
        shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
        raise UserError(f"{path.name}: every line ends in {_SEP_NAMES.get(sep, repr(sep))} plus one of a few values "
                        f"({shown}): these look like TEXT{sep if sep != chr(9) else '<tab>'}LABEL lines, and read as "
                        f"{fmt} each text would keep its label; pass {_sep_flag(sep)} to read the label "
                        f"column (or --sep none to keep whole lines as texts)")


def _rows_jsonl(path: Path) -> tuple[list[str], list[dict]]:
    text = _read_utf8(path)
    rows, cols = [], {}
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of objects is accepted too
        try:
            arr = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path.name}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
        lines = [(i + 1, o) for i, o in enumerate(arr)]
    else:
        lines = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                lines.append((i, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path.name}: line {i} is not valid JSON ({exc.msg})") from None
    for i, obj in lines:
        if isinstance(obj, str):
            obj = {"text": obj}
        if not isinstance(obj, dict):
            raise UserError(f"{path.name}: line {i} is not a JSON object")
        rows.append(obj)
        for k in obj:
            cols.setdefault(k, None)
    if not rows:
        raise UserError(f"input file {path} is empty")
    return list(cols), rows


def _rows_txt(path: Path) -> tuple[list[str], list[dict]]:
    text = _read_utf8(path)
    return ["text"], [{"text": line} for line in text.splitlines()]


def _rows_dataset(path: Path, split: str | None) -> tuple[list[str], list[dict], dict]:
    from core.offline import force_offline

    force_offline()
    try:
        import datasets
    except ImportError:  # pragma: no cover
        raise UserError("reading a datasets folder needs the `datasets` package") from None
    try:
        obj = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{path} is not a datasets.save_to_disk folder ({type(exc).__name__})") from None
    if isinstance(obj, datasets.DatasetDict):
        if split is None:
            if len(obj) == 1:
                split = next(iter(obj))
            else:
                raise UserError(f"{path} has splits {', '.join(obj)}; choose one with --split")
        if split not in obj:
            raise UserError(f"{path} has no split {split!r}; splits are {', '.join(obj)}")
        obj = obj[split]
    if len(obj) == 0:
        raise UserError(f"dataset {path} is empty")
    cols = list(obj.column_names)
    class_names = {}
    for c, feat in obj.features.items():
        if isinstance(feat, datasets.ClassLabel):
            class_names[c] = feat.names
    return cols, obj.to_list(), class_names


def _pick(cols: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, path: Path) -> str | None:
    if wanted is not None:
        if wanted in cols:
            return wanted
        low = {c.casefold(): c for c in cols}
        if wanted.casefold() in low:
            return low[wanted.casefold()]
        if wanted.isdigit() and int(wanted) < len(cols):
            return cols[int(wanted)]
        raise UserError(f"{path.name} has no {what} column {wanted!r}; columns are {', '.join(map(str, cols))}")
    low = {str(c).casefold(): c for c in cols}
    for cand in candidates:
        if str(cand).casefold() in low:
            return low[str(cand).casefold()]
    return None


def _check_args(path: Path, sep: str | None, limit: int | None, sample: int | None) -> str | None:
    """One-line errors for an unusable path, --sep, --limit or --sample; returns --sep normalised
    (``"tab"`` -> a tab, any case of ``"none"`` -> ``"none"``)."""
    try:
        path.exists()
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte ...
        raise UserError(f"input file {str(path)[:80]!r} is not a usable path "
                        f"({getattr(exc, 'strerror', None) or type(exc).__name__})") from None
    if sep is not None:
        sep = {"tab": "\t", "\\t": "\t"}.get(sep, sep)
        if sep.lower() == "none":
            sep = "none"
        elif len(sep) != 1 or sep.isalnum() or sep in {'"', "'", " ", "\n", "\r"}:
            raise UserError(f"--sep must be one punctuation character (e.g. ';', '|', ',') or 'tab', got {sep[:20]!r}")
    if not path.exists():
        raise UserError(f"input file {path} not found")
    if limit is not None and limit <= 0:
        raise UserError(f"--limit must be positive, got {limit}")
    if sample is not None and sample <= 0:
        raise UserError(f"--sample must be positive, got {sample}")
    return sep


def _format_and_hints(path: Path, fmt: str | None, labelset: LabelSet | None) -> tuple[str, dict[str, Any]]:
    """The file's format and the preset's reading hints (``LabelSet.data``). The hints apply when the
    file's own format matches the preset's (e.g. sms_spam has no suffix); else there are none."""
    hints: dict[str, Any] = dict(labelset.data) if labelset is not None and labelset.data else {}
    if path.is_file() and path.stat().st_size == 0:
        raise UserError(f"input file {path} is empty")
    kind = _detect_format(path, fmt or None)
    if hints and hints.get("format"):
        named = path.name in (hints.get("files") or ())  # the preset's own files (e.g. mrpc's .txt files are TSV)
        if fmt is None and path.is_file() and (kind == hints["format"] or (kind == "txt" and (path.suffix == "" or named)
                                                                          and hints["format"] in {"tsv", "csv"})):
            kind = hints["format"]
        else:
            hints = {}
    return kind, hints


def _read_rows(path: Path, kind: str, sep: str | None, hints: dict, labelset: LabelSet | None,
               split: str | None) -> tuple[list[str], list[dict], dict[str, list[str]]]:
    """(columns, rows, class names of ClassLabel columns) of the file read as ``kind``."""
    if sep not in (None, "none") and kind in {"csv", "tsv", "txt"}:
        return (*_rows_sep(path, sep), {})
    if kind in {"csv", "tsv"}:
        header = bool(hints.get("header", True))
        cols, rows = _rows_delimited(path, kind, header, hints.get("columns"))
        if len(cols) == 1 and sep is None:  # one column: maybe TEXT;LABEL lines under the wrong delimiter
            _refuse_label_suffix(path, _read_utf8(path).splitlines(), labelset, f"--format {kind}")
        return cols, rows, {}
    if kind == "jsonl":
        return (*_rows_jsonl(path), {})
    if kind == "txt":
        cols, rows = _rows_txt(path)
        if sep is None:
            _refuse_label_suffix(path, [r["text"] for r in rows], labelset, "plain text")
        return cols, rows, {}
    if not path.is_dir():
        raise UserError(f"{path} is not a directory (format 'dataset' needs a save_to_disk folder)")
    return _rows_dataset(path, split)


def _text_source(path: Path, cols: list[str], hints: dict, text_column: str | None) -> tuple[str | None, str | None]:
    """(the preset's text template, None) or (None, the text column)."""
    template = hints.get("text_template") if text_column is None else None
    if template:
        missing = [c for c in (s.split("}")[0] for s in template.split("{")[1:]) if c not in cols]
        if missing:
            raise UserError(f"{path.name}: preset text template needs columns {missing}")
        return template, None
    soft = (hints["text_column"],) if hints.get("text_column") in cols else ()
    tcol = _pick(cols, text_column, soft + TEXT_COLUMNS, "text", path)
    if tcol is None:
        if len(cols) == 1:
            tcol = cols[0]
        else:
            raise UserError(f"{path.name}: cannot tell the text column; pass --text-column (columns: {', '.join(map(str, cols))})")
    return None, tcol


def _label_column(path: Path, cols: list[str], hints: dict, label_column: str | None, labelset: LabelSet | None,
                  tcol: str | None) -> str | None:
    """The gold column: --label-column (``none`` for none), else a usual name when a label set is given."""
    if label_column is not None and label_column.strip().lower() in {"", "none", "-"}:
        return None
    if label_column is not None:
        return _pick(cols, label_column, (), "label", path)
    if labelset is None:
        return None
    soft = (hints["label_column"],) if hints.get("label_column") in cols else ()
    lcol = _pick(cols, None, soft + LABEL_COLUMNS, "label", path)
    return None if lcol == tcol else lcol


def _row_text(path: Path, n: int, row: dict, template: str | None, tcol: str | None, unescape: bool) -> str:
    """Row ``n``'s text (by the template or from the text column), stripped; a non-string is refused."""
    if template:
        try:
            t = template.format(**{k: ("" if v is None else str(v)) for k, v in row.items()})
        except (KeyError, IndexError, ValueError) as exc:
            raise UserError(f"{path.name}: bad preset text template ({exc})") from None
    else:
        t = row.get(tcol)
        if t is None:
            t = ""
        if not isinstance(t, str):  # a number, list or object is not a text (never its Python repr)
            kind_name = {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}.get(
                type(t), type(t).__name__)
            raise UserError(f"{path.name}: row {n + 1}: the text column {tcol!r} holds a {kind_name}, not a "
                            f"string")
    if unescape:
        t = t.replace("\\n", " ").replace("\\", " ")
    return t.strip()


def _pair_column(path: Path, cols: list[str], text_pair_column: str | None, tcol: str | None,
                 template: str | None) -> str | None:
    """The second text's column of a sentence-pair file (None: single texts)."""
    if text_pair_column is None:
        return None
    if template:
        raise UserError(f"{path.name}: a preset text template and a text pair column cannot be combined; "
                        f"pass --text-column")
    pcol = _pick(cols, text_pair_column, (), "text pair", path)
    if pcol == tcol:
        raise UserError(f"{path.name}: the text column and the text pair column are both {pcol!r}")
    return pcol


def _pair_text(path: Path, n: int, row: dict, text: str, pcol: str, tcol: str | None, unescape: bool) -> str:
    """Row ``n``'s two texts joined (``core.pairs.join_pair``); both empty: "" (skipped like an empty
    text); one of the two empty: a ``UserError`` naming the row and the column."""
    from core.pairs import join_pair

    second = _row_text(path, n, row, None, pcol, unescape)
    if not text and not second:
        return ""
    if not text or not second:
        missing = tcol if not text else pcol
        raise UserError(f"{path.name}: row {n + 1} is a sentence pair with one text missing (column {missing!r} is "
                        f"empty); both texts are needed")
    return join_pair(text, second)


def _row_gold(path: Path, n: int, row: dict, lcol: str, class_names: dict, labelset: LabelSet | None,
              label_sep: str | None = None):
    """Row ``n``'s gold label name (a ClassLabel index -> its name, normalised by the label set).
    With ``label_sep`` (multi-label) the column holds several labels (``2,27`` or a JSON list): a
    tuple of label names in label-set order, never empty."""
    raw = row.get(lcol)
    if raw is None or (isinstance(raw, str) and not raw.strip()) or (isinstance(raw, list) and not raw):
        raise UserError(f"{path.name}: row {n + 1} has an empty gold label in column {lcol!r}"
                        + (" (a multi-label row needs at least one label)" if label_sep else ""))
    if label_sep is not None:
        return _row_gold_set(path, n, raw, lcol, class_names, labelset, label_sep)
    if lcol in class_names and isinstance(raw, int) and 0 <= raw < len(class_names[lcol]):
        raw = class_names[lcol][raw]
    return labelset.normalize(raw) if labelset is not None else str(raw).strip()


def _row_gold_set(path: Path, n: int, raw, lcol: str, class_names: dict, labelset: LabelSet | None,
                  label_sep: str) -> tuple[str, ...]:
    """A multi-label gold cell -> the tuple of its label names (label-set order, no repeats)."""
    parts = raw if isinstance(raw, list) else str(raw).split(label_sep)
    names = []
    for part in parts:
        if isinstance(part, str) and not part.strip():
            raise UserError(f"{path.name}: row {n + 1}: an empty label in the label list {str(raw)[:60]!r} of "
                            f"column {lcol!r} (labels are separated by {label_sep!r})")
        if lcol in class_names and isinstance(part, int) and 0 <= part < len(class_names[lcol]):
            part = class_names[lcol][part]
        if labelset is None:
            names.append(str(part).strip())
            continue
        try:
            names.append(labelset.normalize(part))
        except UserError:
            raise UserError(f"{path.name}: row {n + 1}: label {str(part).strip()[:40]!r} (column {lcol!r}) is not in "
                            f"the label set ({', '.join(labelset.names)[:200]})") from None
    order = {name: i for i, name in enumerate(labelset.names)} if labelset is not None else {}
    return tuple(sorted(set(names), key=lambda x: (order.get(x, len(order)), x)))


def _subset(texts: list[str], gold: list[str] | None, ids: list[str], sample: int | None, seed: int,
            limit: int | None) -> tuple[list[str], list[str] | None, list[str]]:
    """``sample`` seeded random rows (kept in file order), then the first ``limit``."""
    if sample is not None and sample < len(texts):
        import numpy as np

        keep = sorted(np.random.default_rng(seed).choice(len(texts), size=sample, replace=False).tolist())
        texts = [texts[i] for i in keep]
        ids = [ids[i] for i in keep]
        if gold is not None:
            gold = [gold[i] for i in keep]
    if limit is not None:
        texts, ids = texts[:limit], ids[:limit]
        if gold is not None:
            gold = gold[:limit]
    return texts, gold, ids


def label_sep_hint(labelset: LabelSet | None) -> str:
    """The separator of a multi-label gold cell a preset names (``data.label_sep``; default ``,``)."""
    hints = labelset.data if labelset is not None and labelset.data else {}
    sep = hints.get("label_sep")
    return sep if isinstance(sep, str) and sep else ","


def pair_column_hint(labelset: LabelSet | None) -> str | None:
    """The second text's column a preset names (``data.text_pair_column``, e.g. mrpc's ``#2 String``)."""
    hints = labelset.data if labelset is not None and labelset.data else {}
    col = hints.get("text_pair_column")
    return col if isinstance(col, str) and col else None


def load_texts(
    path,
    text_column: str | None = None,
    label_column: str | None = None,
    labelset: LabelSet | None = None,
    fmt: str | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    split: str | None = None,
    id_column: str | None = None,
    sep: str | None = None,
    text_pair_column: str | None = None,
    label_sep: str | None = None,
) -> TextDataset:
    """Read texts (and optional gold labels) from ``path``; see the module docstring.

    ``sep``: the files are TEXT<sep>LABEL lines (or a ``sep``-delimited file with a header); ``"none"``
    keeps whole lines as texts. Without it a plain-text or one-column file whose lines all end in a
    separator plus a few short values is refused, naming the ``--sep`` that reads it.

    ``text_pair_column``: sentence pairs (``task: pairs``); each text is the row's two texts joined
    by ``core.pairs.PAIR_SEP``, and a row with one of the two texts empty is a ``UserError``.

    ``label_sep``: multi-label gold (``task: multilabel``); each gold value is a tuple of label
    names, read from a cell of labels joined by ``label_sep`` (or a JSON list); a label not in the
    set or an empty list is a ``UserError``."""
    path = Path(path).expanduser()
    sep = _check_args(path, sep, limit, sample)
    kind, hints = _format_and_hints(path, fmt, labelset)
    cols, rows, class_names = _read_rows(path, kind, sep, hints, labelset, split)
    template, tcol = _text_source(path, cols, hints, text_column)
    lcol = _label_column(path, cols, hints, label_column, labelset, tcol)
    pcol = _pair_column(path, cols, text_pair_column, tcol, template)
    icol = _pick(cols, id_column, ID_COLUMNS, "id", path) if (id_column or kind != "txt") else None
    if icol is not None and (icol in (tcol, lcol, pcol)):
        icol = None

    texts: list[str] = []
    gold: list[str] | None = [] if lcol is not None else None
    ids: list[str] = []
    unescape = bool(hints.get("unescape_newlines"))
    skip = {str(v) for v in hints.get("skip_labels") or ()}  # a preset's "no label" rows (ocnli: "-")
    for n, row in enumerate(rows):
        if skip and lcol is not None and str(row.get(lcol, "")).strip() in skip:
            continue
        t = _row_text(path, n, row, template, tcol, unescape)
        if pcol is not None:
            t = _pair_text(path, n, row, t, pcol, tcol, unescape)
        if not t:
            continue
        texts.append(t)
        if gold is not None:
            gold.append(_row_gold(path, n, row, lcol, class_names, labelset, label_sep))
        ids.append(str(row.get(icol)) if icol is not None else str(n))
    if icol is not None and len(set(ids)) != len(ids):
        ids = [str(i) for i in range(len(ids))]  # non-unique id column: fall back to row numbers
    if not texts:
        raise UserError(f"input file {path} has no non-empty texts")
    skipped = len(rows) - len(texts)
    texts, gold, ids = _subset(texts, gold, ids, sample, seed, limit)
    return TextDataset(
        texts=texts,
        gold=gold,
        ids=ids,
        text_column=tcol if not template else template,
        label_column=lcol,
        source=str(path),
        skipped_empty=skipped,
        text_pair_column=pcol,
    )
