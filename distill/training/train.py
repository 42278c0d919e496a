"""The job behind ``advisor distill train``: read labels.jsonl, build the training and held-out
data, checkpoint to RUN_DIR/checkpoints (resumable), early-stop, save RUN_DIR/student and
RUN_DIR/train.json. No hand-written loop, so ``torchrun`` / ``accelerate launch`` run the same
code on several processes or GPUs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.offline import force_offline
from distill.tasks import DEFAULT_TASK, get_task
from distill.training.config import DistillationConfig
from distill.training.labels import Collator, EncodedDataset, prepare_multilabel_rows, prepare_rows, read_labels
from distill.training.processes import barrier as _barrier
from distill.training.processes import is_main as _is_main
from distill.training.processes import warn as _warn
from distill.training.processes import world_size as _world_size
from distill.training.trainer import FiniteLossCallback, StopAfterStepsCallback, check_finite_model

force_offline()

import torch  # noqa: E402

CHECKPOINTS = "checkpoints"
STUDENT = "student"
RUN_META = "run.json"


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest checkpoint that was written to the end, or None.

    A run killed while saving leaves a ``checkpoint-N`` without ``trainer_state.json`` (the Trainer
    writes it last); such a directory cannot be resumed, so it is removed (main process only) and
    the one before it is used."""
    found = []
    for d in ckpt_dir.glob("checkpoint-*"):
        step = d.name.rsplit("-", 1)[-1]
        if d.is_dir() and step.isdigit():
            found.append((int(step), d))
    for _, d in sorted(found, reverse=True):
        if (d / "trainer_state.json").is_file() and any((d / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
            if _readable_json(d / "trainer_state.json"):
                return str(d)
            if _is_main():
                _warn(f"{d / 'trainer_state.json'} is damaged (not JSON); ignoring this checkpoint, its steps are redone")
                shutil.rmtree(d, ignore_errors=True)
            continue
        if _is_main():
            _warn(f"{d} was not written to the end (interrupted while saving); ignoring it")
            shutil.rmtree(d, ignore_errors=True)
    return None


def train_student(*args, **kwargs) -> dict:
    """Train the student (see :func:`_train_student`) holding the run directory's lock."""
    import contextlib

    from core.rundir import run_lock

    out = kwargs["out"] if "out" in kwargs else args[1]
    lock = run_lock(out, "advisor distill train") if _is_main() else contextlib.nullcontext()
    with lock:
        return _train_student(*args, **kwargs)


def _train_student(
    labels: str | os.PathLike,
    out: str | os.PathLike,
    config: DistillationConfig | None = None,
    student: str | os.PathLike | None = None,
    gold_dev: str | os.PathLike | None = None,
    gold_text_column: str | None = None,
    gold_label_column: str | None = None,
    resume: bool = True,
    progress: bool = True,
    labelset=None,
    stop_after_steps: int | None = None,
    callbacks: list | None = None,
    task: str | None = None,
) -> dict:
    """Train the student; returns the summary also written to RUN_DIR/train.json.

    ``task``: the task kind (``distill.tasks``; default classification): it builds the student's
    head, encodes the texts, and chooses the trainer (the loss) and the checkpoint metric.
    ``stop_after_steps`` ends training early (checkpoint kept, no student saved) to simulate an
    interruption; the next call with ``resume=True`` continues from the last checkpoint.
    """
    from transformers import set_seed

    kind = get_task(task)
    config = (config or DistillationConfig()).validate()
    out = Path(out)
    own = getattr(kind, "training_rows", None)  # a kind whose labels are not one distribution per text (ner)
    if own is not None:
        check_labels_task(labels, kind)
        rows, prep, dev = own(labels, labelset, config, gold_dev)
    else:
        rows = read_labels(labels, labelset=labelset)
        check_labels_task(labels, kind)
        dev = _read_gold_dev(rows, gold_dev, gold_text_column, gold_label_column, kind)
        if kind.multi_label and not rows.multi_label:
            raise UserError(f"{labels} holds single-label rows (no 'labels' lists); label with --task {kind.name}")
        prep = (prepare_multilabel_rows if kind.multi_label else prepare_rows)(rows, config, has_gold_dev=dev is not None)
    set_seed(config.seed)
    model, tok, student_path = kind.load_student(student, rows.names, layers=config.layers)
    kind.init_head(model, rows, prep)  # a resumed run overwrites it with the checkpoint's weights
    if own is not None:
        train_ds, eval_ds = kind.datasets(tok, rows, prep, dev, config)
        collator = kind.collator(tok)
    else:
        train_ds, eval_ds = _datasets(kind, tok, rows, prep, dev, config)
        collator = Collator(tok)

    ckpt_dir = out / CHECKPOINTS
    meta = {"labels_sha256": rows.sha256, "config_fingerprint": config.fingerprint(),
            "student": str(Path(student_path).resolve()), "labels": rows.names,
            "gold_dev": str(Path(gold_dev).resolve()) if gold_dev else None,
            "world_size": _world_size(), "task": kind.name}
    resume_from = _prepare_checkpoints(ckpt_dir, meta, resume)

    finite = FiniteLossCallback()
    trainer = _make_trainer(kind, model, tok, train_ds, eval_ds, ckpt_dir, config, progress,
                            [*(callbacks or []), finite], stop_after_steps, collator)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    summary = _summary(kind, labels, rows, student_path, config, prep, dev, gold_dev, eval_ds, resume_from,
                       trainer.state, result, time.time() - t0)
    _refuse_divergence(trainer, finite, summary, ckpt_dir, config)
    interrupted = bool(stop_after_steps) and trainer.state.global_step < trainer.state.max_steps
    summary["interrupted"] = interrupted
    if interrupted:
        return summary
    if eval_ds is not None:
        final = trainer.evaluate()
        summary["final_eval"] = {k: float(v) for k, v in final.items() if isinstance(v, (int, float))}
    if kind.multi_label:
        summary["thresholds"] = _tune_thresholds(kind, trainer, eval_ds, rows.names, dev is not None)
    _save(trainer, tok, rows, labels, out, summary, config)
    _barrier()
    return summary


def check_labels_task(labels: str | os.PathLike, kind) -> None:
    """Refuse labels made for another task kind (``teacher.json`` beside them records it; labels
    made before task kinds were recorded are classification)."""
    info = _read_json(Path(labels).parent / "teacher.json") or {}
    made_for = info.get("task", DEFAULT_TASK) if isinstance(info, dict) else DEFAULT_TASK
    if made_for != kind.name:
        raise UserError(f"{labels} holds labels for the task {made_for!r}, not {kind.name!r}; "
                        f"train with --task {made_for} (task: {made_for} in a config)")


def _read_gold_dev(rows, gold_dev, text_column, label_column, kind=None):
    """The gold dev set for early stopping (instead of a held-out slice of teacher labels), or None.
    A sentence-pair kind reads the second text from the column the label set's preset names."""
    if gold_dev is None:
        return None
    from distill.data.labelset import LabelSet
    from distill.data.reader import load_texts

    ls = rows.labelset if rows.labelset is not None else LabelSet.from_spec(",".join(rows.names))
    pair_column = None
    if kind is not None and "text_pair" in kind.fields:
        from distill.data.reader import pair_column_hint

        pair_column = pair_column_hint(ls)
        if pair_column is None:
            raise UserError(f"--gold-dev {gold_dev}: task {kind.name} reads two texts per row, and the label set "
                            f"names no second text column; use the pipeline config's gold.text_pair_column")
    dev = load_texts(gold_dev, text_column=text_column, label_column=label_column, labelset=ls,
                     text_pair_column=pair_column, **(kind.reader_options(ls) if kind is not None else {}))
    if dev.gold is None:
        raise UserError(f"--gold-dev {gold_dev} has no gold label column (pass --label-column)")
    return dev


def _datasets(kind, tok, rows, prep, dev, config: DistillationConfig):
    """(training set, held-out set or None): the gold dev set when given, else the held-out slice of
    the teacher labels; the texts encoded by the task kind."""
    names = rows.names
    train_ds = EncodedDataset(
        kind.encode(tok, [rows.texts[i] for i in prep.train_idx], config.max_length), prep.hard[prep.train_idx],
        rows.probs[prep.train_idx], prep.weights[prep.train_idx],
    )
    eval_ds = None
    if dev is not None and kind.multi_label:  # gold label sets -> 0/1 targets per label
        from distill.evaluation.metrics import multi_hot

        y = multi_hot(dev.gold, names).astype(np.float32)
        eval_ds = EncodedDataset(kind.encode(tok, dev.texts, config.max_length), y, y, np.ones(len(y)))
    elif dev is not None:
        g = np.array([names.index(x) for x in dev.gold])
        eval_ds = EncodedDataset(kind.encode(tok, dev.texts, config.max_length), g,
                                 np.eye(len(names))[g], np.ones(len(g)))
    elif len(prep.eval_idx):
        ev = prep.eval_idx
        eval_ds = EncodedDataset(kind.encode(tok, [rows.texts[i] for i in ev], config.max_length),
                                 prep.hard[ev] if kind.multi_label else np.asarray(rows.teacher)[ev], rows.probs[ev],
                                 np.ones(len(ev)))
    return train_ds, (eval_ds if eval_ds is not None and len(eval_ds) > 0 else None)


# checkpoints recorded before a key existed had this value
_META_DEFAULTS = {"task": DEFAULT_TASK}


def _prepare_checkpoints(ckpt_dir: Path, meta: dict, resume: bool) -> str | None:
    """The checkpoint to resume from, or None. Checkpoints are resumed only when they were made from
    the same labels, student and options (``meta``, kept in ``run.json``); others are removed."""
    from core.atomic import write_json

    resume_from = None
    restart = False
    if ckpt_dir.is_dir() and resume:
        last = last_complete_checkpoint(ckpt_dir)
        if last is not None:
            from core.rundir import read_state

            old = read_state(ckpt_dir / RUN_META, "checkpoint record")
            old = old if isinstance(old, dict) else {}
            diff = [k for k in meta if old.get(k, _META_DEFAULTS.get(k)) != meta[k]]
            if diff:
                # checkpoints of another job (other labels/options) cannot be continued: start over
                _warn(f"checkpoints in {ckpt_dir} were made with different {', '.join(diff)}; "
                      f"starting over")
                restart = True
            else:
                resume_from = last
    if _is_main():
        if ckpt_dir.is_dir() and (not resume or restart):
            shutil.rmtree(ckpt_dir)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        write_json(ckpt_dir / RUN_META, meta)
    _barrier()
    return resume_from


def _training_arguments(ckpt_dir: Path, config: DistillationConfig, n_train: int, has_eval: bool,
                        best_metric: str, progress: bool):
    """The ``TrainingArguments``: schedule, evaluation/checkpoint cadence, and the process setup."""
    from transformers import TrainingArguments

    world = _world_size()
    steps_per_epoch = max(1, math.ceil(n_train / (config.batch_size * world)))
    total_steps = config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    eval_steps = max(1, steps_per_epoch // config.evals_per_epoch)
    return TrainingArguments(
        output_dir=str(ckpt_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=max(config.batch_size, 64),
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.lr,
        weight_decay=config.weight_decay,
        warmup_steps=int(round(config.warmup_ratio * total_steps)),
        lr_scheduler_type="linear",
        eval_strategy="steps" if has_eval else "no",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=config.save_total_limit,
        load_best_model_at_end=has_eval,
        metric_for_best_model=best_metric if has_eval else None,
        greater_is_better=True if has_eval else None,
        logging_steps=max(1, min(50, eval_steps)),
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        remove_unused_columns=False,
        label_names=["labels"],
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not progress,
        ddp_find_unused_parameters=False,
        # CPU-only machines: say so, or several processes (torchrun) would each train alone;
        # gloo is the CPU backend. On GPUs Trainer/accelerate pick nccl and one device per process.
        use_cpu=not torch.cuda.is_available(),
        ddp_backend="gloo" if (not torch.cuda.is_available() and world > 1) else None,
        save_safetensors=True,
    )


def _make_trainer(kind, model, tok, train_ds, eval_ds, ckpt_dir: Path, config: DistillationConfig, progress: bool,
                  callbacks: list, stop_after_steps: int | None, collator=None):
    """The task kind's Trainer (its loss) with the arguments, the data and the callbacks."""
    from transformers import EarlyStoppingCallback

    has_eval = eval_ds is not None
    args = _training_arguments(ckpt_dir, config, len(train_ds), has_eval, kind.best_metric, progress)
    cbs = list(callbacks)
    if has_eval and config.patience > 0:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    if stop_after_steps:
        cbs.append(StopAfterStepsCallback(stop_after_steps))
    trainer_cls, loss_options = kind.trainer(config)
    trainer = trainer_cls(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                          data_collator=collator or Collator(tok), compute_metrics=kind.training_metrics if has_eval else None,
                          callbacks=cbs, **loss_options)
    if not progress:  # --quiet: no per-step log dicts either
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def _summary(kind, labels, rows, student_path, config: DistillationConfig, prep, dev, gold_dev, eval_ds,
             resume_from, state, result, elapsed: float) -> dict:
    """What the training did (RUN_DIR/train.json)."""
    best = f"eval_{kind.best_metric}"
    return {
        "labels_file": str(Path(labels).resolve()),
        "labels_sha256": rows.sha256,
        "student_base": str(student_path),
        "labels": rows.names,
        "task": kind.name,
        "config": config.to_dict(),
        "data": prep.stats,
        "early_stopping": ("gold dev " + str(gold_dev)) if dev is not None else
                          (f"held-out {len(prep.eval_idx)} teacher-labelled rows" if eval_ds is not None else "none"),
        "resumed_from": resume_from,
        "global_step": int(state.global_step),
        "max_steps": int(state.max_steps),
        "epochs_done": float(state.epoch or 0.0),
        "train_loss": float(result.training_loss) if result.training_loss is not None else None,
        "train_seconds": round(elapsed, 2),
        "world_size": _world_size(),
        "best_checkpoint": state.best_model_checkpoint,
        "best_eval_accuracy": state.best_metric,
        "eval_history": [
            {k: v for k, v in h.items() if k in ("step", "epoch", "eval_accuracy", "eval_macro_f1", "eval_loss", best)}
            for h in state.log_history if best in h
        ],
    }


def _tune_thresholds(kind, trainer, eval_ds, names: list[str], gold: bool) -> dict:
    """Per-label decision thresholds of a multi-label student, tuned on the held-out set (the gold
    dev set when given, else the held-out teacher-labelled rows: teacher p >= 0.5) and stored in the
    student's config.json (``distill_thresholds``); 0.5 for every label without a held-out set."""
    from distill.evaluation.metrics import apply_thresholds, multilabel_metrics, tune_thresholds
    from distill.tasks.multilabel import THRESHOLDS_KEY

    model = trainer.accelerator.unwrap_model(trainer.model)
    if eval_ds is None:
        thresholds, source, figures = [0.5] * len(names), "none (no held-out rows): 0.5 for every label", {}
    else:
        out = trainer.predict(eval_ds)
        logits = out.predictions[0] if isinstance(out.predictions, (tuple, list)) else out.predictions
        probs = 1.0 / (1.0 + np.exp(-np.asarray(logits, dtype=np.float64)))
        y = np.asarray(out.label_ids) >= 0.5
        thresholds = tune_thresholds(probs, y)
        gold_sets = [tuple(n for n, on in zip(names, row) if on) for row in y]
        at_half = multilabel_metrics(gold_sets, apply_thresholds(probs, names), names)["micro_f1"]
        tuned = multilabel_metrics(gold_sets, apply_thresholds(probs, names, thresholds), names)["micro_f1"]
        source = (f"gold dev set ({len(y)} texts)" if gold else f"held-out teacher-labelled rows ({len(y)})")
        figures = {"micro_f1_at_0.5": at_half, "micro_f1_tuned": tuned}
    setattr(model.config, THRESHOLDS_KEY, [round(float(t), 4) for t in thresholds])
    return {"values": dict(zip(names, thresholds)), "tuned_on": source, **figures}


def _refuse_divergence(trainer, finite, summary: dict, ckpt_dir: Path, config: DistillationConfig) -> None:
    """A NaN/inf loss, gradient or weight: remove the checkpoints (never resume from them) and fail."""
    state = trainer.state
    bad_param = check_finite_model(trainer.model)
    if finite.bad is not None or bad_param is not None or (summary["train_loss"] is not None
                                                            and not math.isfinite(summary["train_loss"])):
        step, key, value = finite.bad or (int(state.global_step), "train_loss", summary["train_loss"])
        what = f"the {key.replace('_', ' ')} became {value} at step {step}" if finite.bad or bad_param is None \
            else f"the weights became non-finite ({bad_param})"
        if _is_main():  # the checkpoints hold the diverged weights: never resume from them
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        raise UserError(f"training diverged: {what} (--lr {config.lr:g}, --temperature {config.temperature:g}); "
                        f"no student was saved; lower --lr and train again")


def _save(trainer, tok, rows, labels, out: Path, summary: dict, config: DistillationConfig) -> None:
    """RUN_DIR/student (the model, its card, its label set) and RUN_DIR/train.json (main process)."""
    if not trainer.is_world_process_zero():
        return
    from core.atomic import write_json
    from distill.evaluation.report import build_model_card
    from distill.training.modeling import save_student

    teacher_info = _read_json(Path(labels).parent / "teacher.json")
    card = build_model_card(summary, teacher_info, evaluation=None)
    save_student(trainer.accelerator.unwrap_model(trainer.model), tok, out / STUDENT, card, config.max_length)
    if rows.labelset is not None:
        write_json(out / STUDENT / "labelset.json", rows.labelset.to_dict())
    write_json(out / "train.json", summary)


def _readable_json(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
        return True
    except (OSError, ValueError):
        return False


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
