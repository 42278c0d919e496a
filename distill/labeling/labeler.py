"""A labelling run: data -> prompt (optionally selected on a gold dev set) -> teacher -> cache ->
``labels.jsonl`` + ``labelset.json`` + ``teacher.json`` + the teacher report.

Resumable: raw teacher outputs go to ``RUN_DIR/cache.sqlite`` in committed batches; a second run
(after a crash or ``kill -9``) sends only the texts not yet stored. Duplicate texts are scored once.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.atomic import write_json, write_jsonl
from core.errors import UserError
from core.pairs import row_fields
from distill.labeling.cache import LabelCache, text_hash
from distill.data.reader import TextDataset
from distill.data.labelset import LabelSet
from distill.labeling.gate import GateConfig
from distill.tasks import DEFAULT_TASK, TaskKind, get_task
from distill.teachers.prompts import CALIBRATIONS, TEMPLATES, Calibrator, Shot, detect_language
from core.rundir import LABELS_FILE, LABELSET_FILE, TEACHER_FILE, check_run_inputs, run_identity, run_lock
from distill.teachers.base import Scored, Teacher

CACHE_NAME = "cache.sqlite"


@dataclass
class LabelingConfig:
    template: str | None = None  # None: the teacher's current prompt template (default "field")
    select_prompt: bool = False  # try every template on the gold dev set, keep the best
    candidates: tuple[str, ...] = tuple(TEMPLATES)
    dev_size: int = 200  # gold rows taken from the input for --select-prompt when no --dev file
    shots: tuple[Shot, ...] = ()
    calibrate: str = "none"  # none | content-free | pool-mean | auto (only with select_prompt: try all)
    chunk_size: int = 64  # texts per teacher call / per committed cache transaction
    seed: int = 0
    progress: bool = True
    language: str = "auto"  # prompt language: en | zh | auto (from the texts)
    gate: GateConfig = field(default_factory=GateConfig)
    task: str = DEFAULT_TASK  # the task kind (distill.tasks): the prompt and how scores become labels


@dataclass
class LabelingResult:
    n_rows: int
    n_unique: int
    n_cached: int  # unique texts found in the cache at the start
    n_scored: int  # unique texts sent to the teacher in this run
    template: str
    calibration: dict
    selection: list[dict] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    out_dir: Path | None = None
    gate: dict | None = None
    teacher_kind: str | None = None  # local, llama-cpp, server, classifier


def score_through_cache(teacher: Teacher, cache: LabelCache, texts: list[str], chunk_size: int = 64,
                        progress: bool = True, desc: str = "labelling") -> tuple[dict[str, Scored], int, int]:
    """Raw outputs for every distinct text, from the cache or the teacher (then stored).

    Returns (hash -> Scored, number found cached, number scored now).
    """
    fp, ph = teacher.fingerprint, teacher.prompt.hash
    uniq: dict[str, str] = {}
    for t in texts:
        uniq.setdefault(text_hash(t), t)
    have = cache.get_many(fp, ph, uniq)
    n_cached = len(have)
    missing = sorted(((h, t) for h, t in uniq.items() if h not in have), key=lambda ht: len(ht[1]))
    bar = None
    if progress and missing:
        from tqdm import tqdm

        bar = tqdm(total=len(uniq), initial=n_cached, unit="text", desc=desc, file=sys.stderr, dynamic_ncols=True,
                   smoothing=0.1, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                   "[{elapsed}<{remaining}, {rate_fmt}]")
    try:
        for s in range(0, len(missing), chunk_size):
            part = missing[s : s + chunk_size]

            def arrived(i: int, r: Scored, part=part) -> None:
                # every answer is cached the moment it arrives: a failure of its neighbours (or a
                # kill) cannot lose an answer already paid for
                h = part[i][0]
                cache.put_many(fp, ph, [(h, r)])
                have[h] = r
                if bar is not None:
                    bar.update(1)

            teacher.score_each([t for _, t in part], arrived)
            lost = [t for h, t in part if h not in have]
            if lost:
                raise RuntimeError(f"teacher returned no result for {len(lost)} of {len(part)} texts")
    finally:
        if bar is not None:
            bar.close()
    return have, n_cached, len(missing)


def _accuracy(labelset: LabelSet, res: list[Scored], calib: Calibrator, gold: list[str], kind: TaskKind) -> float:
    pred = _predict(labelset, res, calib, kind)
    return float(np.mean([p == g for p, g in zip(pred, gold)])) if gold else 0.0


def _fit_calibration(teacher: Teacher, method: str, raw_scored: list[np.ndarray], kind: TaskKind | None = None) -> Calibrator:
    return get_task(kind).fit_calibration(teacher, method, raw_scored)


def score_texts(kind: TaskKind, labelset: LabelSet, teacher: Teacher, cache: LabelCache, texts: list[str],
                chunk_size: int = 64, progress: bool = True, desc: str = "labelling") -> tuple[dict[str, Scored], int, int]:
    """:func:`score_through_cache` for a task kind that asks the teacher several questions per text
    (multilabel: one per label): every question is scored and cached on its own, then each text's
    answers are combined (``kind.combine``). Returns (text hash -> Scored, texts fully cached,
    texts with a question scored now)."""
    uniq = list(dict.fromkeys(texts))
    asked = {t: kind.questions(t, labelset) for t in uniq}
    if all(q == [t] for t, q in asked.items()):
        return score_through_cache(teacher, cache, texts, chunk_size, progress, desc)
    flat = [q for qs in asked.values() for q in qs]
    have = cache.get_many(teacher.fingerprint, teacher.prompt.hash, [text_hash(q) for q in flat])
    n_cached = sum(all(text_hash(q) in have for q in qs) for qs in asked.values())
    got, _, _ = score_through_cache(teacher, cache, flat, chunk_size, progress, f"{desc} (questions)")
    out = {text_hash(t): kind.combine([got[text_hash(q)] for q in qs]) for t, qs in asked.items()}
    return out, n_cached, len(uniq) - n_cached


def select_prompt(teacher: Teacher, cache: LabelCache, labelset: LabelSet, dev: TextDataset, cfg: LabelingConfig,
                  echo: Callable[[str], None]) -> list[dict]:
    """Score every candidate template on the gold dev set; leave the best one on the teacher.

    With ``cfg.calibrate == "auto"`` each template is also tried with every calibration (free:
    the raw dev scores are reused), and ``cfg.calibrate`` is set to the winner's.
    """
    if not dev.gold:
        raise UserError("--select-prompt needs gold labels: a --label-column in the input or a --dev FILE")
    methods = list(CALIBRATIONS) if cfg.calibrate == "auto" else [cfg.calibrate]
    kind = get_task(cfg.task)
    results = []
    echo(f"selecting a prompt on {len(dev.texts)} gold dev texts ({len(cfg.candidates)} templates, "
         f"{len(cfg.shots)} shots, calibration {' / '.join(methods)})")
    for name in cfg.candidates:
        teacher.set_prompt(kind.prompt(labelset, name, shots=cfg.shots, language=cfg.language))
        t0 = time.perf_counter()
        got, _, n_new = score_texts(kind, labelset, teacher, cache, dev.texts, cfg.chunk_size, cfg.progress, desc=f"  {name}")
        res = [got[text_hash(t)] for t in dev.texts]
        abst = sum(r.source == "abstained" for r in res)
        accs = {}
        for method in methods:
            calib = _fit_calibration(teacher, method, [r.probs for r in res if r.source == "scored"], kind)
            accs[method] = _accuracy(labelset, res, calib, dev.gold, kind)
            results.append({"template": name, "calibration": method, "accuracy": accs[method], "abstained": abst,
                            "prompt_hash": teacher.prompt.hash})
        dt = time.perf_counter() - t0
        echo(f"  template {name:<15} " + "  ".join(f"{m} {a:6.1%}" for m, a in accs.items())
             + (f"  abstained {abst}" if abst else "")
             + (f"  ({n_new / dt:.1f} texts/s)" if n_new and dt > 0 else "  (cached)"))
    best = max(results, key=lambda r: r["accuracy"])  # first of equals: candidate order, "none" first
    teacher.set_prompt(kind.prompt(labelset, best["template"], shots=cfg.shots, language=cfg.language))
    cfg.calibrate = best["calibration"]
    echo(f"selected template {best['template']}, calibration {best['calibration']} "
         f"({best['accuracy']:.1%} on the dev set)")
    return results


def make_rows(data: TextDataset, labelset: LabelSet, got: dict[str, Scored], calib: Calibrator,
              kind: TaskKind | str | None = None) -> list[dict]:
    """The labels.jsonl rows: the task kind's label distribution of each teacher answer."""
    kind = get_task(kind)
    rows = []
    names = labelset.names
    for i, (rid, text) in enumerate(zip(data.ids, data.texts)):
        r = got[text_hash(text)]
        p = kind.distribution(r, calib)
        row: dict = {"id": rid, **row_fields(text), "probs": {n: round(float(x), 6) for n, x in zip(names, p)}}
        if r.source == "abstained":
            row.update(label=None, confidence=None, source="abstained")
        else:
            row.update(**kind.row_label(p, names), source=r.source)
        if r.answer is not None and r.source != "scored":
            row["answer"] = r.answer[:200]
        if r.source == "abstained" and getattr(r, "reason", None):
            row["reason"] = r.reason
        if data.gold is not None:
            row["gold"] = list(data.gold[i]) if isinstance(data.gold[i], tuple) else data.gold[i]
        rows.append(row)
    return rows


