"""The default local teacher (SmolLM2-135M-Instruct GGUF via transformers) on real SST-2 dev texts.

The batched scorer (shared-prefix KV cache, left padding, one extra pass for multi-token labels)
must equal a naive reference: one full forward per (text, label), summing the label tokens'
log-probabilities.
"""

import json

import numpy as np
import pytest
import torch

from distill.data.reader import load_texts
from distill.data.labelset import Label, LabelSet
from distill.teachers.prompts import Prompt, Shot
from distill.teachers import load_teacher
from distill.teachers.local import LocalTeacher


@pytest.fixture(scope="module")
def sst2():
    return LabelSet.from_spec("sst2")


@pytest.fixture(scope="module")
def teacher(sst2):
    return load_teacher(None, sst2, dtype="float32", batch_size=8)


@pytest.fixture(scope="module")
def dev30(shared_data, sst2):
    return load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2, sample=30, seed=7)


def reference_logprobs(t: LocalTeacher, text: str) -> np.ndarray:
    prefix = t._split()
    ids = t._encode(prefix) + t._encode(t._render(text)[len(prefix):])
    out = []
    for lab in t._label_ids():
        x = torch.tensor([ids + lab])
        with torch.inference_mode():
            logp = torch.log_softmax(t.model(input_ids=x).logits[0].float(), -1)
        out.append(sum(float(logp[len(ids) - 1 + j, tok]) for j, tok in enumerate(lab)))
    return np.array(out)


def test_default_teacher_on_sst2_dev(teacher, sst2, dev30):
    assert teacher.gguf_file.endswith(".gguf") and teacher.fingerprint
    p = teacher.predict_proba(dev30.texts)
    assert p.shape == (30, 2)
    np.testing.assert_allclose(p.sum(1), 1, atol=1e-9)
    acc = np.mean([sst2.names[i] == g for i, g in zip(p.argmax(1), dev30.gold)])
    assert acc >= 0.65, acc  # ~80% on all 872 dev texts with this prompt


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_batched_scoring_equals_naive_reference(teacher, dev30):
    # multi-token verbalizers of different lengths, k-shot prefix (KV cache reuse), padding
    ls = LabelSet((Label("neg", verbalizer="terribly negative"), Label("pos", verbalizer="positive"),
                   Label("mix", verbalizer="mixed or neutral")), task="the sentiment of a movie review",
                  prompt={"input": "Review", "output": "Sentiment"})
    t = teacher
    saved = (t.labelset, t.prompt, t.batch_size)
    try:
        t.labelset = ls
        texts = sorted(dev30.texts, key=len)[::10]  # 3 texts: short, medium, long (padding)
        # (chat prompts take the same code path with a chat-template prefix; covered by the CLI test)
        for prompt in (Prompt(ls, "described", shots=(Shot("a joy", "pos"), Shot("a mess", "neg"))),):
            t.set_prompt(prompt)
            assert max(len(x) for x in t._label_ids()) >= 2
            t.batch_size = 4
            got = np.stack([r.probs for r in t.score(texts)])
            ref = np.stack([reference_logprobs(t, x) for x in texts])
            ref = np.exp(ref - ref.max(1, keepdims=True))
            ref /= ref.sum(1, keepdims=True)
            np.testing.assert_allclose(got, ref, atol=2e-4)
            t.batch_size = 1
            np.testing.assert_allclose(np.stack([r.probs for r in t.score(texts)]), got, atol=2e-4)
    finally:
        t.labelset, t.prompt, t.batch_size = saved


def test_content_free_calibration(teacher, sst2, dev30):
    t = load_teacher(None, sst2, dtype="float32", calibrate="content-free")
    raw = t.score_proba(dev30.texts[:10])
    cal = t.predict_proba(dev30.texts[:10])
    ref = np.array(t.calibrator.ref)
    assert t.calibrator.method == "content-free" and ref.shape == (2,) and abs(ref.sum() - 1) < 1e-9
    expect = raw / ref
    np.testing.assert_allclose(cal, expect / expect.sum(1, keepdims=True), atol=1e-9)


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_bf16_agrees_with_fp32(teacher, sst2, dev30):
    t = load_teacher(None, sst2, dtype="bfloat16", batch_size=16)
    assert t.model.dtype == torch.bfloat16 and t.fingerprint != teacher.fingerprint
    a = teacher.predict_proba(dev30.texts[:12])
    b = t.predict_proba(dev30.texts[:12])
    assert np.mean(a.argmax(1) == b.argmax(1)) >= 0.9
    assert np.abs(a - b).max() < 0.15


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_cli_select_prompt_on_real_teacher(tmp_path, shared_data, capsys):
    from advisor.cli import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as ei:
        main(["distill", "label", "--data", str(shared_data / "sst2" / "dev.tsv"), "--labels", "sst2", "--out", str(out),
              "--sample", "16", "--seed", "1", "--select-prompt", "--candidates", "field,chat", "--dev-size", "16",
              "--quiet", "--dtype", "float32"])
    o, e = capsys.readouterr()
    assert ei.value.code == 0, e
    assert "template field" in e and "template chat" in e and "teacher accuracy vs gold:" in o
    rep = json.loads((out / "teacher_report.json").read_text())
    assert rep["gold"]["n"] == 16 and rep["gold"]["accuracy"] >= 0.6
    assert {r["template"] for r in rep["selection"]} == {"field", "chat"}
    assert len((out / "labels.jsonl").read_text().splitlines()) == 16
    assert (out / "teacher_confusion.png").stat().st_size > 1000
