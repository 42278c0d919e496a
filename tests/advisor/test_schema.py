"""One schema per concern (issue 11): every setting of the config file reaches the object that uses
it, the commands' flags come from the same declarations, and errors name the setting in the
caller's terms (``--lr`` on the command line, ``training.lr`` in a config file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

import advisor.pipeline.run as P
from advisor.pipeline.config import SCHEMA, SECTIONS, load_config
from core.errors import CheckFailed, UserError
from core.limits import LIMITS, check_field
from core.schema import check_settings, default, flag, settings
from distill.labeling.config import TeacherConfig
from distill.training.config import DistillationConfig

STAGE_CALLS = {  # the library function each stage calls: module, attribute
    "label": ("distill.labeling.stage", "label"),
    "train": ("distill.training.api", "train_student"),
    "evaluate": ("distill.evaluation.evaluate", "evaluate_run"),
    "export": ("export.build", "export_bundle"),
    "verify": ("export.verify", "verify_bundle"),
    "bench": ("export.bench", "run_bench"),
}


def _other_value(cls, f, files: dict[str, str]):
    """A valid value for setting ``f`` of ``cls`` that differs from its default."""
    kind, dflt, choices = f.metadata["kind"], default(cls, f.name), f.metadata["choices"]
    if choices:
        return next(c for c in choices if c != dflt)
    if kind == "bool":
        return not dflt
    if kind in ("int", "float"):
        key = f"{cls.SECTION}.{f.name}"
        for v in (2, 3, 1, 0.25, 0.5, 16):
            v = int(v) if kind == "int" else float(v)
            try:
                if v != dflt and (key not in LIMITS or check_field(key, v) == v):
                    return v
            except UserError:
                continue
        raise AssertionError(f"no test value for {key}")
    if kind in ("path", "model"):
        return files["file"]
    if kind == "budget":
        return 3
    return "some_text"


@pytest.fixture
def files(tmp_path):
    data = tmp_path / "data.tsv"
    data.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n")
    return {"file": str(data)}


@pytest.fixture
def captured(monkeypatch):
    """Each stage's library call replaced by a recorder; the stages' own checks are satisfied."""
    calls: dict[str, tuple] = {}
    import importlib

    for stage, (module, attr) in STAGE_CALLS.items():
        def fake(*args, _stage=stage, **kwargs):
            calls[_stage] = (args, kwargs)
            if _stage == "train":
                return {"data": {"train": 1, "eval": 0, "abstained": 0, "dropped_by_threshold": 0},
                        "global_step": 1, "resumed_from": None, "best_eval_accuracy": None}
            if _stage == "export":
                return {}, {"passed": True}
            if _stage == "verify":
                return {"passed": True, "summary": "ok"}
            if _stage == "evaluate":
                return {}
            return None

        monkeypatch.setattr(importlib.import_module(module), attr, fake)
    def fake_active(*args, **kwargs):  # with teacher.budget the label stage calls active distillation
        calls["label"] = (args, kwargs)
        import types

        return types.SimpleNamespace(report={"active": {}})

    monkeypatch.setattr("distill.active.label_active", fake_active)
    monkeypatch.setattr("distill.active.active_lines", lambda summary: [])
    monkeypatch.setattr(P, "check_student", lambda cfg: None)
    monkeypatch.setattr("distill.labeling.stage.labeling_lines", lambda res, out: [], raising=False)
    monkeypatch.setattr("distill.evaluation.report.comparison_table", lambda ev: [])
    monkeypatch.setattr("export.build.bundle_lines", lambda out, cfg, v: [])
    monkeypatch.setattr("export.verify.format_report", lambda v: "")
    for stage in P.STAGE_LIST:  # the stages' output checks: pretend every file was written
        monkeypatch.setattr(stage, "outputs", lambda cfg, run: [])
    return calls


def _run(tmp_path, files, section: str, key: str, value) -> tuple[dict, dict]:
    cfg = {"run_dir": str(tmp_path / "run"), "labels": "sst2",
           "data": {"path": files["file"], "label_column": "label"},
           "gold": {"path": files["file"], "label_column": "label"}}
    cfg.setdefault(section, {})[key] = value
    if (section, key) == ("teacher", "server_model"):
        cfg["teacher"]["model"] = "http://127.0.0.1:9/v1"
    if (section, key) == ("teacher", "shots"):
        cfg["teacher"]["shots_file"] = files["file"]
    if (section, key) == ("bench", "enabled") and value is True:
        cfg.setdefault("export", {})["enabled"] = True
    if (section, key) == ("export", "enabled") and value is False:
        cfg["bench"] = {"enabled": False}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parsed = load_config(path)
    return parsed


def _received(calls: dict, section: str, key: str):
    """Where the library received setting ``section.key``: the value it got (or a marker)."""
    if section in ("data", "teacher"):
        args, kwargs = calls["label"]
        obj = args[0] if section == "data" else args[2]
        return getattr(obj, key)
    if section == "student":
        args, kwargs = calls["train"]
        return kwargs["student"] if key == "model" else args[2].layers
    if section == "training":
        return getattr(calls["train"][0][2], key)
    if section == "gold":
        args, kwargs = calls["evaluate"]
        got = {"path": args[1], "text_column": kwargs["text_column"], "label_column": kwargs["label_column"],
               "limit": kwargs["limit"], "text_pair_column": kwargs["text_pair_column"]}[key]
        ex = calls["export"][1]
        if key != "limit":  # the bundle is verified on the same gold texts
            assert ex[{"path": "eval_data"}.get(key, key)] == got
        else:
            assert calls["export"][0][2].eval_limit == got
        return got
    if section == "export":
        if key == "enabled":
            return "export" in calls
        return getattr(calls["export"][0][2], key)
    if section == "bench":
        if key == "enabled":
            return "bench" in calls
        return calls["bench"][1][{"teacher_n": "n_teacher"}.get(key, key)]
    raise AssertionError(section)


WALK = [(name, f.name) for name, cls in SECTIONS.items() for f in settings(cls) if f.metadata["yaml"]
        and (name, f.name) != ("teacher", "price_per_1k_tokens")]  # the dry run's: tested below


@pytest.mark.parametrize("section, key", WALK, ids=[f"{s}.{k}" for s, k in WALK])
def test_every_setting_reaches_its_stage(tmp_path, files, captured, section, key):
    cls = SECTIONS[section]
    f = next(f for f in settings(cls) if f.name == key)
    value = _other_value(cls, f, files)
    cfg = _run(tmp_path, files, section, key, value)
    P.run_pipeline(cfg, echo=lambda *_: None)
    got = _received(captured, section, key)
    want = True if (key == "enabled" and value) else (False if key == "enabled" else value)
    if f.metadata["kind"] in ("path", "model") and isinstance(got, (str, Path)):
        got, want = str(Path(got).resolve()), str(Path(want).resolve())
    assert got == want, f"{section}.{key}: set {value!r}, the stage passed on {got!r}"


def test_every_config_key_is_a_declared_setting():
    """No section key is written outside its dataclass (the schema is read from the classes)."""
    for name, cls in SECTIONS.items():
        assert set(SCHEMA[name]) == {f.name for f in settings(cls) if f.metadata["yaml"]}


def test_the_dry_run_reads_the_price(tmp_path, files, monkeypatch):
    """teacher.price_per_1k_tokens is used by the dry run's cost estimate."""
    from advisor.pipeline import plan

    class Probe:
        def predict_proba(self, texts):
            return None

    monkeypatch.setattr("distill.teachers.load_teacher", lambda *a, **k: Probe())
    cfg = _run(tmp_path, files, "teacher", "price_per_1k_tokens", 2.0)
    lines = plan.dry_run_report(cfg)
    assert any("API cost estimate" in line and "x 2.0 per 1k" in line for line in lines), lines


