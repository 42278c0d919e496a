"""A trained encoder classifier as the teacher (two-stage distillation): it scores texts in the
label set's order, is refused when its labels differ or its weights are not safetensors, and the
label command rejects the prompt options it cannot use before writing anything."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advisor.cli import main
from core.errors import UserError
from distill.data.labelset import LabelSet

TEXTS = ["a gorgeous , witty , seductive movie .", "the worst film of the year .", "it 's a film .",
         "an utterly charming and hilarious film", "dull , lifeless and far too long"]


def make_classifier(path: Path, labels: list[str]) -> Path:
    """A 1-layer all-MiniLM-L6-v2 classifier with an untrained head, saved like a trained student."""
    from distill.training.modeling import load_student, save_student

    model, tok, _ = load_student(None, labels, layers=1)
    model.eval()
    return save_student(model, tok, path, card="test classifier\n", max_length=32)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    return make_classifier(tmp_path_factory.mktemp("cls") / "student", ["negative", "positive"])


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_loads_as_classifier_teacher_and_matches_the_model(classifier):
    from distill.training.modeling import load_trained_student, predict_proba
    from distill.teachers import load_teacher

    t = load_teacher(str(classifier), LabelSet.from_spec("sst2"), batch_size=2)
    assert t.kind == "classifier" and t.max_length == 32
    assert t.describe()["layers"] == 1
    got = t.predict_proba(TEXTS)
    model, tok = load_trained_student(classifier)
    want = predict_proba(model, tok, TEXTS, max_length=32)
    np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-6)


def test_columns_follow_the_label_set_not_the_model(tmp_path, classifier):
    from distill.teachers import load_teacher

    swapped = make_classifier(tmp_path / "swapped", ["positive", "negative"])
    t = load_teacher(str(swapped), LabelSet.from_spec("sst2"))
    from distill.training.modeling import load_trained_student, predict_proba

    model, tok = load_trained_student(swapped)
    raw = predict_proba(model, tok, TEXTS, max_length=32)  # columns: positive, negative
    np.testing.assert_allclose(t.predict_proba(TEXTS), raw[:, ::-1], atol=1e-6)


def test_other_labels_are_refused(classifier):
    from distill.teachers import load_teacher

    with pytest.raises(UserError, match="predicts labels"):
        load_teacher(str(classifier), LabelSet.from_spec("ag_news"))


def test_pickled_weights_are_refused(tmp_path, classifier):
    import shutil

    import torch
    from safetensors.torch import load_file

    d = tmp_path / "bin_only"
    shutil.copytree(classifier, d)
    torch.save(load_file(str(d / "model.safetensors")), d / "pytorch_model.bin")
    (d / "model.safetensors").unlink()
    from distill.teachers import load_teacher

    with pytest.raises(UserError, match="has only pytorch_model.bin \\(a pickle"):  # said, never unpickled
        load_teacher(str(d), LabelSet.from_spec("sst2"))


def test_label_cli_with_a_classifier_teacher(tmp_path, classifier, shared_data, capsys):
    out = tmp_path / "run"
    code, stdout, err = run_cli(["distill", "label", "--data", str(shared_data / "sst2" / "dev.tsv"), "--labels",
                                 "sst2", "--out", str(out), "--teacher", str(classifier), "--limit", "12",
                                 "--quiet"], capsys)
    assert code in (0, None), err
    assert "no prompt (classifier teacher)" in stdout
    rows = [json.loads(x) for x in (out / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["source"] == "scored" for r in rows)
    assert json.loads((out / "teacher.json").read_text())["teacher"]["kind"] == "classifier"


@pytest.mark.parametrize("extra, flag", [(["--select-prompt"], "--select-prompt"), (["--template", "chat"], "--template"),
                                         (["--calibrate", "content-free"], "--calibrate"),
                                         (["--shots", "2", "--shots-file", "{train}"], "--shots")])
def test_prompt_options_are_refused_before_writing(tmp_path, classifier, shared_data, capsys, extra, flag):
    out = tmp_path / "run"
    extra = [x.format(train=shared_data / "sst2" / "train.tsv") for x in extra]
    code, _, err = run_cli(["distill", "label", "--data", str(shared_data / "sst2" / "dev.tsv"), "--labels", "sst2",
                            "--out", str(out), "--teacher", str(classifier), "--limit", "4", *extra], capsys)
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and flag in lines[0], err
    assert "encoder classifier" in lines[0]
    assert not out.exists()


def test_two_stage_run_trains_and_evaluates(tmp_path, classifier, shared_data, capsys):
    """label with the classifier -> train a smaller student -> evaluate: the teacher row is the
    classifier re-run from teacher.json, or the GPT's labels when --teacher-labels is given."""
    run, dev = tmp_path / "run", str(shared_data / "sst2" / "dev.tsv")
    code, _, err = run_cli(["distill", "label", "--data", str(shared_data / "sst2" / "train.tsv"), "--labels", "sst2",
                            "--out", str(run), "--teacher", str(classifier), "--limit", "64", "--quiet",
                            "--accept-weak-teacher"], capsys)  # the fixture's tiny classifier is near chance
    assert code in (0, None), err
    # the fixture's classifier has an untrained head (one answer for every text): the hard labels come
    # from gold, or training refuses single-class data
    code, _, err = run_cli(["distill", "train", "--labels", str(run / "labels.jsonl"), "--out", str(run), "--layers",
                            "1", "--max-steps", "2", "--max-length", "32", "--hard-label", "gold", "--quiet"], capsys)
    assert code in (0, None), err
    code, out, err = run_cli(["distill", "evaluate", str(run), "--gold", dev, "--limit", "24", "--quiet"], capsys)
    assert code in (0, None), err
    assert "| teacher (classifier) |" in out
    m = json.loads((run / "metrics.json").read_text())
    assert m["systems"]["teacher"]["kind"] == "classifier" and m["systems"]["teacher"]["size_mb"] > 1
    # the GPT's labels of the gold file instead: no size or kind borrowed from the run's classifier
    gpt = tmp_path / "gpt.jsonl"
    from distill.data.reader import load_texts

    gold = load_texts(dev, labelset=LabelSet.from_spec("sst2"), limit=24)
    gpt.write_text("".join(json.dumps({"text": t, "probs": {"negative": 0.3, "positive": 0.7}, "label": "positive",
                                       "source": "scored"}) + "\n" for t in gold.texts))
    code, out, err = run_cli(["distill", "evaluate", str(run), "--gold", dev, "--limit", "24", "--teacher-labels",
                              str(gpt), "--quiet"], capsys)
    assert code in (0, None), err
    assert "| teacher (GPT) |" in out
    m = json.loads((run / "metrics.json").read_text())
    assert m["systems"]["teacher"]["size_mb"] is None and m["systems"]["teacher"]["kind"] is None
