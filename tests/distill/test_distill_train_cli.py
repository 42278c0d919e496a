"""``advisor distill train`` / ``advisor distill evaluate``: bad inputs give one line and exit 2;
a short real run writes a loadable student, and evaluate writes the three-way report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.atomic import write_json, write_jsonl
from advisor.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for n in needles:
        assert n.lower() in lines[0].lower(), lines[0]


@pytest.fixture(scope="module")
def sst2_small(tmp_path_factory, shared_data):
    """Teacher-style labels for 160 SST-2 training sentences (synthetic noisy teacher) and a small
    gold set with the teacher's labels for it."""
    from distill.data.labelset import LabelSet
    from benchmarks.shared_data import sst2_splits, synthetic_teacher_rows, write_split

    ls = LabelSet.from_spec("sst2")
    pool, gold = sst2_splits(shared_data, n_pool=160, seed=5)
    d = tmp_path_factory.mktemp("cli")
    run = d / "run"
    run.mkdir()
    write_jsonl(run / "labels.jsonl", synthetic_teacher_rows(pool, ls.names, flip=0.15, seed=5))
    write_json(run / "labelset.json", ls.to_dict())
    gold.texts, gold.gold, gold.ids = gold.texts[:80], gold.gold[:80], gold.ids[:80]
    write_split(gold, d / "gold.jsonl")
    write_jsonl(d / "gold_teacher.jsonl", synthetic_teacher_rows(gold, ls.names, flip=0.2, seed=6))
    return d


# ----------------------------------------------------------------------------------- bad inputs
@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_labels_from_another_label_set(sst2_small, tmp_path, capsys):
    rows = [json.loads(x) for x in (sst2_small / "run" / "labels.jsonl").read_text().splitlines()[:20]]
    write_jsonl(tmp_path / "labels.jsonl", rows)
    from distill.data.labelset import LabelSet

    write_json(tmp_path / "labelset.json", LabelSet.from_spec("ag_news").to_dict())
    code, _, err = run_cli(["distill", "train", "--labels", str(tmp_path / "labels.jsonl"), "--out",
                            str(tmp_path / "out"), "--quiet"], capsys)
    assert_one_line_error(code, err, "label set")


def test_gold_dev_with_unknown_labels(sst2_small, tmp_path, capsys):
    write_jsonl(tmp_path / "dev.jsonl", [{"text": "fine", "label": "positive"}, {"text": "meh", "label": "neutral"}])
    code, _, err = run_cli(["distill", "train", "--labels", str(sst2_small / "run" / "labels.jsonl"), "--out",
                            str(tmp_path / "out"), "--gold-dev", str(tmp_path / "dev.jsonl"), "--quiet"], capsys)
    assert_one_line_error(code, err, "neutral")


def test_empty_labels_file(tmp_path, capsys):
    (tmp_path / "labels.jsonl").write_text("")
    code, _, err = run_cli(["distill", "train", "--labels", str(tmp_path / "labels.jsonl"), "--out",
                            str(tmp_path / "out")], capsys)
    assert_one_line_error(code, err, "empty")


@pytest.mark.parametrize("kind", ["causal", "noconfig", "missing"])
def test_student_not_an_encoder(sst2_small, tmp_path, capsys, kind):
    student = tmp_path / "student"
    if kind != "missing":
        student.mkdir()
    if kind == "causal":
        write_json(student / "config.json", {"model_type": "llama", "architectures": ["LlamaForCausalLM"],
                                             "hidden_size": 64, "num_attention_heads": 2,
                                             "num_hidden_layers": 1, "intermediate_size": 128,
                                             "vocab_size": 100})
    code, _, err = run_cli(["distill", "train", "--labels", str(sst2_small / "run" / "labels.jsonl"), "--out",
                            str(tmp_path / "out"), "--student", str(student), "--quiet"], capsys)
    needle = {"causal": "not an encoder", "noconfig": "config.json", "missing": "does not exist"}[kind]
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "out" / "student").exists()


@pytest.mark.parametrize("flag,value", [("--alpha", "1.5"), ("--temperature", "0"), ("--threshold", "1"),
                                        ("--max-length", "4"), ("--layers", "0"), ("--layers", "7")])
def test_bad_option_values(sst2_small, tmp_path, capsys, flag, value):
    code, _, err = run_cli(["distill", "train", "--labels", str(sst2_small / "run" / "labels.jsonl"), "--out",
                            str(tmp_path / "out"), flag, value], capsys)
    assert_one_line_error(code, err, flag)


