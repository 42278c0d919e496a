"""`advisor distill run` config validation: every bad config fails before any work, naming the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import UserError
from advisor.pipeline.config import load_config


@pytest.fixture()
def base_config(tmp_path: Path, shared_data: Path) -> dict:
    return {
        "run_dir": str(tmp_path / "run"),
        "data": {"path": str(shared_data / "sst2" / "dev.tsv"), "text_column": "sentence"},
        "labels": "sst2",
        "gold": {"path": str(shared_data / "sst2" / "dev.tsv"), "label_column": "label"},
    }


def write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_valid_config_gets_defaults(tmp_path, base_config):
    cfg = load_config(write(tmp_path, base_config))
    assert cfg["teacher"]["calibrate"] == "content-free"
    assert cfg["export"]["target"] == "auto" and cfg["bench"]["enabled"] is True
    assert cfg["labels"] == "sst2"


def test_relative_paths_resolve_against_config_folder(tmp_path, base_config, shared_data):
    (tmp_path / "data.txt").write_text("a\nb\n")
    base_config["data"] = {"path": "data.txt"}
    base_config["run_dir"] = "out"
    cfg = load_config(write(tmp_path, base_config))
    assert cfg["data"]["path"] == str(tmp_path / "data.txt")
    assert cfg["run_dir"] == str(tmp_path / "out")


def test_overrides_win(tmp_path, base_config):
    cfg = load_config(write(tmp_path, base_config), {"training.epochs": 1.0, "export.enabled": False,
                                                     "bench.enabled": False})
    assert cfg["training"]["epochs"] == 1.0 and cfg["export"]["enabled"] is False


@pytest.mark.parametrize("mutate, fragment", [
    (lambda c: c.update(colour="blue"), "unknown key 'colour'"),
    (lambda c: c["data"].update(columnn="x"), "unknown key 'data.columnn'"),
    (lambda c: c.update(teacher={"batch_size": "many"}), "teacher.batch_size: expected an integer"),
    (lambda c: c.update(export={"enabled": "yes"}), "export.enabled: expected true or false"),
    (lambda c: c.update(teacher={"calibrate": "magic"}), "teacher.calibrate: expected one of"),
    (lambda c: c.update(training={"alpha": 2}), "training.alpha"),
    (lambda c: c.update(training={"epochs": -1}), "training.epochs: expected a number in (0, 10000], got -1"),
    (lambda c: c["data"].update(path="/no/such/file.csv"), "data.path: file not found"),
    (lambda c: c.pop("labels"), "labels is required"),
    (lambda c: c.pop("run_dir"), "run_dir is required"),
    (lambda c: c.update(export={"enabled": False}), "bench.enabled needs export.enabled"),
    (lambda c: c.update(teacher={"select_prompt": True}), "select_prompt needs gold labels"),
    (lambda c: c.update(teacher={"shots": 4}), "shots needs teacher.shots_file"),
    (lambda c: c.update(teacher={"server_model": "llama3"}), "server_model needs teacher.model"),
    (lambda c: c.update(data=["not", "a", "mapping"]), "data: expected a mapping"),
    (lambda c: c.update(student={"layers": 0}), "student.layers: expected an integer in [1, 1000], got 0"),
    (lambda c: c.update(student={"layers": 7}), "student.layers is 7 but the student has 6 layers"),
])
def test_bad_configs(tmp_path, base_config, mutate, fragment):
    mutate(base_config)
    with pytest.raises(UserError) as err:
        load_config(write(tmp_path, base_config))
    assert fragment in err.value.message


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_dir: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(bogus=1),
    lambda c: c.update(training={"batch_size": 1.5}),
    lambda c: c["data"].update(path="/no/such.csv"),
    lambda c: c.update(export={"enabled": False}),
])
def test_cli_fails_before_any_work(tmp_path, base_config, mutate):
    mutate(base_config)
    path = write(tmp_path, base_config)
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", "distill", "run", str(path)],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: config"), proc.stderr
    assert not (tmp_path / "run").exists(), "no work may start on a bad config"


def test_student_layers_checked_against_distilbert_style_config(tmp_path, base_config):
    """DistilBERT names its layer count n_layers: the up-front check must read it too."""
    student = tmp_path / "distil"
    student.mkdir()
    (student / "config.json").write_text('{"model_type": "distilbert", "n_layers": 3, "dim": 64}')
    base_config["student"] = {"model": str(student), "layers": 4}
    with pytest.raises(UserError, match="student.layers is 4 but the student has 3 layers"):
        load_config(write(tmp_path, base_config))
    base_config["student"]["layers"] = 3
    assert load_config(write(tmp_path, base_config))["student"]["layers"] == 3


def test_layer_count_reads_every_naming():
    from types import SimpleNamespace

    from distill.training.modeling import layer_count

    assert layer_count({"num_hidden_layers": 6}) == 6
    assert layer_count({"n_layers": 3}) == 3
    assert layer_count(SimpleNamespace(num_layers=12)) == 12
    assert layer_count({"hidden_size": 384}) is None
    assert layer_count({"n_layers": True}) is None  # a bool is not a count


def test_classifier_teacher_takes_no_prompt_options(tmp_path, base_config):
    """teacher.model = a trained student dir (two-stage distillation): calibration defaults to none,
    and prompt options are refused up front."""
    cls = tmp_path / "student"
    cls.mkdir()
    (cls / "config.json").write_text('{"model_type": "bert", "architectures": ["BertForSequenceClassification"]}')
    base_config["teacher"] = {"model": str(cls)}
    assert load_config(write(tmp_path, base_config))["teacher"]["calibrate"] == "none"
    for bad in ({"calibrate": "content-free"}, {"template": "chat"}, {"select_prompt": True}):
        base_config["teacher"] = {"model": str(cls), **bad}
        with pytest.raises(UserError, match="encoder classifier"):
            load_config(write(tmp_path, base_config))


@pytest.mark.parametrize("key", ["teacher.model", "student.model", "data.path"])
def test_an_overlong_path_is_one_error_not_an_oserror(tmp_path, base_config, key):
    """A name longer than the file system allows fails as a config error (found by tests/test_fuzz.py)."""
    section, _, sub = key.partition(".")
    base_config.setdefault(section, {})[sub] = "x" * 5000
    with pytest.raises(UserError, match=f"config: {key}: not a usable path"):
        load_config(write(tmp_path, base_config))
