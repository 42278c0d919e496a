"""Student training on ``transformers.Trainer``.

* :class:`StudentTrainer`: a ``Trainer`` that fine-tunes on hard labels with per-example weights
  (weighted cross-entropy). :class:`distill.trainer_distillation.DistillationTrainer` subclasses it
  and overrides ``compute_loss`` with the soft+hard distillation loss (as SetFit does).
* :func:`train_student`: the whole job behind ``advisor distill train``: read labels.jsonl, build
  the training / held-out data, checkpoint to RUN_DIR/checkpoints (resumable), early-stop, save
  RUN_DIR/student and RUN_DIR/train.json. No hand-written loop, so ``torchrun`` /
  ``accelerate launch`` run the same code on several processes or GPUs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advisor.errors import UserError
from advisor.offline import force_offline
from distill.config import DistillationConfig

force_offline()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from transformers import Trainer, TrainerCallback  # noqa: E402

CHECKPOINTS = "checkpoints"
STUDENT = "student"
RUN_META = "run.json"


# ----------------------------------------------------------------------------------- trainers
class StudentTrainer(Trainer):
    """``Trainer`` fine-tuning on hard ``labels``, each example weighted by ``weights`` (if present):
    loss = sum_i w_i CE_i / sum_i w_i. Extra batch keys (``teacher_probs``) are ignored."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # our loss is a per-batch weighted mean and ignores num_items_in_batch, so let Trainer
        # divide by the gradient-accumulation steps itself
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        inputs.pop("teacher_probs", None)
        weights = inputs.pop("weights", None)
        outputs = model(**inputs)
        ce = F.cross_entropy(outputs.logits.float(), labels, reduction="none")
        if weights is None:
            loss = ce.mean()
        else:
            w = weights.float()
            loss = (w * ce).sum() / w.sum().clamp_min(1e-8)
        return (loss, outputs) if return_outputs else loss


# ----------------------------------------------------------------------------------- data
@dataclass
class LabelledRows:
    """Teacher labels read from labels.jsonl, usable rows only (abstentions skipped)."""

    names: list[str]
    texts: list[str]
    probs: np.ndarray  # (n, k), rows sum to 1, label-set order
    teacher: list[int]  # teacher hard label (argmax / "label")
    gold: list[int | None]
    ids: list[str]
    n_lines: int = 0
    n_abstained: int = 0
    sha256: str = ""
    labelset: object = None


def _load_labelset_for(labels_path: Path, labelset=None):
    from distill.labelset import LabelSet

    if labelset is not None:
        return LabelSet.from_spec(labelset) if not isinstance(labelset, LabelSet) else labelset
    side = labels_path.parent / "labelset.json"
    if side.is_file():
        try:
            return LabelSet.from_dict(json.loads(side.read_text(encoding="utf-8")), source=str(side))
        except json.JSONDecodeError as exc:
            raise UserError(f"{side} is not valid JSON ({exc.msg})") from None
    return None


def _json_type(v) -> str:
    return {bool: "boolean", int: "number", float: "number", list: "list", dict: "object"}.get(type(v), type(v).__name__)


