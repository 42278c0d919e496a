"""The labelling run of the entity kind (``task: ner``): the teacher GENERATES its answer (a list of
typed mentions, :class:`distill.teachers.prompts.SpanPrompt`), read strictly by
:func:`distill.teachers.spans.parse_span_answer` into char spans with a confidence each.

The raw generations (answer, tokens, log-probabilities) are cached in ``RUN_DIR/cache.sqlite``
(the same cache and key as the scoring teachers: teacher fingerprint, prompt hash, text hash), one
committed row per answer the moment it arrives, so a run killed with ``kill -9`` and started again
sends no text twice; parsing is redone from the cache on every run (changing the parser relabels
nothing). Writes labels.jsonl (``{"id", "text", "spans": [{"start", "end", "type", "text", "p"}],
"source"}`` + ``gold_spans`` when the pool has gold), labelset.json, teacher.json and
teacher_report.md (what was dropped while parsing; with gold, the teacher's entity F1).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from core.atomic import write_json, write_jsonl, write_text
from core.errors import UserError
from core.rundir import LABELS_FILE, LABELSET_FILE, TEACHER_FILE, check_run_inputs, run_identity, run_lock
from distill.labeling.cache import LabelCache, text_hash
from distill.labeling.labeler import CACHE_NAME, LabelingResult, score_through_cache
from distill.teachers.base import Scored


class SpanTeacher:
    """A loaded teacher (llama.cpp, server or local transformers) asked for generated entity lists:
    what :func:`distill.labeling.labeler.score_through_cache` needs (fingerprint, prompt, score_each),
    with each answer stored as a ``Scored`` whose ``answer`` holds the raw generation as JSON."""

    def __init__(self, inner, prompt, max_tokens: int = 256):
        if not hasattr(inner, "generate"):
            raise UserError(f"the {inner.kind} teacher cannot generate text; task ner needs a GPT teacher "
                            f"(a GGUF file, a local causal LM directory or an OpenAI-compatible server)")
        self.inner = inner
        self.prompt = prompt
        self.max_tokens = int(max_tokens)
        inner.prompt = prompt  # the backends render ``prompt.messages(text)`` with their chat template
        self.fingerprint = inner.fingerprint
        self.kind = inner.kind

    def score_each(self, texts: list[str], sink) -> None:
        for i, t in enumerate(texts):
            answer, tokens, logprobs = self.inner.generate(t, self.max_tokens)
            raw = {"answer": answer, "tokens": tokens, "logprobs": logprobs}
            sink(i, Scored(np.zeros(0), "generated", json.dumps(raw, ensure_ascii=False)))

    def describe(self) -> dict:
        return {**self.inner.describe(), "generation": {"temperature": 0, "max_tokens": self.max_tokens}}


def label_spans(data, labelset, teacher, out, *, language: str = "en", chunk_size: int = 16, progress: bool = True,
                echo: Callable[[str], None] | None = None, max_tokens: int = 256) -> LabelingResult:
    """Label the entity dataset ``data`` (``distill.data.ner.NerDataset``) with ``teacher`` into ``out``."""
    from distill.teachers.prompts import SpanPrompt

    echo = echo or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    identity = run_identity(data.source, labelset.names) if data.source else None
    if identity is not None:
        check_run_inputs(out, identity)
    span_teacher = SpanTeacher(teacher, SpanPrompt(labelset, language=language), max_tokens=max_tokens)
    with run_lock(out, "advisor distill label"):
        echo(f"teacher {teacher.kind} {teacher.fingerprint}, entity prompt ({language}), generating at "
             f"temperature 0")
        with LabelCache(out / CACHE_NAME) as cache:
            got, n_cached, n_new = score_through_cache(span_teacher, cache, data.texts, chunk_size, progress)
            cache.set_meta("last_run", {"teacher": teacher.fingerprint, "prompt": span_teacher.prompt.hash,
                                        "time": time.time()})
        return _write(data, labelset, span_teacher, got, n_cached, n_new, out, identity)


def _write(data, labelset, span_teacher, got, n_cached, n_new, out: Path, identity) -> LabelingResult:
    from distill.evaluation.metrics import entity_metrics
    from distill.tasks.ner import span_rows
    from distill.teachers.spans import COUNTERS, parse_span_answer

    totals = {k: 0 for k in COUNTERS}
    spans, with_logprobs = [], 0
    for t in data.texts:
        raw = json.loads(got[text_hash(t)].answer or "{}")
        sp, counts = parse_span_answer(raw.get("answer") or "", t, labelset, raw.get("tokens"), raw.get("logprobs"))
        with_logprobs += bool(raw.get("logprobs"))
        for k, v in counts.items():
            totals[k] += v
        spans.append(sp)
    rows = span_rows(data.texts, spans, data.ids, source="teacher", gold=data.gold)
    for row, t in zip(rows, data.texts):
        row["answer"] = (json.loads(got[text_hash(t)].answer or "{}").get("answer") or "")[:300]
    write_jsonl(out / LABELS_FILE, rows)
    write_json(out / LABELSET_FILE, labelset.to_dict())
    conf = [s[3] for sp in spans for s in sp]
    report = {"task": "ner", "texts": len(rows), "spans": sum(map(len, spans)), "parse": totals,
              "answers_with_logprobs": with_logprobs, "mean_confidence": float(np.mean(conf)) if conf else None,
              "texts_without_entities": sum(1 for sp in spans if not sp),
              "per_type": {n: sum(1 for sp in spans for s in sp if s[2] == n) for n in labelset.names},
              "sources": {"generated": len(rows)}}
    if data.gold is not None:
        m = entity_metrics(data.gold, [[s[:3] for s in sp] for sp in spans], labelset.names)
        report["gold"] = {k: m[k] for k in ("precision", "recall", "f1", "entities_gold", "entities_pred",
                                            "entities_correct", "n")}
        report["gold"]["per_type_f1"] = {t: v["f1"] for t, v in m["per_type"].items()}
    meta = {"task": "ner", "teacher": span_teacher.describe(), "fingerprint": span_teacher.fingerprint,
            "prompt_hash": span_teacher.prompt.hash, "prompt": span_teacher.prompt.to_dict(),
            "prompt_example": span_teacher.prompt.example(), "template": span_teacher.prompt.template,
            "calibration": {"method": "none"}, "report": report,
            "data": {"source": data.source, "format": getattr(data, "format", None), "rows": len(rows),
                     "repaired_tags": getattr(data, "repaired", 0)},
            "run_identity": identity}
    write_json(out / TEACHER_FILE, meta)
    write_text(out / "teacher_report.md", _report_md(report, meta))
    uniq = len({text_hash(t) for t in data.texts})
    return LabelingResult(n_rows=len(rows), n_unique=uniq, n_cached=n_cached, n_scored=n_new,
                          template=span_teacher.prompt.template, calibration={"method": "none"}, report=report,
                          out_dir=out, teacher_kind=span_teacher.kind)


def _report_md(rep: dict, meta: dict) -> str:
    p = rep["parse"]
    lines = ["# Teacher report (entities)", "", f"Teacher: `{meta['fingerprint']}` ({meta['teacher'].get('kind')}); "
             f"prompt `{meta['prompt_hash']}`.", "",
             f"- texts: {rep['texts']}; spans kept: {rep['spans']} ({rep['texts_without_entities']} texts without any)",
             f"- mentions read: {p['mentions']}; dropped: {p['invalid_lines']} unreadable lines, {p['unknown_type']} "
             f"with a type outside the set, {p['not_in_text']} not found in the text, {p['overlapping']} overlapping",
             f"- answers with log-probabilities: {rep['answers_with_logprobs']}; mean span confidence "
             + ("n/a" if rep["mean_confidence"] is None else f"{rep['mean_confidence']:.3f}"),
             "- spans per type: " + ", ".join(f"{k} {v}" for k, v in rep["per_type"].items())]
    if rep.get("gold"):
        g = rep["gold"]
        lines.append(f"- against gold: entity precision {g['precision']:.3f}, recall {g['recall']:.3f}, F1 "
                     f"{g['f1']:.3f} ({g['entities_correct']} of {g['entities_gold']} gold entities found exactly)")
    lines += ["", "## The prompt", "", "```", meta["prompt_example"], "```"]
    return "\n".join(lines) + "\n"


def span_lines(res, out) -> list[str]:
    """What an entity labelling run did, in the lines the commands print."""
    rep = res.report
    p = rep["parse"]
    lines = [f"labelled {res.n_rows} texts ({res.n_unique} unique: {res.n_cached} from the cache, {res.n_scored} "
             f"generated now) -> {Path(out) / LABELS_FILE}",
             f"{rep['spans']} spans; dropped {p['invalid_lines']} unreadable lines, {p['unknown_type']} unknown types, "
             f"{p['not_in_text']} mentions not in the text, {p['overlapping']} overlapping"]
    if rep.get("gold"):
        g = rep["gold"]
        lines.append(f"teacher entity F1 vs gold: {g['f1']:.3f} (precision {g['precision']:.3f}, recall "
                     f"{g['recall']:.3f}, n={g['n']})")
    lines.append(f"report: {Path(out) / 'teacher_report.md'}")
    return lines
