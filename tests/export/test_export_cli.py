"""``advisor predict`` and ``advisor export bench`` through the real command line: agreement with
the PyTorch student, JSONL in/out, bad inputs (one-line error, exit 2), the benchmark report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bundles import SST2, read_sst2, run_cli, run_main

REPO = Path(__file__).resolve().parents[2]


def _jsonl(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_predict_agrees_with_pytorch_student(bundle_fp32, bundle_int8, student_dir, tmp_path):
    """fp32 bundle == PyTorch student on every text; the int8 bundle loses little accuracy."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts, gold = read_sst2("dev", 300)
    tok = AutoTokenizer.from_pretrained(student_dir)
    model = AutoModelForSequenceClassification.from_pretrained(student_dir).eval()
    ref = []
    with torch.inference_mode():
        for i in range(0, len(texts), 50):
            enc = tok(texts[i:i + 50], truncation=True, padding=True, return_tensors="pt")
            ref += [model.config.id2label[int(j)] for j in model(**enc).logits.argmax(-1)]
    stdin = "".join(json.dumps({"text": t, "id": f"d{i}"}) + "\n" for i, t in enumerate(texts))
    res = run_cli(["predict", str(bundle_fp32)], input=stdin)
    assert res.exit_code == 0, res.output
    rows = _jsonl(res.output)
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(len(texts))]
    assert [r["label"] for r in rows] == ref                       # all 300 identical
    res = run_cli(["predict", str(bundle_int8)], input="\n".join(texts) + "\n")  # plain lines
    assert res.exit_code == 0, res.output
    int8 = [r["label"] for r in _jsonl(res.output)]
    acc = lambda pred: np.mean([p == g for p, g in zip(pred, gold)])  # noqa: E731
    assert acc(ref) > 0.6
    assert acc(ref) - acc(int8) <= 0.05  # the test student has small margins; the real one: see docs
    assert np.mean([a == b for a, b in zip(ref, int8)]) >= 0.9


def test_predict_args_and_options(bundle_int8, capsys):
    code, out, _ = run_main(["predict", str(bundle_int8), "a gorgeous , witty , seductive movie .",
                             "boring", "--with-text", "--threads", "1", "--variant", "fp32"], capsys)
    assert code == 0
    rows = _jsonl(out)
    assert [r["id"] for r in rows] == ["1", "2"] and rows[1]["text"] == "boring"
    for r in rows:
        assert r["label"] in {"negative", "positive"} and abs(sum(r["probs"].values()) - 1) < 1e-4
    code, out, _ = run_main(["predict", str(bundle_int8), "x " * 5000], capsys)  # far beyond max length
    assert code == 0 and len(_jsonl(out)) == 1


def _tampered(bundle: Path, tmp_path: Path, name: str) -> Path:
    b = tmp_path / "b"
    shutil.copytree(bundle, b, ignore=shutil.ignore_patterns("bench"))
    data = bytearray((b / name).read_bytes())
    data[100] ^= 0x01
    (b / name).write_bytes(bytes(data))
    return b


@pytest.mark.parametrize("case", ["tampered", "missing_file", "not_bundle", "no_dir", "empty_arg",
                                  "empty_json_text", "bad_json", "bad_batch"])
def test_predict_bad_inputs(case, bundle_int8, tmp_path, capsys):
    stdin = None
    args = ["predict", str(bundle_int8), "fine"]
    expect = ""
    if case == "tampered":
        args[1] = str(_tampered(bundle_int8, tmp_path, "model.onnx"))
        expect = "bundle file model.onnx was modified"
    elif case == "missing_file":
        b = tmp_path / "b"
        shutil.copytree(bundle_int8, b)
        (b / "model_fp32.onnx").unlink()
        args[1], expect = str(b), "bundle file model_fp32.onnx is missing"
    elif case == "not_bundle":
        args[1], expect = str(tmp_path), "manifest.json is missing"
    elif case == "no_dir":
        args[1], expect = str(tmp_path / "nope"), "does not exist"
    elif case == "empty_arg":
        args, expect = ["predict", str(bundle_int8), "ok", ""], "text argument 2 is empty"
    elif case == "empty_json_text":
        args, stdin, expect = ["predict", str(bundle_int8)], '{"text": "ok"}\n{"text": ""}\n', "input line 2: empty text"
    elif case == "bad_json":
        args, stdin, expect = ["predict", str(bundle_int8)], '{"text": "ok"\n', "input line 1: invalid JSON"
    elif case == "bad_batch":
        args, expect = ["predict", str(bundle_int8), "ok", "--batch-size", "0"], "--batch-size"
    if stdin is None:
        code, out, err = run_main(args, capsys)
    else:  # real process: stdin, the entry point's error formatting and exit code
        proc = subprocess.run([sys.executable, "-m", "advisor.cli", *args], input=stdin, capture_output=True,
                              text=True, cwd=REPO, timeout=120)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    assert code == 2, (out, err)
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert expect in err
    assert out == ""


