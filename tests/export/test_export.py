"""``advisor export``: ONNX export through optimum, verification, the bundle files, optimum loading
(the student and the bundles: ``tests/bundles.py``, built once per session)."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from advisor.cli import cli
from bundles import _CACHE, read_sst2, run_cli, run_main


# --------------------------------------------------------------------------------------- tests
def test_int8_bundle_files_and_manifest(bundle_int8):
    names = {p.name for p in bundle_int8.iterdir()}
    assert {"model.onnx", "model_fp32.onnx", "tokenizer.json", "config.json", "manifest.json",
            "verification.json", "README.md", "runtime.py"} <= names
    manifest = json.loads((bundle_int8 / "manifest.json").read_text())
    listed = set(manifest["files"])
    assert listed == {p.name for p in bundle_int8.iterdir() if p.is_file() and p.name != "manifest.json"}
    for name, meta in manifest["files"].items():
        data = (bundle_int8 / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], name
        assert len(data) == meta["bytes"]
    # int8 really is int8: about 4x smaller than the fp32 model
    ratio = (bundle_int8 / "model_fp32.onnx").stat().st_size / (bundle_int8 / "model.onnx").stat().st_size
    assert 3.0 < ratio < 4.5
    cfg = json.loads((bundle_int8 / "config.json").read_text())
    info = cfg["onnx_bundle"]
    assert cfg["model_type"] == "bert" and cfg["id2label"] == {"0": "negative", "1": "positive"}
    assert info["labels"] == ["negative", "positive"]
    assert info["models"] == {"model.onnx": "int8", "model_fp32.onnx": "fp32"}
    assert info["target"] in {"avx512_vnni", "avx2", "arm64"}
    assert info["steps"]["quantize"]["mode"] == "dynamic"
    assert info["steps"]["quantize"]["source"] == "graph-optimised fp32"  # default --int8-graph optimized
    assert info["labelset"]["preset"] == "sst2"  # copied from RUN_DIR/labelset.json
    readme = (bundle_int8 / "README.md").read_text()
    assert "`negative`, `positive`" in readme and "PASSED" in readme and "runtime.py" in readme


def test_verification_numbers_default_eval_source(bundle_int8):
    v = json.loads((bundle_int8 / "verification.json").read_text())
    assert v["passed"] is True
    assert v["eval_source"].endswith("labels.jsonl") and v["n_texts"] == 120 and v["has_gold"]
    f = v["fp32_vs_pytorch"]
    assert 0 < f["max_abs_diff"] <= 1e-4 and f["argmax_identical"] == 120 and f["passed"]
    assert f["accuracy_fp32"] == f["accuracy_pytorch"] > 0.6  # a real classifier, not chance
    q = v["int8_vs_fp32"]
    assert q["metric"] == "accuracy"
    assert q["drop_pts"] == pytest.approx(100 * (q["accuracy_fp32"] - q["accuracy_int8"]), abs=1e-3)
    assert set(q["per_class"]) == {"negative", "positive"}
    pc = q["per_class"]
    # flips are consistent with the prediction counts
    for lab, r in pc.items():
        assert r["predicted_int8"] == r["predicted_fp32"] - r["flipped_away"] + r["flipped_to"]
        assert "recall_change_pts" in r and r["support"] > 0
    assert 0.0 < q["max_abs_logit_diff_vs_fp32"]  # int8 is not bit-identical to fp32
    b1 = q["batch1"]  # one text at a time is gated too
    assert q["passed"] == (max(q["drop_pts"], b1["drop_pts"]) <= 5)
    assert b1["drop_pts"] == pytest.approx(100 * (q["accuracy_fp32"] - b1["accuracy_int8"]), abs=1e-3)
    out = _CACHE["int8_output"]
    assert "verification on 120 texts" in out and "PASSED" in out and "negative: predicted" in out


def test_runtime_reproduces_verification(bundle_int8, student_dir):
    """verification.json's int8 accuracy is what the shipped runtime gives on the same texts."""
    from export.runtime import Bundle

    rows = [json.loads(x) for x in (student_dir.parent / "labels.jsonl").read_text().splitlines()]
    texts, gold = [r["text"] for r in rows], [r["gold"] for r in rows]
    v = json.loads((bundle_int8 / "verification.json").read_text())["int8_vs_fp32"]
    preds = [p["label"] for p in Bundle.load(bundle_int8).predict(texts)]
    assert np.mean([p == g for p, g in zip(preds, gold)]) == pytest.approx(v["accuracy_int8"])