def _predict(labelset: LabelSet, res: list[Scored], calib: Calibrator, kind: TaskKind) -> list[str | None]:
    return [None if r.source == "abstained" else labelset.names[int(np.argmax(kind.distribution(r, calib)))]
            for r in res]


def run_gate(teacher: Teacher, cache: LabelCache, labelset: LabelSet, data: TextDataset, gold: TextDataset | None,
             cfg: LabelingConfig, echo: Callable[[str], None]) -> dict:
    """The teacher quality gate's figures (``distill.labeling.gate``), measured through the labelling cache."""
    from distill.labeling.gate import gold_gate, nogold_gate, second_template

    from distill.labeling.gate import MIN_TEXTS

    g = cfg.gate
    kind = get_task(cfg.task)
    if kind.multi_label:  # the gate's figures (accuracy, kappa against a second template) are single-label
        rep = {"mode": "skipped", "n": 0, "labels": len(labelset), "passed": None, "source": "skipped",
               "reason": f"not measured for task {kind.name} (the gate judges single-label answers)",
               "template": teacher.prompt.template, "calibration": cfg.calibrate}
        echo(f"teacher gate: no verdict ({rep['reason']})")
        return rep
    rng = np.random.default_rng(g.seed)
    if gold is None and data.gold is not None:
        gold = data
    pool = gold.texts if gold is not None and gold.gold else list(dict.fromkeys(data.texts))
    if min(g.size, len(pool)) < MIN_TEXTS:  # too few to judge: report it, spend no teacher time
        rep = {"mode": "gold" if gold is not None and gold.gold else "no-gold", "n": min(g.size, len(pool)),
               "labels": len(labelset), "passed": None,
               "reason": f"only {min(g.size, len(pool))} texts available (< {MIN_TEXTS}): too few to judge, not measured",
               "source": "skipped", "template": teacher.prompt.template, "calibration": cfg.calibrate}
        echo(f"teacher gate: no verdict ({rep['reason']})")
        return rep
    if gold is not None and gold.gold:
        idx = sorted(rng.choice(len(gold.texts), size=min(g.size, len(gold.texts)), replace=False).tolist())
        texts, golds = [gold.texts[i] for i in idx], [gold.gold[i] for i in idx]
        got, _, _ = score_texts(kind, labelset, teacher, cache, texts, cfg.chunk_size, cfg.progress, desc="teacher gate")
        res = [got[text_hash(t)] for t in texts]
        calib = _fit_calibration(teacher, cfg.calibrate, [r.probs for r in res if r.source == "scored"], kind)
        rep = gold_gate(golds, _predict(labelset, res, calib, kind), labelset.names, g)
        rep["source"] = gold.source or "gold rows of the input"
    else:
        uniq = list(dict.fromkeys(data.texts))
        idx = sorted(rng.choice(len(uniq), size=min(g.size, len(uniq)), replace=False).tolist())
        texts = [uniq[i] for i in idx]

        def scored(desc):
            got, _, _ = score_texts(kind, labelset, teacher, cache, texts, cfg.chunk_size, cfg.progress, desc=desc)
            res = [got[text_hash(t)] for t in texts]
            calib = _fit_calibration(teacher, cfg.calibrate, [r.probs for r in res if r.source == "scored"], kind)
            keep = [r.source != "abstained" for r in res]
            probs = np.stack([kind.distribution(r, calib) for r in res])
            return probs, np.array(keep)

        probs, keep = scored("teacher gate")
        probs2, second = None, None
        if teacher.kind != "classifier":
            first = teacher.prompt
            second = second_template(first.template)
            teacher.set_prompt(kind.prompt(labelset, second, shots=first.shots, language=first.language))
            try:
                probs2, keep2 = scored(f"teacher gate ({second})")
            finally:
                teacher.set_prompt(first)
            keep = keep & keep2
            probs2 = probs2[keep]
        rep = nogold_gate(probs[keep], probs2, labelset.names, g, second)
        rep["source"] = "a sample of the input (no gold labels)"
    rep["template"] = teacher.prompt.template if teacher.kind != "classifier" else None
    rep["calibration"] = cfg.calibrate
    verdict = {True: "passed", False: "FAILED", None: "no verdict"}[rep["passed"]]
    echo(f"teacher gate {verdict}: {rep['reason']}")
    return rep


