"""Entity (``ner``) evaluation on a gold file: the student's spans (and the teacher's, from a
labels.jsonl of the gold texts) against the gold spans, entity-level precision/recall/F1 with
seqeval's exact-match convention, overall and per type; RUN_DIR/metrics.json + report.md.

The teacher's spans come from ``--teacher-labels`` (an entity labels.jsonl made by ``advisor distill
label --task ner`` on the gold file; rows matched by text), else from the run's own labels.jsonl when
it holds every gold text; without either the report has no teacher row.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from core.atomic import write_json, write_text
from core.errors import UserError
from core.rundir import LABELS_FILE
from distill.defaults import MAX_POSITIONS
from distill.tasks import get_task


def _teacher_spans(path: Path, texts: list[str], required: bool):
    """Per gold text, the teacher's spans from an entity labels.jsonl (None if it lacks texts and
    is not ``required``)."""
    from distill.tasks.ner import read_ner_labels

    rows = read_ner_labels(path)
    by_text = {t: [(s[0], s[1], s[2]) for s in sp] for t, sp in zip(rows.texts, rows.spans)}
    missing = sum(1 for t in texts if t not in by_text)
    if missing:
        if required:
            raise UserError(f"teacher labels file {path} lacks {missing} of the {len(texts)} gold texts; label the "
                            f"gold file itself with `advisor distill label --task ner`")
        return None
    return [by_text[t] for t in texts]


def evaluate_ner(run_dir, gold, labelset, *, limit: int | None = None, teacher_labels=None, batch_size: int = 32,
                 progress: bool = True) -> dict:
    """The entity evaluation of RUN_DIR/student (``distill.evaluation.evaluate.evaluate_run`` calls it
    for a ``ner`` student, with the run's label set: the entity types)."""
    from core.rundir import read_state
    from distill.data.ner import read_ner
    from distill.tasks.ner import load_tagger, predict_spans

    run_dir = Path(run_dir)
    student_dir = run_dir / "student"
    ls = labelset
    ds = read_ner(gold, ls, limit=limit)
    if ds.gold is None:
        raise UserError(f"gold file {gold} holds no entity annotations")
    kind = get_task("ner")
    model, tok = load_tagger(student_dir)
    max_len = int(min(getattr(tok, "model_max_length", 128) or 128, MAX_POSITIONS))
    t0 = time.perf_counter()
    pred = predict_spans(model, tok, ds.texts, max_length=max_len, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    systems = {"student": {**kind.metrics(ds.gold, [[(s["start"], s["end"], s["type"]) for s in p] for p in pred],
                                          ls.names),
                           "texts_per_second": len(ds.texts) / max(seconds, 1e-9),
                           "size_mb": sum(f.stat().st_size for f in student_dir.glob("*.safetensors")) / 1e6}}
    teacher_source = None
    spans = None
    if teacher_labels is not None:
        spans = _teacher_spans(Path(teacher_labels), ds.texts, required=True)
        teacher_source = f"labels file {teacher_labels}"
    else:
        info = read_state(run_dir / "train.json", "run file") if (run_dir / "train.json").is_file() else None
        own = Path((info if isinstance(info, dict) else {}).get("labels_file") or run_dir / LABELS_FILE)
        if own.is_file():
            spans = _teacher_spans(own, ds.texts, required=False)
            teacher_source = f"the run's labels {own}" if spans is not None else None
    if spans is not None:
        systems = {"teacher": kind.metrics(ds.gold, spans, ls.names), **systems}
    ev = {"task": "ner", "run_dir": str(run_dir), "gold_file": str(gold), "n": len(ds.texts), "labels": ls.names,
          "gold_entities": {t: sum(1 for g in ds.gold for s in g if s[2] == t) for t in ls.names},
          "repaired_tags": ds.repaired, "teacher_source": teacher_source, "systems": systems,
          "examples": [{"text": t, "gold": [[s[0], s[1], s[2], t[s[0]:s[1]]] for s in g],
                        "student": [[s["start"], s["end"], s["type"], t[s["start"]:s["end"]]] for s in p]}
                       for t, g, p in list(zip(ds.texts, ds.gold, pred))[:20]]}
    ev["table"] = ner_table(ev)
    write_json(run_dir / "metrics.json", ev)
    write_text(run_dir / "report.md", ner_report(ev))
    return ev


def ner_table(ev: dict) -> list[str]:
    lines = [f"entity-level scores on {ev['n']} gold texts ({sum(ev['gold_entities'].values())} entities; exact span "
             f"and type, seqeval's convention)",
             f"{'system':<10} {'precision':>9} {'recall':>7} {'F1':>7} {'predicted':>9}"]
    for name, m in ev["systems"].items():
        lines.append(f"{name:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} {m['entities_pred']:>9}")
    return lines


def ner_report(ev: dict) -> str:
    lines = ["# Entity evaluation", "", f"Gold file `{ev['gold_file']}` ({ev['n']} texts). Teacher: "
             f"{ev['teacher_source'] or 'not available (pass --teacher-labels)'}.", "", "```", *ev["table"], "```", "",
             "## Per type (F1, support)", "", "| type | support | " + " | ".join(ev["systems"]) + " |",
             "|---|---:|" + "---:|" * len(ev["systems"])]
    for t in ev["labels"]:
        lines.append(f"| {t} | {ev['gold_entities'].get(t, 0)} | "
                     + " | ".join(f"{m['per_type'].get(t, {}).get('f1', 0.0):.3f}" for m in ev["systems"].values())
                     + " |")
    lines += ["", "## Examples (first 20)", ""]
    for ex in ev["examples"]:
        lines.append(f"- {json.dumps(ex['text'], ensure_ascii=False)[:200]}")
        lines.append(f"  - gold: {', '.join(f'{s[3]} ({s[2]})' for s in ex['gold']) or '-'}")
        lines.append(f"  - student: {', '.join(f'{s[3]} ({s[2]})' for s in ex['student']) or '-'}")
    return "\n".join(lines) + "\n"
