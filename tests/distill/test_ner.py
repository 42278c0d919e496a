"""Entities (``task: ner``, distill/tasks/ner.py) through every stage: the readers (CoNLL, CLUENER's
inclusive ends, Weibo's ``char+position`` tokens) and their gold checks, the BIO projection through
the tokenizer's offsets with soft targets, entity-level metrics (seqeval's conventions, hand-computed
cases), the strict reading of a generated teacher answer, the runtime's decoding into char spans,
a Chinese run with a tiny encoder built from the data, and (slow) real WNUT-17 end to end with a stub
teacher: label (killed and resumed) -> train -> evaluate -> export int8 (verified) -> predict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.data.ner import bio_labels, check_spans, read_ner, tags_to_spans
from distill.evaluation.metrics import entity_metrics
from distill.tasks import get_task
from distill.tasks.ner import decode, project, read_ner_labels, span_rows, token_spans
from distill.teachers.spans import parse_span_answer


@pytest.fixture
def wnut(shared_data):
    return shared_data / "wnut17"


@pytest.fixture
def wnut_labels():
    return LabelSet.from_spec("wnut17")


# ---------------------------------------------------------------------------- readers
def test_wnut17_conll_spans_are_the_tagged_tokens(wnut, wnut_labels):
    ds = read_ner(wnut / "wnut17train.conll", wnut_labels)
    assert len(ds.texts) == 3394 and ds.format == "conll"
    n_b = sum(1 for line in (wnut / "wnut17train.conll").read_text(encoding="utf-8").splitlines()
              if line.split("\t")[-1].startswith("B-"))
    assert sum(map(len, ds.gold)) == n_b == 1975 and ds.repaired == 0
    first = [(ds.texts[0][s:e], t) for s, e, t in ds.gold[0]]
    assert first == [("Empire State Building", "location"), ("ESB", "location")]
    assert ds.texts[0].startswith("@paulwalk It 's the view")  # tokens joined with one space


def test_weibo_takes_the_first_character_and_joins_with_nothing(shared_data):
    ds = read_ner(shared_data / "weibo_ner" / "weiboNER_2nd_conll.train", LabelSet.from_spec("weibo_ner"))
    assert len(ds.texts) == 1350
    assert sum(len(t) for t in ds.texts) == 73778  # one character per token (README: 73,778 chars)
    assert sum("\ufffd" in t for t in ds.texts) > 0  # the broken emoji are one U+FFFD character each
    assert ds.texts[0] == "科技全方位资讯智能，快捷的汽车生活需要有三屏一云爱你"  # 科0 技1 ...: no positions
    assert ds.repaired == 10  # I- tags after O in the source, read as B- (seqeval)


def test_cluener_inclusive_ends_become_exclusive(shared_data):
    ls = LabelSet.from_spec("cluener")
    ds = read_ner(shared_data / "cluener" / "dev.json", ls)
    assert len(ds.texts) == 1343
    raw = [json.loads(x) for x in (shared_data / "cluener" / "dev.json").read_text(encoding="utf-8").splitlines()]
    mentions = {(m, typ) for typ, ms in raw[0]["label"].items() for m in ms}
    assert {(ds.texts[0][s:e], t) for s, e, t in ds.gold[0]} == mentions
    train = read_ner(shared_data / "cluener" / "train.json", ls)  # one nested mention: the preset keeps the longer
    assert train.dropped_overlaps >= 1


@pytest.mark.parametrize("content, message", [
    ('{"text": "abc", "spans": [{"start": 1, "end": 9, "type": "person"}]}', "outside the text"),
    ('{"text": "abcdef", "spans": [{"start": 0, "end": 3, "type": "person"}, {"start": 2, "end": 5, '
     '"type": "group"}]}', "overlapping spans"),
    ('{"text": "abc", "spans": [{"start": 0, "end": 2, "type": "animal"}]}', "not in the label set"),
])
def test_bad_gold_spans_are_one_line_errors(tmp_path, wnut_labels, content, message):
    f = tmp_path / "gold.jsonl"
    f.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=message) as exc:
        read_ner(f, wnut_labels, fmt="spans")
    assert "\n" not in str(exc.value)


def test_bad_conll_tags_and_empty_label_sets(tmp_path, wnut_labels):
    f = tmp_path / "x.conll"
    f.write_text("Paris\tB-city\n", encoding="utf-8")
    with pytest.raises(UserError, match="'city' is not in the label set"):
        read_ner(f, wnut_labels)
    f.write_text("Paris\tX-location\n", encoding="utf-8")
    with pytest.raises(UserError, match="not O, B-type or I-type"):
        read_ner(f, wnut_labels)
    with pytest.raises(UserError, match="no label set given"):
        LabelSet.from_spec("")


def test_cli_refuses_bad_gold_with_exit_2_before_loading_a_teacher(tmp_path):
    from advisor.cli import cli

    f = tmp_path / "bad.conll"
    f.write_text("Paris\tB-location\nis\tO\n\nRome\tB-town\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["distill", "label", "--task", "ner", "--labels", "wnut17", "--data", str(f),
                                   "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    err = res.output.strip().splitlines()
    assert len(err) == 1 and "'town' is not in the label set" in err[0]


def test_iob2_repair_follows_seqeval():
    spans, repaired = tags_to_spans(["I-PER", "I-PER", "O", "B-LOC", "I-ORG", "I-ORG", "B-ORG"])
    assert spans == [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "ORG"), (6, 7, "ORG")]
    assert repaired == 2


# ---------------------------------------------------------------------------- metrics
def test_entity_metrics_hand_computed():
    gold = [[(0, 5, "PER"), (10, 15, "LOC")], [(0, 3, "ORG")]]
    pred = [[(0, 5, "PER"), (10, 14, "LOC"), (20, 25, "ORG")], [(0, 3, "PER")]]
    m = entity_metrics(gold, pred, ["PER", "LOC", "ORG"])
    # one exact hit of 3 gold / 4 predicted: P 1/4, R 1/3, F1 2PR/(P+R) = 2/7
    assert (m["entities_correct"], m["entities_gold"], m["entities_pred"]) == (1, 3, 4)
    assert m["precision"] == pytest.approx(0.25) and m["recall"] == pytest.approx(1 / 3)
    assert m["f1"] == pytest.approx(2 / 7)
    assert m["per_type"]["PER"] == pytest.approx({"precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1,
                                                  "predicted": 2})
    assert m["per_type"]["LOC"]["f1"] == 0.0 and m["per_type"]["ORG"]["support"] == 1
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0 + 0) / 3)
    assert entity_metrics([[]], [[]])["f1"] == 0.0


# ---------------------------------------------------------------------------- projection and decoding
@pytest.fixture(scope="module")
def minilm_tok():
    from distill.defaults import default_student_dir
    from distill.training.modeling import load_tokenizer

    return load_tokenizer(default_student_dir())


def test_projection_gives_bio_tags_and_soft_targets(minilm_tok):
    tags = bio_labels(["person", "location"])
    text = "Barack Obama flew to New York yesterday"
    spans = [(0, 12, "person", 1.0), (21, 29, "location", 0.8)]
    enc = get_task("ner").encode(minilm_tok, [text], 64, [spans], tags)
    ids, soft = enc["labels"][0], np.array(enc["teacher_probs"][0])
    words = minilm_tok.convert_ids_to_tokens(enc["input_ids"][0])
    got = [(w, tags[i] if i >= 0 else None) for w, i in zip(words, ids)]
    assert got == [("[CLS]", None), ("barack", "B-person"), ("obama", "I-person"), ("flew", "O"), ("to", "O"),
                   ("new", "B-location"), ("york", "I-location"), ("yesterday", "O"), ("[SEP]", None)]
    assert soft[0].sum() == 0 and soft[-1].sum() == 0  # special tokens carry no target
    assert soft[5, tags.index("B-location")] == pytest.approx(0.8) and soft[5, 0] == pytest.approx(0.2)
    assert np.allclose(soft[1:-1].sum(1), 1.0)
    low = project([(0, 6)], [(0, 6, "person", 0.3)], tags)  # a span the teacher doubts: hard tag O
    assert low[0] == [0] and low[1][0][tags.index("B-person")] == pytest.approx(0.3)


def test_decode_returns_char_spans_of_the_original_text(minilm_tok):
    tags = bio_labels(["person", "location"])
    text = "Hi  ÉMILE Zola,   from Paris!"
    enc = minilm_tok(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    gold = [(4, 14, "person"), (23, 28, "location")]  # "ÉMILE Zola", "Paris" (odd spacing, accents, case)
    hard, _ = project(enc["offset_mapping"], gold, tags, enc["special_tokens_mask"])
    ids = [0 if h < 0 else h for h in hard]
    out = decode(enc["offset_mapping"], ids, [0.9] * len(ids), tags, enc["special_tokens_mask"])
    assert [(s["start"], s["end"], s["type"]) for s in out] == gold
    assert [text[s["start"]:s["end"]] for s in out] == ["ÉMILE Zola", "Paris"]
    assert out[0]["confidence"] == pytest.approx(0.9)


def test_runtime_decoding_matches_the_training_side():
    from export.runtime import TASKS

    tags = bio_labels(["a", "b"])
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 12))
        probs = rng.dirichlet(np.ones(len(tags)), size=n)
        offsets = [(2 * i, 2 * i + 1) for i in range(n)]
        special = [int(i == 0) for i in range(n)]
        text = "x" * (2 * n)
        ids = probs.argmax(1)
        ours = decode(offsets, ids, probs.max(1), tags, special)
        theirs = TASKS["ner"].spans(text, offsets, special, probs, tags)
        assert [{k: v for k, v in s.items() if k != "text"} for s in theirs] == ours
    assert token_spans([1, 2, 0, 2, 3], tags) == [(0, 2, "a"), (3, 4, "a"), (4, 5, "b")]


def test_token_loss_ignores_untagged_tokens():
    import torch

    from distill.training.losses import distillation_loss, token_distillation_loss

    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3)
    probs = torch.softmax(torch.randn(2, 4, 3), -1)
    labels = torch.tensor([[-100, 1, 0, -100], [-100, 2, -100, -100]])
    loss, _ = token_distillation_loss(logits, probs, labels, temperature=2.0, alpha=0.5)
    m = labels != -100
    ref, _ = distillation_loss(logits[m], probs[m], labels[m], temperature=2.0, alpha=0.5)
    assert loss.item() == pytest.approx(ref.item())
    logits2 = logits.clone()
    logits2[0, 0] += 50  # an untagged token changes nothing
    assert token_distillation_loss(logits2, probs, labels)[0].item() == pytest.approx(
        token_distillation_loss(logits, probs, labels)[0].item())


# ---------------------------------------------------------------------------- labels.jsonl
def test_entity_labels_rows_are_checked(tmp_path, wnut_labels):
    (tmp_path / "labelset.json").write_text(json.dumps(wnut_labels.to_dict()), encoding="utf-8")
    f = tmp_path / "labels.jsonl"
    rows = span_rows(["Paris is nice", "I met Ann"], [[(0, 5, "location", 0.7)], [(6, 9, "person")]])
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    got = read_ner_labels(f)
    assert got.spans == [[(0, 5, "location", 0.7)], [(6, 9, "person", 1.0)]] and got.names[0] == "O"
    for bad, msg in ((dict(start=0, end=50, type="location"), "outside the text"),
                     (dict(start=0, end=5, type="city"), "not in the label set"),
                     (dict(start=0, end=5, type="location", p=1.5), "p must be a number in")):
        f.write_text(json.dumps({"text": "Paris is nice", "spans": [bad]}) + "\n", encoding="utf-8")
        with pytest.raises(UserError, match=msg):
            read_ner_labels(f)
    f.write_text(json.dumps({"text": "x", "probs": {"a": 1}}) + "\n", encoding="utf-8")
    with pytest.raises(UserError, match="classification label row"):
        read_ner_labels(f)


def test_checkpoint_metric_is_entity_f1():
    from types import SimpleNamespace

    kind = get_task("ner")
    labels = np.array([[-100, 1, 2, 0, 3, -100]])
    logits = np.eye(5)[[[0, 1, 2, 0, 0, 0]]] * 5  # finds the first entity, misses the second
    m = kind.training_metrics(SimpleNamespace(predictions=logits, label_ids=labels))
    assert m["entity_f1"] == pytest.approx(2 / 3) and m["entity_precision"] == 1.0 and m["entity_recall"] == 0.5
    assert kind.best_metric == "entity_f1"


# ---------------------------------------------------------------------------- the teacher's answer
def test_generated_answers_are_parsed_strictly(wnut_labels):
    text = "Ann met Bob in Paris and Ann left ; Annex closed"
    answer = ('{"type": "person", "text": "Ann"}\n'
              'not json at all\n'
              '{"type": "city", "text": "Paris"}\n'
              '{"type": "location", "text": "Paris"}\n'
              '{"type": "person", "text": "Carl"}\n'
              '{"type": "person", "text": "Bob"}')
    spans, counts = parse_span_answer(answer, text, wnut_labels)
    # every occurrence of "Ann" (not the one inside "Annex"); the bad lines dropped and counted
    assert [(text[s:e], t) for s, e, t, _ in spans] == [("Ann", "person"), ("Bob", "person"),
                                                        ("Paris", "location"), ("Ann", "person")]
    assert counts == {"mentions": 3, "invalid_lines": 1, "unknown_type": 1, "not_in_text": 1, "overlapping": 0}
    assert all(p == 1.0 for *_, p in spans)  # no log-probs from the backend
    assert parse_span_answer("none", text, wnut_labels)[0] == []
    listed, _ = parse_span_answer('[{"type": "person", "text": "Bob"}]', text, wnut_labels)
    assert [(text[s:e]) for s, e, _, _ in listed] == ["Bob"]


def test_span_confidence_is_the_mean_log_prob_of_the_mention_tokens(wnut_labels):
    answer = '{"type": "person", "text": "Bob Smith"}'
    tokens = ['{"', 'type', '":', ' "', 'person', '",', ' "', 'text', '":', ' "', 'Bob', ' Smith', '"}']
    assert "".join(tokens) == answer
    lps = [-0.1] * 10 + [-0.5, -1.5] + [-0.2]
    spans, _ = parse_span_answer(answer, "hello Bob Smith", wnut_labels, tokens, lps)
    assert spans == [(6, 15, "person", pytest.approx(math.exp(-1.0), abs=1e-6))]


# ---------------------------------------------------------------------------- a stub teacher
class GoldEcho:
    """A stand-in GPT teacher that 'generates' the gold entities of the texts it knows (every
    third one left out, the second one misspelt), with made-up log-probabilities; ``fail_after`` makes
    it die after that many answers (a kill in the middle of labelling)."""

    kind = "stub"
    fingerprint = "gold-echo-v1"

    def __init__(self, texts, gold, fail_after=None):
        self.by_text = dict(zip(texts, gold))
        self.calls = 0
        self.fail_after = fail_after
        self.prompt = None

    def generate(self, text, max_tokens=256):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt("killed")
        self.calls += 1
        lines = []
        for i, (s, e, t) in enumerate(self.by_text.get(text, [])):
            if i % 3 == 2:
                continue
            lines.append(json.dumps({"type": t, "text": text[s:e] if i != 1 else "zzz"}))
        answer = "\n".join(lines) or "none"
        return answer, [answer], [-0.2]

    def describe(self):
        return {"kind": self.kind}

    def close(self):
        pass


# ---------------------------------------------------------------------------- Chinese, tiny encoder
def test_cluener_end_to_end_with_a_tiny_chinese_encoder(tmp_path, shared_data, zh_encoder):
    """Mechanics only (a random 2-layer encoder): label -> train -> evaluate -> export -> predict
    with char offsets of the original Chinese text."""
    from distill.evaluation.evaluate import evaluate_run
    from distill.labeling.spans import label_spans
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig
    from export.build import export_bundle
    from export.config import ExportConfig
    from export.runtime import Bundle

    ls = LabelSet.from_spec("cluener")
    ds = read_ner(shared_data / "cluener" / "train.json", ls, limit=48)
    run = tmp_path / "run"
    res = label_spans(ds, ls, GoldEcho(ds.texts, ds.gold), run, language="zh", progress=False)
    assert res.report["gold"]["recall"] < 1.0 and res.report["parse"]["mentions"] > 0
    cfg = DistillationConfig(epochs=1, batch_size=16, max_length=64, evals_per_epoch=1, lr=1e-3)
    train_student(run / "labels.jsonl", run, cfg, student=str(zh_encoder), task="ner", progress=False)
    ev = evaluate_run(run, shared_data / "cluener" / "dev.json", progress=False, limit=30)
    assert ev["task"] == "ner" and 0.0 <= ev["systems"]["student"]["f1"] <= 1.0
    _, ver = export_bundle(run / "student", run / "bundle", ExportConfig(eval_limit=30, max_drop=100.0),
                           eval_data=str(shared_data / "cluener" / "dev.json"), progress=False)
    assert ver["fp32_vs_pytorch"]["passed"], ver["summary"]
    b = Bundle.load(run / "bundle")
    text = "浙商银行企业信贷部叶老桂博士则从另一个角度对五道门槛进行了解读。"
    for ent in b.predict([text])[0]["entities"]:
        assert text[ent["start"]:ent["end"]] == ent["text"] and ent["type"] in ls.names


# ---------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_wnut17_end_to_end_label_resume_train_evaluate_export_predict(tmp_path, wnut, wnut_labels):
    """label (a stub teacher killed after 20 answers, then resumed: no text generated twice) ->
    train (1 epoch, 2 layers) -> evaluate on gold -> export int8 verified on entity F1 ->
    `advisor predict` printing spans with char offsets of the original text."""
    from advisor.cli import cli
    from distill.evaluation.evaluate import evaluate_run
    from distill.labeling.spans import label_spans
    from distill.training.api import train_student
    from distill.training.config import DistillationConfig
    from export.build import export_bundle
    from export.config import ExportConfig

    ds = read_ner(wnut / "wnut17train.conll", wnut_labels, sample=160, seed=1)
    run = tmp_path / "run"
    dying = GoldEcho(ds.texts, ds.gold, fail_after=20)
    with pytest.raises(KeyboardInterrupt):
        label_spans(ds, wnut_labels, dying, run, progress=False, chunk_size=8)
    again = GoldEcho(ds.texts, ds.gold)
    res = label_spans(ds, wnut_labels, again, run, progress=False, chunk_size=8)
    assert res.n_cached == 20 and again.calls == len(set(ds.texts)) - 20
    assert json.loads((run / "teacher.json").read_text())["task"] == "ner"
    rows = [json.loads(x) for x in (run / "labels.jsonl").read_text().splitlines()]
    assert all(r["text"][s["start"]:s["end"]] == s["text"] for r in rows for s in r["spans"])
    assert all(s["p"] == pytest.approx(math.exp(-0.2), abs=1e-6) for r in rows for s in r["spans"])
    assert res.report["parse"]["not_in_text"] > 0 and 0.3 < res.report["gold"]["recall"] < 1.0

    cfg = DistillationConfig(epochs=1, batch_size=16, max_length=64, layers=2, evals_per_epoch=1)
    summary = train_student(run / "labels.jsonl", run, cfg, task="ner", progress=False)
    assert summary["task"] == "ner" and json.loads((run / "student" / "config.json").read_text())["distill_task"] == "ner"
    ev = evaluate_run(run, wnut / "emerging.dev.conll", progress=False, limit=80)
    assert set(ev["systems"]["student"]) >= {"precision", "recall", "f1", "per_type"}

    bundle_cfg, ver = export_bundle(run / "student", run / "bundle", ExportConfig(eval_limit=80),
                                    eval_data=str(wnut / "emerging.dev.conll"), progress=False)
    assert bundle_cfg["onnx_bundle"]["task"] == "ner"
    assert ver["passed"] is True and ver["int8_vs_fp32"]["metric"] == "entity_f1", ver["summary"]

    # export bench on an entity bundle: its own verification texts (a CoNLL file), the runtime's
    # predict (tags -> spans) timed, the PyTorch tagger beside it
    out = CliRunner().invoke(cli, ["export", "bench", str(run / "bundle"), "--no-teacher", "--n", "10",
                                   "--out", str(tmp_path / "bench")])
    assert out.exit_code == 0, out.output
    bench = json.loads((tmp_path / "bench" / "bench.json").read_text())
    assert {"onnx_int8", "pytorch_student"} <= set(bench["results"]), bench.keys()

    text = "Taylor Swift played Madison Square Garden in New York"
    out = CliRunner().invoke(cli, ["predict", str(run / "bundle"), text, "--with-text"])
    assert out.exit_code == 0, out.output
    row = json.loads(out.output.strip().splitlines()[-1])
    assert "entities" in row
    for ent in row["entities"]:
        assert text[ent["start"]:ent["end"]] == ent["text"] and 0 < ent["confidence"] <= 1


def test_gold_labels_make_the_supervised_reference(tmp_path, shared_data):
    from advisor.cli import cli

    out = tmp_path / "ref"
    res = CliRunner().invoke(cli, ["gold-labels", str(shared_data / "weibo_ner" / "weiboNER_2nd_conll.dev"),
                                   "--task", "ner", "--label-set", "weibo_ner", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = read_ner_labels(out / "labels.jsonl")
    gold = read_ner(shared_data / "weibo_ner" / "weiboNER_2nd_conll.dev", LabelSet.from_spec("weibo_ner"))
    assert [[s[:3] for s in sp] for sp in rows.spans] == gold.gold
    assert all(s[3] == 1.0 for sp in rows.spans for s in sp)
    assert json.loads((out / "teacher.json").read_text())["task"] == "ner"
    res = CliRunner().invoke(cli, ["gold-labels", str(shared_data / "weibo_ner" / "weiboNER_2nd_conll.dev"),
                                   "--task", "ner", "--out", str(out)])
    assert res.exit_code == 2 and "needs --label-set" in res.output


def test_label_cli_runs_the_span_teacher_and_refuses_a_budget(tmp_path, wnut, wnut_labels, monkeypatch):
    """`advisor distill label --task ner` through the CLI (it crashed after writing the labels: the
    stage closed a teacher the span labelling had already closed); `--budget` with ner is a one-line
    error before any teacher is loaded."""
    import distill.teachers as teachers
    from advisor.cli import cli

    ds = read_ner(wnut / "emerging.dev.conll", wnut_labels, limit=12)
    loaded = []

    def fake_load(spec, labelset, **kw):
        loaded.append(spec)
        return GoldEcho(ds.texts, ds.gold)

    monkeypatch.setattr(teachers, "load_teacher", fake_load)
    args = ["distill", "label", "--task", "ner", "--labels", "wnut17", "--data", str(wnut / "emerging.dev.conll"),
            "--format", "conll", "--limit", "12", "--teacher", "stub", "--quiet"]
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "run")])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    rows = [json.loads(x) for x in (tmp_path / "run" / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and loaded == ["stub"]
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b"), "--budget", "5"])
    assert res.exit_code == 2 and "single-label task kinds" in res.output and loaded == ["stub"], res.output
