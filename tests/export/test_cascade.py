"""The cascade bundle (``advisor export cascade``, ``Bundle.predict``): the threshold is chosen on
gold texts, exactly the texts under it go to the teacher, a teacher that hangs, errors or answers
garbage leaves the student's answer in place and says why, and the runtime stays torch-free."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.cascade import cascade_curve, choose, threshold_for
from export.runtime import Bundle
from fault_proxy import POSITIVE_WORDS, FaultServer
from bundles import SST2, read_sst2, run_cli, run_main

REPO = Path(__file__).resolve().parents[2]
N_GOLD = 80


@pytest.fixture
def bundle(bundle_int8, tmp_path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(bundle_int8, dst, ignore=shutil.ignore_patterns("bench"))
    return dst


def fake_label(text: str) -> str:
    return "positive" if any(w in text.lower() for w in POSITIVE_WORDS) else "negative"


def configure(bundle: Path, srv: FaultServer, *extra: str):
    return run_cli(["export", "cascade", str(bundle), "--teacher", srv.url, "--eval-data", str(SST2 / "dev.tsv"),
                    "--labels", "sst2", "--text-column", "sentence", "--label-column", "label",
                    "--eval-limit", str(N_GOLD), *extra])


def test_curve_and_threshold_arithmetic():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55], [0.2, 0.8]])
    gold = np.array([0, 1, 1, 0, 1])
    teacher = np.array([0, 1, 1, 0, 0])
    c = cascade_curve(probs, teacher, gold)
    assert c.student_accuracy == pytest.approx(0.6) and c.teacher_accuracy == pytest.approx(0.8)
    # least confident first: 0.55 (student wrong, teacher right), 0.6 (wrong, right), 0.7, 0.8, 0.9
    assert list(np.round(c.accuracy, 3)) == [0.6, 0.8, 1.0, 1.0, 0.8, 0.8]
    assert choose(c, defer_rate=0.4) == 2 and choose(c, target_accuracy=1.0) == 2
    assert threshold_for(c, 2) == pytest.approx(0.7) and threshold_for(c, 0) == 0.0
    assert threshold_for(c, 5) > 0.9


def test_cascade_defers_exactly_the_unsure_texts(bundle):
    with FaultServer() as srv:
        res = configure(bundle, srv, "--defer-rate", "0.25")
        assert res.exit_code == 0, res.output
        assert "go to the teacher" in res.output
        cfg = json.loads((bundle / "config.json").read_text())["onnx_bundle"]["cascade"]
        assert (bundle / "cascade.png").stat().st_size > 5000
        curve = json.loads((bundle / "cascade.json").read_text())
        assert len(curve["curve"]["accuracy"]) == N_GOLD + 1
        assert cfg["gold"]["defer_rate"] == pytest.approx(0.25)
        assert cfg["teacher"]["url"] == srv.url and "<<<TEXT>>>" in json.dumps(cfg["teacher"]["request"])

        b = Bundle.load(bundle)  # the manifest was rewritten over the new files
        texts, _ = read_sst2("dev", 200)
        texts = texts[N_GOLD:]
        conf = b.predict_proba(texts).max(1)
        unsure = {t for t, c in zip(texts, conf) if c < cfg["threshold"]}
        assert 0 < len(unsure) < len(texts)
        srv.requests.clear()
        rows = b.predict(texts)
        asked = [r["body"]["messages"][-1]["content"] if "messages" in r["body"] else r["body"]["prompt"]
                 for r in srv.requests]
    assert len(asked) == len(unsure)
    for text, row in zip(texts, rows):
        if text in unsure:
            assert row["source"] == "teacher" and row["deferred"] is True
            assert row["label"] == fake_label(text) and "student" in row
            assert sum(text in a for a in asked) >= 1
        else:
            assert row["source"] == "student" and "deferred" not in row
    # the student alone when asked
    assert all("source" not in r for r in b.predict(texts[:5], cascade=False))


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
@pytest.mark.parametrize("fault,reason", [("hang", "timed out"), ("500", "HTTP 500"), ("garbage", "not JSON"),
                                          ("drop", "unreachable")])
def test_failing_teacher_keeps_the_student_answer(bundle, fault, reason):
    with FaultServer(hang_s=3.0) as srv:
        assert configure(bundle, srv, "--defer-rate", "0.5", "--timeout", "1").exit_code == 0
        srv.default_fault = fault
        b = Bundle.load(bundle)
        texts, _ = read_sst2("dev", 120)
        texts = texts[N_GOLD:N_GOLD + 12]
        student = b.predict(texts, cascade=False)
        rows = b.predict(texts)
    deferred = [r for r in rows if r.get("deferred")]
    assert deferred, "no text was under the threshold"
    for r, s in zip(rows, student):
        assert r["label"] == s["label"] and r["source"] == "student"  # never a lost prediction
        if r.get("deferred"):
            assert reason in r["teacher_error"]


def test_cascade_runtime_imports_no_torch(bundle):
    with FaultServer() as srv:
        assert configure(bundle, srv, "--defer-rate", "1.0").exit_code == 0
        code = ("import sys, json\nfrom export.runtime import Bundle\n"
                f"rows = Bundle.load({str(bundle)!r}).predict(['a wonderful film', 'a dull film'])\n"
                "bad = [m for m in ('torch', 'transformers', 'optimum', 'click', 'distill') if m in sys.modules]\n"
                "print(json.dumps({'bad': bad, 'src': [r['source'] for r in rows], 'lab': [r['label'] for r in rows]}))\n")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res == {"bad": [], "src": ["teacher", "teacher"], "lab": ["positive", "negative"]}


def test_bad_cascade_requests_are_one_line_errors(bundle, capsys):
    with FaultServer() as srv:
        secret = srv.url.replace("http://", "http://user:pw@")
        base = ["export", "cascade", str(bundle), "--eval-data", str(SST2 / "dev.tsv"), "--labels", "sst2",
                "--text-column", "sentence", "--label-column", "label", "--eval-limit", "40"]
        for args, needle in (([*base, "--teacher", secret, "--defer-rate", "0.1"], "must not carry credentials"),
                             ([*base, "--teacher", srv.url], "exactly one of --defer-rate and --target-accuracy"),
                             ([*base, "--teacher", srv.url, "--defer-rate", "1.5"], "--defer-rate must be in [0, 1]"),
                             ([*base, "--teacher", srv.url, "--target-accuracy", "1.0"], "no deferral rate reaches")):
            code, out, err = run_main(args, capsys)
            assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert "cascade" not in json.loads((bundle / "config.json").read_text())["onnx_bundle"]


def test_runtime_asks_wider_like_the_labelling_teacher(bundle):
    """A server whose top-20 first tokens hold no label word: the labelling teacher asks again for
    the top 200, and so does the bundle's runtime (stored as teacher.wide_logprobs)."""
    with FaultServer(labels_only_beyond=20) as srv:
        assert configure(bundle, srv, "--defer-rate", "1.0").exit_code == 0
        spec = json.loads((bundle / "config.json").read_text())["onnx_bundle"]["cascade"]["teacher"]
        assert spec["wide_logprobs"] == 200
        srv.requests.clear()
        rows = Bundle.load(bundle).predict(["a wonderful film", "a dull film"])
    assert [r["source"] for r in rows] == ["teacher", "teacher"]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    n_asked = [r["body"].get("top_logprobs", r["body"].get("logprobs")) for r in srv.requests]
    assert n_asked == [20, 200, 20, 200]


