"""``advisor distill run CONFIG.yaml``: every stage in order, resumable, into one run directory.

label -> train -> evaluate -> export -> verify -> bench. Each stage is the same click command a
user would run by hand, invoked in-process with arguments built from the config, so the pipeline
and the single commands cannot drift apart.

``RUN_DIR/pipeline.json`` records, per stage, a hash of its inputs (the config keys it reads and
the sha256 of the files it consumes) and the sha256 of every file it produced. Running again
skips a stage whose inputs and outputs are unchanged; a stage that was interrupted runs again and
resumes from its own state (the labelling cache, the last training checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from core.atomic import write_json
from core.errors import CheckFailed, UserError
from advisor.pipeline.config import STAGES, redact_config
from core.rundir import read_state, run_lock
from advisor.pipeline.summary import write_summary

MANIFEST = "pipeline.json"


class StageFailed(CheckFailed):
    """A stage ran but its own check failed (e.g. the int8 bundle did not pass verification).

    Not bad input, so exit status 1 (``UserError`` is 2); the run directory keeps everything the
    stage wrote, ``pipeline.json`` marks the stage ``failed`` and the summary says so."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        super().__init__(f"stage {stage} failed: {reason}")


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _tree_digest(path: Path) -> str:
    """sha256 of a file, or of a directory's files (names and contents), for hashing inputs."""
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(q for q in path.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(path)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class Stage:
    name: str
    command: Callable[[], click.Command]
    args: Callable[[dict, Path], list[str]]
    config_keys: tuple[str, ...]          # config sections/keys this stage reads
    inputs: Callable[[dict, Path], list[Path]]   # files it consumes (hashed)
    outputs: Callable[[dict, Path], list[Path]]  # files it must leave behind
    enabled: Callable[[dict], bool] = lambda cfg: True


def _opt(args: list[str], flag: str, value) -> None:
    if value is None or value is False:
        return
    if value is True:
        args.append(flag)
    else:
        args += [flag, str(value)]


# --- stage argument builders: the config, spelled as the stand-alone commands' flags ----------

def _label_args(cfg: dict, run: Path) -> list[str]:
    d, t = cfg["data"], cfg["teacher"]
    args = ["--data", d["path"], "--labels", cfg["labels"], "--out", str(run)]
    for flag, value in (("--text-column", d["text_column"]), ("--label-column", d["label_column"]), ("--sep", d.get("sep")),
                        ("--limit", d["limit"]), ("--sample", d["sample"]), ("--seed", d["seed"]),
                        ("--teacher", t["model"]), ("--server-model", t["server_model"]),
                        ("--api-key-env", t["api_key_env"]), ("--template", t["template"]),
                        ("--select-prompt", t["select_prompt"]), ("--dev", t["dev"]),
                        ("--shots", t["shots"] or None), ("--shots-file", t["shots_file"]),
                        ("--calibrate", t["calibrate"]), ("--batch-size", t["batch_size"]),
                        ("--concurrency", t["concurrency"]), ("--timeout", t["timeout"]),
                        ("--max-retries", t["max_retries"]), ("--backend", t.get("backend")),
                        ("--language", t.get("language")),
                        ("--gate-size", min(x for x in (t.get("gate_size"), cfg["gold"]["limit"]) if x)
                         if t.get("gate_size") or cfg["gold"]["limit"] else None),
                        ("--accept-weak-teacher", t.get("accept_weak_teacher")),
                        ("--gold", cfg["gold"]["path"]), ("--gold-text-column", cfg["gold"]["text_column"]),
                        ("--gold-label-column", cfg["gold"]["label_column"])):
        _opt(args, flag, value)
    return args


def _train_args(cfg: dict, run: Path) -> list[str]:
    args = ["--labels", str(run / "labels.jsonl"), "--out", str(run)]
    _opt(args, "--student", cfg["student"]["model"])
    _opt(args, "--layers", cfg["student"]["layers"])
    for key, value in cfg["training"].items():
        _opt(args, "--" + key.replace("_", "-"), value)
    return args


def _evaluate_args(cfg: dict, run: Path) -> list[str]:
    g = cfg["gold"]
    args = [str(run), "--gold", g["path"]]
    for flag, value in (("--text-column", g["text_column"]), ("--label-column", g["label_column"]),
                        ("--limit", g["limit"])):
        _opt(args, flag, value)
    return args


def _verification_args(cfg: dict) -> list[str]:
    g = cfg["gold"]
    args = ["--max-drop", str(cfg["export"]["max_drop"]), "--labels", cfg["labels"],
            "--eval-limit", str(g["limit"] or 1000)]
    if g["path"]:
        args += ["--eval-data", g["path"]]
        _opt(args, "--text-column", g["text_column"])
        _opt(args, "--label-column", g["label_column"])
    return args


def _export_args(cfg: dict, run: Path) -> list[str]:
    # The export verifies too: on a CPU where the target's first int8 scheme loses accuracy it
    # tries the next one (export/build.py); the verify stage then re-checks the published bundle.
    e = cfg["export"]
    args = [str(run / "student"), "--out", str(run / "bundle"), "--target", e["target"], "--force"]
    _opt(args, "--fp32-only", e["fp32_only"])
    return args + _verification_args(cfg)


def _verify_args(cfg: dict, run: Path) -> list[str]:
    return ["verify", str(run / "bundle"), "--student", str(run / "student"), *_verification_args(cfg)]


def _bench_args(cfg: dict, run: Path) -> list[str]:
    b = cfg["bench"]
    args = ["bench", str(run / "bundle"), "--student", str(run / "student"), "--n", str(b["n"]),
            "--n-teacher", str(b["teacher_n"])]
    _opt(args, "--teacher", cfg["teacher"]["model"])
    if (run / "teacher.json").is_file():  # time the teacher with the prompt it labelled with
        args += ["--teacher-prompt", str(run / "teacher.json")]
    if cfg["gold"]["path"]:
        args += ["--texts", cfg["gold"]["path"]]
        _opt(args, "--text-column", cfg["gold"]["text_column"])
    return args


def _label_cmd():
    from advisor.commands.label import label
    return label


def _train_cmd():
    from advisor.commands.train import train
    return train


def _evaluate_cmd():
    from advisor.commands.train import evaluate
    return evaluate


def _export_cmd():
    from advisor.commands.export import export
    return export


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
    Stage("label", _label_cmd, _label_args, ("data", "labels", "teacher", "gold"),
          _existing("data.path", "teacher.dev", "teacher.shots_file", "teacher.model", "gold.path"),
          _files("labels.jsonl", "labelset.json", "teacher.json")),
    Stage("train", _train_cmd, _train_args, ("student", "training"),
          lambda cfg, run: [run / "labels.jsonl", *_existing("student.model")(cfg, run)],
          _files("student/config.json", "student/model.safetensors", "student/tokenizer.json")),
    Stage("evaluate", _evaluate_cmd, _evaluate_args, ("gold", "teacher"),
          lambda cfg, run: [run / "student/model.safetensors", *_existing("gold.path")(cfg, run)],
          _files("metrics.json"), enabled=lambda cfg: bool(cfg["gold"]["path"])),
    Stage("export", _export_cmd, _export_args, ("export", "gold", "labels"),
          lambda cfg, run: [run / "student/model.safetensors", run / "student/config.json",
                            run / "student/tokenizer.json", *_existing("gold.path")(cfg, run)],
          _files("bundle/model.onnx"), enabled=lambda cfg: cfg["export"]["enabled"]),
    Stage("verify", _export_cmd, _verify_args, ("export", "gold", "labels"),
          lambda cfg, run: [run / "bundle/model.onnx", run / "student/model.safetensors",
                            *_existing("gold.path")(cfg, run)],
          _files("bundle/verification.json"), enabled=lambda cfg: cfg["export"]["enabled"]),
    Stage("bench", _export_cmd, _bench_args, ("bench", "teacher.model", "gold"),
          _files("bundle/model.onnx", "bundle/verification.json", "teacher.json"),
          _files("bundle/bench/bench.json", "bundle/bench/bench.png"), enabled=lambda cfg: cfg["bench"]["enabled"]),
)
assert tuple(s.name for s in STAGE_LIST) == STAGES


