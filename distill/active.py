"""Active distillation: spend the teacher only where the student is unsure (``teacher.budget``).

    from distill.active import label_active
    res = label_active(DataConfig(path="pool.tsv"), "sst2", TeacherConfig(budget="25%"), "runs/x",
                       training=DistillationConfig(epochs=1), student=StudentConfig(layers=4))

Rounds: the teacher labels a seeded random seed sample of the pool; a short student trains on the
teacher's labels so far (``distill.training.api.train_student``); it scores the unlabelled rest;
the teacher labels the texts the student is least sure of (smallest margin between its top two
classes, or highest entropy), ``oversample`` times more candidates than the round needs thinned to
the round's size by farthest-first on the student's mean-pooled embeddings, so a round is not a
batch of near-duplicates; repeat until the budget is spent. ``labels.jsonl`` then holds the
teacher's rows plus the last round's student's labels of the rest (``"source": "student"`` with a
``"weight"``: see ``ActiveConfig.pseudo``), and the normal train stage trains the final student.

The budget counts every text the teacher is asked in this run directory (the gate and the prompt
selection included): the number of answers the labelling cache holds for this teacher. Resumable:
each round's chosen texts are written to ``RUN_DIR/active/state.json`` (atomically) before the
teacher sees them, every answer goes through the cache, so after a ``kill -9`` the next run picks
the same texts and asks the teacher only for those it has not answered yet.

This module uses labelling and training, so it sits above both (docs/dev/architecture.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from core.atomic import write_json, write_jsonl, write_text
from core.errors import UserError
from core.rundir import LABELS_FILE, LABELSET_FILE, TEACHER_FILE, read_state
from distill.data.config import DataConfig, GoldConfig
from distill.labeling.cache import text_hash
from distill.labeling.config import TeacherConfig
from distill.training.config import DistillationConfig, StudentConfig

ACTIVE_DIR = "active"
STATE_FILE = "state.json"
CURVE_PNG = "active_curve.png"
UNCERTAINTIES = ("margin", "entropy")
PSEUDO = ("weighted", "thresholded", "none")
TASKS = ("classification", "pairs")  # single-label kinds: one distribution per text


@dataclass
class ActiveConfig:
    """How the rounds spend the budget (library settings; the user sets only ``teacher.budget``)."""

    rounds: int = 4  # labelling rounds (the seed sample is the first)
    epochs: float | None = 1.0  # epochs of each round's student (None: the training config's)
    # ...but at least this many optimiser steps (without early stopping): one epoch over a first round of
    # 125 texts is 4 steps, and such students stayed at chance on SST-2 (49-51%, docs/budgets.md)
    min_steps: int = 60
    uncertainty: str = "margin"  # margin | entropy
    oversample: int = 4  # candidates per chosen text before the diversity thinning
    # share of every later round drawn at random from the unlabelled rest: the least-sure texts alone are
    # the ones the teacher is unsure of too (probabilities near 0.5 on SST-2), and a round student trained
    # mostly on them collapsed to one class (docs/budgets.md); the random share keeps the labels representative
    random_share: float = 0.5
    pseudo: str = "weighted"  # the student's labels of the rest: weighted | thresholded | none
    pseudo_threshold: float = 0.9  # thresholded: keep student labels at least this confident (weight 1)
    eval_limit: int = 1000  # gold texts scored per round (seeded sample)
    seed: int = 0


def resolve_budget(budget: int | float, n_pool: int) -> int:
    """Teacher calls allowed for a pool of ``n_pool`` texts: an int is calls, a float a share."""
    calls = budget if isinstance(budget, int) else int(round(budget * n_pool))
    return max(1, calls)


def plan_rounds(calls: int, rounds: int) -> list[int]:
    """Teacher calls per round (the seed first), as even as integers allow."""
    rounds = max(1, min(rounds, calls))
    plan = [calls // rounds] * rounds
    for i in range(calls % rounds):
        plan[i] += 1
    return plan


def overhead_calls(teacher: TeacherConfig, n_pool: int, n_gold: int | None, n_candidates: int = 1) -> int:
    """Teacher calls the gate and the prompt selection make before the pool is labelled (an upper bound)."""
    from distill.labeling.gate import MIN_TEXTS

    n = 0
    if n_gold:  # the gate on gold texts
        g = min(teacher.gate_size, n_gold)
        n += g if g >= MIN_TEXTS else 0
    else:  # no gold: a pool sample (labels it for free) under a second template
        g = min(teacher.gate_size, n_pool)
        n += g if g >= MIN_TEXTS else 0
    if teacher.select_prompt:
        n += teacher.dev_size * n_candidates
    return n


# --------------------------------------------------------------------------------- selection
def uncertainty(probs: np.ndarray, how: str = "margin") -> np.ndarray:
    """Higher = less sure: minus the margin between the top two classes, or the entropy."""
    if how == "entropy":
        p = np.clip(probs, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=1)
    top = np.sort(probs, axis=1)
    return -(top[:, -1] - top[:, -2])


def choose(probs: np.ndarray, emb: np.ndarray, k: int, how: str = "margin", oversample: int = 4) -> list[int]:
    """Indices of ``k`` texts to ask the teacher about: the ``oversample * k`` least sure, thinned
    by farthest-first on the (L2-normalised) embeddings starting from the least sure one."""
    n = len(probs)
    if k <= 0:
        return []
    if k >= n:
        return list(range(n))
    u = uncertainty(probs, how)
    m = min(n, max(k, oversample * k))
    cand = np.argsort(-u, kind="stable")[:m]
    x = emb[cand].astype(np.float64)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    picked = [0]
    dist = 1.0 - x @ x[0]
    dist[0] = -np.inf
    while len(picked) < k:
        j = int(np.argmax(dist))
        picked.append(j)
        dist = np.minimum(dist, 1.0 - x @ x[j])
        dist[picked] = -np.inf
    return [int(cand[j]) for j in picked]


def score_and_embed(student_dir: Path, texts: list[str], max_length: int, batch_size: int = 64,
                    progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The student's class probabilities and mean-pooled last hidden states for ``texts``."""
    import torch

    from core.pairs import tokenizer_inputs
    from core.progress import progress_bar
    from distill.training.modeling import load_trained_student

    model, tok = load_trained_student(student_dir)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    probs = np.zeros((len(texts), model.config.num_labels))
    emb = None
    with torch.inference_mode(), progress_bar(len(texts), "student scores", progress) as bar:
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok(*tokenizer_inputs([texts[i] for i in idx]), truncation=True, max_length=max_length,
                      padding=True, return_tensors="pt")
            out = model(**enc, output_hidden_states=True)
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (out.hidden_states[-1] * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            if emb is None:
                emb = np.zeros((len(texts), pooled.shape[-1]), dtype=np.float32)
            probs[idx] = torch.softmax(out.logits.float(), -1).numpy()
            emb[idx] = pooled.float().numpy()
            bar.update(len(idx))
    return probs, (emb if emb is not None else np.zeros((0, 1), dtype=np.float32))


# ------------------------------------------------------------------------------------ state
def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


class State:
    """``RUN_DIR/active/state.json``: the plan and, per round, the texts chosen (text hashes) and
    what its student measured; written atomically after every change."""

    def __init__(self, path: Path, key: dict):
        self.path = path
        data = read_state(path, "active distillation state") if path.exists() else None
        if not isinstance(data, dict) or data.get("key") != key:
            data = {"key": key, "rounds": []}  # another pool, budget or prompt: a fresh plan (the cache keeps answers)
        self.data = data

    @property
    def rounds(self) -> list[dict]:
        return self.data["rounds"]

    def save(self) -> None:
        write_json(self.path, self.data)


# ------------------------------------------------------------------------------------ the run
def label_active(data: DataConfig, labels, teacher: TeacherConfig, out: str | Path, gold: GoldConfig | None = None,
                 *, training: DistillationConfig | None = None, student: StudentConfig | None = None,
                 task: str | None = None, progress: bool = True, echo: Callable[[str], None] | None = None,
                 active: ActiveConfig | None = None):
    """``advisor distill label --budget`` and the pipeline's label stage with ``teacher.budget``:
    the checks and the teacher of :func:`distill.labeling.stage.label`, then :func:`active_label_dataset`."""
    from distill.labeling.stage import finish, prepare

    if teacher.budget is None:
        raise UserError("active distillation needs --budget (teacher.budget)")
    from distill.tasks import get_task

    if get_task(task).name not in TASKS:  # before prepare() loads (or, for ner, runs) a teacher
        raise UserError(f"--budget works with the single-label task kinds ({', '.join(TASKS)}), not {get_task(task).name}")
    job = prepare(data, labels, teacher, out, gold, task=task, progress=progress, echo=echo)
    try:
        res = active_label_dataset(job.ds, job.labelset, job.model, job.out, job.cfg, teacher.budget,
                                   training=training, student=student, gold=job.gold, dev=job.dev, echo=job.echo,
                                   active=active)
    finally:
        job.model.close()
    return finish(res, job)


def active_label_dataset(data, labelset, teacher, out, cfg, budget: int | float, *,
                         training: DistillationConfig | None = None, student: StudentConfig | None = None,
                         gold=None, dev=None, echo: Callable[[str], None] | None = None,
                         active: ActiveConfig | None = None):
    """Label ``data`` (a ``TextDataset``) with at most ``budget`` teacher calls (see the module
    docstring); returns the ``LabelingResult`` with ``report["active"]``."""
    from core.rundir import check_run_inputs, run_identity, run_lock
    from distill.tasks import get_task

    echo = echo or (lambda s: print(s, file=sys.stderr))
    active = active or ActiveConfig()
    out = Path(out)
    kind = get_task(cfg.task)
    if kind.name not in TASKS:
        raise UserError(f"--budget works with the single-label task kinds ({', '.join(TASKS)}), not {kind.name}")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    identity = run_identity(data.source, labelset.names) if data.source else None
    if identity is not None:
        check_run_inputs(out, identity)
    with run_lock(out, "advisor distill label"):
        return _active_locked(data, labelset, teacher, out, cfg, budget, training or DistillationConfig(),
                              student or StudentConfig(), gold, dev, echo, active, identity, kind)


def _teacher_rows(data, labelset, got, calib, kind, keep: set[str]) -> list[dict]:
    """labels.jsonl rows of the pool texts the teacher answered (``keep``: their hashes)."""
    from distill.data.reader import TextDataset
    from distill.labeling.labeler import make_rows

    idx = [i for i, t in enumerate(data.texts) if text_hash(t) in keep]
    sub = TextDataset([data.texts[i] for i in idx], [data.gold[i] for i in idx] if data.gold is not None else None,
                      [data.ids[i] for i in idx])
    return make_rows(sub, labelset, got, calib, kind)


def _active_locked(data, labelset, teacher, out: Path, cfg, budget, training: DistillationConfig,
                   student: StudentConfig, gold, dev, echo, active: ActiveConfig, identity, kind):
    from distill.labeling.labeler import (CACHE_NAME, LabelingResult, _fit_calibration, dev_sample, run_gate,
                                          score_through_cache, select_prompt)
    from distill.labeling.cache import LabelCache
    from distill.teachers.prompts import detect_language

    t_start = time.perf_counter()
    if cfg.calibrate == "auto" and not cfg.select_prompt:
        cfg.calibrate = "none"
    if cfg.language == "auto":
        cfg.language = detect_language(data.texts)
    teacher.set_prompt(kind.prompt(labelset, cfg.template or teacher.prompt.template, shots=cfg.shots,
                                   language=cfg.language))
    pool = list(dict.fromkeys(data.texts))  # unique texts, first-seen order
    hashes = [text_hash(t) for t in pool]
    n_pool = len(pool)
    calls = resolve_budget(budget, n_pool)
    echo(f"budget: {calls} teacher calls for {n_pool} unique texts ({calls / max(n_pool, 1):.1%} of the pool)")
    if calls >= n_pool:
        echo("the budget covers the whole pool: every text goes to the teacher")
    adir = out / ACTIVE_DIR
    adir.mkdir(parents=True, exist_ok=True)
    selection, gate = [], None
    if calls < n_pool:  # refuse a budget the gate and the prompt selection would eat, before they spend it
        from distill.labeling.gate import MIN_TEXTS

        g = 0
        if cfg.gate.enabled:
            g = min(cfg.gate.size, len(gold.texts) if gold is not None and gold.gold else n_pool)
            g = g if g >= MIN_TEXTS else 0
        need = g + (cfg.dev_size * len(cfg.candidates) if cfg.select_prompt else 0)
        if calls - need < 2:
            raise UserError(f"a budget of {calls} teacher calls leaves nothing for the pool after the gate and the "
                            f"prompt selection (up to {need} calls); raise --budget or lower --gate-size")
    with LabelCache(out / CACHE_NAME) as cache:
        fp = teacher.fingerprint

        def used() -> int:  # everything this teacher answered in this run directory
            return cache.count(fp)

        if cfg.select_prompt:
            if dev is None:
                dev = dev_sample(data, cfg)
            selection = select_prompt(teacher, cache, labelset, dev, cfg, echo)
        if cfg.gate.enabled:
            gate = run_gate(teacher, cache, labelset, data, gold, cfg, echo)
            write_json(out / "teacher_gate.json", gate)
            if gate["passed"] is False and not cfg.gate.accept_weak:
                from distill.labeling.gate import message

                raise UserError(message(gate))
        ph = teacher.prompt.hash
        overhead = used() - len(cache.get_many(fp, ph, hashes))
        left = calls - overhead
        if left < 2 and calls < n_pool:
            raise UserError(f"the budget of {calls} teacher calls is spent by the gate and the prompt selection "
                            f"({overhead} calls); raise --budget or lower --gate-size")
        plan = plan_rounds(max(left, 1), active.rounds) if calls < n_pool else [n_pool]
        key = {"pool": _digest(hashes), "budget": calls, "plan": plan, "teacher": fp, "prompt": ph,
               "active": _digest({k: v for k, v in dataclasses.asdict(active).items()
                                   if k not in ("pseudo", "pseudo_threshold", "eval_limit")}), "training": training.fingerprint(),
               "student": [student.model, student.layers]}
        state = State(adir / STATE_FILE, key)
        state.data.update(n_pool=n_pool, budget_calls=calls, overhead_calls=overhead, plan=plan)
        state.save()
        echo(f"plan: {len(plan)} rounds of {', '.join(map(str, plan))} teacher calls"
             + (f" (+ {overhead} for the gate and the prompt selection)" if overhead else ""))
        got: dict = {}
        calib = None
        where = {h: i for i, h in enumerate(hashes)}
        gold_eval = _gold_sample(gold if gold is not None and gold.gold else None, active)
        for r, n_round in enumerate(plan):
            labelled = set(cache.get_many(fp, ph, hashes))
            if r < len(state.rounds):
                rec = state.rounds[r]
            else:
                target = min(n_pool, sum(plan[:r + 1]))
                need = max(0, target - len(labelled))
                rest = [i for i, h in enumerate(hashes) if h not in labelled]
                prev = adir / f"round{r}" / "student" / "model.safetensors"
                if r == 0 or need == 0 or not prev.is_file():  # no student yet (or one class so far): random
                    rng = np.random.default_rng(active.seed)
                    pick = sorted(rng.choice(len(rest), size=min(need, len(rest)), replace=False).tolist())
                    chosen = [rest[i] for i in pick]
                    how = "random seed sample"
                else:
                    chosen, how = _pick_round(r, rest, pool, min(need, len(rest)), adir / f"round{r}" / "student",
                                              training, active, cfg.progress)
                rec = {"round": r + 1, "how": how, "chosen": [hashes[i] for i in chosen]}
                state.rounds.append(rec)
                state.save()  # before the teacher sees them: a restart picks the same texts
            want = [pool[where[h]] for h in rec["chosen"] if h in where]
            got_r, _, n_new = score_through_cache(teacher, cache, want, cfg.chunk_size, cfg.progress,
                                                  desc=f"round {r + 1} teacher")
            labelled = cache.get_many(fp, ph, hashes)
            got.update(labelled)
            if calib is None or cfg.calibrate == "pool-mean":
                calib = _fit_calibration(teacher, cfg.calibrate,
                                         [s.probs for s in labelled.values() if s.source == "scored"])
            if calls >= n_pool:
                break
            classes = {int(np.argmax(kind.distribution(v, calib))) for v in labelled.values() if v.source != "abstained"}
            if len(classes) < 2:  # a student cannot learn one class: the next round samples at random
                rec.update(calls=used(), teacher_rows=len(labelled), gold_accuracy=None, held_out_agreement=None,
                           note="one class so far: no student")
                state.save()
            elif "calls" not in rec or not (adir / f"round{r + 1}" / "student" / "model.safetensors").is_file():
                res = _train_round(r + 1, data, labelset, got, calib, kind, set(labelled), adir, training, student,
                                   active, gold_eval, cfg.progress, echo)
                rec.update(calls=used(), teacher_rows=len(labelled), **res)
                state.save()
            echo(f"round {r + 1}: {rec['calls']} teacher calls used of {calls}; student "
                 + (f"gold accuracy {rec['gold_accuracy']:.1%}" if rec.get("gold_accuracy") is not None else
                    f"agreement with held-out teacher labels {_fmt(rec.get('held_out_agreement'))}"))
        cache.set_meta("last_run", {"teacher": fp, "prompt": ph, "time": time.time(), "budget": calls})
        total_used = used()
    labelled = set(got)
    rows = _teacher_rows(data, labelset, got, calib, kind, labelled)
    student_rows = []
    if calls < n_pool and active.pseudo != "none":
        last = adir / f"round{len(plan)}" / "student"
        rest_idx = [i for i, t in enumerate(data.texts) if text_hash(t) not in labelled]
        rest = [data.texts[i] for i in rest_idx]
        if rest and not (last / "model.safetensors").is_file():
            echo("no student after the last round (the teacher's labels hold one class): no student rows")
        elif rest:
            probs, _ = score_and_embed(last, rest, training.max_length, progress=cfg.progress)
            student_rows = pseudo_rows(data, rest_idx, probs, labelset.names, active)
    all_rows = rows + student_rows
    order = {rid: i for i, rid in enumerate(data.ids)}
    all_rows.sort(key=lambda row: order.get(row["id"], 0))
    write_jsonl(out / LABELS_FILE, all_rows)
    write_json(out / LABELSET_FILE, labelset.to_dict())
    summary = {
        "budget": budget if isinstance(budget, int) else f"{budget:.0%}", "budget_calls": calls,
        "teacher_calls": total_used, "overhead_calls": state.data["overhead_calls"], "pool": n_pool,
        "teacher_rows": len(rows), "student_rows": len(student_rows), "pseudo": active.pseudo,
        "rounds": [{k: v for k, v in rec.items() if k != "chosen"} for rec in state.rounds],
        "plan": plan, "uncertainty": active.uncertainty, "seconds": round(time.perf_counter() - t_start, 1),
    }
    teacher_meta = {
        "task": kind.name, "teacher": teacher.describe(), "fingerprint": teacher.fingerprint,
        "prompt_hash": teacher.prompt.hash, "prompt": teacher.prompt.to_dict(),
        "prompt_example": teacher.prompt.example(), "template": teacher.prompt.template,
        "calibration": calib.to_dict(), "selection": selection, "selection_dev_ids": [], "gate": gate,
        "data": {"source": data.source, "text_column": data.text_column, "label_column": data.label_column,
                 "rows": len(all_rows), "unique_texts": n_pool},
        "run_identity": identity, "active": summary,
    }
    write_json(out / TEACHER_FILE, teacher_meta)
    from distill.labeling.report import write_report

    rep = write_report(rows, labelset, out, teacher_meta)  # the teacher's own rows: its figures stay its own
    curve = plot_active_curve(summary, out / CURVE_PNG)
    if curve:
        summary["curve_png"] = CURVE_PNG
    rep["active"] = summary
    write_json(out / "teacher_report.json", rep)
    md = (out / "teacher_report.md").read_text(encoding="utf-8")
    write_text(out / "teacher_report.md", md.rstrip("\n") + "\n\n" + "\n".join(active_markdown(summary)) + "\n")
    write_json(adir / "summary.json", summary)

    return LabelingResult(n_rows=len(all_rows), n_unique=n_pool, n_cached=0, n_scored=total_used,
                          template=teacher.prompt.template, calibration=calib.to_dict(), selection=selection,
                          report=rep, out_dir=out, gate=gate)


def _pick_round(r: int, rest: list[int], pool: list[str], k: int, student_dir: Path, training, active: ActiveConfig,
                progress: bool) -> tuple[list[int], str]:
    """Round ``r + 1``'s texts (indices of ``pool``): ``random_share`` of ``k`` drawn at random from
    ``rest``, the others the least sure of the previous round's student, thinned for diversity."""
    n_rand = int(round(active.random_share * k))
    rng = np.random.default_rng([active.seed, r])
    rand = sorted(rng.choice(len(rest), size=n_rand, replace=False).tolist()) if n_rand else []
    taken = set(rand)
    left = [i for i in range(len(rest)) if i not in taken]
    unsure: list[int] = []
    if k - n_rand > 0 and left:
        probs, emb = score_and_embed(student_dir, [pool[rest[i]] for i in left], training.max_length,
                                     progress=progress)
        unsure = [left[j] for j in choose(probs, emb, k - n_rand, active.uncertainty, active.oversample)]
    how = f"least sure ({active.uncertainty}), diverse"
    if n_rand:
        how = f"{n_rand} random + {len(unsure)} {how}"
    return [rest[i] for i in rand + unsure], how


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.1%}"


