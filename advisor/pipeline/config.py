"""The config file of ``advisor distill run``: one YAML file for every stage, validated up front.

Every key is checked before any work starts (unknown keys included) and every error names the key
(``config: teacher.batch_size: expected an integer, got 'many'``). The schema is not written here:
``SCHEMA`` is read from each section's dataclass (``SECTIONS``), so a setting added to
``DistillationConfig`` is a config key and a flag at once. :func:`section` turns a validated
config's section back into its dataclass for the stage that uses it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.numbers import short_repr
from core.yamlfile import read_yaml
from core.schema import check_value, default, settings
from distill.data.config import DataConfig, GoldConfig
from distill.labeling.config import TeacherConfig
from distill.tasks.config import TaskConfig
from distill.training.config import DistillationConfig, StudentConfig
from export.config import BenchConfig, ExportConfig

STAGES = ("label", "train", "evaluate", "export", "verify", "bench")

# Each section is one concern's dataclass (core.schema): its settings, defaults, kinds and choices
# are declared once, there, and read from there by the commands' flags and by this file.
SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "teacher": TeacherConfig,
    "student": StudentConfig,
    "training": DistillationConfig,
    "gold": GoldConfig,
    "export": ExportConfig,
    "bench": BenchConfig,
}
_ANY_LABELS = "labels"


def _spec(cls, f) -> tuple:
    """(kind, default[, choices]): kind "path" = str resolved against the config file's folder;
    "model" = the same, except for a URL or a named model."""
    m = f.metadata
    spec = (m["kind"], default(cls, f.name))
    return spec + (m["choices"],) if m["choices"] else spec


SCHEMA: dict[str, Any] = {
    "run_dir": ("path", None),
    "task": next(_spec(TaskConfig, f) for f in settings(TaskConfig) if f.name == "task"),
    "labels": (_ANY_LABELS, None),
    **{name: {f.name: _spec(cls, f) for f in settings(cls) if f.metadata["yaml"]} for name, cls in SECTIONS.items()},
}
REQUIRED = ("run_dir", "data.path", "labels")


def _check(key: str, spec: tuple, value: Any, base: Path) -> Any:
    """One key's value: type, range and choices from its dataclass (``core.schema.check_value``),
    then paths resolved against the config file's folder and label lists joined."""
    kind = spec[0]
    if value is None:
        return None
    section, _, name = key.partition(".")
    cls = SECTIONS.get(section) if name else (TaskConfig if key == "task" else None)
    if cls is not None:
        value = check_value(cls, name or key, value, f"config: {key}")
    elif kind in ("str", "path", "model") and (not isinstance(value, str) or not value.strip()):
        raise UserError(f"config: {key}: expected a non-empty string, got {short_repr(value)}")
    if kind == "model" and (value.strip() == "default" or "://" in value):
        return value
    if kind in ("path", "model") and "://" not in value and (
            "\x00" in value or len(value) > 4096 or any(len(part.encode()) > 255 for part in Path(value).parts)):
        raise UserError(f"config: {key}: not a usable path ({short_repr(value, 40)})")
    if kind == "model" and not (base / Path(value).expanduser()).exists():
        from distill.teachers.registry import named

        if named(value) is not None:  # a named teacher (qwen2.5-1.5b) stays a name
            return value.strip()
    if kind in ("path", "model") and "://" not in value:
        # relative paths are relative to the config file's folder, wherever the command runs
        p = Path(value).expanduser()
        value = str(p if p.is_absolute() else (base / p).resolve())
    elif kind == _ANY_LABELS:
        if isinstance(value, list):
            if not all(isinstance(v, str) and v.strip() for v in value):
                raise UserError(f"config: {key}: expected a list of label names, got {short_repr(value)}")
            value = ",".join(value)
        elif not isinstance(value, str):
            raise UserError(f"config: {key}: expected a preset name, a file or a list of names, got {short_repr(value)}")
        elif Path(base / value).suffix in (".yaml", ".yml", ".json"):
            value = str((base / value).resolve())
    return value


def defaults() -> dict:
    out: dict[str, Any] = {}
    for key, spec in SCHEMA.items():
        out[key] = {k: s[1] for k, s in spec.items()} if isinstance(spec, dict) else spec[1]
    return out