def test_skip_layer_norm_left_unfused(bundle_int8, tmp_path):
    """SkipLayerNormalization is slower than Add+LayerNormalization on CPU: neither the exported
    graphs nor the runtime's session (which would re-fuse it at load) may contain it."""
    import onnx
    import onnxruntime as ort

    from export.runtime import Bundle

    info = json.loads((bundle_int8 / "config.json").read_text())["onnx_bundle"]
    assert info["session"] == {"disabled_optimizers": ["SkipLayerNormFusion"]}
    for name in ("model.onnx", "model_fp32.onnx"):
        ops = {n.op_type for n in onnx.load(str(bundle_int8 / name)).graph.node}
        assert "SkipLayerNormalization" not in ops and "LayerNormalization" in ops, name
    assert "QAttention" in {n.op_type for n in onnx.load(str(bundle_int8 / "model.onnx")).graph.node}
    for variant in ("int8", "fp32"):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.optimized_model_filepath = str(tmp_path / f"session_{variant}.onnx")
        opts.log_severity_level = 3
        Bundle.load(bundle_int8, variant, session_options=opts)
        ops = {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}
        assert "SkipLayerNormalization" not in ops, variant
    # the control: without the bundle's setting, onnxruntime does fuse it at load
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "session_default.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(bundle_int8 / "model.onnx"), opts, providers=["CPUExecutionProvider"])
    assert "SkipLayerNormalization" in {n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node}


def test_fp32_only_bundle(bundle_fp32):
    cfg = json.loads((bundle_fp32 / "config.json").read_text())["onnx_bundle"]
    assert cfg["models"] == {"model.onnx": "fp32"} and cfg["target"] is None
    assert not (bundle_fp32 / "model_fp32.onnx").exists()
    v = json.loads((bundle_fp32 / "verification.json").read_text())
    assert v["passed"] and "int8_vs_fp32" not in v and v["n_texts"] == 60
    assert v["eval_source"].endswith("dev.tsv") and v["has_gold"]


def test_bundle_loads_with_optimum(bundle_int8):
    """The bundle is also a normal optimum ORTModel directory (int8 by default, fp32 by file name)."""
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification
    from transformers import AutoTokenizer

    from export.runtime import Bundle

    import onnxruntime as ort

    texts = ["a gorgeous , witty , seductive movie .", "the plot is nothing but boilerplate clichés"]
    tok = AutoTokenizer.from_pretrained(bundle_int8)
    for file_name, variant in ((None, "int8"), ("model_fp32.onnx", "fp32")):
        kw = {"file_name": file_name} if file_name else {}
        opts = ort.SessionOptions()  # the bundle's session setting, as the device README shows it
        opts.add_session_config_entry("optimization.disable_specified_optimizers", "SkipLayerNormFusion")
        model = ORTModelForSequenceClassification.from_pretrained(bundle_int8, session_options=opts, **kw)
        assert model.config.id2label == {0: "negative", 1: "positive"}
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
        logits = logits.numpy() if isinstance(logits, torch.Tensor) else np.asarray(logits)
        ours = Bundle.load(bundle_int8, variant).logits(texts)
        assert np.abs(logits - ours).max() < 1e-4, variant


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_verification_failure_exits_1_and_bundle_refused(student_dir, tmp_path, capsys):
    from export.runtime import Bundle, BundleError

    out = tmp_path / "strict"
    code, stdout, err = run_main(["export", str(student_dir), "--out", str(out), "--fp32-only",
                                  "--atol", "1e-12", "--eval-limit", "8"], capsys)
    assert code == 1
    assert "FAIL" in stdout and "max|diff|" in stdout
    assert err.startswith("error: verification failed") and len(err.strip().splitlines()) == 1
    v = json.loads((out / "verification.json").read_text())
    assert v["passed"] is False and v["fp32_vs_pytorch"]["max_abs_diff"] > 1e-12
    with pytest.raises(BundleError, match="failed verification"):
        Bundle.load(out)
    assert Bundle.load(out, allow_unverified=True).predict(["fine"])[0]["label"] in {"negative", "positive"}
    code, _, err = run_main(["predict", str(out), "fine"], capsys)
    assert code == 2 and "failed verification" in err
    code, stdout, _ = run_main(["predict", str(out), "--allow-unverified", "fine"], capsys)
    assert code == 0 and json.loads(stdout)["label"] in {"negative", "positive"}


