"""``advisor gold-labels``: a plain gold file (``text,label``) as a labels.jsonl that
``advisor distill train`` fine-tunes on (one-hot probabilities, the gold label as the label).

This is how the ``bert`` recommendation fine-tunes an encoder on the user's own labels with the
toolkit's trainer: ``advisor distill train --labels OUT/labels.jsonl --alpha 0`` trains on hard
labels only (alpha 0: no soft KL term), so the result is ordinary supervised fine-tuning.
"""

from __future__ import annotations

from pathlib import Path

import click

from core.errors import UserError
from core.rundir import LABELS_FILE, LABELSET_FILE


def gold_rows(data, names: list[str]) -> list[dict]:
    rows = []
    for i, (text, label) in enumerate(zip(data.texts, data.gold)):
        rows.append({"id": data.ids[i], "text": text, "probs": {n: 1.0 if n == label else 0.0 for n in names},
                     "label": label, "confidence": 1.0, "source": "gold", "gold": label})
    return rows


@click.command("gold-labels")
@click.argument("gold", type=str)
@click.option("--out", "out_dir", required=True, help="Run directory: writes OUT/labels.jsonl and OUT/labelset.json.")
@click.option("--label-set", "label_set", default=None,
              help="Label names 'a,b,c', a .yaml/.json label file or a preset (default: the gold column's values, "
                   "in order of first appearance).")
@click.option("--text-column", default=None, help="Text column (default: text/sentence/... or the only column).")
@click.option("--label-column", default=None, help="Gold label column (default: label/labels/class/...).")
@click.option("--task", "task", type=click.Choice(["classification", "ner"]), default="classification",
              show_default=True, help="ner: GOLD is an entity file (CoNLL, CLUENER JSON, span JSON lines) and "
                                      "--label-set names the entity types; the rows carry its spans (p = 1).")
def gold_labels(gold: str, out_dir: str, label_set: str | None, text_column: str | None, label_column: str | None,
                task: str) -> None:
    """Turn a gold-labelled file (csv/tsv/jsonl with text and label) into labels.jsonl for fine-tuning.

    \b
    Example (fine-tune the embedded encoder on your own labels):
      advisor gold-labels my_gold.csv --out runs/bert
      advisor distill train --labels runs/bert/labels.jsonl --alpha 0 --out runs/bert
    Entities (the supervised reference of a task ner run):
      advisor gold-labels ../shared/data/wnut17/wnut17train.conll --task ner --label-set wnut17 --out runs/ner-gold
      advisor distill train --labels runs/ner-gold/labels.jsonl --task ner --alpha 0 --out runs/ner-gold
    """
    from core.atomic import write_json, write_jsonl
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    if task == "ner":
        _gold_spans(gold, out_dir, label_set)
        return

    labelset = LabelSet.from_spec(label_set) if label_set else None
    data = load_texts(gold, text_column=text_column, label_column=label_column or ("label" if labelset is None else None),
                      labelset=labelset)
    if data.gold is None:
        raise UserError(f"{gold} has no gold label column (pass --label-column)")
    if labelset is None:
        names = list(dict.fromkeys(data.gold))
        if len(names) < 2:
            raise UserError(f"{gold}: the label column has only one value ({names[0]!r}); a classifier needs at least two")
        labelset = LabelSet.from_spec(",".join(names))
    names = list(labelset.names)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    rows = gold_rows(data, names)
    write_jsonl(out / LABELS_FILE, rows)
    write_json(out / LABELSET_FILE, labelset.to_dict())
    counts = {n: sum(1 for r in rows if r["label"] == n) for n in names}
    click.echo(f"{len(rows)} gold rows ({', '.join(f'{n}: {c}' for n, c in counts.items())}) -> {out / LABELS_FILE}")


def _gold_spans(gold: str, out_dir: str, label_set: str | None) -> None:
    """Entity gold -> labels.jsonl rows with the gold spans at p = 1 (``task: ner``)."""
    from core.atomic import write_json, write_jsonl
    from core.rundir import TEACHER_FILE
    from distill.data.labelset import LabelSet
    from distill.data.ner import read_ner
    from distill.tasks.ner import span_rows

    if not label_set:
        raise UserError("--task ner needs --label-set: the entity types (a preset such as wnut17, or a list)")
    labelset = LabelSet.from_spec(label_set)
    data = read_ner(gold, labelset)
    if data.gold is None:
        raise UserError(f"{gold} holds no entity annotations")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    rows = span_rows(data.texts, data.gold, data.ids, source="gold", gold=data.gold)
    write_jsonl(out / LABELS_FILE, rows)
    write_json(out / LABELSET_FILE, labelset.to_dict())
    write_json(out / TEACHER_FILE, {"task": "ner", "teacher": {"kind": "gold"}, "data": {"source": str(gold)}})
    n = sum(map(len, data.gold))
    click.echo(f"{len(rows)} gold texts, {n} entities ({data.repaired} I- tags read as B-) -> {out / LABELS_FILE}")