def read_labels(path: str | os.PathLike, labelset=None) -> LabelledRows:
    """Parse and validate labels.jsonl (the contract in docs/dev/CONTRACTS.md).

    The label set comes from ``labelset`` (a spec or LabelSet), else ``labelset.json`` beside the
    file, else the ``probs`` keys of the first row. Every row's ``probs`` must have exactly the
    label-set's names; ``label`` and ``gold`` must be names of the set.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"labels file {path} not found (run `advisor distill label` first)")
    raw = path.read_bytes()
    if not raw.strip():
        raise UserError(f"labels file {path} is empty")
    ls = _load_labelset_for(path, labelset)
    names = list(ls.names) if ls is not None else None
    texts, probs, teacher, gold, ids = [], [], [], [], []
    n_lines = n_abst = n_empty = 0
    for lineno, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        n_lines += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path.name}: line {lineno} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict) or "text" not in row or "probs" not in row:
            raise UserError(f"{path.name}: line {lineno} is not a teacher label row (needs 'text' and 'probs')")
        p = row["probs"]
        if not isinstance(p, dict):
            raise UserError(f"{path.name}: line {lineno}: 'probs' must be an object label -> probability")
        if names is None:
            names = list(p)
            if len(names) < 2:
                raise UserError(f"{path.name}: line {lineno}: 'probs' needs at least two labels")
        if set(p) != set(names):
            raise UserError(
                f"{path.name}: line {lineno} has labels ({', '.join(map(str, p))}) that do not match the "
                f"label set ({', '.join(names)}); was it made with another label set?"
            )
        label = row.get("label")
        if row.get("source") == "abstained" or label is None:
            n_abst += 1
            continue
        try:
            vec = np.array([float(p[n]) for n in names], dtype=np.float64)
        except (TypeError, ValueError):
            raise UserError(f"{path.name}: line {lineno}: probabilities must be numbers") from None
        if not np.all(np.isfinite(vec)) or (vec < 0).any() or vec.sum() <= 0:
            raise UserError(f"{path.name}: line {lineno}: probabilities must be finite, >= 0 and not all 0")
        if label not in names:
            raise UserError(f"{path.name}: line {lineno}: label {label!r} is not in the label set ({', '.join(names)})")
        g = row.get("gold")
        if g is not None:
            if g not in names:
                if ls is not None:
                    g = ls.normalize(g)
                else:
                    raise UserError(f"{path.name}: line {lineno}: gold label {g!r} is not in the label set ({', '.join(names)})")
            gold.append(names.index(g))
        else:
            gold.append(None)
        text = row["text"]
        if not isinstance(text, str):
            raise UserError(f"{path.name}: line {lineno}: 'text' must be a string, got a JSON {_json_type(text)}")
        if not text.strip():
            n_empty += 1
            gold.pop()
            continue
        texts.append(text)
        probs.append(vec / vec.sum())
        teacher.append(names.index(label))
        ids.append(str(row.get("id", lineno - 1)))
    if n_lines == 0:
        raise UserError(f"labels file {path} is empty")
    if not texts:
        why = [f"{n_abst} abstained by the teacher" if n_abst else "", f"{n_empty} with an empty text" if n_empty else ""]
        raise UserError(f"labels file {path} has no usable rows ({', '.join(w for w in why if w)})")
    return LabelledRows(
        names=names, texts=texts, probs=np.stack(probs), teacher=teacher, gold=gold, ids=ids,
        n_lines=n_lines, n_abstained=n_abst, sha256=hashlib.sha256(raw).hexdigest(), labelset=ls,
    )


class EncodedDataset(torch.utils.data.Dataset):
    """Pre-tokenised rows (unpadded) plus ``labels``, ``teacher_probs`` and ``weights``."""

    def __init__(self, encodings: dict, labels, teacher_probs, weights):
        self.enc = encodings
        self.labels = [int(x) for x in labels]
        self.teacher_probs = np.asarray(teacher_probs, dtype=np.float32)
        self.weights = np.asarray(weights, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        item = {k: v[i] for k, v in self.enc.items()}
        item["labels"] = self.labels[i]
        item["teacher_probs"] = self.teacher_probs[i]
        item["weights"] = float(self.weights[i])
        return item


class Collator:
    """Pads the token fields with the tokenizer; stacks labels / teacher_probs / weights."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        # pre-tokenised rows are padded here on purpose; silence the "use __call__" advice
        getattr(tokenizer, "deprecation_warnings", {})["Asking-to-pad-a-fast-tokenizer"] = True

    def __call__(self, features: list[dict]) -> dict:
        tok = [{k: v for k, v in f.items() if k not in ("labels", "teacher_probs", "weights")} for f in features]
        batch = self.tokenizer.pad(tok, padding=True, return_tensors="pt")
        batch = dict(batch)
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
        batch["teacher_probs"] = torch.tensor(np.stack([f["teacher_probs"] for f in features]), dtype=torch.float32)
        batch["weights"] = torch.tensor([f["weights"] for f in features], dtype=torch.float32)
        return batch