def dev_sample(data, cfg: LabelingConfig):
    """The gold rows --select-prompt scores when no --dev file is given: a seeded sample of at most
    ``dev_size`` rows of the labelled input."""
    if data.gold is None:
        raise UserError("--select-prompt needs gold labels: a --label-column in the input or a --dev FILE")
    n = min(cfg.dev_size, len(data.texts))
    idx = sorted(np.random.default_rng(cfg.seed).choice(len(data.texts), size=n, replace=False).tolist())
    return TextDataset([data.texts[i] for i in idx], [data.gold[i] for i in idx], [data.ids[i] for i in idx])


def label_dataset(data: TextDataset, labelset: LabelSet, teacher: Teacher, out_dir, cfg: LabelingConfig | None = None,
                  dev: TextDataset | None = None, echo: Callable[[str], None] | None = None,
                  report: bool = True, gold: TextDataset | None = None) -> LabelingResult:
    """Label ``data`` with ``teacher`` into ``out_dir`` (see the module docstring).

    ``gold``: labelled texts for the teacher gate (default: the gold rows of ``data``, if any).
    """
    cfg = cfg or LabelingConfig()
    echo = echo or (lambda s: print(s, file=sys.stderr))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    if cfg.chunk_size < 1:
        raise UserError("chunk size must be positive")
    identity = run_identity(data.source, labelset.names) if data.source else None
    if identity is not None:
        check_run_inputs(out, identity)  # another run's labels are never overwritten silently
    with run_lock(out, "advisor distill label"):  # one writer per run directory
        return _label_locked(data, labelset, teacher, out, cfg, dev, echo, report, identity, gold)


