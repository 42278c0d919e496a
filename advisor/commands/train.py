"""``advisor distill train`` (student on teacher probabilities) and ``advisor distill evaluate``
(student vs teacher vs TF-IDF peer on a gold set). Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path

import click

from distill.training.config import DistillationConfig
from core.limits import option_type as _num

_D = DistillationConfig()


@click.command()
@click.option("--labels", "labels", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Teacher labels (RUN_DIR/labels.jsonl from `advisor distill label`).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory: writes OUT/student/, OUT/checkpoints/, OUT/train.json.")
@click.option("--student", type=click.Path(path_type=Path), default=None,
              help="Local Hugging Face encoder directory [default: embedded all-MiniLM-L6-v2].")
@click.option("--layers", type=_num("student.layers"), default=None,
              help="Keep only the student's bottom N transformer layers (faster student; default: all).")
@click.option("--temperature", type=_num("training.temperature"), default=_D.temperature, show_default=True,
              help="Softening temperature T of the KL term.")
@click.option("--alpha", type=_num("training.alpha"), default=_D.alpha, show_default=True,
              help="Weight of the soft KL term (0 = hard labels only).")
@click.option("--threshold", type=_num("training.threshold"), default=_D.threshold, show_default=True,
              help="Drop training rows whose teacher confidence is below this.")
@click.option("--weighting", type=click.Choice(["confidence", "none"]), default=_D.weighting, show_default=True,
              help="Per-example weight.")
@click.option("--balance/--no-balance", default=_D.balance, show_default=True,
              help="Inverse-frequency class weights on the hard labels.")
@click.option("--hard-label", type=click.Choice(["teacher", "gold"]), default=_D.hard_label, show_default=True,
              help="Hard label of the CE term: the teacher's argmax, or gold where a row has it.")
@click.option("--epochs", type=_num("training.epochs"), default=_D.epochs, show_default=True)
@click.option("--batch-size", type=_num("training.batch_size"), default=_D.batch_size, show_default=True, help="Per process/device.")
@click.option("--lr", type=_num("training.lr"), default=_D.lr, show_default=True)
@click.option("--max-length", type=_num("training.max_length"), default=_D.max_length, show_default=True, help="Tokens per text.")
@click.option("--eval-fraction", type=_num("training.eval_fraction"), default=_D.eval_fraction, show_default=True,
              help="Held-out slice of the teacher labels for early stopping (unused with --gold-dev).")
@click.option("--patience", type=_num("training.patience"), default=_D.patience, show_default=True,
              help="Evaluations without improvement before early stopping (0: off).")
@click.option("--max-steps", type=_num("training.max_steps"), default=_D.max_steps, show_default=True,
              help="Stop after this many steps (overrides --epochs when > 0).")
@click.option("--gold-dev", type=click.Path(path_type=Path), default=None,
              help="Gold-labelled dev file for early stopping instead of held-out teacher labels.")
@click.option("--text-column", default=None, help="Text column of --gold-dev.")
@click.option("--label-column", default=None, help="Label column of --gold-dev.")
@click.option("--seed", type=_num("training.seed"), default=_D.seed, show_default=True)
@click.option("--resume/--no-resume", default=True, show_default=True,
              help="Continue from the last checkpoint in OUT/checkpoints (or start over).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(labels, out, student, layers, temperature, alpha, threshold, weighting, balance, hard_label, epochs,
          batch_size, lr, max_length, eval_fraction, patience, max_steps, gold_dev, text_column,
          label_column, seed, resume, quiet):
    """Train a small encoder student on the teacher's probabilities (knowledge distillation)."""
    config = DistillationConfig(
        temperature=temperature, alpha=alpha, threshold=threshold, weighting=weighting, balance=balance,
        hard_label=hard_label, epochs=epochs, batch_size=batch_size, lr=lr, max_length=max_length,
        eval_fraction=eval_fraction, patience=patience, max_steps=max_steps, seed=seed, layers=layers,
    ).validate()
    from core.errors import UserError
    from core.rundir import check_creatable

    check_creatable(out, "--out")
    if not labels.is_file():
        raise UserError(f"labels file {labels} not found (run `advisor distill label` first)")
    if not labels.read_bytes().strip():  # before the slow torch/transformers import
        raise UserError(f"labels file {labels} is empty")
    _check_student_reads(labels, student)
    from distill.training.processes import is_main as _is_main
    from distill.training.train import train_student

    s = train_student(labels, out, config, student=student, gold_dev=gold_dev, gold_text_column=text_column,
                      gold_label_column=label_column, resume=resume, progress=not quiet)
    if _is_main():
        d = s["data"]
        click.echo(
            f"student: {out / 'student'}  ({d['train']} training rows, {d['eval']} held out, "
            f"{d['abstained']} abstained, {d['dropped_by_threshold']} below threshold; "
            f"{s['global_step']} steps{', resumed from ' + Path(s['resumed_from']).name if s['resumed_from'] else ''}; "
            f"best held-out accuracy "
            f"{'n/a' if s['best_eval_accuracy'] is None else format(s['best_eval_accuracy'], '.3f')})"
        )


def _check_student_reads(labels: Path, student) -> None:
    """Refuse a student whose tokenizer cannot read the labelled texts (before the slow training)."""
    import json

    from distill.defaults import default_student_dir
    from distill.training.student_check import check_student_reads

    texts = []
    with open(labels, encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the trainer reports a malformed file
            if isinstance(row, dict) and isinstance(row.get("text"), str):
                texts.append(row["text"])
            if len(texts) >= 200:
                break
    check_student_reads(student or default_student_dir(), texts, where="--student")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--gold", required=True, type=click.Path(path_type=Path), help="Gold-labelled file.")
@click.option("--text-column", default=None)
@click.option("--label-column", default=None)
@click.option("--limit", type=_num("gold.limit"), default=None, help="Evaluate on the first N gold texts only.")
@click.option("--teacher-labels", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The teacher's labels.jsonl for the gold file (from `advisor distill label`); "
                   "default: re-run the teacher recorded in RUN_DIR/teacher.json.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def evaluate(run_dir, gold, text_column, label_column, limit, teacher_labels, quiet):
    """Compare student, teacher and a TF-IDF + logistic-regression peer on gold labels."""
    from distill.evaluation.evaluate import evaluate_run
    from distill.evaluation.report import comparison_table

    ev = evaluate_run(run_dir, gold, text_column=text_column, label_column=label_column,
                      teacher_labels=teacher_labels, progress=not quiet, limit=limit)
    click.echo("\n".join(comparison_table(ev)))
    click.echo(f"report: {Path(run_dir) / 'report.md'}  metrics: {Path(run_dir) / 'metrics.json'}")
