"""``advisor export`` (student -> verified int8 ONNX bundle, ``export bench``) and ``advisor predict``.

``export`` is a click group with a default command: ``advisor export STUDENT_DIR --out BUNDLE`` runs
``advisor export model STUDENT_DIR --out BUNDLE`` (any first argument that is not a subcommand
name goes to ``model``), and ``advisor export bench BUNDLE`` runs the benchmark. A student
directory literally named ``bench`` is exported with ``advisor export ./bench`` or ``export model``.

Heavy imports (optimum, torch, onnxruntime) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import click

from core.errors import UserError
from core.limits import option_type as _num

from core.progress import progress_bar
from core.schema import option
from export.config import BenchConfig, ExportConfig  # light: export.onnx imports nothing heavy at import


class DefaultGroup(click.Group):
    """A group that runs ``default_command`` when the first argument is not a subcommand name."""

    def __init__(self, *args, default_command: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.default_command = default_command

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def format_usage(self, ctx, formatter):
        formatter.write_usage(ctx.command_path, "STUDENT_DIR --out BUNDLE_DIR [OPTIONS] | bench BUNDLE_DIR [OPTIONS]")


def _verification_options(func):
    """The options that say what to verify on and how strictly (``export`` and ``export verify``)."""
    options = [
        option(ExportConfig, "max_drop"),
        option(ExportConfig, "atol"),
        click.option("--eval-data", type=click.Path(path_type=Path), default=None,
                     help="Texts (+gold) for verification; default: RUN_DIR/labels.jsonl beside the student."),
        click.option("--text-column", default=None, help="Text column of --eval-data."),
        click.option("--text-pair-column", default=None,
                     help="Second text column of --eval-data (a sentence-pair student, task pairs)."),
        click.option("--label-column", default=None, help="Gold column of --eval-data ('none' to ignore)."),
        click.option("--labels", "labels_spec", default=None,
                     help="Label set for gold values (e.g. sst2); default: labelset.json in the student dir or RUN_DIR."),
        option(ExportConfig, "eval_limit"),
    ]
    for opt in reversed(options):
        func = opt(func)
    return func


@click.group(cls=DefaultGroup, default_command="model",
             context_settings={"help_option_names": ["-h", "--help"]})
def export() -> None:
    """Export a student to a verified ONNX bundle (default command), or benchmark a bundle.

    \b
      advisor export RUN_DIR/student --out BUNDLE [--target avx512_vnni|avx2|arm64] [--fp32-only]
      advisor export bench BUNDLE [--student DIR] [--teacher SPEC] [--teacher-prompt JSON] [--texts FILE] [--n N]
    """


@export.command("model")
@click.argument("student_dir", type=click.Path(path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(path_type=Path), help="Bundle directory to write.")
@option(ExportConfig, "target")
@option(ExportConfig, "fp32_only")
@option(ExportConfig, "int8_graph")
@_verification_options
@option(ExportConfig, "max_length")
@click.option("--no-verify", is_flag=True, help="Skip verification (the bundle records that it was skipped).")
@option(ExportConfig, "calibrate")
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out.")
@click.option("--keep-work", type=click.Path(path_type=Path), default=None, help="Keep the raw/fp32/int8 export work dir here.")
@click.pass_context
def export_model(ctx, student_dir, out, target, fp32_only, int8_graph, max_drop, atol, eval_data, text_column,
                 text_pair_column, label_column, labels_spec, eval_limit, max_length, no_verify, calibrate, force,
                 keep_work):
    """Export STUDENT_DIR (a HF sequence-classification dir, e.g. RUN_DIR/student) to BUNDLE_DIR."""
    from export.build import bundle_lines, export_bundle

    config = ExportConfig(target=target, fp32_only=fp32_only, int8_graph=int8_graph, max_length=max_length,
                          calibrate=calibrate, max_drop=max_drop, atol=atol, eval_limit=eval_limit)
    cfg, verification = export_bundle(student_dir, out, config, eval_data=eval_data, text_column=text_column,
                                      label_column=label_column, labels=labels_spec, verify=not no_verify, force=force,
                                      keep_work=keep_work, text_pair_column=text_pair_column)
    for line in bundle_lines(out, cfg, verification):
        click.echo(line)
    if verification.get("passed") is False:
        click.echo(f"error: verification failed: {verification['summary']} "
                   f"(bundle kept at {out} for inspection; the runtime refuses it)", err=True)
        ctx.exit(1)


@export.command("verify")
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--student", "student_dir", type=click.Path(path_type=Path), default=None,
              help="PyTorch student to compare with (default: the one recorded in the bundle).")
@_verification_options
@click.option("--resign", is_flag=True,
              help="Accept the bundle's files as they are now: verify them and write a new manifest. "
                   "Without it a bundle whose files differ from the manifest made at export is refused.")
@click.pass_context
def export_verify(ctx, bundle_dir, student_dir, max_drop, atol, eval_data, text_column, text_pair_column,
                  label_column, labels_spec, eval_limit, resign):
    """Verify an existing BUNDLE_DIR against its PyTorch student and record the result in the bundle
    (verification.json, README.md, their manifest entries); exit 1 when it does not hold.

    The bundle's files must still match the manifest made at export (a changed, added, missing or
    symlinked file is refused); --resign verifies the files as they are and signs them anew.
    """
    from export.verify import format_report, verify_bundle

    verification = verify_bundle(bundle_dir, student_dir, ExportConfig(max_drop=max_drop, atol=atol, eval_limit=eval_limit),
                                 eval_data=eval_data, text_column=text_column, label_column=label_column,
                                 labels=labels_spec, resign=resign, text_pair_column=text_pair_column)
    if resign:
        click.echo(f"re-signed: manifest.json now lists the files of {bundle_dir} as they are")
    click.echo(format_report(verification))
    if not verification["passed"]:
        click.echo(f"error: verification failed: {verification['summary']} (the runtime refuses this bundle)", err=True)
        ctx.exit(1)


@export.command("cascade")
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--teacher", "teacher_url", required=True,
              help="OpenAI-compatible server URL of the teacher (vLLM, Ollama, llama.cpp server, OpenAI).")
@click.option("--server-model", default=None, help="Model name on the server (default: its first).")
@click.option("--api-key-env", default=None, help="Environment variable holding the API key (never stored).")
@click.option("--template", default=None, help="Teacher prompt template (default: the teacher's default).")
@click.option("--teacher-calibrate", default=None,
              help="Teacher calibration, as in `advisor distill label --calibrate` (e.g. content-free).")
@click.option("--eval-data", type=click.Path(path_type=Path), required=True,
              help="Gold texts the threshold is chosen on (csv/tsv/jsonl with a label column).")
@click.option("--text-column", default=None)
@click.option("--text-pair-column", default=None,
              help="Second text column of --eval-data (a sentence-pair bundle, task pairs).")
@click.option("--label-column", default=None)
@click.option("--labels", "labels_spec", default=None, help="Label set for the gold values (e.g. sst2).")
@click.option("--eval-limit", type=int, default=ExportConfig.eval_limit, show_default=True)
@click.option("--defer-rate", type=float, default=None, help="Send at most this share of texts to the teacher.")
@click.option("--target-accuracy", type=float, default=None,
              help="Defer the fewest texts that reach this accuracy on the gold texts.")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds for one teacher request at run time (then the student's answer stands).")
def export_cascade(bundle_dir, teacher_url, server_model, api_key_env, template, teacher_calibrate, eval_data,
                   text_column, text_pair_column, label_column, labels_spec, eval_limit, defer_rate, target_accuracy,
                   timeout):
    """Let BUNDLE_DIR defer the texts its student is unsure of to a teacher server; the threshold
    is chosen on gold texts for --defer-rate or --target-accuracy (curve: BUNDLE_DIR/cascade.png)."""
    import json

    from export.cascade import configure
    from export.verify import load_eval_texts

    if not (bundle_dir / "config.json").is_file():
        raise UserError(f"{bundle_dir} is not a bundle (no config.json); run `advisor export` first")
    if not eval_data.exists():
        raise UserError(f"--eval-data {eval_data} not found")
    cfg = json.loads((bundle_dir / "config.json").read_text(encoding="utf-8"))
    if cfg.get("onnx_bundle", {}).get("task") == "multilabel":
        raise UserError(f"the cascade is not supported for multi-label bundles ({bundle_dir} is task multilabel): "
                        f"it defers on the top probability of one label")
    labels = cfg.get("onnx_bundle", {}).get("labels") or []
    texts, gold, source = load_eval_texts(bundle_dir, labels, str(eval_data), text_column, label_column,
                                          labels_spec, eval_limit, text_pair_column=text_pair_column)
    if gold is None:
        raise UserError(f"--eval-data {eval_data} has no gold labels (give --label-column)")
    bar = progress_bar(len(texts), "teacher on gold")
    try:
        section = configure(bundle_dir, teacher_url, texts, gold, source, defer_rate=defer_rate,
                            target_accuracy=target_accuracy, server_model=server_model, api_key_env=api_key_env,
                            template=template, teacher_calibrate=teacher_calibrate, timeout=timeout,
                            progress=bar.update)
    finally:
        bar.close()
    g = section["gold"]
    click.echo(f"cascade: defer below confidence {section['threshold']:.4f} -> {g['defer_rate']:.1%} of "
               f"{g['n']} gold texts go to the teacher")
    click.echo(f"  accuracy: student alone {g['accuracy_student']:.4f}, teacher alone {g['accuracy_teacher']:.4f}, "
               f"cascade {g['accuracy_cascade']:.4f}")
    click.echo(f"  curve: {bundle_dir / 'cascade.png'}")


@export.command("bench")
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.option("--student", "student_dir", type=click.Path(path_type=Path), default=None,
              help="PyTorch student to compare (default: the one recorded in the bundle, if present).")
@click.option("--teacher", "teacher_spec", default=None,
              help="Teacher spec for distill.teachers.load_teacher ('default' = embedded SmolLM2).")
@click.option("--teacher-prompt", "teacher_prompt", type=click.Path(path_type=Path), default=None,
              help="RUN_DIR/teacher.json from `advisor distill label`: time the teacher with the prompt "
                   "template and shots it labelled with (default: the default template, no shots).")
@click.option("--no-teacher", is_flag=True, help="Skip the teacher.")
@click.option("--no-pytorch", is_flag=True, help="Skip the PyTorch student.")
@click.option("--texts", "texts_path", type=click.Path(path_type=Path), default=None,
              help="Texts to time (csv/tsv/jsonl/txt); default: the bundle's verification texts.")
@click.option("--text-column", default=None)
@click.option("--text-pair-column", default=None,
              help="Second text column of --texts (a sentence-pair bundle, task pairs).")
@option(BenchConfig, "n", "--n", "n")
@option(BenchConfig, "teacher_n", "--n-teacher", "n_teacher")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output dir for bench.json/bench.png (default BUNDLE_DIR/bench).")
def export_bench(bundle_dir, student_dir, teacher_spec, teacher_prompt, no_teacher, no_pytorch, texts_path,
                 text_column, text_pair_column, n, n_teacher, out):
    """Latency p50/p95/p99 (batch 1, one thread), throughput (batch 32, all cores), size, peak memory."""
    from export.bench import run_bench

    run_bench(bundle_dir, student_dir=student_dir, teacher_spec=teacher_spec, teacher_prompt=teacher_prompt,
              no_teacher=no_teacher,
              no_pytorch=no_pytorch, texts_path=texts_path, text_column=text_column, n=n,
              n_teacher=n_teacher, out=out, echo=click.echo, text_pair_column=text_pair_column)


@click.command()
@click.argument("bundle_dir", type=click.Path(path_type=Path))
@click.argument("texts", nargs=-1)
@click.option("--variant", type=click.Choice(["int8", "fp32"]), default=None,
              help="Default: model.onnx (the variant chosen at export).")
@click.option("--threads", type=_num("predict.threads"), default=None, help="onnxruntime intra-op threads (default: all cores).")
@click.option("--batch-size", type=_num("predict.batch_size"), default=32, show_default=True)
@click.option("--with-text/--no-text", default=False, show_default=True, help="Echo the text in each output row.")
@click.option("--allow-unverified", is_flag=True, help="Load a bundle whose verification failed.")
@click.option("--no-cascade", is_flag=True, help="Answer with the student alone even if the bundle has a cascade.")
@click.option("--pair", is_flag=True, help="Sentence pairs (a pairs bundle): the TEXT arguments two at a time, "
              "TEXT TEXT_PAIR.")
def predict(bundle_dir, texts, variant, threads, batch_size, with_text, allow_unverified, no_cascade, pair):
    """Predict labels with an exported bundle: TEXT arguments, or JSONL/plain lines on stdin.

    Prints one JSON object per text: id, label, score, probs (a multi-label bundle: also labels and
    scores, the labels over their thresholds with their probabilities). Stdin lines are {"text": ..., "id": ...}
    objects or plain text (blank lines skipped; the id is then the line number). A sentence-pair
    bundle (task pairs) takes {"text": ..., "text_pair": ...} lines, or TEXT TEXT_PAIR arguments
    with --pair.
    """
    import json

    from export.runtime import Bundle, BundleError, pair_arguments, parse_input_lines, split_input

    if batch_size < 1:
        raise UserError("--batch-size must be >= 1")
    if threads is not None and threads < 1:
        raise UserError("--threads must be >= 1")
    try:
        if texts and pair:
            items = [(str(i), t) for i, t in enumerate(pair_arguments(texts), 1)]
        elif texts and texts != ("-",):
            items = []
            for i, t in enumerate(texts, 1):
                if not t.strip():
                    raise UserError(f"text argument {i} is empty")
                items.append((str(i), t))
        else:
            stdin = click.get_binary_stream("stdin")  # decoded line by line: a bad byte names its line
            if stdin.isatty():
                raise UserError("no texts: give TEXT arguments or pipe JSONL/plain lines on stdin")
            items = [(rid if rid is not None else str(n), t) for n, rid, t in parse_input_lines(stdin)]
            if not items:
                raise UserError("no texts on stdin")
        bundle = Bundle.load(bundle_dir, variant, threads=threads, allow_unverified=allow_unverified)
        preds = bundle.predict([t for _, t in items], batch_size, cascade=not no_cascade)
    except BundleError as exc:
        raise UserError(str(exc)) from None
    for (rid, text), p in zip(items, preds):
        row = {"id": rid, **(split_input(text) if with_text else {}), **p}
        click.echo(json.dumps(row, ensure_ascii=False))
