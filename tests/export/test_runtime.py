"""``export.runtime``: torch-free loading, manifest checks (tamper, missing files), batching,
truncation, input validation, and the bundle's own ``runtime.py`` command line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.runtime import Bundle, BundleError, check_manifest, parse_input_lines
from bundles import read_sst2

REPO = Path(__file__).resolve().parents[2]


def _copy(bundle: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(bundle, dst, ignore=shutil.ignore_patterns("bench"))
    return dst


def test_runtime_imports_no_torch(bundle_int8):
    """A fresh interpreter: import the runtime, load, predict; torch/transformers never imported."""
    code = (
        "import sys, json\n"
        "from export.runtime import Bundle\n"
        f"b = Bundle.load({str(bundle_int8)!r})\n"
        "p = b.predict(['a gorgeous , witty , seductive movie .'])\n"
        "bad = sorted(m for m in ('torch', 'transformers', 'optimum', 'click', 'advisor', 'distill') if m in sys.modules)\n"
        "print(json.dumps({'bad': bad, 'label': p[0]['label']}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["bad"] == [] and res["label"] in {"negative", "positive"}


def test_bundle_runtime_py_standalone(bundle_int8, tmp_path):
    """The copy inside the bundle works from anywhere (no repo on sys.path), args and stdin."""
    script = bundle_int8 / "runtime.py"
    code = (f"import sys; sys.path.insert(0, {str(bundle_int8)!r}); import runtime; "
            f"rc = runtime.main([{str(bundle_int8)!r}, 'wonderful', 'awful']); "
            "assert not [m for m in ('export', 'torch', 'transformers') if m in sys.modules]; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["wonderful", "awful"]
    proc = subprocess.run([sys.executable, str(script), str(bundle_int8)], input='{"text": "dull", "id": "a"}\nfine\n',
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in proc.stdout.splitlines()]
    assert rows[0]["id"] == "a" and rows[1]["text"] == "fine" and len(rows) == 2
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "manifest.json is missing" in proc.stderr


@pytest.mark.parametrize("victim", ["model.onnx", "tokenizer.json", "config.json", "verification.json"])
def test_tampered_file_is_refused(bundle_int8, tmp_path, victim):
    b = _copy(bundle_int8, tmp_path)
    data = bytearray((b / victim).read_bytes())
    i = len(data) // 2
    data[i] = (data[i] + 1) % 256  # one changed byte, same size
    (b / victim).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=rf"bundle file {victim} was modified"):
        Bundle.load(b)
    with pytest.raises(BundleError, match=victim):
        check_manifest(b)


def test_missing_file_and_not_a_bundle(bundle_int8, tmp_path):
    b = _copy(bundle_int8, tmp_path)
    (b / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match="bundle file tokenizer.json is missing"):
        Bundle.load(b)
    with pytest.raises(BundleError, match="does not exist"):
        Bundle.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="manifest.json is missing"):
        Bundle.load(tmp_path / "empty")
    b2 = _copy(bundle_int8, tmp_path / "two")
    (b2 / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="manifest"):
        Bundle.load(b2)


def test_session_settings_in_config(bundle_int8, tmp_path):
    """config.json's onnx_bundle.session drives the onnxruntime session: a malformed list is refused
    by name; with the setting the answers are those of a session that does not fuse
    SkipLayerNormalization, without it (a bundle written before the setting) those of a default
    session. The two differ for int8: dynamic quantisation amplifies the fused kernel's rounding."""
    import onnxruntime as ort

    b = _copy(bundle_int8, tmp_path)
    cfg = json.loads((b / "config.json").read_text())
    texts = ["a gorgeous , witty , seductive movie .", "dull and lifeless"]

    def plain_session(disabled):
        s = ort.InferenceSession(str(b / "model.onnx"), providers=["CPUExecutionProvider"],
                                 disabled_optimizers=disabled)
        return s.run(["logits"], Bundle.load(bundle_int8).encode(texts))[0]

    assert np.abs(Bundle.load(bundle_int8).logits(texts) - plain_session(["SkipLayerNormFusion"])).max() < 1e-6
    for bad in ("SkipLayerNormFusion", [1, 2]):
        cfg["onnx_bundle"]["session"] = {"disabled_optimizers": bad}
        (b / "config.json").write_text(json.dumps(cfg))
        with pytest.raises(BundleError, match="session.disabled_optimizers must be a list of names"):
            Bundle.load(b, check=False)
    del cfg["onnx_bundle"]["session"]
    (b / "config.json").write_text(json.dumps(cfg))
    assert np.abs(Bundle.load(b, check=False).logits(texts) - plain_session([])).max() < 1e-6


