"""``distill.tasks``: the task-kind registry, the ``classification`` kind's pieces, the ``task``
setting (config key and flag), and the runtime's post-processing keyed by ``onnx_bundle.task``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.errors import UserError
from distill.tasks import TASKS, ClassificationTask, TaskKind, get_task, register_task, student_task, task_names
from bundles import read_sst2

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------ the registry
def test_registry_has_classification_as_the_default():
    assert "classification" in task_names()
    kind = get_task("classification")
    assert isinstance(kind, ClassificationTask) and get_task(None) is kind and get_task(kind) is kind


@pytest.mark.parametrize("name", ["summarise", "", "Classification", 3, "x" * 500])
def test_an_unknown_kind_is_a_one_line_user_error_naming_the_known_ones(name):
    with pytest.raises(UserError) as ei:
        get_task(name)
    msg = ei.value.message
    assert "\n" not in msg and len(msg) < 200 and "unknown task kind" in msg and "known kinds: classification, pairs, multilabel" in msg


def test_register_task_adds_a_kind():
    class Echo(TaskKind):
        name = "echo-test"
        runtime = "classification"

    try:
        kind = register_task(Echo())
        assert get_task("echo-test") is kind and "echo-test" in task_names()
    finally:
        TASKS.pop("echo-test", None)
    with pytest.raises(TypeError):
        register_task(object())
    with pytest.raises(TypeError):
        register_task(TaskKind())  # no name


def test_every_kind_has_a_runtime_post_processing():
    """A bundle's onnx_bundle.task must be one the torch-free runtime knows."""
    from export.runtime import TASKS as RUNTIME_TASKS

    for name in task_names():
        assert get_task(name).runtime in RUNTIME_TASKS, name


def test_student_task_defaults_to_classification(tmp_path):
    assert student_task({}) == "classification"
    assert student_task({"distill_task": "pairs"}) == "pairs"
    assert student_task(tmp_path) == "classification"  # no config.json: a student made before task kinds
    (tmp_path / "config.json").write_text(json.dumps({"distill_task": "classification"}))
    assert student_task(tmp_path) == "classification"


# ------------------------------------------------------------------------------- the task setting
def test_task_setting_validates_in_the_callers_terms():
    from core.schema import check_settings
    from distill.tasks.config import TaskConfig

    assert check_settings(TaskConfig()).task == "classification"
    with pytest.raises(UserError, match=rf"^--task: expected one of {', '.join(task_names())}, got 'summarise'"):
        check_settings(TaskConfig(task="summarise"))
    with pytest.raises(UserError, match=r"^config: task: expected one of classification"):
        check_settings(TaskConfig(task="summarise"), cli=False)


def test_task_is_a_top_level_config_key(tmp_path):
    from advisor.pipeline.config import parse_config

    data = tmp_path / "texts.csv"
    data.write_text("text,label\ngood movie,1\nbad movie,0\n", encoding="utf-8")
    base = {"run_dir": "run", "data": {"path": str(data)}, "labels": "sst2"}
    assert parse_config(base, tmp_path)["task"] == "classification"
    assert parse_config({**base, "task": "classification"}, tmp_path)["task"] == "classification"
    assert parse_config({**base, "task": None}, tmp_path)["task"] == "classification"
    with pytest.raises(UserError, match=rf"^config: task: expected one of {', '.join(task_names())}, got 'summarise'$"):
        parse_config({**base, "task": "summarise"}, tmp_path)
    with pytest.raises(UserError, match="unknown key 'training.task'"):
        parse_config({**base, "training": {"task": "classification"}}, tmp_path)


@pytest.mark.parametrize("command", [["distill", "train", "--labels", "l.jsonl", "--out", "o"],
                                     ["distill", "label", "--data", "d.csv", "--labels", "sst2", "--out", "o"]])
