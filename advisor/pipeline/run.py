"""``advisor distill run CONFIG.yaml``: every stage in order, resumable, into one run directory.

label -> train -> evaluate -> export -> verify -> bench. Each stage calls the same library function
as its stand-alone command (``distill.labeling.stage.label``, ``distill.training.api.train_student``,
``distill.evaluation.evaluate.evaluate_run``, ``export.build.export_bundle``,
``export.verify.verify_bundle``, ``export.bench.run_bench``) with the config section's dataclass,
so the pipeline and the commands cannot drift apart, and no argument string is ever built.

``RUN_DIR/pipeline.json`` records, per stage, a hash of its inputs (the config keys it reads and
the sha256 of the files it consumes) and the sha256 of every file it produced. Running again
skips a stage whose inputs and outputs are unchanged; a stage that was interrupted runs again and
resumes from its own state (the labelling cache, the last training checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from advisor.pipeline.config import STAGES, redact_config, section
from advisor.pipeline.summary import write_summary
from core.atomic import write_json
from core.errors import CheckFailed, UserError
from core.hashing import sha256_file, tree_digest
from core.rundir import LABELS_FILE, LABELSET_FILE, TEACHER_FILE, read_state, run_lock
from distill.tasks import DEFAULT_TASK

Echo = Callable[[str], None]

MANIFEST = "pipeline.json"


class StageFailed(CheckFailed):
    """A stage ran but its own check failed (e.g. the int8 bundle did not pass verification).

    Not bad input, so exit status 1 (``UserError`` is 2); the run directory keeps everything the
    stage wrote, ``pipeline.json`` marks the stage ``failed`` and the summary says so."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        super().__init__(f"stage {stage} failed: {reason}")


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Stage:
    name: str
    run: Callable[[dict, Path, Echo], None]   # the stage itself: a library call; raises CheckFailed
    config_keys: tuple[str, ...]          # config sections/keys this stage reads
    inputs: Callable[[dict, Path], list[Path]]   # files it consumes (hashed)
    outputs: Callable[[dict, Path], list[Path]]  # files it must leave behind
    enabled: Callable[[dict], bool] = lambda cfg: True


def _note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- the stages: each takes its config sections as their dataclasses and calls the library -------

def _gold(cfg: dict):
    return section(cfg, "gold") if cfg["gold"]["path"] else None


def _label(cfg: dict, run: Path, echo: Echo) -> None:
    from distill.labeling.stage import label, labeling_lines

    teacher, gold = section(cfg, "teacher"), _gold(cfg)
    if gold is not None and gold.limit:  # the gate looks at no more gold texts than the run uses
        teacher.gate_size = min(teacher.gate_size, gold.limit)
    if teacher.budget is not None:  # active distillation: the teacher labels only where the student is unsure
        from distill.active import active_lines, label_active

        res = label_active(section(cfg, "data"), cfg["labels"], teacher, run, gold, task=cfg["task"], echo=_note,
                           training=section(cfg, "training"), student=section(cfg, "student"))
    else:
        res = label(section(cfg, "data"), cfg["labels"], teacher, run, gold, task=cfg["task"], echo=_note)
    for line in labeling_lines(res, run):
        echo(line)
    if teacher.budget is not None:
        for line in active_lines(res.report["active"]):
            echo(line)


def _train(cfg: dict, run: Path, echo: Echo) -> None:
    from distill.training.api import train_student, training_line

    training, student = section(cfg, "training"), section(cfg, "student")
    training.layers = student.layers
    s = train_student(run / LABELS_FILE, run, training.validate(cli=False), student=student.model,
                      task=cfg["task"])
    echo(training_line(run, s))


def _evaluate(cfg: dict, run: Path, echo: Echo) -> None:
    from distill.evaluation.evaluate import evaluate_run
    from distill.evaluation.report import comparison_table

    g = _gold(cfg)
    ev = evaluate_run(run, g.path, text_column=g.text_column, label_column=g.label_column, limit=g.limit,
                      text_pair_column=g.text_pair_column or (cfg["data"]["text_pair_column"] if g.path else None))
    for line in ev.get("table") or comparison_table(ev):  # task ner: its entity table
        echo(line)
    echo(f"report: {run / 'report.md'}  metrics: {run / 'metrics.json'}")


def _export_config(cfg: dict):
    e = section(cfg, "export")
    if cfg["gold"]["limit"]:
        e.eval_limit = cfg["gold"]["limit"]
    return e