@dataclass
class PreparedData:
    train_idx: np.ndarray
    eval_idx: np.ndarray
    hard: np.ndarray  # hard label per row (teacher argmax or gold)
    weights: np.ndarray  # per row, training weight (confidence x class balance)
    confidence: np.ndarray
    dropped_threshold: int = 0
    class_weights: list[float] = field(default_factory=list)
    stats: dict = field(default_factory=dict)


def prepare_rows(rows: LabelledRows, config: DistillationConfig, has_gold_dev: bool = False) -> PreparedData:
    """Split off the held-out slice, pick hard labels, drop low-confidence rows, compute weights.

    The held-out slice (``eval_fraction`` of the usable rows, seeded) is taken before the
    threshold filter, so early stopping sees the teacher's full distribution.
    """
    n, k = rows.probs.shape
    conf = rows.probs.max(axis=1)
    hard = np.asarray(rows.teacher, dtype=np.int64).copy()
    n_gold_used = 0
    if config.hard_label == "gold":
        for i, g in enumerate(rows.gold):
            if g is not None:
                hard[i] = g
                n_gold_used += 1
    rng = np.random.default_rng(config.seed)
    perm = rng.permutation(n)
    n_eval = 0 if has_gold_dev else int(round(config.eval_fraction * n))
    if n_eval and n - n_eval < 2:
        n_eval = 0
    eval_idx = np.sort(perm[:n_eval])
    train_idx = np.sort(perm[n_eval:])
    keep = conf[train_idx] >= config.threshold
    dropped = int((~keep).sum())
    train_idx = train_idx[keep]
    if len(train_idx) == 0:
        raise UserError(
            f"--threshold {config.threshold} drops every training row (highest teacher confidence is "
            f"{conf.max():.3f}); lower it"
        )
    w = conf.copy() if config.weighting == "confidence" else np.ones(n)
    counts = np.bincount(hard[train_idx], minlength=k).astype(np.float64)
    present = [rows.names[i] for i in range(k) if counts[i] > 0]
    if len(present) < 2:
        raise UserError(
            f"all {len(train_idx)} training rows have the same label ({present[0] if present else '?'}): a "
            f"classifier cannot learn from one class; label more varied data, or check the teacher "
            f"(teacher_report.md: it may answer one label for everything)")
    if len(present) < k:
        _warn(f"no training rows for {', '.join(n for n in rows.names if n not in present)}: the student "
              f"will never predict it")
    if config.balance:
        cw = np.where(counts > 0, len(train_idx) / (k * np.maximum(counts, 1)), 0.0)
    else:
        cw = np.ones(k)
    w = w * cw[hard]
    stats = {
        "rows": int(rows.n_lines), "abstained": int(rows.n_abstained), "usable": int(n),
        "train": int(len(train_idx)), "eval": int(len(eval_idx)), "dropped_by_threshold": dropped,
        "hard_label_source": config.hard_label, "gold_used_as_hard_label": int(n_gold_used),
        "train_class_counts": {rows.names[i]: int(c) for i, c in enumerate(counts)},
        "class_weights": {rows.names[i]: float(c) for i, c in enumerate(cw)},
        "mean_teacher_confidence": float(conf.mean()),
    }
    return PreparedData(train_idx=train_idx, eval_idx=eval_idx, hard=hard, weights=w, confidence=conf,
                        dropped_threshold=dropped, class_weights=cw.tolist(), stats=stats)


def _encode(tokenizer, texts: list[str], max_length: int) -> dict:
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    return {k: v for k, v in enc.items()}