def _config_part(cfg: dict, keys: tuple[str, ...]) -> dict:
    part = {}
    for key in keys:
        section, _, sub = key.partition(".")
        part[key] = cfg[section][sub] if sub else cfg[section]
    return part


def stage_inputs_hash(stage: Stage, cfg: dict, run: Path) -> str:
    files = {str(p): _tree_digest(p) for p in stage.inputs(cfg, run) if p.exists()}
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


def _failure_reason(stage: str, run: Path, rc: int) -> str:
    """What the failed stage recorded about itself, in one line."""
    if stage in ("export", "verify"):
        path = run / "bundle" / "verification.json"
        try:
            summary = json.loads(path.read_text(encoding="utf-8")).get("summary")
        except (OSError, ValueError, AttributeError):
            summary = None
        if summary:
            return f"bundle verification did not pass: {summary}"
    return f"the {stage} command exited with status {rc}"


def check_student(cfg: dict) -> None:
    """Refuse a student whose tokenizer cannot read the data, before any teacher time is spent."""
    from distill.data.reader import load_texts
    from distill.defaults import default_student_dir
    from distill.data.labelset import LabelSet
    from distill.training.student_check import check_student_reads

    d = cfg["data"]
    data = load_texts(d["path"], text_column=d["text_column"], label_column=d["label_column"],
                      labelset=LabelSet.from_spec(cfg["labels"]), limit=200, sep=d.get("sep"))
    check_student_reads(cfg["student"]["model"] or default_student_dir(), data.texts)


def run_pipeline(cfg: dict, echo=click.echo) -> dict:
    check_student(cfg)
    with run_lock(cfg["run_dir"], "advisor distill run", flag="run_dir"):  # one pipeline per run directory
        return _run_pipeline(cfg, echo)


def _run_pipeline(cfg: dict, echo=click.echo) -> dict:
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
        cmd = stage.command()
        # standalone_mode=False: click returns a command's ctx.exit(code) instead of exiting, so a
        # stage whose check failed (verify exits 1) must be caught here, or the run would go on.
        rc = cmd.main(stage.args(cfg, run), prog_name=f"advisor distill run [{stage.name}]", standalone_mode=False)
        if isinstance(rc, int) and rc != 0:
            reason = _failure_reason(stage.name, run, rc)
            rec.update(status="failed", exit_code=rc, reason=reason, seconds=round(time.perf_counter() - t0, 2),
                       finished=time.time())
            manifest.save()
            write_summary(run)
            raise StageFailed(stage.name, f"{reason} (run directory {run}; report.md marks the failure)")
        missing = [p for p in stage.outputs(cfg, run) if not p.is_file()]
        if missing:
            raise UserError(f"stage {stage.name} did not produce {missing[0]}")
        rec.update(status="done", seconds=round(time.perf_counter() - t0, 2), finished=time.time(),
                   outputs={str(p.relative_to(run)): sha256_file(p) for p in stage.outputs(cfg, run)})
        manifest.save()
        echo(f"[{stage.name}] done in {rec['seconds']:.1f}s")
    write_summary(run)
    return manifest.data
