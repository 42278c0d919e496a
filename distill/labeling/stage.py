"""The labelling stage as a library call::

    from distill.data.config import DataConfig
    from distill.labeling.config import TeacherConfig
    from distill.labeling.stage import label

    res = label(DataConfig(path="../shared/data/sst2/dev.tsv"), "sst2", TeacherConfig(), "runs/sst2")

Everything is validated before anything is written; then the teacher labels the pool through the
cache (``distill.labeling.labeler.label_dataset``) into ``OUT/labels.jsonl`` with the teacher
report. ``advisor distill label`` and the pipeline's label stage both call :func:`label`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.errors import UserError
from core.rundir import LABELS_FILE
from distill.data.config import DataConfig, GoldConfig
from distill.labeling.config import TeacherConfig


def _check(data: DataConfig, teacher: TeacherConfig, out: Path) -> tuple[tuple[str, ...], int | None]:
    """The options that can be judged without reading anything; returns (candidates, shots)."""
    from core.rundir import check_creatable
    from distill.teachers import is_server_spec
    from distill.teachers.classifier import is_classifier_dir, prompt_options_set
    from distill.teachers.prompts import TEMPLATES

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    check_creatable(out, "--out")  # /etc/passwd/sub, /proc/x: refused now, in one line, nothing written
    t = teacher
    if t.template is not None and t.template not in TEMPLATES:
        raise UserError(f"unknown --template {t.template!r}; choose from {', '.join(TEMPLATES)}")
    cand = tuple(TEMPLATES)
    if t.candidates:
        cand = tuple(c.strip() for c in t.candidates.split(",") if c.strip())
        bad = [c for c in cand if c not in TEMPLATES]
        if bad or not cand:
            raise UserError(f"unknown --candidates {', '.join(bad) or t.candidates!r}; choose from {', '.join(TEMPLATES)}")
    for name, value in (("--batch-size", t.batch_size), ("--dev-size", t.dev_size), ("--gate-size", t.gate_size)):
        if value < 1:
            raise UserError(f"{name} must be at least 1, got {value}")
    shots = t.shots
    if shots is not None and shots < 0:
        raise UserError(f"--shots must be >= 0, got {shots}")
    if shots and not t.shots_file:
        raise UserError("--shots needs --shots-file (a file of labelled examples)")
    if t.shots_file and shots is None:
        shots = 4
    if t.server_model and not is_server_spec(t.model):
        raise UserError("--server-model needs --teacher to be an http(s):// server URL")
    if is_classifier_dir(t.model):
        used = ["--" + k.replace("_", "-") for k in prompt_options_set(template=t.template, select_prompt=t.select_prompt,
                                                                         shots=shots, calibrate=t.calibrate)]
        if used:
            raise UserError(f"{', '.join(used)}: the teacher {t.model} is an encoder classifier, which takes no "
                            f"prompt; these options apply to GPT teachers")
    return cand, shots


def label(data: DataConfig, labels, teacher: TeacherConfig | None = None, out: str | Path = "runs/label",
          gold: GoldConfig | None = None, *, task: str | None = None, progress: bool = True,
          echo: Callable[[str], None] | None = None):
    """Label ``data`` with ``teacher`` into ``out``; returns the ``LabelingResult``.

    ``labels``: a label-set spec (``"sst2"``, ``"neg,pos"``, a file) or a ``LabelSet``. ``gold``:
    labelled texts for the teacher gate (default: the gold rows of ``data``). ``task``: the task
    kind (``distill.tasks``; default classification): how the rows are read, what the teacher is
    asked and how its scores become the label distribution. With ``teacher.budget`` set, the
    pipeline and ``advisor distill label`` call ``distill.active.label_active`` instead (it sits
    above training, which it uses)."""
    from distill.labeling.labeler import label_dataset

    job = prepare(data, labels, teacher, out, gold, task=task, progress=progress, echo=echo)
    if job.model is None:  # task ner: a generated list of spans, not scored labels (distill.labeling.spans)
        return _label_spans(job.ds, job.labelset, teacher or TeacherConfig(), job.out, progress, job.echo)
    try:
        res = label_dataset(job.ds, job.labelset, job.model, job.out, job.cfg, dev=job.dev, echo=job.echo,
                            gold=job.gold)
    finally:
        job.model.close()
    return finish(res, job)


@dataclass
class LabelJob:
    """Everything a labelling run needs, checked and loaded (:func:`prepare`)."""

    ds: object
    labelset: object
    dev: object
    gold: object
    model: object  # None for task ner: :func:`label` hands the job to the span labelling
    cfg: object
    out: Path
    echo: Callable[[str], None]


def prepare(data: DataConfig, labels, teacher: TeacherConfig | None = None, out: str | Path = "runs/label",
            gold: GoldConfig | None = None, *, task: str | None = None, progress: bool = True,
            echo: Callable[[str], None] | None = None) -> LabelJob:
    """The checks, the data, the gold texts, the shots and the loaded teacher of a labelling run."""
    from distill.data.labelset import LabelSet
    from distill.data.reader import load_texts
    from distill.tasks import get_task
    from distill.teachers.prompts import load_shots

    teacher = teacher or TeacherConfig()
    echo = echo or (lambda s: print(s, file=sys.stderr))
    out = Path(out)
    kind = get_task(task)
    cand, shots = _check(data, teacher, out)
    labelset = labels if isinstance(labels, LabelSet) else LabelSet.from_spec(labels)
    ds = kind.read(data, labelset)
    if kind.name == "ner":  # a generated list of spans, not scored labels: label() runs distill.labeling.spans
        return LabelJob(ds=ds, labelset=labelset, dev=None, gold=None, model=None, cfg=None, out=out, echo=echo)
    t = teacher
    dev = None
    if t.dev:
        dev = load_texts(t.dev, text_column=data.text_column, label_column=data.label_column, labelset=labelset,
                         sample=None, limit=None, text_pair_column=data.text_pair_column, **kind.reader_options(labelset))
        if dev.gold is None:
            raise UserError(f"--dev {t.dev} has no gold label column")
        if len(dev.texts) > t.dev_size:
            dev = load_texts(t.dev, text_column=data.text_column, label_column=data.label_column, labelset=labelset,
                             sample=t.dev_size, seed=data.seed, text_pair_column=data.text_pair_column,
                             **kind.reader_options(labelset))
    gold_ds = None
    if gold is not None and gold.path:
        gold_ds = load_texts(gold.path, text_column=gold.text_column or data.text_column,
                             label_column=gold.label_column, labelset=labelset,
                             text_pair_column=gold.text_pair_column or data.text_pair_column,
                             **kind.reader_options(labelset))
        if gold_ds.gold is None:
            raise UserError(f"--gold {gold.path} has no gold label column (name it with --gold-label-column)")
    if t.select_prompt and dev is None and ds.gold is None:
        raise UserError("--select-prompt needs gold labels: a --label-column in --data or a --dev FILE")
    shot_list = ()
    if shots:
        pair_col = getattr(ds, "text_pair_column", None)  # a pairs pool: the shots are pairs, same columns
        shot_list = load_shots(t.shots_file, labelset, shots, seed=data.seed, exclude=set(ds.texts),
                               text_column=ds.text_column if pair_col else None, text_pair_column=pair_col)
    echo(f"{len(ds.texts)} texts from {data.path} (text column {ds.text_column!r}"
         + (f", gold column {ds.label_column!r}" if ds.label_column else "") + f"), labels {', '.join(labelset.names)}")

    from distill.labeling.gate import GateConfig
    from distill.labeling.labeler import LabelingConfig
    from distill.teachers import load_teacher

    model = load_teacher(t.model, labelset, **t.load_options(), shots=shot_list)
    local = model.kind in ("local", "classifier", "llama-cpp")
    cfg = LabelingConfig(template=t.template, select_prompt=t.select_prompt, candidates=cand, dev_size=t.dev_size,
                         shots=tuple(shot_list), calibrate=t.calibrate or ("auto" if t.select_prompt else "none"),
                         chunk_size=max(t.batch_size * 4, 32) if local else max(t.concurrency * 8, 32),
                         seed=data.seed, progress=progress, language=t.language, task=kind.name,
                         gate=GateConfig(accept_weak=t.accept_weak_teacher, size=t.gate_size, seed=data.seed))
    return LabelJob(ds=ds, labelset=labelset, dev=dev, gold=gold_ds, model=model, cfg=cfg, out=out, echo=echo)


def finish(res, job: LabelJob):
    """The result of a labelling run, refused when the teacher abstained on everything."""
    out = job.out
    res.teacher_kind = job.model.kind
    s = res.report.get("sources", {})
    if res.n_rows and s.get("abstained", 0) >= res.n_rows:
        reasons = res.report.get("abstain_reasons") or {}
        raise UserError(f"the teacher abstained on all {res.n_rows} texts (no label could be read from its answers"
                        + (f": {next(iter(reasons))}" if reasons else "")
                        + f"); nothing to train on; see {out / 'teacher_report.md'}")
    return res


def _label_spans(ds, labelset, t: TeacherConfig, out: Path, progress: bool, echo):
    """The entity kind's labelling (``distill.labeling.spans``): the teacher generates the mentions."""
    from distill.labeling.spans import label_spans
    from distill.teachers import load_teacher
    from distill.teachers.prompts import detect_language

    used = [flag for flag, on in (("--select-prompt", t.select_prompt), ("--shots-file", t.shots_file),
                                  ("--template", t.template), ("--calibrate", t.calibrate)) if on]
    if used:
        raise UserError(f"{', '.join(used)}: task ner asks the teacher for a generated list of entities (one "
                        f"prompt, no calibration); drop these options")
    echo(f"{len(ds.texts)} texts from {ds.source} ({ds.format}"
         + (f", {sum(map(len, ds.gold))} gold entities" if ds.gold is not None else "")
         + f"), entity types {', '.join(labelset.names)}")
    language = t.language if t.language in ("en", "zh") else detect_language(ds.texts)
    model = load_teacher(t.model, labelset, **t.load_options())
    try:
        return label_spans(ds, labelset, model, out, language=language, progress=progress, echo=echo,
                           chunk_size=max(t.batch_size, 1))
    finally:
        model.close()