def _gold_sample(gold, active: ActiveConfig):
    if gold is None:
        return None
    n = len(gold.texts)
    if n > active.eval_limit:
        idx = sorted(np.random.default_rng(active.seed).choice(n, size=active.eval_limit, replace=False).tolist())
        return [gold.texts[i] for i in idx], [gold.gold[i] for i in idx]
    return list(gold.texts), list(gold.gold)


def _train_round(r: int, data, labelset, got, calib, kind, labelled: set[str], adir: Path,
                 training: DistillationConfig, student: StudentConfig, active: ActiveConfig, gold_eval, progress: bool,
                 echo) -> dict:
    """Round ``r``'s student on the teacher's labels so far; its gold accuracy (or held-out agreement)."""
    from distill.training.api import train_student

    rdir = adir / f"round{r}"
    rdir.mkdir(parents=True, exist_ok=True)
    rows = _teacher_rows(data, labelset, got, calib, kind, labelled)
    write_jsonl(rdir / LABELS_FILE, rows)
    write_json(rdir / LABELSET_FILE, labelset.to_dict())
    cfg = dataclasses.replace(training, layers=student.layers, extra=dict(training.extra))
    if active.epochs is not None:
        cfg.epochs = active.epochs
        cfg.max_steps = -1
    n_train = max(1, int(len(rows) * 0.9))  # the trainer holds a tenth out
    cfg.epochs = max(float(cfg.epochs), active.min_steps * cfg.batch_size / n_train)
    # no early stopping: on a round's few held-out rows the first evaluations (a student still answering
    # one class) tie, and patience 3 stopped the SST-2 rounds after ~25 steps at chance
    cfg.patience = 0
    echo(f"round {r}: training a student on {len(rows)} teacher labels")
    s = train_student(rdir / LABELS_FILE, rdir, cfg.validate(cli=False), student=student.model, task=kind.name,
                      progress=progress, labelset=labelset)
    res = {"held_out_agreement": (s.get("final_eval") or {}).get("eval_accuracy", s.get("best_eval_accuracy")),
           "gold_accuracy": None}
    if gold_eval is not None:
        texts, golds = gold_eval
        probs, _ = score_and_embed(rdir / "student", texts, training.max_length)
        pred = [labelset.names[int(j)] for j in probs.argmax(1)]
        res["gold_accuracy"] = float(np.mean([p == g for p, g in zip(pred, golds)]))
        res["gold_n"] = len(golds)
    return res