def _label_locked(data, labelset, teacher, out: Path, cfg: LabelingConfig, dev, echo, report: bool,
                  identity: dict | None, gold: TextDataset | None) -> LabelingResult:
    if cfg.calibrate == "auto" and not cfg.select_prompt:
        cfg.calibrate = "none"
    template = cfg.template or teacher.prompt.template
    if cfg.language == "auto":
        cfg.language = detect_language(data.texts)
    kind = get_task(cfg.task)
    if cfg.select_prompt and kind.multi_label:
        raise UserError(f"--select-prompt is not supported for task {kind.name} (it ranks templates by single-label "
                        f"accuracy); pick a --template")
    teacher.set_prompt(kind.prompt(labelset, template, shots=cfg.shots, language=cfg.language))
    selection: list[dict] = []
    dev_ids: list[str] = []
    with LabelCache(out / CACHE_NAME) as cache:
        if cfg.select_prompt:
            if dev is None:
                dev = dev_sample(data, cfg)
                dev_ids = list(dev.ids)
            selection = select_prompt(teacher, cache, labelset, dev, cfg, echo)
        if teacher.kind == "classifier":
            echo(f"teacher classifier {teacher.fingerprint} (an encoder classifier: no prompt)")
        else:
            echo(f"teacher {teacher.kind} {teacher.fingerprint}, template {teacher.prompt.template}"
                 + (f" ({teacher.prompt.language})" if teacher.prompt.language != "en" else "")
                 + f", {len(cfg.shots)} shots, calibration {cfg.calibrate}")
        gate = None
        if cfg.gate.enabled:
            gate = run_gate(teacher, cache, labelset, data, gold, cfg, echo)
            write_json(out / "teacher_gate.json", gate)
            if gate["passed"] is False and not cfg.gate.accept_weak:
                from distill.labeling.gate import message

                raise UserError(message(gate))
        got, n_cached, n_scored = score_texts(kind, labelset, teacher, cache, data.texts, cfg.chunk_size, cfg.progress)
        uniq = {text_hash(t) for t in data.texts}
        scored_raw = [got[h].probs for h in uniq if got[h].source == "scored"]
        calib = _fit_calibration(teacher, cfg.calibrate, scored_raw, kind)
        cache.set_meta("last_run", {"teacher": teacher.fingerprint, "prompt": teacher.prompt.hash, "time": time.time()})
    rows = make_rows(data, labelset, got, calib, get_task(cfg.task))
    write_jsonl(out / LABELS_FILE, rows)
    write_json(out / LABELSET_FILE, labelset.to_dict())
    teacher_meta = {
        "task": get_task(cfg.task).name,
        "teacher": teacher.describe(),
        "fingerprint": teacher.fingerprint,
        "prompt_hash": teacher.prompt.hash,
        "prompt": teacher.prompt.to_dict(),
        "prompt_example": teacher.prompt.example(),
        "template": teacher.prompt.template,
        "calibration": calib.to_dict(),
        "selection": selection,
        "selection_dev_ids": dev_ids,
        "gate": gate,
        "data": {"source": data.source, "text_column": data.text_column, "label_column": data.label_column,
                 "rows": len(rows), "unique_texts": len(uniq)},
        "run_identity": identity,
    }
    write_json(out / TEACHER_FILE, teacher_meta)
    rep = {}
    if report:
        from distill.labeling.report import write_report

        rep = write_report(rows, labelset, out, teacher_meta, held_out_exclude=set(dev_ids))
    return LabelingResult(n_rows=len(rows), n_unique=len(uniq), n_cached=n_cached, n_scored=n_scored,
                          template=teacher.prompt.template, calibration=calib.to_dict(), selection=selection,
                          report=rep, out_dir=out, gate=gate)