def _eval_data(cfg: dict) -> dict:
    g = cfg["gold"]
    if not g["path"]:
        return {"labels": cfg["labels"]}
    return {"eval_data": g["path"], "text_column": g["text_column"], "label_column": g["label_column"],
            "labels": cfg["labels"], "text_pair_column": g["text_pair_column"] or cfg["data"]["text_pair_column"]}


def _verification_failed(verification: dict) -> None:
    if verification.get("passed") is False:
        raise CheckFailed(f"bundle verification did not pass: {verification.get('summary')}")


def _export(cfg: dict, run: Path, echo: Echo) -> None:
    # The export verifies too: on a CPU where the target's first int8 scheme loses accuracy it
    # tries the next one (export/build.py); the verify stage then re-checks the published bundle.
    from export.build import bundle_lines, export_bundle

    bundle_cfg, verification = export_bundle(run / "student", run / "bundle", _export_config(cfg), force=True,
                                             **_eval_data(cfg))
    for line in bundle_lines(run / "bundle", bundle_cfg, verification):
        echo(line)
    _verification_failed(verification)


def _verify(cfg: dict, run: Path, echo: Echo) -> None:
    from export.verify import format_report, verify_bundle

    verification = verify_bundle(run / "bundle", run / "student", _export_config(cfg), **_eval_data(cfg))
    echo(format_report(verification))
    _verification_failed(verification)


def _bench(cfg: dict, run: Path, echo: Echo) -> None:
    from export.bench import run_bench

    b, g = section(cfg, "bench"), cfg["gold"]
    prompt = run / TEACHER_FILE  # time the teacher with the prompt it labelled with
    run_bench(run / "bundle", student_dir=run / "student", teacher_spec=cfg["teacher"]["model"],
              teacher_prompt=prompt if prompt.is_file() else None, texts_path=g["path"],
              text_column=g["text_column"] if g["path"] else None, n=b.n, n_teacher=b.teacher_n, echo=echo,
              text_pair_column=(g["text_pair_column"] or cfg["data"]["text_pair_column"]) if g["path"] else None)


def _files(*names: str) -> Callable[[dict, Path], list[Path]]:
    return lambda cfg, run: [run / n for n in names]


def _existing(*keys: str) -> Callable[[dict, Path], list[Path]]:
    def inputs(cfg: dict, run: Path) -> list[Path]:
        out = []
        for key in keys:
            section, _, sub = key.partition(".")
            value = cfg[section][sub] if sub else cfg[section]
            if value and "://" not in str(value) and Path(value).exists():
                out.append(Path(value))
        return out
    return inputs


STAGE_LIST = (
    Stage("label", _label, ("task", "data", "labels", "teacher", "gold"),
          _existing("data.path", "teacher.dev", "teacher.shots_file", "teacher.model", "gold.path"),
          _files(LABELS_FILE, LABELSET_FILE, TEACHER_FILE)),
    Stage("train", _train, ("task", "student", "training"),
          lambda cfg, run: [run / LABELS_FILE, *_existing("student.model")(cfg, run)],
          _files("student/config.json", "student/model.safetensors", "student/tokenizer.json")),
    Stage("evaluate", _evaluate, ("gold", "teacher"),
          lambda cfg, run: [run / "student/model.safetensors", *_existing("gold.path")(cfg, run)],
          _files("metrics.json"), enabled=lambda cfg: bool(cfg["gold"]["path"])),
    Stage("export", _export, ("export", "gold", "labels"),
          lambda cfg, run: [run / "student/model.safetensors", run / "student/config.json",
                            run / "student/tokenizer.json", *_existing("gold.path")(cfg, run)],
          _files("bundle/model.onnx"), enabled=lambda cfg: cfg["export"]["enabled"]),
    Stage("verify", _verify, ("export", "gold", "labels"),
          lambda cfg, run: [run / "bundle/model.onnx", run / "student/model.safetensors",
                            *_existing("gold.path")(cfg, run)],
          _files("bundle/verification.json"), enabled=lambda cfg: cfg["export"]["enabled"]),
    Stage("bench", _bench, ("bench", "teacher.model", "gold"),
          _files("bundle/model.onnx", "bundle/verification.json", TEACHER_FILE),
          _files("bundle/bench/bench.json", "bundle/bench/bench.png"),
          enabled=lambda cfg: cfg["bench"]["enabled"] and cfg["task"] != "ner"),  # bench times one label per text
)
assert tuple(s.name for s in STAGE_LIST) == STAGES