def test_evaluate_without_student(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "gold.jsonl").write_text('{"text": "x", "label": "positive"}\n')
    code, _, err = run_cli(["distill", "evaluate", str(tmp_path / "run"), "--gold", str(tmp_path / "gold.jsonl")],
                           capsys)
    assert_one_line_error(code, err, "no trained student")


def test_exit_code_through_the_console_script(tmp_path):
    (tmp_path / "labels.jsonl").write_text("")
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    p = subprocess.run([sys.executable, "-m", "advisor.cli", "distill", "train", "--labels",
                        str(tmp_path / "labels.jsonl"), "--out", str(tmp_path / "o")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error: ") and "empty" in p.stderr


def test_layers_keeps_the_bottom_layers(sst2_small, tmp_path, capsys):
    """--layers 2: the saved student is a 2-layer BERT whose layers started from the base's first two."""
    from safetensors.numpy import load_file

    from distill.defaults import default_student_dir

    out = tmp_path / "run"
    code, _, err = run_cli(["distill", "train", "--labels", str(sst2_small / "run" / "labels.jsonl"), "--out",
                            str(out), "--layers", "2", "--max-steps", "2", "--max-length", "32", "--lr", "1e-9",
                            "--quiet"], capsys)
    assert code == 0, err
    assert json.loads((out / "student" / "config.json").read_text())["num_hidden_layers"] == 2
    assert json.loads((out / "train.json").read_text())["config"]["layers"] == 2
    saved = load_file(str(out / "student" / "model.safetensors"))
    base = load_file(str(default_student_dir() / "model.safetensors"))
    assert not any(".layer.2." in k for k in saved) and any(".layer.1." in k for k in saved)
    key = "encoder.layer.1.output.dense.weight"  # lr 1e-9 for 2 steps: still the base's layer 1
    assert abs(saved["bert." + key] - base[key]).max() < 1e-5


# ----------------------------------------------------------------------------------- happy path
@pytest.mark.slow  # ~1-2 min here: the full `make test` runs it, `make test-fast` does not
def test_train_then_evaluate(sst2_small, capsys):
    from transformers import pipeline

    run = sst2_small / "run"
    code, out, err = run_cli(["distill", "train", "--labels", str(run / "labels.jsonl"), "--out", str(run),
                              "--epochs", "1", "--max-length", "32", "--batch-size", "16", "--lr", "1e-4",
                              "--alpha", "0.7", "--temperature", "3", "--quiet"], capsys)
    assert code == 0, err
    assert "student:" in out
    info = json.loads((run / "train.json").read_text())
    assert info["config"]["alpha"] == 0.7 and info["config"]["temperature"] == 3.0
    assert info["data"]["train"] + info["data"]["eval"] == 160
    assert (run / "checkpoints").is_dir()
    clf = pipeline("text-classification", model=str(run / "student"), device=-1)
    assert clf("a great movie")[0]["label"] in {"negative", "positive"}

    code, out, err = run_cli(["distill", "evaluate", str(run), "--gold", str(sst2_small / "gold.jsonl"),
                              "--teacher-labels", str(sst2_small / "gold_teacher.jsonl"), "--quiet"], capsys)
    assert code == 0, err
    assert "student (BERT)" in out and "TF-IDF + LR" in out
    m = json.loads((run / "metrics.json").read_text())
    assert m["n"] == 80 and set(m["systems"]) == {"teacher", "student", "tfidf_lr"}
    gold = [json.loads(x)["label"] for x in (sst2_small / "gold.jsonl").read_text().splitlines()]
    teach = [json.loads(x)["label"] for x in (sst2_small / "gold_teacher.jsonl").read_text().splitlines()]
    t_acc = sum(a == b for a, b in zip(gold, teach)) / len(gold)
    assert m["systems"]["teacher"]["accuracy"] == pytest.approx(t_acc)
    for s, v in m["systems"].items():
        assert v["retention"] == pytest.approx(v["accuracy"] / t_acc)
        assert 0.0 <= v["agreement_with_teacher"] <= 1.0 and 0.0 <= v["ece"] <= 1.0
        assert set(v["per_class"]) == {"negative", "positive"}
        assert sum(map(sum, v["confusion"])) == 80
        assert (run / f"confusion_{s}.png").read_bytes().startswith(PNG_MAGIC)
    assert m["systems"]["teacher"]["agreement_with_teacher"] == 1.0
    report = (run / "report.md").read_text()
    assert "What you gained and what you lost" in report and "confusion_student.png" in report
    card = (run / "student" / "README.md").read_text()
    assert "TF-IDF + LR" in card  # the model card now carries the gold evaluation