def test_predict_shapes_order_and_batching(bundle_int8):
    b = Bundle.load(bundle_int8)
    assert b.labels == ["negative", "positive"] and b.variant == "int8"
    texts, _ = read_sst2("dev", 40)
    p_all = b.predict_proba(texts, batch_size=7)       # sorted by length inside, then restored
    p_one = np.concatenate([b.predict_proba([t]) for t in texts])
    assert p_all.shape == (40, 2) and np.allclose(p_all.sum(1), 1.0)
    # int8 quantises activations per batch, so batch-mates shift results a little (measured and
    # gated by verification.json's "batch1" numbers); the fp32 model is padding-invariant.
    assert (p_all.argmax(1) == p_one.argmax(1)).mean() >= 0.9
    f = Bundle.load(bundle_int8, "fp32")
    assert np.abs(f.predict_proba(texts, batch_size=7) - np.concatenate([f.predict_proba([t]) for t in texts])).max() < 1e-5
    rows = b.predict(texts[:3])
    assert [r["label"] for r in rows] == [b.labels[i] for i in p_all[:3].argmax(1)]
    assert all(set(r["probs"]) == {"negative", "positive"} and r["score"] == max(r["probs"].values()) for r in rows)
    assert b.predict_proba([]).shape == (0, 2)


def test_fp32_variant_and_unknown_variant(bundle_int8, bundle_fp32):
    assert Bundle.load(bundle_int8, "fp32").model_file == "model_fp32.onnx"
    assert Bundle.load(bundle_fp32).variant == "fp32"
    with pytest.raises(BundleError, match="has no int8 model"):
        Bundle.load(bundle_fp32, "int8")


def test_long_text_is_truncated_not_crashed(bundle_int8):
    b = Bundle.load(bundle_int8, threads=1)
    long_text = "a gorgeous , witty , seductive movie . " * 2000  # ~16k tokens >> max_length
    enc = b.encode([long_text, "short"])
    assert enc["input_ids"].shape == (2, b.max_length)
    assert enc["attention_mask"][1].sum() < 10                # padded to the longest, not beyond
    probs = b.predict_proba([long_text, "short"])
    assert probs.shape == (2, 2) and np.isfinite(probs).all()
    f = Bundle.load(bundle_int8, "fp32", check=False)       # fp32: no batch effects, exact comparison
    head = f.tokenizer.decode(enc["input_ids"][0].tolist())
    assert np.abs(f.predict_proba([head]) - f.predict_proba([long_text])).max() < 1e-5  # = truncated text


@pytest.mark.parametrize("bad, msg", [([""], "text 0 is empty"), (["ok", "   "], "text 1 is empty"),
                                      (["ok", None], "text 1 is not a string"), ("one string", "list of strings")])
def test_bad_texts(bundle_int8, bad, msg):
    with pytest.raises(BundleError, match=msg):
        Bundle.load(bundle_int8, check=False).predict(bad)


def test_parse_input_lines():
    rows = list(parse_input_lines(['{"text": "a", "id": 7}\n', "\n", "plain text\n", '{"text": "b"}']))
    assert rows == [(1, "7", "a"), (3, None, "plain text"), (4, None, "b")]
    with pytest.raises(BundleError, match="input line 2: invalid JSON"):
        list(parse_input_lines(["x", "{bad"]))
    with pytest.raises(BundleError, match='input line 1: a JSON line needs a string "text"'):
        list(parse_input_lines(['{"txt": "a"}']))
    with pytest.raises(BundleError, match="input line 1: empty text"):
        list(parse_input_lines(['{"text": "  "}']))