@pytest.mark.slow  # ~1-2 min here: the full `make test` runs it, `make test-fast` does not
def test_bench_small(bundle_int8, student_dir, tmp_path, monkeypatch):
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(read_sst2("dev", 30)[0]) + "\n")
    out = tmp_path / "bench"
    monkeypatch.chdir(student_dir.parent)  # a relative --student must work (the workers run elsewhere)
    res = run_cli(["export", "bench", str(bundle_int8), "--texts", str(texts), "--n", "30", "--no-teacher",
                   "--student", student_dir.name, "--out", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "bench.json").read_text())
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = report["results"]
    assert set(r) == {"onnx_int8", "onnx_fp32", "pytorch_student"}
    for name, m in r.items():
        assert 0 < m["p50_ms"] <= m["p95_ms"] <= m["p99_ms"], name
        assert m["n"] == 30 and m["throughput_texts_per_s"] > 0 and m["peak_rss_mb"] > 10
    assert r["onnx_int8"]["torch_imported"] is False and r["onnx_int8"]["transformers_imported"] is False
    assert r["pytorch_student"]["torch_imported"] is True
    assert r["onnx_fp32"]["size_mb"] > 3 * r["onnx_int8"]["size_mb"]
    assert r["onnx_int8"]["peak_rss_mb"] < r["pytorch_student"]["peak_rss_mb"]
    assert report["ratios"]["pytorch_student_over_onnx_int8_p50"] == pytest.approx(
        r["pytorch_student"]["p50_ms"] / r["onnx_int8"]["p50_ms"])
    assert {"student_p50_ms", "runtime_peak_rss_mb", "runtime_imports_torch"} <= set(report["checks"])
    assert "p50 ms" in res.output and "ratios:" in res.output


def test_bench_bad_inputs(bundle_int8, tmp_path, capsys):
    code, _, err = run_main(["export", "bench", str(tmp_path)], capsys)
    assert code == 2 and "manifest.json is missing" in err
    code, _, err = run_main(["export", "bench", str(bundle_int8), "--texts", str(tmp_path / "no.txt")], capsys)
    assert code == 2 and "no.txt" in err
    b = _tampered(bundle_int8, tmp_path, "tokenizer.json")
    code, _, err = run_main(["export", "bench", str(b), "--no-teacher"], capsys)
    assert code == 2 and "tokenizer.json was modified" in err
    bad = tmp_path / "teacher.json"
    for content, expect in (("{not json", "not valid JSON"), ('{"prompt": {}}', "no prompt.template"),
                            ("[1, 2]", "no prompt.template"),
                            ('{"prompt": {"template": "sonnet"}}', "unknown template 'sonnet'"),
                            ('{"prompt": {"template": "field", "shots": [["x"]]}}', "[text, label] pairs")):
        bad.write_text(content)
        code, _, err = run_main(["export", "bench", str(bundle_int8), "--teacher-prompt", str(bad)], capsys)
        assert code == 2 and expect in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run_main(["export", "bench", str(bundle_int8), "--teacher-prompt", str(tmp_path / "none.json")], capsys)
    assert code == 2 and "none.json not found" in err


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_bench_worker_failure_is_one_line(bundle_int8, student_dir, tmp_path, capsys):
    """A model that fails inside a benchmark worker (here: corrupt student weights) gives a
    one-line error naming the measurement, not a traceback, and writes no report."""
    broken = tmp_path / "student"
    shutil.copytree(student_dir, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(read_sst2("dev", 5)[0]) + "\n")
    code, _, err = run_main(["export", "bench", str(bundle_int8), "--texts", str(texts), "--n", "5", "--no-teacher",
                             "--student", str(broken), "--out", str(tmp_path / "o")], capsys)
    lines = [x for x in err.splitlines() if x.strip() and not x.startswith("bench: ")]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert "torch latency benchmark failed" in lines[0]
    assert not (tmp_path / "o" / "bench.json").exists()


