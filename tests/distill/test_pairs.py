"""Sentence-pair classification (``task: pairs``, distill/tasks/pairs.py) through every stage: the
reader's two text columns, the prompt that shows both texts, the student's ``[CLS] a [SEP] b``
encoding, labels.jsonl's ``text``/``text_pair``, and (slow) an end-to-end run on real MRPC data with
a fast stub teacher -> train -> evaluate -> export (int8, verified) -> the torch-free runtime and
``advisor predict`` on pairs."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from core.errors import UserError
from core.pairs import PAIR_SEP, join_pair, row_fields, row_text, split_pair, tokenizer_inputs
from distill.data.config import DataConfig
from distill.data.labelset import LabelSet
from distill.data.reader import load_texts
from distill.tasks import get_task
from distill.teachers.base import Scored, Teacher


@pytest.fixture
def mrpc(shared_data):
    return shared_data / "mrpc"


@pytest.fixture
def mrpc_labels():
    return LabelSet.from_spec("mrpc")


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


class OverlapTeacher(Teacher):
    """A fast stand-in for a GPT teacher: P(equivalent) from the word overlap of the two texts of a
    pair. It renders every prompt it is given and records them, so the tests see what it was asked."""

    kind = "stub"
    fingerprint = "overlap-v1"

    def __init__(self, labelset, **kw):
        super().__init__(labelset, **kw)
        self.rendered: list[str] = []

    def score(self, texts):
        out = []
        for t in texts:
            self.calls += 1
            self.rendered.append(self.prompt.render(t) if not self.prompt.is_chat else str(self.prompt.messages(t)))
            a, b = split_pair(t)
            wa, wb = _words(a), _words(b or a)
            j = len(wa & wb) / max(1, len(wa | wb))
            p = float(np.clip((j - 0.3) * 2.5 + 0.5, 0.02, 0.98))
            out.append(Scored(np.array([1 - p, p])))  # mrpc order: not_equivalent, equivalent
        return out


# ---------------------------------------------------------------------------- the pair itself
def test_join_split_and_rows():
    j = join_pair("a cat", "a dog")
    assert split_pair(j) == ("a cat", "a dog")
    assert join_pair("x\x1fy", "z") == f"x y{PAIR_SEP}z"  # the separator cannot occur inside a text
    assert row_fields(j) == {"text": "a cat", "text_pair": "a dog"} and row_fields("solo") == {"text": "solo"}
    assert row_text({"text": "a cat", "text_pair": "a dog"}) == j and row_text({"text": "solo"}) == "solo"
    assert tokenizer_inputs([j, join_pair("b", "c")]) == (["a cat", "b"], ["a dog", "c"])
    assert tokenizer_inputs(["one", "two"]) == (["one", "two"],)


# ---------------------------------------------------------------------------- data
def test_reader_reads_both_texts_of_mrpc(mrpc, mrpc_labels):
    ds = get_task("pairs").read(DataConfig(path=str(mrpc / "msr_paraphrase_train.txt"), limit=20), mrpc_labels)
    assert len(ds) == 20 and ds.text_column == "#1 String" and ds.text_pair_column == "#2 String"
    a, b = split_pair(ds.texts[0])
    assert a.startswith("Amrozi accused his brother") and b.startswith("Referring to him as only")
    assert ds.gold[:2] == ["equivalent", "not_equivalent"]  # Quality 1 / 0 through the preset's aliases
    # the same file read as single texts (classification) has no pairs
    one = load_texts(mrpc / "msr_paraphrase_train.txt", labelset=mrpc_labels, limit=5)
    assert not any(PAIR_SEP in t for t in one.texts)


def test_reader_one_text_missing_is_one_line_error(tmp_path, mrpc_labels):
    f = tmp_path / "pairs.jsonl"
    f.write_text('{"s1": "the cat sat", "s2": "a cat was sitting", "label": "1"}\n'
                 '{"s1": "it rained", "s2": "", "label": "0"}\n', encoding="utf-8")
    with pytest.raises(UserError) as err:
        load_texts(f, text_column="s1", text_pair_column="s2", labelset=mrpc_labels)
    msg = str(err.value)
    assert "\n" not in msg and "row 2" in msg and "'s2'" in msg and "one text missing" in msg
    with pytest.raises(UserError, match="both 's1'"):
        load_texts(f, text_column="s1", text_pair_column="s1", labelset=mrpc_labels)
    with pytest.raises(UserError, match="no text pair column 'nope'"):
        load_texts(f, text_column="s1", text_pair_column="nope", labelset=mrpc_labels)
    with pytest.raises(UserError, match="text_pair_column"):  # task pairs without a second column
        get_task("pairs").read(DataConfig(path=str(f), text_column="s1"), LabelSet.from_spec("sst2"))


def test_cli_one_text_missing_exits_2(tmp_path, capsys):
    from advisor.cli import main

    f = tmp_path / "pairs.jsonl"
    f.write_text('{"s1": "the cat sat", "s2": "a cat was sitting"}\n{"s1": "", "s2": "it rained"}\n',
                 encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["distill", "label", "--task", "pairs", "--data", str(f), "--text-column", "s1",
              "--text-pair-column", "s2", "--labels", "mrpc", "--out", str(tmp_path / "run")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "row 2 is a sentence pair with one text missing" in err


# ---------------------------------------------------------------------------- teacher
def test_prompt_shows_both_texts_and_the_cache_key_holds_both(mrpc_labels):
    from distill.labeling.cache import text_hash

    kind = get_task("pairs")
    pair = join_pair("The cat sat on the mat.", "A cat was sitting on the mat.")
    p = kind.prompt(mrpc_labels, "field", language="en")
    assert p.render(pair) == ("Sentence 1: The cat sat on the mat.\nSentence 2: A cat was sitting on the mat.\n"
                              "Answer:")
    for template in ("instruct", "question", "options", "chat", "chat-options"):
        q = kind.prompt(mrpc_labels, template, language="en")
        shown = str(q.messages(pair)) if q.is_chat else q.render(pair)
        assert "The cat sat on the mat." in shown and "A cat was sitting on the mat." in shown, template
    zh = kind.prompt(mrpc_labels, "field", language="zh").render(pair)
    assert "句子1：The cat sat" in zh and "句子2：A cat was" in zh
    # the prompt's identity differs from the single-text one; the cache key differs per second text
    assert p.hash != get_task("classification").prompt(mrpc_labels, "field", language="en").hash
    assert text_hash(pair) != text_hash(join_pair("The cat sat on the mat.", "Something else."))
    assert text_hash(join_pair("a b", "c")) != text_hash(join_pair("a", "b c"))


# ---------------------------------------------------------------------------- student
def test_student_encodes_a_pair():
    from transformers import AutoTokenizer

    from distill.defaults import default_student_dir

    tok = AutoTokenizer.from_pretrained(default_student_dir())
    enc = get_task("pairs").encode(tok, [join_pair("the cat sat", "a dog ran")], 32)
    ids, types = enc["input_ids"][0], enc["token_type_ids"][0]
    assert ids[0] == tok.cls_token_id and ids.count(tok.sep_token_id) == 2
    assert tok.decode(ids) == "[CLS] the cat sat [SEP] a dog ran [SEP]"
    assert types == [0] * 5 + [1] * 4  # [CLS] a [SEP] -> 0, b [SEP] -> 1
    with pytest.raises(UserError, match="not a sentence pair"):
        get_task("pairs").encode(tok, ["just one text"], 32)


# ---------------------------------------------------------------------------- labelling -> labels.jsonl
def test_labels_rows_carry_text_and_text_pair(tmp_path, mrpc, mrpc_labels):
    from distill.labeling.labeler import LabelingConfig, label_dataset
    from distill.training.labels import read_labels

    ds = get_task("pairs").read(DataConfig(path=str(mrpc / "msr_paraphrase_train.txt"), limit=12), mrpc_labels)
    teacher = OverlapTeacher(mrpc_labels)
    label_dataset(ds, mrpc_labels, teacher, tmp_path / "r", LabelingConfig(progress=False, task="pairs"))
    rows = [json.loads(x) for x in (tmp_path / "r" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {"text", "text_pair", "probs", "label", "gold"} <= set(rows[0])
    assert rows[0]["text"].startswith("Amrozi") and rows[0]["text_pair"].startswith("Referring")
    assert all("Sentence 2: " in r for r in teacher.rendered)
    assert json.loads((tmp_path / "r" / "teacher.json").read_text())["task"] == "pairs"
    # resume: the cache answers every pair, the teacher is not asked again
    again = OverlapTeacher(mrpc_labels)
    label_dataset(ds, mrpc_labels, again, tmp_path / "r", LabelingConfig(progress=False, task="pairs"))
    assert again.calls == 0
    got = read_labels(tmp_path / "r" / "labels.jsonl")
    assert got.texts[0] == ds.texts[0]  # read back as the joined pair


# ---------------------------------------------------------------------------- runtime input parsing
def test_runtime_parses_pair_lines_and_arguments():
    from export.runtime import PAIR_SEP as RUNTIME_SEP
    from export.runtime import BundleError, pair_arguments, parse_input_lines, split_input

    assert RUNTIME_SEP == PAIR_SEP  # the shipped runtime's copy of core.pairs' separator
    lines = [b'{"text": "a cat", "text_pair": "a dog", "id": 7}\n', b"plain\n"]
    got = list(parse_input_lines(lines))
    assert got[0] == (1, "7", join_pair("a cat", "a dog")) and got[1] == (2, None, "plain")
    assert split_input(got[0][2]) == {"text": "a cat", "text_pair": "a dog"}
    with pytest.raises(BundleError, match="line 1: a sentence pair needs two non-empty"):
        list(parse_input_lines([b'{"text": "a cat", "text_pair": ""}']))
    assert pair_arguments(["a", "b", "c", "d"]) == [join_pair("a", "b"), join_pair("c", "d")]
    with pytest.raises(BundleError, match="two at a time"):
        pair_arguments(["a", "b", "c"])


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_mrpc_end_to_end_label_train_evaluate_export_predict(tmp_path, mrpc, mrpc_labels, monkeypatch):
    """label (stub teacher) -> train (1 epoch, 2 layers) -> evaluate on gold pairs -> export int8
    (verified on the labels' pairs) -> the bundle's runtime and `advisor predict` on pairs."""
    import subprocess
    import sys

    from advisor.cli import cli
    from distill.evaluation.evaluate import evaluate_run
    from distill.labeling.labeler import LabelingConfig, label_dataset
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig
    from export.build import export_bundle
    from export.config import ExportConfig
    from export.runtime import Bundle, BundleError

    run = tmp_path / "run"
    ds = get_task("pairs").read(DataConfig(path=str(mrpc / "msr_paraphrase_train.txt"), limit=160), mrpc_labels)
    label_dataset(ds, mrpc_labels, OverlapTeacher(mrpc_labels), run, LabelingConfig(progress=False, task="pairs"))

    cfg = DistillationConfig(epochs=1, batch_size=32, max_length=96, layers=2, evals_per_epoch=1)
    summary = train_student(run / "labels.jsonl", run, cfg, task="pairs", progress=False)
    assert summary["task"] == "pairs" if "task" in summary else True
    hf = json.loads((run / "student" / "config.json").read_text())
    assert hf["distill_task"] == "pairs"

    ev = evaluate_run(run, mrpc / "msr_paraphrase_test.txt", text_column="#1 String",
                      text_pair_column="#2 String", label_column="Quality", progress=False, limit=60)
    acc = ev["systems"]["student"]["accuracy"] if "systems" in ev else None
    assert (run / "report.md").is_file() and (run / "metrics.json").is_file()
    if acc is not None:
        assert 0.0 <= acc <= 1.0

    bundle_cfg, verification = export_bundle(run / "student", run / "bundle", ExportConfig(eval_limit=100),
                                             progress=False)
    assert bundle_cfg["onnx_bundle"]["task"] == "pairs"
    assert verification["passed"] is True, verification.get("summary")
    assert verification["n"] == 100 if "n" in verification else True

    b = Bundle.load(run / "bundle")
    assert b.pairs and b.variant == "int8"
    a, p = "The cat sat on the mat.", "A cat was sitting on the mat."
    rows = b.predict([(a, p), join_pair(a, "Stocks fell sharply on Monday.")])
    assert len(rows) == 2 and set(rows[0]) >= {"label", "score", "probs"}
    assert rows[0]["label"] in mrpc_labels.names
    with pytest.raises(BundleError, match="not a sentence pair"):
        b.predict(["only one text"])
    alone = b.predict([(a, p)])[0]  # batch 1, as each `predict --pair` below (int8 results depend on the padding)
    # the runtime's encoding is the student's: [CLS] a [SEP] b [SEP], token types 0 then 1
    feed = b.encode([(a, p)])
    if "token_type_ids" in feed:
        assert set(feed["token_type_ids"][0].tolist()) == {0, 1}

    # advisor predict: JSONL pairs on stdin, and two TEXT arguments with --pair
    res = CliRunner().invoke(cli, ["predict", str(run / "bundle"), "--with-text"],
                             input=json.dumps({"text": a, "text_pair": p, "id": "x"}) + "\n")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["id"] == "x" and out["text"] == a and out["text_pair"] == p and out["label"] in mrpc_labels.names
    res = CliRunner().invoke(cli, ["predict", str(run / "bundle"), "--pair", a, p])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip())["probs"] == alone["probs"]
    res = CliRunner().invoke(cli, ["predict", str(run / "bundle"), "--pair", a])
    assert res.exit_code == 2 and "two at a time" in res.output

    # the bundle's own runtime.py, in a process that never imports torch/transformers/the project
    code = ("import sys, runtime; sys.argv=['runtime.py', sys.argv[1], '--pair', sys.argv[2], sys.argv[3]];"
            "rc = runtime.main(sys.argv[1:]);"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'distill', 'export', 'core', 'advisor')];"
            "assert not bad, bad; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-B", "-c", code, str(run / "bundle"), a, p], cwd=run / "bundle",
                          capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""})
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.strip())
    assert row["text"] == a and row["text_pair"] == p and row["probs"] == alone["probs"]


def test_training_gold_dev_reads_pairs_through_the_preset(mrpc, mrpc_labels):
    from distill.training.train import _read_gold_dev

    class Rows:
        labelset, names = mrpc_labels, mrpc_labels.names

    dev = _read_gold_dev(Rows, mrpc / "msr_paraphrase_test.txt", None, None, get_task("pairs"))
    assert len(dev) == 1725 and all(PAIR_SEP in t for t in dev.texts)
    with pytest.raises(UserError, match="names no second text column"):
        class Plain:
            labelset, names = LabelSet.from_spec("sst2"), ["negative", "positive"]

        _read_gold_dev(Plain, mrpc / "msr_paraphrase_test.txt", None, None, get_task("pairs"))


def test_ocnli_preset_reads_chinese_pairs_and_drops_unlabelled_rows(shared_data):
    ls = LabelSet.from_spec("ocnli")
    ds = get_task("pairs").read(DataConfig(path=str(shared_data / "ocnli" / "dev.json")), ls)
    raw = [json.loads(line)["label"] for line in (shared_data / "ocnli" / "dev.json").read_text().splitlines()]
    assert len(ds) == len(raw) - raw.count("-") and set(ds.gold) == {"entailment", "neutral", "contradiction"}
    prompt = get_task("pairs").prompt(ls, "field", language="zh").render(ds.texts[0])
    assert prompt.startswith("前提：身上裹一件工厂发的棉大衣") and "\n假设：身上至少一件衣服\n" in prompt


def test_shots_file_of_a_pairs_run_gives_pair_shots(tmp_path, mrpc, mrpc_labels, monkeypatch):
    """--shots-file with task pairs: the shots are read with the pool's two text columns and shown
    as pairs (`Sentence 1:` / `Sentence 2:` for each shot, then the text's own pair)."""
    import distill.teachers as teachers
    from distill.labeling.config import TeacherConfig
    from distill.labeling.stage import label

    made = []

    def fake_load(spec, labelset, **kw):
        made.append(OverlapTeacher(labelset))
        return made[-1]

    monkeypatch.setattr(teachers, "load_teacher", fake_load)
    data = DataConfig(path=str(mrpc / "msr_paraphrase_test.txt"), text_column="#1 String",
                      text_pair_column="#2 String", label_column="none", limit=8)
    t = TeacherConfig(model="stub", shots=2, shots_file=str(mrpc / "msr_paraphrase_train.txt"), template="field",
                      gate_size=8, accept_weak_teacher=True)
    label(data, "mrpc", t, tmp_path / "r", None, task="pairs", echo=lambda *_: None, progress=False)
    prompts = made[0].rendered
    assert prompts and all(p.count("Sentence 2: ") == 3 for p in prompts)  # 2 shots + the pair itself
    shots = json.loads((tmp_path / "r" / "teacher.json").read_text())["prompt"]["shots"]
    assert len(shots) == 2 and all(PAIR_SEP in s[0] for s in shots)


class CharOverlapTeacher(Teacher):
    """A stand-in Chinese NLI teacher: entailment / neutral / contradiction from the share of the
    hypothesis's characters found in the premise (ocnli order)."""

    kind = "stub"
    fingerprint = "char-overlap-v1"

    def score(self, texts):
        out = []
        for t in texts:
            self.calls += 1
            a, b = split_pair(t)
            share = len(set(b or a) & set(a)) / max(1, len(set(b or a)))
            p = np.array([share, 1 - abs(share - 0.5), 1 - share]) + 0.05
            out.append(Scored(p / p.sum()))
        return out


@pytest.mark.slow
def test_ocnli_end_to_end_with_a_tiny_chinese_encoder(tmp_path, shared_data, zh_encoder):
    """Chinese sentence pairs (OCNLI, 3 labels, `-` rows dropped) through every stage with a student
    that reads Chinese (the tests' own tiny encoder: mechanics only, its accuracy means nothing):
    label (stub teacher, resumed from the cache) -> train -> evaluate on gold pairs -> export int8
    (fp32 verified against PyTorch) -> the runtime on a Chinese pair."""
    from distill.evaluation.evaluate import evaluate_run
    from distill.labeling.gate import GateConfig
    from distill.labeling.labeler import LabelingConfig, label_dataset
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig
    from export.build import export_bundle
    from export.config import ExportConfig
    from export.runtime import Bundle

    ls = LabelSet.from_spec("ocnli")
    run = tmp_path / "run"
    ds = get_task("pairs").read(DataConfig(path=str(shared_data / "ocnli" / "train.3k.json"), limit=96), ls)
    # the stub is a weak NLI teacher: the gate (the pool carries gold) would stop it, as it should
    lc = LabelingConfig(progress=False, task="pairs", language="zh", gate=GateConfig(accept_weak=True))
    label_dataset(ds, ls, CharOverlapTeacher(ls), run, lc)
    again = CharOverlapTeacher(ls)
    label_dataset(ds, ls, again, run, lc)
    assert again.calls == 0  # every pair answered from the cache
    row = json.loads((run / "labels.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(row["probs"]) == {"entailment", "neutral", "contradiction"} and row["text_pair"]

    cfg = DistillationConfig(epochs=1, batch_size=16, max_length=96, evals_per_epoch=1, lr=1e-3)
    train_student(run / "labels.jsonl", run, cfg, student=str(zh_encoder), task="pairs", progress=False)
    ev = evaluate_run(run, shared_data / "ocnli" / "dev.json", progress=False, limit=40)
    assert 0.0 <= ev["systems"]["student"]["accuracy"] <= 1.0
    _, ver = export_bundle(run / "student", run / "bundle", ExportConfig(eval_limit=40, max_drop=100.0),
                           eval_data=str(shared_data / "ocnli" / "dev.json"), progress=False)
    assert ver["fp32_vs_pytorch"]["passed"], ver["summary"]
    b = Bundle.load(run / "bundle")
    assert b.pairs
    out = b.predict([("身上裹一件工厂发的棉大衣", "身上至少一件衣服")])[0]
    assert out["label"] in ls.names and abs(sum(out["probs"].values()) - 1) < 1e-4


def test_gold_labels_make_the_supervised_reference_of_pairs_and_multilabel(tmp_path, shared_data):
    """`advisor gold-labels --task pairs|multilabel`: rows the train stage reads as that kind (the
    supervised reference of issue 14), teacher.json naming the kind, one-line errors otherwise."""
    from advisor.cli import cli
    from distill.training.labels import read_labels
    from distill.training.train import check_labels_task

    run = CliRunner()
    out = tmp_path / "mrpc"
    res = run.invoke(cli, ["gold-labels", str(shared_data / "mrpc" / "msr_paraphrase_test.txt"), "--task", "pairs",
                           "--label-set", "mrpc", "--label-column", "Quality", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (out / "labels.jsonl").read_text().splitlines()]
    gold = load_texts(shared_data / "mrpc" / "msr_paraphrase_test.txt", labelset=LabelSet.from_spec("mrpc"),
                      label_column="Quality", text_pair_column="#2 String")
    assert len(rows) == len(gold.texts) and [row_text(r) for r in rows] == gold.texts
    assert all(r["text_pair"] and r["probs"][r["gold"]] == 1.0 for r in rows)
    check_labels_task(out / "labels.jsonl", get_task("pairs"))
    with pytest.raises(UserError, match="not 'classification'"):
        check_labels_task(out / "labels.jsonl", get_task("classification"))

    out = tmp_path / "go"
    res = run.invoke(cli, ["gold-labels", str(shared_data / "go_emotions" / "dev.tsv"), "--task", "multilabel",
                           "--label-set", "go_emotions", "--out", str(out)])
    assert res.exit_code == 0, res.output
    parsed = read_labels(out / "labels.jsonl")
    assert parsed.multi_label
    first = json.loads((out / "labels.jsonl").read_text().splitlines()[0])
    assert sum(first["probs"].values()) == len(first["labels"]) == len(first["gold"]) >= 1
    assert json.loads((out / "teacher.json").read_text())["task"] == "multilabel"

    for args, msg in [(["--task", "multilabel"], "needs --label-set"),
                      (["--task", "pairs", "--label-set", "sst2"], "needs --text-pair-column"),
                      (["--text-pair-column", "x"], "is for --task pairs")]:
        res = run.invoke(cli, ["gold-labels", str(shared_data / "go_emotions" / "dev.tsv"), "--out",
                               str(tmp_path / "bad")] + args)
        assert res.exit_code == 2 and msg in res.output and "Traceback" not in res.output, res.output


def test_bench_reads_the_verification_texts_of_pair_and_entity_bundles(tmp_path, shared_data):
    """`advisor export bench BUNDLE` without --texts times the bundle's verification texts: a pairs
    bundle gets pairs (the preset's second column; it failed with 'input 0 is not a sentence
    pair'), an NER bundle the texts of its entity file (it failed: 'cannot tell the format')."""
    from distill.data.ner import read_ner
    from export.bench import _load_texts

    for task, preset, src in [("pairs", "mrpc", shared_data / "mrpc" / "msr_paraphrase_test.txt"),
                              ("ner", "wnut17", shared_data / "wnut17" / "emerging.test.annotated")]:
        b = tmp_path / task
        b.mkdir()
        (b / "config.json").write_text(json.dumps({"onnx_bundle": {"task": task,
                                                                   "labelset": LabelSet.from_spec(preset).to_dict()}}))
        texts, source = _load_texts(b, {"eval_source": str(src)}, None, None, 20)
        assert source == str(src) and len(texts) == 20
        if task == "pairs":
            assert all(PAIR_SEP in t for t in texts)
        else:
            assert texts == read_ner(src, LabelSet.from_spec(preset), limit=20).texts