def _config_part(cfg: dict, keys: tuple[str, ...]) -> dict:
    part = {}
    for key in keys:
        section, _, sub = key.partition(".")
        part[key] = cfg[section][sub] if sub else cfg[section]
    if part.get("task") == DEFAULT_TASK:  # run directories made before task kinds keep their stages' hashes
        del part["task"]
    if "teacher" in keys and cfg["teacher"].get("budget") is not None:  # the rounds train students
        part["student"], part["training"] = cfg["student"], cfg["training"]
    return part


def stage_inputs_hash(stage: Stage, cfg: dict, run: Path) -> str:
    files = {str(p): tree_digest(p) for p in stage.inputs(cfg, run) if p.exists()}
    return _hash({"config": _config_part(cfg, stage.config_keys), "files": files})


class Manifest:
    def __init__(self, run: Path):
        self.path = run / MANIFEST
        data = read_state(self.path, "pipeline state")  # damaged: reported, every stage checked again
        self.data = data if isinstance(data, dict) and isinstance(data.get("stages"), dict) else {"stages": {}}

    def save(self) -> None:
        write_json(self.path, self.data)

    def is_fresh(self, stage: Stage, inputs: str, run: Path) -> bool:
        rec = self.data["stages"].get(stage.name)
        if not rec or rec.get("status") != "done" or rec.get("inputs") != inputs:
            return False
        for rel, digest in rec.get("outputs", {}).items():
            p = run / rel
            if not p.is_file() or sha256_file(p) != digest:
                return False
        return True


def plan(cfg: dict) -> list[tuple[Stage, str]]:
    """Each stage with what will happen to it: run, skip (up to date) or off (disabled)."""
    run = Path(cfg["run_dir"])
    manifest = Manifest(run)
    out, dirty = [], False
    for stage in STAGE_LIST:
        if not stage.enabled(cfg):
            out.append((stage, "off"))
            continue
        fresh = not dirty and manifest.is_fresh(stage, stage_inputs_hash(stage, cfg, run), run)
        dirty = dirty or not fresh
        out.append((stage, "skip" if fresh else "run"))
    return out


def check_student(cfg: dict) -> None:
    """Refuse a student whose tokenizer cannot read the data, before any teacher time is spent."""
    from distill.data.labelset import LabelSet
    from distill.defaults import default_student_dir
    from distill.training.student_check import check_student_reads

    data = section(cfg, "data").load(LabelSet.from_spec(cfg["labels"]), limit=200)
    check_student_reads(cfg["student"]["model"] or default_student_dir(), data.texts)


def run_pipeline(cfg: dict, echo: Echo = print) -> dict:
    """Run every enabled stage of a validated config (``advisor.pipeline.config.load_config``),
    skipping those whose inputs and outputs did not change; returns the pipeline manifest."""
    check_student(cfg)
    with run_lock(cfg["run_dir"], "advisor distill run", flag="run_dir"):  # one pipeline per run directory
        return _run_pipeline(cfg, echo)


def _run_pipeline(cfg: dict, echo: Echo = print) -> dict:
    run = Path(cfg["run_dir"])
    run.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(run)
    manifest.data["config"] = redact_config(cfg)  # no URL credentials on disk
    for stage in STAGE_LIST:
        if not stage.enabled(cfg):
            echo(f"[{stage.name}] off")
            continue
        inputs = stage_inputs_hash(stage, cfg, run)
        if manifest.is_fresh(stage, inputs, run):
            echo(f"[{stage.name}] up to date, skipped")
            continue
        echo(f"[{stage.name}] running")
        rec = {"status": "running", "inputs": inputs, "started": time.time()}
        manifest.data["stages"][stage.name] = rec
        manifest.save()
        t0 = time.perf_counter()
        try:
            stage.run(cfg, run, echo)
        except StageFailed:
            raise
        except CheckFailed as exc:  # the stage ran but its own check failed: stop here, keep what it wrote
            reason = exc.message
            rec.update(status="failed", exit_code=exc.exit_code, reason=reason,
                       seconds=round(time.perf_counter() - t0, 2), finished=time.time())
            manifest.save()
            write_summary(run)
            raise StageFailed(stage.name, f"{reason} (run directory {run}; report.md marks the failure)") from None
        missing = [p for p in stage.outputs(cfg, run) if not p.is_file()]
        if missing:
            raise UserError(f"stage {stage.name} did not produce {missing[0]}")
        rec.update(status="done", seconds=round(time.perf_counter() - t0, 2), finished=time.time(),
                   outputs={str(p.relative_to(run)): sha256_file(p) for p in stage.outputs(cfg, run)})
        manifest.save()
        echo(f"[{stage.name}] done in {rec['seconds']:.1f}s")
    write_summary(run)
    return manifest.data