@pytest.mark.skipif(os.environ.get("EXPORT_TEST_TEACHER") != "1",
                    reason="teacher bench takes ~1-2 min (loads the GGUF teacher); set EXPORT_TEST_TEACHER=1")
def test_bench_with_teacher(bundle_int8, tmp_path):
    texts = tmp_path / "t.txt"
    texts.write_text("\n".join(read_sst2("dev", 10)[0]) + "\n")
    prompt = tmp_path / "teacher.json"  # as written by `advisor distill label`: a 2-shot prompt
    prompt.write_text(json.dumps({"prompt": {"template": "field", "shots": [["a joy .", "positive"],
                                                                           ["a bore .", "negative"]]}}))
    res = run_cli(["export", "bench", str(bundle_int8), "--texts", str(texts), "--n", "10", "--n-teacher", "3",
                   "--no-pytorch", "--teacher-prompt", str(prompt), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "o" / "bench.json").read_text())
    assert report["results"]["teacher"]["prompt"] == {"template": "field", "shots": 2}
    assert report["results"]["teacher"]["p50_ms"] > report["results"]["onnx_int8"]["p50_ms"]
    assert "teacher_over_student_p50" in report["checks"]


def test_verify_existing_bundle(bundle_int8, student_dir, tmp_path, capsys):
    """`advisor export verify` re-checks a bundle in place: a pass keeps it loadable (manifest
    rewritten to match), a failure exits 1 and the runtime then refuses the bundle."""
    b = tmp_path / "bundle"
    shutil.copytree(bundle_int8, b)
    common = ["export", "verify", str(b), "--student", str(student_dir), "--eval-data", str(SST2 / "dev.tsv"),
              "--labels", "sst2", "--eval-limit", "40"]
    code, out, _ = run_main([*common, "--max-drop", "100"], capsys)  # 40 texts: one flip is 2.5 points
    assert code == 0 and "PASSED" in out
    v = json.loads((b / "verification.json").read_text())
    assert v["passed"] is True and v["n_texts"] == 40 and v["has_gold"] is True
    code, out, _ = run_main(["predict", str(b), "a fine film ."], capsys)  # manifest matches every file
    assert code == 0 and _jsonl(out)[0]["label"] in ("negative", "positive")
    code, out, err = run_main([*common, "--atol", "1e-30"], capsys)  # no float model meets this
    assert code == 1 and "verification failed" in err
    assert json.loads((b / "verification.json").read_text())["passed"] is False
    code, _, err = run_main(["predict", str(b), "a fine film ."], capsys)
    assert code == 2 and "verification" in err


def test_verify_bad_inputs(bundle_int8, tmp_path, capsys):
    code, _, err = run_main(["export", "verify", str(tmp_path)], capsys)
    assert code == 2 and "is not a bundle" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_main(["export", "verify", str(bundle_int8), "--max-drop", "-1"], capsys)
    assert code == 2 and "--max-drop" in err
    code, _, err = run_main(["export", "verify", str(bundle_int8), "--eval-data", str(tmp_path / "none.tsv")], capsys)
    assert code == 2 and "none.tsv" in err


def test_latency_reports_the_fastest_round():
    """Noise only adds time: of several rounds over the texts, the one with the lowest p50 counts."""
    import time

    from export._bench_worker import _latency

    delays = iter([0.006] * 5 + [0.001] * 5 + [0.003] * 5)  # round 2 is the quiet one

    def fn(batch):
        time.sleep(next(delays))

    r = _latency(fn, ["a", "b", "c", "d", "e"], warmup=0, rounds=3)
    assert r["rounds"] == 3 and r["n"] == 5
    assert min(r["round_p50s_ms"]) == r["p50_ms"] == r["round_p50s_ms"][1]
    assert 1 <= r["p50_ms"] < 3 <= r["round_p50s_ms"][2] < 6 <= r["round_p50s_ms"][0]