def parse_config(data: Any, base: Path) -> dict:
    """Validate a raw mapping against SCHEMA; returns a complete config with defaults filled in."""
    if not isinstance(data, dict):
        raise UserError("config: expected a mapping at the top level")
    cfg = defaults()
    for key, value in data.items():
        if key not in SCHEMA:
            raise UserError(f"config: unknown key {short_repr(str(key), 40)}; known: {', '.join(SCHEMA)}")
        spec = SCHEMA[key]
        if isinstance(spec, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise UserError(f"config: {key}: expected a mapping, got {short_repr(value)}")
            for sub, sub_value in value.items():
                if sub not in spec:
                    raise UserError(f"config: unknown key {short_repr(f'{key}.{sub}', 40)}; known: {', '.join(spec)}")
                cfg[key][sub] = _check(f"{key}.{sub}", spec[sub], sub_value, base)
        else:
            cfg[key] = _check(key, spec, value, base)
    _check_required_and_combinations(cfg)
    return cfg


def _get(cfg: dict, dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return cfg[section][key] if key else cfg[section]


def _check_required_and_combinations(cfg: dict) -> None:
    for key in REQUIRED:
        if _get(cfg, key) is None:
            raise UserError(f"config: {key} is required")
    for key in ("data.path", "gold.path", "teacher.dev", "teacher.shots_file", "student.model", "teacher.model"):
        value = _get(cfg, key)
        if value is None or value == "default" or "://" in value:
            continue
        if key == "teacher.model" and not Path(value).is_absolute():
            continue  # a named teacher: relative values were resolved to paths only when the path exists
        if not Path(value).exists():
            raise UserError(f"config: {key}: file not found: {value}")
    if cfg["task"] is None:  # `task:` left empty: the default kind
        cfg["task"] = default(TaskConfig, "task")
    t, tr, ex, be = cfg["teacher"], cfg["training"], cfg["export"], cfg["bench"]
    _check_teacher_kind(t)
    if t["select_prompt"] and not (t["dev"] or cfg["data"]["label_column"]):
        raise UserError("config: teacher.select_prompt needs gold labels: set teacher.dev or data.label_column")
    if t["shots"] and not t["shots_file"]:
        raise UserError("config: teacher.shots needs teacher.shots_file (labelled examples)")
    if t["server_model"] and not (t["model"] or "").startswith(("http://", "https://")):
        raise UserError("config: teacher.server_model needs teacher.model to be an http(s):// server URL")
    if be["enabled"] and not ex["enabled"]:
        raise UserError("config: bench.enabled needs export.enabled (the benchmark runs on the exported bundle)")
    if tr["alpha"] is not None and not 0 <= tr["alpha"] <= 1:
        raise UserError(f"config: training.alpha must be in [0, 1], got {tr['alpha']}")
    if tr["threshold"] is not None and not 0 <= tr["threshold"] < 1:
        raise UserError(f"config: training.threshold must be in [0, 1), got {tr['threshold']}")
    for key in ("teacher.batch_size", "teacher.gate_size", "teacher.concurrency", "bench.n", "bench.teacher_n", "student.layers"):
        if _get(cfg, key) is not None and _get(cfg, key) < 1:
            raise UserError(f"config: {key} must be at least 1")
    _check_student_layers(cfg["student"])
    if cfg["gold"]["path"] is None and cfg["gold"]["label_column"]:
        raise UserError("config: gold.label_column needs gold.path")


def _check_teacher_kind(t: dict) -> None:
    """A classifier teacher (a trained student: two-stage distillation) takes no prompt options;
    calibration defaults to content-free for GPT teachers and to none for classifiers."""
    from distill.teachers.classifier import PROMPT_OPTIONS, is_classifier_dir, prompt_options_set

    if not is_classifier_dir(t["model"]):
        t["calibrate"] = t["calibrate"] or "content-free"
        return
    used = prompt_options_set(**{k: t[k] for k in PROMPT_OPTIONS})
    if used:
        raise UserError(f"config: teacher.{used[0]}: teacher.model {t['model']} is an encoder classifier, "
                        f"which takes no prompt")
    t["calibrate"] = "none"


def _check_student_layers(student: dict) -> None:
    """student.layers must not exceed the student's own layer count (read from its config.json, so a
    bad value fails before the labelling stage runs, not after it)."""
    from distill.training.modeling import layer_count

    if student["layers"] is None:
        return
    if student["model"] is None:
        from distill.defaults import default_student_dir

        try:
            model = default_student_dir()
        except UserError:
            return  # the train stage reports the missing default student
    else:
        model = Path(student["model"])
    try:
        have = layer_count(json.loads((Path(model) / "config.json").read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return  # not a model directory: the train stage says so
    if have is not None and student["layers"] > have:
        raise UserError(f"config: student.layers is {student['layers']} but the student has {have} layers")


def redact_config(cfg: dict) -> dict:
    """A copy of ``cfg`` fit to be written to disk: URL credentials (``user:pw@``, ``?api_key=``) removed."""
    from distill.teachers.http import redact_url

    out = copy.deepcopy(cfg)
    t = out.get("teacher")
    if isinstance(t, dict) and isinstance(t.get("model"), str):
        t["model"] = redact_url(t["model"])
    return out


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> dict:
    """Read, merge ``overrides`` (dotted keys -> values, from CLI flags) and validate."""
    path = Path(path)
    data = read_yaml(path, "config file")
    data = copy.deepcopy(data) if isinstance(data, dict) else data
    if isinstance(data, dict):
        for dotted, value in (overrides or {}).items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            if key:
                if data.get(section) is None:
                    data[section] = {}
                if isinstance(data[section], dict):
                    data[section][key] = value
            else:
                data[section] = value
    return parse_config(data, path.resolve().parent)


def section(cfg: dict, name: str):
    """The dataclass of section ``name`` from a validated config (``section(cfg, "training")``)."""
    return SECTIONS[name](**cfg[name])