def test_teacher_settings_reach_the_teacher_and_the_labelling_run(tmp_path, files, monkeypatch):
    """One level down: label() hands each teacher setting to load_teacher or to the LabelingConfig."""
    from distill.labeling import stage

    got = {}

    class FakeTeacher:
        kind = "local"

        def close(self):
            pass

    def fake_load(spec, labelset, **options):
        got["load"] = dict(options, spec=spec)
        return FakeTeacher()

    def fake_label_dataset(data, labelset, teacher, out, cfg, dev=None, echo=None, gold=None):
        got["cfg"] = cfg
        raise CheckFailed("stop here")

    monkeypatch.setattr("distill.teachers.load_teacher", fake_load)
    monkeypatch.setattr("distill.labeling.labeler.label_dataset", fake_label_dataset)
    t = TeacherConfig(model="some-teacher", backend="transformers", language="zh", template="options",
                      select_prompt=True, candidates="field,options", dev_size=7, calibrate="pool-mean", batch_size=3,
                      dtype="float32", trust_remote_code=True, server_model=None, api_key_env="MY_KEY", concurrency=5,
                      timeout=9.0, max_retries=2, gate_size=11, accept_weak_teacher=True)
    from distill.data.config import DataConfig

    with pytest.raises(CheckFailed):
        stage.label(DataConfig(path=files["file"], label_column="label"), "sst2", t, tmp_path / "out")
    load, cfg = got["load"], got["cfg"]
    assert load["spec"] == "some-teacher"
    for name in ("backend", "batch_size", "dtype", "trust_remote_code", "api_key_env", "concurrency", "timeout",
                 "max_retries", "template"):
        assert load[name] == getattr(t, name), name
    assert (cfg.template, cfg.select_prompt, cfg.candidates, cfg.dev_size, cfg.calibrate, cfg.language) == \
        ("options", True, ("field", "options"), 7, "pool-mean", "zh")
    assert (cfg.gate.size, cfg.gate.accept_weak) == (11, True)


def test_training_settings_are_all_flags_and_keys():
    """Every DistillationConfig setting is a flag of `advisor distill train` and (but the student's
    layer count, which is student.layers) a key of the training section."""
    from click.testing import CliRunner

    from advisor.cli import cli

    help_text = CliRunner().invoke(cli, ["distill", "train", "--help"], terminal_width=200).output
    for f in settings(DistillationConfig):
        assert flag(DistillationConfig, f.name) in help_text, f.name
        if f.name != "layers":
            assert f.name in SCHEMA["training"], f.name


@pytest.mark.parametrize("cli, where", [(True, "--lr"), (False, "config: training.lr")])
def test_errors_name_the_setting_in_the_callers_terms(cli, where):
    with pytest.raises(UserError, match=f"^{where}: expected a number in"):
        check_settings(DistillationConfig(lr=float("nan")), cli=cli)


def test_the_flag_and_the_key_share_a_default():
    """The train command's defaults are the dataclass's (no second copy to drift)."""
    from advisor.commands.train import train

    params = {p.name: p for p in train.params}
    for f in settings(DistillationConfig):
        assert params[f.name].default == default(DistillationConfig, f.name), f.name
    assert dataclasses.asdict(DistillationConfig())["lr"] == params["lr"].default