def pseudo_rows(data, idx: list[int], probs: np.ndarray, names: list[str], active: ActiveConfig) -> list[dict]:
    """The student's labels of the texts the teacher did not see: ``weighted`` (every text, weight =
    the student's confidence rescaled from chance..1 to 0..1) or ``thresholded`` (only texts with
    confidence >= ``pseudo_threshold``, weight 1)."""
    from core.pairs import row_fields

    k = len(names)
    out = []
    for i, p in zip(idx, probs):
        j = int(np.argmax(p))
        conf = float(p[j])
        if active.pseudo == "thresholded":
            if conf < active.pseudo_threshold:
                continue
            w = 1.0
        else:
            w = max(0.0, (conf - 1.0 / k) / (1.0 - 1.0 / k))
        row = {"id": data.ids[i], **row_fields(data.texts[i]), "probs": {n: round(float(x), 6) for n, x in zip(names, p)},
               "label": names[j], "confidence": round(conf, 6), "source": "student", "weight": round(w, 6)}
        if data.gold is not None:
            row["gold"] = data.gold[i]
        out.append(row)
    return out


# ----------------------------------------------------------------------------------- report
def plot_active_curve(summary: dict, path: Path, full: float | None = None, label: str = "round students",
                      final: tuple[float, float] | None = None) -> bool:
    """Student accuracy (gold, else held-out agreement) vs teacher calls per round; ``final``: the
    final student (calls, accuracy) as its own point; ``full``: the fully-labelled figure, marked."""
    pts = [(r["calls"], r.get("gold_accuracy") if r.get("gold_accuracy") is not None else r.get("held_out_agreement"))
           for r in summary["rounds"] if "calls" in r]
    pts = [(c, a) for c, a in pts if a is not None]
    if not pts:
        return False
    from distill.evaluation.plots import plot_curve

    what = "gold accuracy" if any(r.get("gold_accuracy") is not None for r in summary["rounds"]) \
        else "agreement with held-out teacher labels"
    series = {label: pts}
    if final is not None:
        series["final student"] = [tuple(final)]
    plot_curve(series, path, "teacher calls", f"student {what}",
               f"Active distillation: budget {summary['budget_calls']} of {summary['pool']} texts",
               marks={"fully labelled pool": full} if full is not None else None,
               vline=("full pool", summary["pool"]))
    return True


