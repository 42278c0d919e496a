"""``advisor distill label``: per-class teacher probabilities for a text file, cached and resumable."""

from __future__ import annotations

from pathlib import Path

import click

from core.errors import UserError
from core.limits import option_type as _num

CALIBRATE_CHOICES = ("none", "content-free", "pool-mean")


def _teacher_help() -> str:
    from distill.teachers.registry import TEACHERS

    named = " ".join(f"'{t.summary()}'." for t in TEACHERS.values())
    return ("A named teacher, an HF model dir, a .gguf file, or an OpenAI-compatible URL http(s)://host:port/v1. "
            "A trained student directory (RUN_DIR/student) makes it two-stage distillation. Default: smollm2-135m. "
            "Named teachers: " + named)


def _echo(msg: str) -> None:
    click.echo(msg, err=True)


@click.command("label")
@click.option("--data", "data_path", required=True, help="Texts: .csv, .tsv, .jsonl, .txt or a datasets.save_to_disk folder.")
@click.option("--labels", "labels_spec", required=True,
              help="Label set: 'neg,pos', '0=neg,1=pos', a .yaml/.json file, or a preset (sst2, ag_news, sms_spam, waimai, tnews, clinc150).")
@click.option("--out", "out_dir", required=True, help="Run directory (labels.jsonl, cache.sqlite, teacher report).")
@click.option("--teacher", default=None, help=_teacher_help())
@click.option("--backend", type=click.Choice(("auto", "llama-cpp", "transformers")), default="auto", show_default=True,
              help="Local GGUF runtime: auto = llama.cpp when llama-cpp-python is installed (make setup-server), else "
                   "transformers (de-quantised to fp32).")
@click.option("--text-column", default=None, help="Column with the text (default: text/sentence/... or the only column).")
@click.option("--label-column", default=None, help="Gold label column, used only for evaluation ('none' to ignore).")
@click.option("--format", "fmt", default=None, help="Input format when the suffix does not tell: csv, tsv, jsonl, txt, dataset.")
@click.option("--sep", default=None,
              help="TEXT<sep>LABEL lines (e.g. --sep ';', --sep tab): the last separator splits off the label. "
                   "'none': whole lines are texts. Default: such files are detected and refused.")
@click.option("--split", default=None, help="Split of a datasets folder with several splits.")
@click.option("--limit", type=_num("data.limit"), default=None, help="Label only the first N texts.")
@click.option("--sample", type=_num("data.sample"), default=None, help="Label a random sample of N texts (with --seed).")
@click.option("--seed", type=_num("data.seed"), default=0, show_default=True, help="Seed for --sample, the dev subset and the shots.")
@click.option("--template", default=None,
              help="Prompt template: field, instruct, described, question, chat, chat-described, options, chat-options "
                   "(options: lettered labels with descriptions, for many classes).")
@click.option("--language", type=click.Choice(("auto", "en", "zh")), default="auto", show_default=True,
              help="Prompt language: auto = Chinese templates for Chinese text, else English.")
@click.option("--select-prompt", is_flag=True, help="Try every template on gold dev rows, print each accuracy, keep the best.")
@click.option("--candidates", default=None, help="Templates --select-prompt tries (comma list; default: all).")
@click.option("--dev", "dev_path", default=None, help="Gold dev file for --select-prompt (default: gold rows of --data).")
@click.option("--dev-size", type=_num("teacher.dev_size"), default=200, show_default=True, help="Gold rows used by --select-prompt.")
@click.option("--shots", type=_num("teacher.shots"), default=None, help="k-shot examples in the prompt (balanced per class; needs --shots-file).")
@click.option("--shots-file", default=None, help="Labelled examples for --shots (any input format, with a label column).")
@click.option("--calibrate", type=click.Choice(CALIBRATE_CHOICES), default=None,
              help="Contextual calibration: content-free inputs (N/A, '', [MASK]) or the pool's mean. "
                   "Default: none; with --select-prompt every calibration is tried too.")