def compute_accuracy(eval_pred) -> dict:
    logits, labels = eval_pred.predictions, eval_pred.label_ids
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    pred = np.asarray(logits).argmax(-1)
    labels = np.asarray(labels)
    from sklearn.metrics import f1_score

    return {"accuracy": float((pred == labels).mean()),
            "macro_f1": float(f1_score(labels, pred, average="macro", zero_division=0))}


class StopAfterStepsCallback(TrainerCallback):
    """Stop training (as an interruption would) once ``global_step`` reaches ``step``, right after
    that step's checkpoint. Used by tests and smoke runs to exercise resume."""

    def __init__(self, step: int):
        self.step = int(step)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            control.should_save = True
            control.should_training_stop = True
        return control


class FiniteLossCallback(TrainerCallback):
    """Stop at the first logged loss (or gradient norm) that is NaN or infinite: the weights are
    garbage from then on, so training ends and the stage fails instead of saving them."""

    def __init__(self):
        self.bad: tuple[int, str, float] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "grad_norm", "eval_loss"):
            v = (logs or {}).get(key)
            if isinstance(v, (int, float)) and not math.isfinite(v) and self.bad is None:
                self.bad = (int(state.global_step), key, float(v))
                control.should_training_stop = True
                control.should_save = False
        return control


def check_finite_model(model) -> str | None:
    """The name of the first parameter holding NaN/inf, or None."""
    import torch

    for name, p in model.named_parameters():
        if not torch.isfinite(p).all():
            return name
    return None


class InterruptedTraining(Exception):
    pass