def test_cli_task_flag_refuses_an_unknown_kind(command, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", *command, "--task", "summarise"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=120, env=_env())
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "'summarise'" in lines[0] and "classification" in lines[0]
    assert not (tmp_path / "o").exists()


def test_library_calls_refuse_an_unknown_kind_before_any_work(tmp_path):
    from distill.data.config import DataConfig
    from distill.labeling.stage import label
    from distill.training.api import train_student

    with pytest.raises(UserError, match="unknown task kind 'summarise'"):
        label(DataConfig(path=str(tmp_path / "missing.csv")), "sst2", out=tmp_path / "o", task="summarise")
    with pytest.raises(UserError, match="unknown task kind 'summarise'"):
        train_student(tmp_path / "missing.jsonl", tmp_path / "o", task="summarise")
    assert not (tmp_path / "o").exists()


def test_labels_made_for_another_kind_are_refused(tmp_path):
    from distill.training.train import check_labels_task

    labels = tmp_path / "labels.jsonl"
    kind = get_task("classification")
    check_labels_task(labels, kind)  # no teacher.json: labels made before task kinds were recorded
    (tmp_path / "teacher.json").write_text(json.dumps({"teacher": {}}))
    check_labels_task(labels, kind)
    (tmp_path / "teacher.json").write_text(json.dumps({"task": "classification"}))
    check_labels_task(labels, kind)
    (tmp_path / "teacher.json").write_text(json.dumps({"task": "ner"}))
    with pytest.raises(UserError, match="labels for the task 'ner', not 'classification'; train with --task ner"):
        check_labels_task(labels, kind)


# --------------------------------------------------------------------- the classification kind's pieces
def test_classification_data_and_teacher_pieces(tmp_path):
    from distill.data.config import DataConfig
    from distill.data.labelset import LabelSet
    from distill.teachers.base import Scored
    from distill.teachers.prompts import Calibrator, Prompt

    kind = get_task("classification")
    assert kind.fields == ("text",) and kind.runtime == "classification"
    ls = LabelSet.from_spec("sst2")
    f = tmp_path / "t.csv"
    f.write_text("text,label\ngreat film,positive\ndull film,negative\n", encoding="utf-8")
    ds = kind.read(DataConfig(path=str(f), label_column="label"), ls)
    assert ds.texts == ["great film", "dull film"] and ds.gold == ["positive", "negative"]
    assert kind.read(DataConfig(path=str(f)), ls, limit=1).texts == ["great film"]

    p = kind.prompt(ls, "instruct", shots=(), language="en")
    assert isinstance(p, Prompt) and p.template == "instruct" and p.hash == Prompt(ls, "instruct").hash
    # scored answers are calibrated, parsed ones are taken as they are
    cal = Calibrator("pool-mean", ref=np.array([0.8, 0.2]))
    np.testing.assert_allclose(kind.distribution(Scored(np.array([0.8, 0.2])), cal), [0.5, 0.5])
    np.testing.assert_allclose(kind.distribution(Scored(np.array([0.8, 0.2]), source="parsed"), cal), [0.8, 0.2])
    np.testing.assert_allclose(kind.distribution(Scored(np.array([0.3, 0.7])), Calibrator()), [0.3, 0.7])


def test_classification_loss_and_metric_pieces():
    from distill.evaluation.metrics import classification_metrics
    from distill.training.config import DistillationConfig
    from distill.training.trainer import StudentTrainer
    from distill.training.trainer_distillation import DistillationTrainer

    kind = get_task("classification")
    assert kind.trainer(DistillationConfig(temperature=3.0, alpha=0.7)) == (DistillationTrainer,
                                                                             {"temperature": 3.0, "alpha": 0.7})
    assert kind.trainer(DistillationConfig(alpha=0.0)) == (StudentTrainer, {})  # hard labels only
    pred = SimpleNamespace(predictions=np.array([[2.0, 0.1], [0.3, 1.0], [0.9, 0.0]]), label_ids=np.array([0, 1, 1]))
    m = kind.training_metrics(pred)
    assert m["accuracy"] == pytest.approx(2 / 3) and kind.best_metric in m
    gold, guess, names = ["a", "b", "b"], ["a", "b", "a"], ["a", "b"]
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert kind.metrics(gold, guess, names, probs=probs) == classification_metrics(gold, guess, names, probs=probs)


def test_classification_student_head_records_its_kind():
    kind = get_task("classification")
    model, tok, _ = kind.load_student(None, ["negative", "positive"], layers=1)
    assert model.config.num_labels == 2 and model.config.problem_type == "single_label_classification"
    assert type(model).__name__.endswith("ForSequenceClassification")
    assert getattr(model.config, "distill_task") == "classification"
    assert student_task(model.config.to_dict()) == "classification"
    enc = kind.encode(tok, ["a fine film", "awful"], max_length=4)
    assert set(enc) >= {"input_ids", "attention_mask"} and max(len(x) for x in enc["input_ids"]) <= 4


# ------------------------------------------------------------------------- the runtime's side
def _info(**extra) -> dict:
    return {"labels": ["neg", "pos"], "models": {"model.onnx": "fp32"}, "max_length": 16, "pad_id": 0,
            "pad_token": "[PAD]", **extra}


def test_runtime_task_field_is_checked():
    from export.runtime import BundleError, _check_info

    assert "task" not in _check_info(_info(), Path("config.json"))  # absent: classification
    _check_info(_info(task="classification"), Path("config.json"))
    for bad in ("summarise", 3, None):
        with pytest.raises(BundleError, match="onnx_bundle.task .* is not a task this runtime knows \\(classification, pairs"):
            _check_info(_info(task=bad), Path("config.json"))


def test_bundle_records_its_task_and_one_without_it_still_loads(bundle_fp32, tmp_path):
    """A bundle exported before task kinds (no onnx_bundle.task) loads as a classifier."""
    from export.runtime import Bundle, sha256_file

    cfg = json.loads((bundle_fp32 / "config.json").read_text())
    assert cfg["onnx_bundle"]["task"] == "classification"
    expected = Bundle.load(bundle_fp32).predict(["a gorgeous , witty , seductive movie .", "dull"])
    old = tmp_path / "old"
    shutil.copytree(bundle_fp32, old, ignore=shutil.ignore_patterns("bench"))
    del cfg["onnx_bundle"]["task"]
    (old / "config.json").write_text(json.dumps(cfg))
    manifest = json.loads((old / "manifest.json").read_text())  # re-sign the edited config.json
    manifest["files"]["config.json"] = {"sha256": sha256_file(old / "config.json"),
                                        "bytes": (old / "config.json").stat().st_size}
    (old / "manifest.json").write_text(json.dumps(manifest))
    b = Bundle.load(old)
    assert b.task == "classification"
    assert b.predict(["a gorgeous , witty , seductive movie .", "dull"]) == expected


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO), "LC_ALL": "C.UTF-8"}