@click.option("--batch-size", type=_num("teacher.batch_size"), default=16, show_default=True, help="Local teacher batch size.")
@click.option("--dtype", type=click.Choice(("auto", "float32", "bfloat16")), default="auto", show_default=True,
              help="Local teacher numerics (auto: bf16 on CPUs with AMX, else fp32).")
@click.option("--trust-remote-code", is_flag=True, help="Allow custom model code from the teacher directory.")
@click.option("--server-model", default=None, help="Model name on the server (default: the server's first model).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, help="Environment variable holding the API key.")
@click.option("--concurrency", type=_num("teacher.concurrency"), default=4, show_default=True, help="Parallel server requests.")
@click.option("--timeout", type=_num("teacher.timeout"), default=60.0, show_default=True, help="Per-request timeout in seconds.")
@click.option("--max-retries", type=_num("teacher.max_retries"), default=4, show_default=True, help="Retries on 429/5xx/timeouts (exponential backoff).")
@click.option("--gold", "gold_path", default=None,
              help="Labelled texts for the teacher gate (default: the gold rows of --data; none: checks without gold).")
@click.option("--gold-text-column", default=None, help="Text column of --gold (default: as for --data).")
@click.option("--gold-label-column", default=None, help="Label column of --gold (default: label).")
@click.option("--gate-size", type=_num("teacher.gate_size"), default=200, show_default=True,
              help="Texts the teacher gate scores before the pool is labelled.")
@click.option("--accept-weak-teacher", is_flag=True,
              help="Go on when the teacher gate finds the teacher no better than chance (the figures are still reported).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def label(data_path, labels_spec, out_dir, teacher, backend, text_column, label_column, fmt, sep, split, limit, sample,
          seed, template, language, select_prompt, candidates, dev_path, dev_size, shots, shots_file, calibrate,
          batch_size, dtype, trust_remote_code, server_model, api_key_env, concurrency, timeout, max_retries, gold_path,
          gold_text_column, gold_label_column, gate_size, accept_weak_teacher, quiet) -> None:
    """Label texts with a GPT teacher: per-class probabilities into RUN_DIR/labels.jsonl.

    \b
    Example:
      advisor distill label --data ../shared/data/sst2/dev.tsv --labels sst2 --out runs/sst2 --select-prompt
    """
    from distill.data.reader import load_texts
    from distill.data.labelset import LabelSet
    from distill.teachers.prompts import TEMPLATES, load_shots

    # --- validate everything before anything is written -----------------------------------
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} exists and is not a directory")
    from core.rundir import check_creatable

    check_creatable(out, "--out")  # /etc/passwd/sub, /proc/x: refused now, in one line, nothing written
    if template is not None and template not in TEMPLATES:
        raise UserError(f"unknown --template {template!r}; choose from {', '.join(TEMPLATES)}")
    cand = tuple(TEMPLATES)
    if candidates:
        cand = tuple(c.strip() for c in candidates.split(",") if c.strip())
        bad = [c for c in cand if c not in TEMPLATES]
        if bad or not cand:
            raise UserError(f"unknown --candidates {', '.join(bad) or candidates!r}; choose from {', '.join(TEMPLATES)}")
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    if dev_size < 1:
        raise UserError(f"--dev-size must be at least 1, got {dev_size}")
    if gate_size < 1:
        raise UserError(f"--gate-size must be at least 1, got {gate_size}")
    if shots is not None and shots < 0:
        raise UserError(f"--shots must be >= 0, got {shots}")
    if shots and not shots_file:
        raise UserError("--shots needs --shots-file (a file of labelled examples)")
    if shots_file and shots is None:
        shots = 4
    from distill.teachers import is_server_spec
    from distill.teachers.classifier import is_classifier_dir, prompt_options_set

    if server_model and not is_server_spec(teacher):
        raise UserError("--server-model needs --teacher to be an http(s):// server URL")
    if is_classifier_dir(teacher):
        used = ["--" + k.replace("_", "-") for k in prompt_options_set(template=template, select_prompt=select_prompt,
                                                                         shots=shots, calibrate=calibrate)]
        if used:
            raise UserError(f"{', '.join(used)}: the teacher {teacher} is an encoder classifier, which takes no "
                            f"prompt; these options apply to GPT teachers")
    labelset = LabelSet.from_spec(labels_spec)
    data = load_texts(data_path, text_column=text_column, label_column=label_column, labelset=labelset, fmt=fmt,
                      limit=limit, sample=sample, seed=seed, split=split, sep=sep)
    dev = None
    if dev_path:
        dev = load_texts(dev_path, text_column=text_column, label_column=label_column, labelset=labelset,
                         sample=None, limit=None)
        if dev.gold is None:
            raise UserError(f"--dev {dev_path} has no gold label column")
        if len(dev.texts) > dev_size:
            dev = load_texts(dev_path, text_column=text_column, label_column=label_column, labelset=labelset,
                             sample=dev_size, seed=seed)
    gold = None
    if gold_path:
        gold = load_texts(gold_path, text_column=gold_text_column or text_column, label_column=gold_label_column,
                          labelset=labelset)
        if gold.gold is None:
            raise UserError(f"--gold {gold_path} has no gold label column (name it with --gold-label-column)")
    if select_prompt and dev is None and data.gold is None:
        raise UserError("--select-prompt needs gold labels: a --label-column in --data or a --dev FILE")
    shot_list = ()
    if shots:
        shot_list = load_shots(shots_file, labelset, shots, seed=seed, exclude=set(data.texts))
    _echo(f"{len(data.texts)} texts from {data_path} (text column {data.text_column!r}"
          + (f", gold column {data.label_column!r}" if data.label_column else "") + f"), labels {', '.join(labelset.names)}")

    from distill.labeling.labeler import LabelingConfig, label_dataset
    from distill.teachers import load_teacher

    t = load_teacher(teacher, labelset, backend=backend, batch_size=batch_size, dtype=dtype, trust_remote_code=trust_remote_code,
                     server_model=server_model, api_key_env=api_key_env, concurrency=concurrency, timeout=timeout,
                     max_retries=max_retries, template=template, shots=shot_list)
    from distill.labeling.gate import GateConfig

    cfg = LabelingConfig(template=template, select_prompt=select_prompt, candidates=cand, dev_size=dev_size, shots=tuple(shot_list),
                         calibrate=calibrate or ("auto" if select_prompt else "none"), chunk_size=max(batch_size * 4, 32) if t.kind in ("local", "classifier", "llama-cpp") else max(concurrency * 8, 32),
                         seed=seed, progress=not quiet, language=language,
                         gate=GateConfig(accept_weak=accept_weak_teacher, size=gate_size, seed=seed))
    try:
        res = label_dataset(data, labelset, t, out, cfg, dev=dev, echo=_echo, gold=gold)
    finally:
        t.close()
    click.echo(f"labelled {res.n_rows} texts ({res.n_unique} unique: {res.n_cached} from the cache, "
               f"{res.n_scored} scored now) -> {out / 'labels.jsonl'}")
    rep = res.report
    s = rep.get("sources", {})
    prompt = "no prompt (classifier teacher)" if t.kind == "classifier" else f"template {res.template}"
    click.echo(f"{prompt}, calibration {res.calibration['method']}; sources: scored {s.get('scored', 0)}, "
               f"parsed {s.get('parsed', 0)}, abstained {s.get('abstained', 0)}; mean confidence "
               f"{(rep.get('mean_confidence') or 0):.3f}")
    if rep.get("gold"):
        g = rep["gold"]
        click.echo(f"teacher accuracy vs gold: {g['accuracy']:.1%} (macro-F1 {g['macro_f1']:.3f}, n={g['n']})"
                   + (f"; held out from prompt selection: {rep['gold_held_out']['accuracy']:.1%} "
                      f"(n={rep['gold_held_out']['n']})" if rep.get("gold_held_out") else ""))
    click.echo(f"report: {out / 'teacher_report.md'}")
    if res.n_rows and s.get("abstained", 0) >= res.n_rows:
        reasons = rep.get("abstain_reasons") or {}
        raise UserError(f"the teacher abstained on all {res.n_rows} texts (no label could be read from its answers"
                        + (f": {next(iter(reasons))}" if reasons else "")
                        + f"); nothing to train on; see {out / 'teacher_report.md'}")