# ----------------------------------------------------------------------------------- the job
def _world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _warn(msg: str) -> None:
    import sys

    if _is_main():
        print(f"warning: {msg}", file=sys.stderr, flush=True)


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


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

    from distill.rundir import run_lock

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
) -> dict:
    """Train the student; returns the summary also written to RUN_DIR/train.json.

    ``stop_after_steps`` ends training early (checkpoint kept, no student saved) to simulate an
    interruption; the next call with ``resume=True`` continues from the last checkpoint.
    """
    from transformers import EarlyStoppingCallback, TrainingArguments, set_seed

    from advisor.atomic import write_json
    from distill.modeling import load_student, save_student
    from distill.report import build_model_card
    from distill.trainer_distillation import DistillationTrainer

    config = (config or DistillationConfig()).validate()
    out = Path(out)
    rows = read_labels(labels, labelset=labelset)
    names = rows.names

    # gold dev set (early stopping on gold instead of a held-out slice of teacher labels)
    dev = None
    if gold_dev is not None:
        from distill.data import load_texts
        from distill.labelset import LabelSet

        ls = rows.labelset if rows.labelset is not None else LabelSet.from_spec(",".join(names))
        dev = load_texts(gold_dev, text_column=gold_text_column, label_column=gold_label_column, labelset=ls)
        if dev.gold is None:
            raise UserError(f"--gold-dev {gold_dev} has no gold label column (pass --label-column)")
    prep = prepare_rows(rows, config, has_gold_dev=dev is not None)
    set_seed(config.seed)
    model, tok, student_path = load_student(student, names, layers=config.layers)

    train_texts = [rows.texts[i] for i in prep.train_idx]
    train_ds = EncodedDataset(
        _encode(tok, train_texts, config.max_length), prep.hard[prep.train_idx],
        rows.probs[prep.train_idx], prep.weights[prep.train_idx],
    )
    eval_ds = None
    if dev is not None:
        g = np.array([names.index(x) for x in dev.gold])
        eval_ds = EncodedDataset(_encode(tok, dev.texts, config.max_length), g,
                                 np.eye(len(names))[g], np.ones(len(g)))
    elif len(prep.eval_idx):
        ev = prep.eval_idx
        eval_ds = EncodedDataset(_encode(tok, [rows.texts[i] for i in ev], config.max_length),
                                 np.asarray(rows.teacher)[ev], rows.probs[ev], np.ones(len(ev)))

    # checkpoints: resume only when they were made from the same labels, student and options
    ckpt_dir = out / CHECKPOINTS
    meta = {"labels_sha256": rows.sha256, "config_fingerprint": config.fingerprint(),
            "student": str(Path(student_path).resolve()), "labels": names,
            "gold_dev": str(Path(gold_dev).resolve()) if gold_dev else None,
            "world_size": _world_size()}
    resume_from = None
    restart = False
    if ckpt_dir.is_dir() and resume:
        last = last_complete_checkpoint(ckpt_dir)
        if last is not None:
            from distill.rundir import read_state

            old = read_state(ckpt_dir / RUN_META, "checkpoint record")
            old = old if isinstance(old, dict) else {}
            diff = [k for k in meta if old.get(k) != meta[k]]
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

    world = _world_size()
    steps_per_epoch = max(1, math.ceil(len(train_ds) / (config.batch_size * world)))
    total_steps = config.max_steps if config.max_steps > 0 else math.ceil(steps_per_epoch * config.epochs)
    eval_steps = max(1, steps_per_epoch // config.evals_per_epoch)
    has_eval = eval_ds is not None and len(eval_ds) > 0
    args = TrainingArguments(
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
        metric_for_best_model="accuracy" if has_eval else None,
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
    finite = FiniteLossCallback()
    cbs = list(callbacks or []) + [finite]
    if has_eval and config.patience > 0:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=config.patience))
    if stop_after_steps:
        cbs.append(StopAfterStepsCallback(stop_after_steps))
    common = dict(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds if has_eval else None,
                  data_collator=Collator(tok), compute_metrics=compute_accuracy if has_eval else None,
                  callbacks=cbs)
    if config.alpha > 0:
        trainer = DistillationTrainer(**common, temperature=config.temperature, alpha=config.alpha)
    else:
        trainer = StudentTrainer(**common)  # alpha = 0: hard labels only

    if not progress:  # --quiet: no per-step log dicts either
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    elapsed = time.time() - t0
    state = trainer.state
    summary = {
        "labels_file": str(Path(labels).resolve()),
        "labels_sha256": rows.sha256,
        "student_base": str(student_path),
        "labels": names,
        "config": config.to_dict(),
        "data": prep.stats,
        "early_stopping": ("gold dev " + str(gold_dev)) if dev is not None else
                          (f"held-out {len(prep.eval_idx)} teacher-labelled rows" if has_eval else "none"),
        "resumed_from": resume_from,
        "global_step": int(state.global_step),
        "max_steps": int(state.max_steps),
        "epochs_done": float(state.epoch or 0.0),
        "train_loss": float(result.training_loss) if result.training_loss is not None else None,
        "train_seconds": round(elapsed, 2),
        "world_size": world,
        "best_checkpoint": state.best_model_checkpoint,
        "best_eval_accuracy": state.best_metric,
        "eval_history": [
            {k: v for k, v in h.items() if k in ("step", "epoch", "eval_accuracy", "eval_macro_f1", "eval_loss")}
            for h in state.log_history if "eval_accuracy" in h
        ],
    }
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
    interrupted = bool(stop_after_steps) and state.global_step < state.max_steps
    summary["interrupted"] = interrupted
    if interrupted:
        return summary
    if has_eval:
        final = trainer.evaluate()
        summary["final_eval"] = {k: float(v) for k, v in final.items() if isinstance(v, (int, float))}
    if trainer.is_world_process_zero():
        teacher_info = _read_json(Path(labels).parent / "teacher.json")
        card = build_model_card(summary, teacher_info, evaluation=None)
        save_student(trainer.accelerator.unwrap_model(trainer.model), tok, out / STUDENT, card, config.max_length)
        if rows.labelset is not None:
            write_json(out / STUDENT / "labelset.json", rows.labelset.to_dict())
        write_json(out / "train.json", summary)
    _barrier()
    return summary


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