def labeling_lines(res, out: str | Path) -> list[str]:
    """What a labelling run did, in the lines the commands print."""
    out = Path(out)
    rep = res.report
    if rep.get("task") == "ner":
        from distill.labeling.spans import span_lines

        return span_lines(res, out)
    s = rep.get("sources", {})
    prompt = ("no prompt (classifier teacher)" if getattr(res, "teacher_kind", None) == "classifier"
              else f"template {res.template}")
    a = rep.get("active")
    first = (f"labelled {res.n_rows} texts ({res.n_unique} unique: {res.n_cached} from the cache, "
             f"{res.n_scored} scored now) -> {out / LABELS_FILE}") if not a else (
        f"labelled {res.n_rows} texts: {a['teacher_rows']} by the teacher ({a['teacher_calls']} teacher calls, "
        f"budget {a['budget_calls']}), {a['student_rows']} by the student -> {out / LABELS_FILE}")
    lines = [first,
             f"{prompt}, calibration {res.calibration['method']}; sources: scored {s.get('scored', 0)}, "
             f"parsed {s.get('parsed', 0)}, abstained {s.get('abstained', 0)}; mean confidence "
             f"{(rep.get('mean_confidence') or 0):.3f}"]
    if rep.get("gold"):
        g = rep["gold"]
        lines.append((f"teacher micro-F1 vs gold: {g['micro_f1']:.3f} (subset accuracy {g['accuracy']:.1%}, "
                      if "micro_f1" in g else f"teacher accuracy vs gold: {g['accuracy']:.1%} (")
                     + f"macro-F1 {g['macro_f1']:.3f}, n={g['n']})"
                     + (f"; held out from prompt selection: {rep['gold_held_out']['accuracy']:.1%} "
                        f"(n={rep['gold_held_out']['n']})" if rep.get("gold_held_out") else ""))
    lines.append(f"report: {out / 'teacher_report.md'}")
    return lines