def active_markdown(summary: dict) -> list[str]:
    lines = ["## Active distillation", "",
             f"Budget {summary['budget']} = {summary['budget_calls']} teacher calls for {summary['pool']} unique "
             f"texts; used {summary['teacher_calls']} (gate and prompt selection: {summary['overhead_calls']}). "
             f"labels.jsonl: {summary['teacher_rows']} teacher rows, {summary['student_rows']} student rows "
             f"({summary['pseudo']}).", "",
             "| round | chosen by | teacher calls used | teacher rows | student gold accuracy | held-out agreement |",
             "|---|---|---|---|---|---|"]
    for r in summary["rounds"]:
        lines.append(f"| {r['round']} | {r.get('how', '')} | {r.get('calls', '')} | {r.get('teacher_rows', '')} | "
                     f"{_fmt(r.get('gold_accuracy'))} | {_fmt(r.get('held_out_agreement'))} |")
    if summary.get("curve_png"):
        lines += ["", f"![student accuracy vs teacher calls]({summary['curve_png']})"]
    return lines


def active_lines(summary: dict) -> list[str]:
    """The budget's figures in the lines the commands print."""
    last = next((r for r in reversed(summary["rounds"]) if "calls" in r), None)
    out = [f"active distillation: {summary['teacher_calls']} teacher calls used of a budget of "
           f"{summary['budget_calls']} ({summary['pool']} texts); {summary['teacher_rows']} teacher rows + "
           f"{summary['student_rows']} student rows ({summary['pseudo']})"]
    if last is not None:
        out.append(f"last round's student: gold accuracy {_fmt(last.get('gold_accuracy'))}, held-out agreement "
                   f"{_fmt(last.get('held_out_agreement'))}")
    return out