@pytest.mark.parametrize("case", ["missing", "file", "no_config", "no_weights", "not_classifier", "run_dir_ok"])
def test_bad_student_dirs(case, tmp_path, capsys, student_dir):
    d = tmp_path / "m"
    if case == "file":
        d.write_text("x")
    elif case == "no_config":
        d.mkdir()
        (d / "model.safetensors").write_text("x")
    elif case == "no_weights":
        d.mkdir()
        shutil.copy(student_dir / "config.json", d)
        shutil.copy(student_dir / "tokenizer.json", d)
    elif case == "not_classifier":
        shutil.copytree(student_dir, d)
        cfg = json.loads((d / "config.json").read_text())
        cfg["architectures"] = ["BertModel"]
        (d / "config.json").write_text(json.dumps(cfg))
    if case == "run_dir_ok":  # RUN_DIR is accepted for RUN_DIR/student (checked, not exported)
        from export.onnx import check_student_dir

        assert check_student_dir(student_dir.parent) == student_dir
        return
    code, _, err = run_main(["export", str(d), "--out", str(tmp_path / "b")], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    expected = {"missing": "does not exist", "file": "not a model directory", "no_config": "config.json is missing",
                "no_weights": "no weights", "not_classifier": "not a sequence- or token-classification model"}[case]
    assert expected in err
    assert not (tmp_path / "b").exists()


def test_out_dir_protection_and_bad_flags(student_dir, bundle_fp32, tmp_path, capsys):
    code, _, err = run_main(["export", str(student_dir), "--out", str(bundle_fp32)], capsys)
    assert code == 2 and "--force" in err
    other = tmp_path / "notabundle"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    code, _, err = run_main(["export", str(student_dir), "--out", str(other), "--force"], capsys)
    assert code == 2 and "not a bundle" in err and (other / "keep.txt").exists()
    code, _, err = run_main(["export", str(student_dir), "--out", str(tmp_path / "x"), "--target", "sparc"], capsys)
    assert code == 2 and "sparc" in err
    code, _, err = run_main(["export", str(student_dir), "--out", str(tmp_path / "x"),
                             "--eval-data", str(tmp_path / "nope.tsv")], capsys)
    assert code == 2 and "nope.tsv" in err
    code, _, err = run_main(["export", str(student_dir), "--out", str(tmp_path / "x"), "--max-length", "4096"], capsys)
    assert code == 2 and "max_position_embeddings" in err


def test_export_group_dispatch():
    """`advisor export DIR` runs the default command; `advisor export bench` the bench."""
    res = run_cli(["export", "--help"])
    assert res.exit_code == 0 and "bench" in res.output and "STUDENT_DIR --out" in res.output
    res = run_cli(["export", "bench", "--help"])
    assert res.exit_code == 0 and "p50" in res.output
    res = run_cli(["export", "some/dir", "--help"])  # default command's help
    assert res.exit_code == 0 and "--fp32-only" in res.output and "--target" in res.output
    ctx = cli.make_context("advisor", ["export", "run/student", "--out", "b"])
    group = cli.get_command(ctx, "export")
    sub_ctx = group.make_context("export", ["run/student", "--out", "b"], parent=ctx)
    name, cmd, rest = group.resolve_command(sub_ctx, [*sub_ctx.protected_args, *sub_ctx.args])
    assert name == "model" and rest == ["run/student", "--out", "b"]


def test_quantize_fused_graph_avx2(bundle_fp32, tmp_path):
    """The offline-fused fp32 graph is quantisable (shape inference first), here for --target avx2."""
    import onnxruntime as ort

    from export.onnx import _quantize_fused, quantization_config
    from export.runtime import Bundle

    src = tmp_path / "fp32"
    src.mkdir()
    shutil.copy(bundle_fp32 / "model.onnx", src / "model.onnx")
    shutil.copy(bundle_fp32 / "config.json", src / "config.json")
    _quantize_fused(src, tmp_path / "typed", tmp_path / "int8", quantization_config("avx2"))
    q = tmp_path / "int8" / "model.onnx"
    assert q.stat().st_size * 3 < (src / "model.onnx").stat().st_size
    b = Bundle.load(bundle_fp32)
    texts, _ = read_sst2("dev", 30)
    sess = ort.InferenceSession(str(q), providers=["CPUExecutionProvider"])
    got = np.concatenate([sess.run(["logits"], b.encode([t]))[0] for t in texts])
    ops = {n.op_type for n in __import__("onnx").load(str(q)).graph.node}
    assert "QAttention" in ops  # the fused Attention op was quantised
    assert (got.argmax(1) == b.logits(texts).argmax(1)).mean() >= 0.8


@pytest.mark.parametrize("target", ["avx512_vnni", "avx2", "arm64", "sparc"])
def test_quantization_targets(target):
    from core.errors import UserError
    from export.onnx import quantization_config

    if target == "sparc":
        with pytest.raises(UserError, match="unknown --target"):
            quantization_config(target)
        return
    q = quantization_config(target)
    assert not q.is_static and q.per_channel
    assert q.reduce_range == (target == "avx2")  # 7-bit on AVX2 without VNNI (u8s8 saturation)
    assert str(q.weights_dtype).endswith("QInt8")  # u8s8 first everywhere: the fastest kernels
    assert "MatMul" in [str(getattr(o, "value", o)) for o in q.operators_to_quantize]


def test_int8_ladders_and_kept_nodes(bundle_fp32):
    """Every target has a ladder of distinct schemes; keep_fp32 excludes exactly the FFN output
    projections of the graph (one per layer), never an attention projection."""
    import onnx

    from export.onnx import LADDERS, SCHEMES, ladder, quantization_config

    for target, names in LADDERS.items():
        assert len(set(names)) == len(names) >= 3 and all(n in SCHEMES for n in names)
        assert ladder(target)[0].name == names[0]
    q = quantization_config("avx2", "u8s8-7bit-ffn-fp32", bundle_fp32 / "model.onnx")
    graph = onnx.load(str(bundle_fp32 / "model.onnx")).graph
    layers = {n.name.split("/layer.")[1].split("/")[0] for n in graph.node if "/layer." in n.name}
    assert len(q.nodes_to_exclude) == len(layers) > 0
    assert all("/output/dense/" in n and "/attention/" not in n for n in q.nodes_to_exclude)
    assert str(quantization_config("avx2", "u8u8").weights_dtype).endswith("QUInt8")


def _failing_first(monkeypatch, fail_all: bool = False) -> list[str]:
    """Wrap the real verification so that the first int8 scheme (or every one) reads as failed,
    as on a CPU where that scheme loses accuracy; returns the schemes verified, in order."""
    import export.verify as V

    real = V.verify
    seen: list[str] = []

    def verify(bundle_dir, *args, **kwargs):
        result = real(bundle_dir, *args, **kwargs)
        cfg = json.loads((bundle_dir / "config.json").read_text())
        seen.append(cfg["onnx_bundle"]["steps"]["quantize"]["scheme"])
        if fail_all or len(seen) == 1:
            result["int8_vs_fp32"]["passed"] = False
            result["passed"] = False
        return result

    monkeypatch.setattr(V, "verify", verify)
    return seen


@pytest.mark.slow  # ~1-2 min here: the full `make test` runs it, `make test-fast` does not
def test_int8_ladder_replaces_a_failing_scheme(student_dir, tmp_path, monkeypatch):
    """When the target's first int8 scheme fails verification, the export tries the next one,
    ships the first that passes, says what it chose, and the bundle's files all match."""
    from export.runtime import Bundle

    seen = _failing_first(monkeypatch)
    out = tmp_path / "bundle"
    res = run_cli(["export", str(student_dir), "--out", str(out), "--target", "avx2", "--max-drop", "5"])
    assert res.exit_code == 0, res.output
    assert seen == ["u8s8-7bit", "u8u8"]
    assert "int8 schemes tried on this CPU: u8s8-7bit" in res.output and "kept u8u8" in res.output
    v = json.loads((out / "verification.json").read_text())
    assert v["passed"] is True and v["int8_scheme"] == "u8u8"
    assert [a["scheme"] for a in v["int8_attempts"]] == ["u8s8-7bit", "u8u8"]
    assert [a["passed"] for a in v["int8_attempts"]] == [False, True]
    q = json.loads((out / "config.json").read_text())["onnx_bundle"]["steps"]["quantize"]
    assert q["scheme"] == "u8u8" and q["weights_dtype"].endswith("QUInt8") and not q["reduce_range"]
    b = Bundle.load(out)  # manifest and verification hold for the replaced model
    assert b.variant == "int8" and len(b.predict(["a fine film"])) == 1
    # re-verifying the published bundle keeps the scheme chosen at export
    monkeypatch.undo()
    res = run_cli(["export", "verify", str(out), "--max-drop", "5"])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "verification.json").read_text())["int8_scheme"] == "u8u8"