def test_a_pair_bundle_defers_pairs_with_the_pair_prompt(bundle, tmp_path):
    """A sentence-pair bundle (task pairs): the cascade's request is the teacher's pair prompt with a
    place for each text, and a deferred pair reaches the teacher as `Sentence 1: a` / `Sentence 2: b`."""
    import csv

    from export import bundle as B

    cfg = json.loads((bundle / "config.json").read_text())
    cfg["onnx_bundle"]["task"] = "pairs"  # the test student reads token types: a pair model's inputs
    (bundle / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    B.write_manifest(bundle)
    texts, gold = read_sst2("dev", 120)
    with open(tmp_path / "pairs.tsv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t")
        w.writerow(["a", "b", "label"])
        for t, g in zip(texts[:N_GOLD], gold[:N_GOLD]):
            w.writerow([t, "the second sentence", g])
    with FaultServer() as srv:
        res = run_cli(["export", "cascade", str(bundle), "--teacher", srv.url, "--eval-data", str(tmp_path / "pairs.tsv"),
                       "--labels", "sst2", "--text-column", "a", "--text-pair-column", "b", "--label-column", "label",
                       "--defer-rate", "1.0"])
        assert res.exit_code == 0, res.output
        spec = json.loads((bundle / "config.json").read_text())["onnx_bundle"]["cascade"]["teacher"]
        request = json.dumps(spec["request"])
        assert spec["placeholder_pair"] == "<<<TEXT_PAIR>>>" and "Sentence 2: <<<TEXT_PAIR>>>" in request
        srv.requests.clear()
        rows = Bundle.load(bundle).predict([("a wonderful film", "it played in May"), ("a dull film", "it rained")])
        asked = [r["body"]["messages"][-1]["content"] if "messages" in r["body"] else r["body"]["prompt"]
                 for r in srv.requests]
    assert [r["source"] for r in rows] == ["teacher", "teacher"]
    assert [r["label"] for r in rows] == ["positive", "negative"]
    assert "Sentence 1: a wonderful film\nSentence 2: it played in May" in asked[0]
    assert "Sentence 1: a dull film\nSentence 2: it rained" in asked[1]
