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
    """labels.jsonl rows with the gold as one-hot probabilities. A sentence pair keeps its two texts
    (``text``, ``text_pair``); a multi-label gold (a tuple of names) gives independent 0/1
    probabilities, the row's ``labels`` and, as ``label``, its first one."""
    from core.pairs import is_pair, split_pair

    rows = []
    for i, (text, label) in enumerate(zip(data.texts, data.gold)):
        row = {"id": data.ids[i], "text": text}
        if is_pair(text):
            row["text"], row["text_pair"] = split_pair(text)
        if isinstance(label, (tuple, list)):
            row.update(probs={n: 1.0 if n in label else 0.0 for n in names}, label=label[0], labels=list(label),
                       confidence=1.0, source="gold", gold=list(label))
        else:
            row.update(probs={n: 1.0 if n == label else 0.0 for n in names}, label=label, confidence=1.0,
                       source="gold", gold=label)
        rows.append(row)
    return rows


@click.command("gold-labels")
@click.argument("gold", type=str)
@click.option("--out", "out_dir", required=True, help="Run directory: writes OUT/labels.jsonl and OUT/labelset.json.")
@click.option("--label-set", "label_set", default=None,
              help="Label names 'a,b,c', a .yaml/.json label file or a preset (default: the gold column's values, "
                   "in order of first appearance).")
@click.option("--text-column", default=None, help="Text column (default: text/sentence/... or the only column).")
@click.option("--label-column", default=None, help="Gold label column (default: label/labels/class/...).")
@click.option("--text-pair-column", default=None,
              help="--task pairs: the second text's column (default: the label preset's, e.g. mrpc's).")
@click.option("--label-sep", default=None,
              help="--task multilabel: the separator of a gold cell's labels (default: the preset's, else ',').")
@click.option("--task", "task", type=click.Choice(["classification", "pairs", "multilabel", "ner"]),
              default="classification", show_default=True,
              help="pairs: rows of two texts; multilabel: each gold cell lists any number of labels (needs "
                   "--label-set); ner: GOLD is an entity file (CoNLL, CLUENER JSON, span JSON lines) and "
                   "--label-set names the entity types; the rows carry its spans (p = 1).")
def gold_labels(gold: str, out_dir: str, label_set: str | None, text_column: str | None, label_column: str | None,
                text_pair_column: str | None, label_sep: str | None, task: str) -> None:
    """Turn a gold-labelled file (csv/tsv/jsonl with text and label) into labels.jsonl for fine-tuning.

    \b
    Example (fine-tune the embedded encoder on your own labels):
      advisor gold-labels my_gold.csv --out runs/bert
      advisor distill train --labels runs/bert/labels.jsonl --alpha 0 --out runs/bert
    Entities (the supervised reference of a task ner run):
      advisor gold-labels ../shared/data/wnut17/wnut17train.conll --task ner --label-set wnut17 --out runs/ner-gold
      advisor distill train --labels runs/ner-gold/labels.jsonl --task ner --alpha 0 --out runs/ner-gold
    Sentence pairs and multi-label gold (the supervised references of those kinds):
      advisor gold-labels ../shared/data/mrpc/msr_paraphrase_train.txt --task pairs --label-set mrpc --label-column Quality --out runs/mrpc-gold
      advisor gold-labels ../shared/data/go_emotions/train.tsv --task multilabel --label-set go_emotions --out runs/go-gold
    """
    from core.atomic import write_json, write_jsonl
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet

    if task == "ner":
        _gold_spans(gold, out_dir, label_set)
        return

    from distill.data.reader import label_sep_hint, pair_column_hint

    labelset = LabelSet.from_spec(label_set) if label_set else None
    if task == "multilabel" and labelset is None:
        raise UserError("--task multilabel needs --label-set: the labels a gold cell may list (a preset such as "
                        "go_emotions, or a list)")
    if task == "pairs":
        text_pair_column = text_pair_column or pair_column_hint(labelset)
        if not text_pair_column:
            raise UserError("--task pairs needs --text-pair-column: the second text's column")
    elif text_pair_column:
        raise UserError("--text-pair-column is for --task pairs")
    if label_sep and task != "multilabel":
        raise UserError("--label-sep is for --task multilabel")
    data = load_texts(gold, text_column=text_column, label_column=label_column or ("label" if labelset is None else None),
                      labelset=labelset, text_pair_column=text_pair_column,
                      label_sep=(label_sep or label_sep_hint(labelset)) if task == "multilabel" else None)
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
    _teacher_json(out, task, gold)
    counts = {n: sum(1 for r in rows if n in r.get("labels", [r["label"]])) for n in names}
    click.echo(f"{len(rows)} gold rows ({', '.join(f'{n}: {c}' for n, c in counts.items())}) -> {out / LABELS_FILE}")


def _gold_spans(gold: str, out_dir: str, label_set: str | None) -> None:
    """Entity gold -> labels.jsonl rows with the gold spans at p = 1 (``task: ner``)."""
    from core.atomic import write_json, write_jsonl
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
    _teacher_json(out, "ner", gold)
    n = sum(map(len, data.gold))
    click.echo(f"{len(rows)} gold texts, {n} entities ({data.repaired} I- tags read as B-) -> {out / LABELS_FILE}")


def _teacher_json(out: Path, task: str, gold: str) -> None:
    """teacher.json beside the rows: the task kind they were made for (the train stage checks it)
    and a ``gold`` teacher (evaluation then shows no teacher row: there is none to re-run)."""
    from core.atomic import write_json
    from core.rundir import TEACHER_FILE

    write_json(out / TEACHER_FILE, {"task": task, "teacher": {"kind": "gold"}, "data": {"source": str(gold)}})