@pytest.mark.slow  # ~1-2 min here: the full `make test` runs it, `make test-fast` does not
def test_int8_ladder_exhausted_fails_loudly(student_dir, tmp_path, monkeypatch, capsys):
    seen = _failing_first(monkeypatch, fail_all=True)
    out = tmp_path / "bundle"
    code, stdout, err = run_main(["export", str(student_dir), "--out", str(out), "--target", "avx2"], capsys)
    assert code == 1
    assert seen == ["u8s8-7bit", "u8u8", "u8s8-7bit-ffn-fp32", "u8u8-ffn-fp32"]
    assert "no int8 scheme passed (u8s8-7bit, u8u8, u8s8-7bit-ffn-fp32, u8u8-ffn-fp32)" in err
    assert "--fp32-only" in err and len(err.strip().splitlines()) == 1
    v = json.loads((out / "verification.json").read_text())
    assert v["passed"] is False and len(v["int8_attempts"]) == 4
    import onnx  # the last rung kept the FFN output projections in fp32: plain MatMuls in the int8 graph

    kept = json.loads((out / "config.json").read_text())["onnx_bundle"]["steps"]["quantize"]["kept_fp32"]
    names = {n.name: n.op_type for n in onnx.load(str(out / "model.onnx")).graph.node}
    assert kept and all(names.get(k) == "MatMul" for k in kept)


def test_bundle_is_calibrated_on_gold(bundle_fp32):
    """With gold eval data the export fits a temperature; the runtime's probabilities use it and
    no prediction changes."""
    from export.calibration import softmax
    from export.runtime import Bundle

    cal = json.loads((bundle_fp32 / "config.json").read_text())["onnx_bundle"]["calibration"]
    assert cal["n"] == 60 and 0.05 <= cal["temperature"] <= 20 and cal["temperature"] != 1.0
    assert {"ece_before", "ece_after", "ece_after_method"} <= set(cal)
    b = Bundle.load(bundle_fp32)
    assert b.temperature == cal["temperature"]
    texts, _ = read_sst2("dev", 8)
    logits = b.logits(texts)
    assert np.allclose(b.predict_proba(texts), softmax(logits, cal["temperature"]), atol=1e-9)
    assert (b.predict_proba(texts).argmax(1) == logits.argmax(1)).all()
    assert "calibration: temperature" in _CACHE["fp32_output"]
