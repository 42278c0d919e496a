"""The fault suite of issue 16: what a hostile or careless user broke, one test (or more) per finding.

Each test names its finding (``f01`` ...). The misbehaving teacher server is ``fault_proxy.FaultServer``
on 127.0.0.1 (trickling, huge, redirecting, overflowing answers); every server test is bounded in
time. Findings 14 (the pipeline going on after a failed stage) and 16 (int8 on AVX2 CPUs) are tested
where they are fixed (test_pipeline.py, test_export.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from export.runtime import Bundle, BundleError, check_manifest
from bundles import run_main

sys.path.insert(0, os.path.dirname(__file__))
from fault_proxy import FaultServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
FAST = dict(timeout=1.0, max_retries=0, retry_base=0.01, retry_cap=0.02)


def one_line_error(code: int, err: str, *needles: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    errors = [x for x in lines if x.startswith("error: ")]
    assert code == 2, err
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert "Traceback" not in err
    for n in needles:
        assert n in errors[0], (n, errors[0])
    return errors[0]


def copy_bundle(bundle: Path, tmp_path: Path, name: str = "b") -> Path:
    dst = tmp_path / name
    shutil.copytree(bundle, dst, ignore=shutil.ignore_patterns("bench"))
    return dst


def resign(bundle: Path) -> None:
    """Re-write the manifest over the files as they are (what a careful attacker would do)."""
    from export.bundle import write_manifest

    write_manifest(bundle)


@pytest.fixture
def sst2():
    from distill.data.labelset import LabelSet

    return LabelSet.from_spec("sst2")


@pytest.fixture
def small_csv(tmp_path):
    p = tmp_path / "texts.csv"
    p.write_text("text,label\ngood movie,1\nbad movie,0\ngreat fun,1\nawful,0\n", encoding="utf-8")
    return p


# ============================================================================ bundle integrity
def test_f01_unlisted_or_swapped_model_is_refused(bundle_int8, tmp_path, capsys):
    """Delete model.onnx's manifest entry and swap another model in: refused by the runtime, the
    bundle's own runtime.py and `advisor predict`."""
    b = copy_bundle(bundle_int8, tmp_path)
    shutil.copy(b / "model_fp32.onnx", b / "model.onnx")
    m = json.loads((b / "manifest.json").read_text())
    del m["files"]["model.onnx"]
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match="model.onnx is not listed in manifest.json"):
        Bundle.load(b)
    with pytest.raises(BundleError, match="not listed"):
        check_manifest(b)
    code, out, err = run_main(["predict", str(b), "fine"], capsys)
    one_line_error(code, err, "model.onnx is not listed")
    assert out == ""
    proc = subprocess.run([sys.executable, str(b / "runtime.py"), str(b), "fine"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "not listed" in proc.stderr and proc.stdout == ""


def test_f01_required_file_must_be_listed(bundle_int8, tmp_path):
    b = copy_bundle(bundle_int8, tmp_path)
    for name in ("tokenizer.json", "verification.json", "config.json"):
        m = json.loads((bundle_int8 / "manifest.json").read_text())
        del m["files"][name]
        (b / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(BundleError, match=f"{name}"):
            Bundle.load(b)
    # an extra file dropped into the bundle is refused as well (the file set is complete or nothing)
    shutil.copy(bundle_int8 / "manifest.json", b / "manifest.json")
    (b / "extra.onnx").write_bytes(b"x")
    with pytest.raises(BundleError, match="extra.onnx is not listed"):
        Bundle.load(b)
    (b / "extra.onnx").unlink()
    (b / ".DS_Store").write_bytes(b"x")  # dotfiles and bench/ are not part of a bundle
    (b / "bench").mkdir()
    (b / "bench" / "bench.json").write_text("{}")
    assert Bundle.load(b).labels == ["negative", "positive"]


def test_f02_verify_never_blesses_a_tampered_bundle(bundle_int8, student_dir, tmp_path, capsys):
    b = copy_bundle(bundle_int8, tmp_path)
    shutil.copy(b / "model_fp32.onnx", b / "model.onnx")  # swapped model, manifest untouched
    before = (b / "manifest.json").read_bytes()
    args = ["export", "verify", str(b), "--student", str(student_dir), "--eval-limit", "8", "--max-drop", "100"]
    code, out, err = run_main(args, capsys)
    one_line_error(code, err, "model.onnx was modified", "--resign")
    assert "PASSED" not in out
    assert (b / "manifest.json").read_bytes() == before  # nothing re-signed
    with pytest.raises(BundleError, match="model.onnx was modified"):
        Bundle.load(b)
    # the explicit act: --resign verifies the files as they are and signs them anew
    code, out, err = run_main([*args, "--resign"], capsys)
    assert code == 0 and "PASSED" in out and "re-signed" in out, err
    assert Bundle.load(b).model_file == "model.onnx"


def test_f02_verify_updates_only_its_own_entries(bundle_int8, student_dir, tmp_path, capsys):
    b = copy_bundle(bundle_int8, tmp_path)
    before = json.loads((b / "manifest.json").read_text())["files"]
    code, out, _ = run_main(["export", "verify", str(b), "--student", str(student_dir), "--eval-limit", "8",
                             "--max-drop", "100"], capsys)
    assert code == 0 and "PASSED" in out
    after = json.loads((b / "manifest.json").read_text())["files"]
    assert {k for k in after if after[k] != before[k]} <= {"verification.json", "README.md"}
    assert Bundle.load(b).labels == ["negative", "positive"]


def test_f03_symlinks_are_never_followed(bundle_int8, tmp_path, capsys):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    b = copy_bundle(bundle_int8, tmp_path)
    shutil.move(b / "model.onnx", outside / "model.onnx")
    (b / "model.onnx").symlink_to(outside / "model.onnx")  # same bytes: the hash alone would pass
    with pytest.raises(BundleError, match="model.onnx is a symlink"):
        Bundle.load(b)
    with pytest.raises(BundleError, match="symlink"):
        Bundle.load(b, check=False)  # the verify path (no manifest yet) refuses it too
    code, _, err = run_main(["predict", str(b), "fine"], capsys)
    one_line_error(code, err, "symlink")

    b2 = copy_bundle(bundle_int8, tmp_path, "b2")
    (b2 / "tokenizer.json").unlink()
    (b2 / "tokenizer.json").symlink_to("/etc/passwd")
    with pytest.raises(BundleError, match="tokenizer.json is a symlink"):
        Bundle.load(b2)
    with pytest.raises(BundleError, match="symlink"):
        Bundle.load(b2, check=False)


# ============================================================================ sizes and values
BOMB = "".join([f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" if i else "a0: &a0 [lol]\n"
                for i in range(10)])


def test_f04_alias_bomb_in_config_and_answers(tmp_path, capsys, small_csv):
    from advisor.pipeline.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: run\ndata: {{path: {small_csv}}}\n" + BOMB.replace("a9:", "labels:"))
    t0 = time.perf_counter()
    with pytest.raises(UserError) as ei:
        load_config(cfg)
    assert time.perf_counter() - t0 < 2 and "alias" in ei.value.message and len(ei.value.message) < 300
    code, _, err = run_main(["distill", "run", str(cfg), "--dry-run"], capsys)
    one_line_error(code, err, "alias")
    answers = tmp_path / "a.yaml"
    answers.write_text(BOMB.replace("a9:", "task:"))
    t0 = time.perf_counter()
    code, _, err = run_main(["recommend", "--answers", str(answers)], capsys)
    assert time.perf_counter() - t0 < 5
    assert len(one_line_error(code, err, "alias")) < 300
    big = tmp_path / "big.yaml"
    big.write_text("labels: [" + "a, " * 2_000_000 + "b]\n")
    with pytest.raises(UserError, match="limit"):
        load_config(big)


@pytest.mark.parametrize("args, needle", [
    (["distill", "train", "--labels", "l.jsonl", "--out", "o", "--lr", "inf"], "--lr"),
    (["distill", "train", "--labels", "l.jsonl", "--out", "o", "--lr", "nan"], "--lr"),
    (["distill", "train", "--labels", "l.jsonl", "--out", "o", "--epochs", "inf"], "--epochs"),
    (["distill", "label", "--data", "d.csv", "--labels", "sst2", "--out", "o", "--timeout", "nan"], "--timeout"),
    (["distill", "label", "--data", "d.csv", "--labels", "sst2", "--out", "o", "--timeout", "-inf"], "--timeout"),
    (["export", "verify", "b", "--max-drop", "nan"], "--max-drop"),
    (["distill", "run", "c.yaml", "--epochs", "1e999"], "--epochs"),
])
def test_f05_nan_and_inf_flags(args, needle, tmp_path, capsys):
    code, _, err = run_main(args, capsys)
    one_line_error(code, err, needle, "finite")


@pytest.mark.parametrize("section, key, value", [("teacher", "timeout", ".inf"), ("training", "epochs", ".inf"),
                                                 ("training", "lr", ".nan"), ("training", "lr", "-.inf"),
                                                 ("teacher", "concurrency", "1e400")])
def test_f05_nan_and_inf_config(section, key, value, tmp_path, small_csv):
    from advisor.pipeline.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: run\nlabels: sst2\ndata: {{path: {small_csv}}}\n{section}:\n  {key}: {value}\n")
    with pytest.raises(UserError, match=rf"config: {section}\.{key}: expected"):
        load_config(cfg)


def test_f05_non_finite_training_fails_the_stage(tmp_path):
    """A student whose loss/weights go non-finite: the train stage fails, no student is saved."""
    from transformers import TrainerCallback

    from core.atomic import write_jsonl
    from distill.training.config import DistillationConfig
    from distill.training.train import train_student

    with pytest.raises(UserError, match="--lr"):
        DistillationConfig(lr=float("inf")).validate()
    rows = [{"id": str(i), "text": f"{'good' if i % 2 else 'bad'} film {i}",
             "probs": {"negative": 0.2 if i % 2 else 0.8, "positive": 0.8 if i % 2 else 0.2},
             "label": "positive" if i % 2 else "negative", "confidence": 0.8, "source": "scored"} for i in range(16)]
    write_jsonl(tmp_path / "labels.jsonl", rows)

    class Poison(TrainerCallback):  # what a learning rate far too high does, in one step
        def on_step_end(self, args, state, control, model=None, **kw):
            import torch

            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    cfg = DistillationConfig(max_steps=2, batch_size=8, eval_fraction=0.0, max_length=16)
    with pytest.raises(UserError, match="training diverged"):
        train_student(tmp_path / "labels.jsonl", tmp_path / "run", cfg, progress=False, callbacks=[Poison()])
    assert not (tmp_path / "run" / "student").exists()


def test_f05_non_finite_student_is_not_exported(student_dir, tmp_path, capsys):
    """A student saved with NaN weights (by an older version) is refused by export in one line."""
    import torch
    from safetensors.torch import load_file, save_file

    s = tmp_path / "student"
    shutil.copytree(student_dir, s)
    w = load_file(str(s / "model.safetensors"))
    key = next(k for k, v in w.items() if v.is_floating_point())
    w[key] = torch.full_like(w[key], float("nan"))
    save_file(w, str(s / "model.safetensors"), metadata={"format": "pt"})
    code, _, err = run_main(["export", str(s), "--out", str(tmp_path / "b")], capsys)
    one_line_error(code, err, "non-finite weights", key)
    assert not (tmp_path / "b").exists()


def test_f06_shots_json_texts_single_class_all_abstained(tmp_path, capsys, small_csv, sst2):
    from core.atomic import write_jsonl
    from distill.training.config import DistillationConfig
    from distill.data.reader import load_texts
    from distill.training.labels import prepare_rows, read_labels

    code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out",
                             str(tmp_path / "o"), "--shots", "100000", "--shots-file", str(small_csv)], capsys)
    one_line_error(code, err, "--shots", "[0, 64]")
    for bad in ('{"text": 12}', '{"text": ["a", "b"]}', '{"text": {"a": 1}}', '{"text": true}'):
        p = tmp_path / "t.jsonl"
        p.write_text('{"text": "fine"}\n' + bad + "\n")
        with pytest.raises(UserError, match="not a string"):
            load_texts(p)
    rows = [{"id": str(i), "text": f"t{i}", "probs": {"negative": 0.1, "positive": 0.9}, "label": "positive",
             "confidence": 0.9, "source": "scored"} for i in range(10)]
    write_jsonl(tmp_path / "one.jsonl", rows)
    with pytest.raises(UserError, match="same label"):
        prepare_rows(read_labels(tmp_path / "one.jsonl", sst2), DistillationConfig())
    # every text abstained: the label command fails (exit 2), the labels are kept for inspection
    with FaultServer(logprobs=False, answer_text=" I am not sure") as fs:
        out = tmp_path / "abst"
        code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out", str(out),
                                 "--teacher", fs.url, "--quiet", "--calibrate", "none"], capsys)
    one_line_error(code, err, "abstained on all 4 texts")
    assert len((out / "labels.jsonl").read_text().splitlines()) == 4


def test_f06_empty_texts_are_reported_as_empty(tmp_path, sst2):
    from core.atomic import write_jsonl
    from distill.training.labels import read_labels

    rows = [{"id": str(i), "text": "  ", "probs": {"negative": 0.5, "positive": 0.5}, "label": "negative",
             "confidence": 0.5, "source": "scored"} for i in range(40)]
    write_jsonl(tmp_path / "e.jsonl", rows)
    with pytest.raises(UserError) as ei:
        read_labels(tmp_path / "e.jsonl", sst2)
    assert "40 with an empty text" in ei.value.message and "abstained" not in ei.value.message
    rows[0]["text"] = 7
    write_jsonl(tmp_path / "e.jsonl", rows)
    with pytest.raises(UserError, match="'text' must be a string"):
        read_labels(tmp_path / "e.jsonl", sst2)


# ============================================================================ the teacher server
@pytest.mark.parametrize("fault", ["trickle", "slowhead"])
def test_f07_trickling_server_is_cut_off(sst2, fault):
    """One byte every 0.2 s, in the body or in the headers: the request ends at its deadline."""
    from distill.teachers import load_teacher

    with FaultServer(default_fault=fault, trickle_s=0.2) as fs:
        t = load_teacher(fs.url, sst2, concurrency=1, **FAST)
        assert t.http.every_read_bounded
        t0 = time.perf_counter()
        with pytest.raises(UserError) as ei:
            t.score(["good"])
        assert time.perf_counter() - t0 < 1.0 + 0.5  # the 1 s deadline, not 150 s
        assert "no complete answer within 1s" in ei.value.message


def test_f07_huge_body_is_capped(sst2):
    from distill.teachers import load_teacher

    with FaultServer(default_fault="huge", huge_bytes=300 * 1024 * 1024) as fs:
        t = load_teacher(fs.url, sst2, concurrency=1, max_body=1 << 20, **{**FAST, "timeout": 10})
        t0 = time.perf_counter()
        with pytest.raises(UserError, match="exceeds the 1 MB limit"):
            t.score(["good"])
        assert time.perf_counter() - t0 < 5
        assert fs.bytes_sent < 64 * 1024 * 1024  # hung up early, never read in full
        assert len(fs.requests) == 1  # max_retries 0: once, not three times


def test_f08_overflowing_logprob_abstains_with_its_reason(sst2):
    from distill.teachers import load_teacher

    with FaultServer(text_faults={"poison": "overflow"}) as fs:
        t = load_teacher(fs.url, sst2, concurrency=2, **FAST)
        res = t.score(["good film", "poison pill", "bad film"])
    assert [r.source for r in res] == ["scored", "abstained", "scored"]
    assert "logprob 800" in res[1].reason and res[1].probs.tolist() == [0.5, 0.5]


def test_f08_every_answer_is_cached_as_it_arrives(tmp_path, sst2):
    """A final failure inside a batch keeps the batch's other answers; the rerun sends only the
    one that failed."""
    from distill.labeling.cache import LabelCache
    from distill.data.reader import TextDataset
    from distill.labeling.labeler import CACHE_NAME, LabelingConfig, label_dataset
    from distill.teachers import load_teacher

    texts = [f"text number {i} good" for i in range(20)] + ["doomed text that is the longest of them all"]
    data = TextDataset(texts, None, [str(i) for i in range(len(texts))], source="")
    cfg = LabelingConfig(chunk_size=32, progress=False)
    with FaultServer(text_faults={"doomed": "500"}) as fs:
        t = load_teacher(fs.url, sst2, concurrency=4, **FAST)
        with pytest.raises(UserError, match="server error \\(HTTP 500\\)"):
            label_dataset(data, sst2, t, tmp_path, cfg, report=False, echo=lambda s: None)
        with LabelCache(tmp_path / CACHE_NAME) as cache:
            assert cache.count(t.fingerprint, t.prompt.hash) == 20  # every answer received is kept
        fs.text_faults.clear()  # the server recovers: the rerun sends only the text that failed
        sent = len(fs.requests)
        res = label_dataset(data, sst2, t, tmp_path, cfg, report=False, echo=lambda s: None)
        assert res.n_cached == 20 and res.n_scored == 1 and len(fs.requests) == sent + 1


def test_f09_url_credentials_never_reach_a_file_or_a_message(tmp_path, capsys, small_csv):
    with FaultServer() as fs:
        url = fs.url.replace("http://", "http://alice:s3cr3tpw@") + "?api_key=k3yk3yk3y&api-version=1"
        out = tmp_path / "run"
        code, stdout, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out",
                                      str(out), "--teacher", url, "--quiet"], capsys)
        assert code == 0, err
        assert fs.requests[0]["body"]["model"] == "fake-model"
    for f in out.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"s3cr3tpw" not in data and b"k3yk3yk3y" not in data, f
    assert "s3cr3tpw" not in stdout + err and "k3yk3yk3y" not in stdout + err
    assert json.loads((out / "teacher.json").read_text())["teacher"]["base_url"].startswith("http://***@")
    with FaultServer(default_fault="500") as fs:
        bad = fs.url.replace("http://", "http://alice:s3cr3tpw@")
        code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out",
                                 str(tmp_path / "r2"), "--teacher", bad, "--quiet", "--max-retries", "0"], capsys)
        one_line_error(code, err, "***@")
        assert "s3cr3tpw" not in err
    from advisor.pipeline.config import redact_config

    cfg = {"teacher": {"model": "https://u:p4ss@h/v1?token=t0k&x=1"}}
    red = redact_config(cfg)["teacher"]["model"]
    assert "p4ss" not in red and "t0k" not in red and "x=1" in red and cfg["teacher"]["model"].endswith("x=1")


# ============================================================================ run directories
def test_f10_second_writer_is_refused_naming_the_holder(tmp_path, capsys, small_csv):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom core.rundir import run_lock\n"
         f"with run_lock({str(run)!r}, 'advisor distill label (test holder)'):\n"
         "    print('ready', flush=True); time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "ready"
        with FaultServer() as fs:
            code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out",
                                     str(run), "--teacher", fs.url, "--quiet"], capsys)
            assert fs.requests == []  # refused before a single text was sent
        one_line_error(code, err, "is in use by advisor distill label (test holder)", f"pid {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    with FaultServer() as fs:  # the holder died (even kill -9): the kernel released the lock
        code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out",
                                 str(run), "--teacher", fs.url, "--quiet"], capsys)
    assert code == 0, err


def test_f11_run_from_other_inputs_is_refused(tmp_path, capsys, small_csv):
    other = tmp_path / "other.csv"
    other.write_text("text,label\nfine film,1\npoor film,0\n", encoding="utf-8")
    run = tmp_path / "run"
    with FaultServer() as fs:
        base = ["distill", "label", "--labels", "sst2", "--out", str(run), "--teacher", fs.url, "--quiet"]
        assert run_main([*base, "--data", str(small_csv)], capsys)[0] == 0
        before = (run / "labels.jsonl").read_bytes()
        code, _, err = run_main([*base, "--data", str(other)], capsys)
        one_line_error(code, err, "holds the labels of another run", "other.csv now")
        code, _, err = run_main(["distill", "label", "--labels", "negative,positive,neutral", "--out", str(run),
                                 "--teacher", fs.url, "--quiet", "--data", str(small_csv), "--label-column", "none"],
                                capsys)
        one_line_error(code, err, "labels negative, positive there")
        assert (run / "labels.jsonl").read_bytes() == before
        assert run_main([*base, "--data", str(small_csv), "--sample", "3"], capsys)[0] == 0  # same data: same run


def test_f11_damaged_state_is_reported_and_redone(tmp_path, capsys, small_csv):
    from distill.labeling.cache import LabelCache
    from advisor.pipeline.run import MANIFEST, Manifest, plan
    from advisor.pipeline.config import load_config
    from distill.training.train import last_complete_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    (run / MANIFEST).write_text('{"stages": {"label": {"status": "done", "inp')  # truncated by a crash
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"run_dir: {run}\nlabels: sst2\ndata: {{path: {small_csv}}}\n")
    m = Manifest(run)
    assert m.data == {"stages": {}}
    assert [a for _, a in plan(load_config(cfg))][0] == "run"
    assert "pipeline state" in capsys.readouterr().err
    ck = run / "checkpoints" / "checkpoint-4"
    ck.mkdir(parents=True)
    (ck / "model.safetensors").write_bytes(b"x")
    (ck / "trainer_state.json").write_text('{"global_st')
    assert last_complete_checkpoint(run / "checkpoints") is None and not ck.exists()
    (run / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    with LabelCache(run / "cache.sqlite") as c:
        assert c.count() == 0
    assert "damaged" in capsys.readouterr().err
    assert list(run.glob("cache.sqlite.damaged-*"))
    from advisor.pipeline.summary import _load

    (run / "train.json").write_text('{"global_step": 1')  # the summary leaves a damaged file out, says so
    assert _load(run / "train.json") is None and "train.json is damaged" in capsys.readouterr().err


def test_f12_config_paths_resolve_against_the_config_folder(tmp_path, small_csv, monkeypatch):
    from advisor.pipeline.config import load_config

    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "teacher.gguf").write_bytes(b"GGUF")
    shutil.copy(small_csv, folder / "texts.csv")
    (folder / "c.yaml").write_text("run_dir: runs/x\nlabels: sst2\ndata: {path: texts.csv}\n"
                                   "teacher: {model: teacher.gguf}\n")
    monkeypatch.chdir(tmp_path)  # somewhere else
    cfg = load_config(folder / "c.yaml")
    assert cfg["teacher"]["model"] == str(folder / "teacher.gguf")
    assert cfg["data"]["path"] == str(folder / "texts.csv") and cfg["run_dir"] == str(folder / "runs" / "x")
    for url in ("http://127.0.0.1:8080/v1", "default"):
        (folder / "c.yaml").write_text(f"run_dir: r\nlabels: sst2\ndata: {{path: texts.csv}}\nteacher: {{model: '{url}'}}\n")
        assert load_config(folder / "c.yaml")["teacher"]["model"] == url


# ============================================================================ other tracebacks
@pytest.mark.parametrize("where", ["/etc/passwd/sub", "/proc/x/y"])
def test_f13_impossible_out_paths(where, tmp_path, capsys, small_csv):
    code, _, err = run_main(["distill", "label", "--data", str(small_csv), "--labels", "sst2", "--out", where], capsys)
    one_line_error(code, err, "--out")
    labels = tmp_path / "l.jsonl"
    labels.write_text('{"text": "a", "probs": {"negative": 1, "positive": 0}, "label": "negative"}\n')
    code, _, err = run_main(["distill", "train", "--labels", str(labels), "--out", where], capsys)
    one_line_error(code, err, "--out")
    from core.rundir import prepare_dir

    with pytest.raises(UserError, match="run_dir"):
        prepare_dir(where, "run_dir")


def test_f13_export_out_and_bench_out(bundle_int8, student_dir, capsys):
    code, _, err = run_main(["export", str(student_dir), "--out", "/etc/passwd/sub"], capsys)
    one_line_error(code, err, "--out")
    code, _, err = run_main(["export", "bench", str(bundle_int8), "--out", "/etc/passwd/sub", "--no-teacher",
                             "--no-pytorch"], capsys)
    one_line_error(code, err, "--out")


def test_f13_non_utf8_stdin_on_predict(bundle_int8, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", "predict", str(bundle_int8)],
                          input=b"fine film\ntr\xe8s bien\n", capture_output=True, cwd=REPO, timeout=120)
    err = proc.stderr.decode()
    one_line_error(proc.returncode, err, "input line 2 is not valid UTF-8")
    assert proc.stdout == b""


@pytest.mark.parametrize("case, needle", [
    ("entry_is_string", "the entry of config.json is malformed"),
    ("format_version_abc", "format_version must be an integer"),
    ("max_length_abc", "onnx_bundle.max_length must be an integer"),
    ("three_labels", "gives 2 logits per text but config.json lists 3 labels"),
    ("labels_not_list", "onnx_bundle.labels must be a list"),
    ("models_bad_path", "unsafe path"),
])
def test_f13_malformed_bundle_metadata(case, needle, bundle_int8, tmp_path, capsys):
    b = copy_bundle(bundle_int8, tmp_path)
    cfg = json.loads((b / "config.json").read_text())
    info = cfg["onnx_bundle"]
    if case == "max_length_abc":
        info["max_length"] = "abc"
    elif case == "three_labels":
        info["labels"] = ["negative", "positive", "neutral"]
    elif case == "labels_not_list":
        info["labels"] = "negative,positive"
    elif case == "models_bad_path":
        info["models"] = {"model.onnx": "int8", "../../x.onnx": "fp32"}
    (b / "config.json").write_text(json.dumps(cfg))
    resign(b)  # a consistent manifest: the metadata itself is what is wrong
    m = json.loads((b / "manifest.json").read_text())
    if case == "entry_is_string":
        m["files"]["config.json"] = "sha256"
    elif case == "format_version_abc":
        m["format_version"] = "abc"
    (b / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(BundleError, match=needle.replace("(", r"\(")):
        Bundle.load(b)
    code, out, err = run_main(["predict", str(b), "fine"], capsys)
    one_line_error(code, err, needle)
    assert out == ""


# ============================================================================ silent failures
def test_f15_text_semicolon_label_file(tmp_path, capsys, sst2):
    from distill.data.reader import load_texts

    f = tmp_path / "reviews.txt"
    f.write_text("text;label\ngreat film, loved it;positive\nboring;negative\nfun;positive\n", encoding="utf-8")
    with pytest.raises(UserError, match="--sep ';'"):
        load_texts(f, labelset=sst2)
    with pytest.raises(UserError, match="--sep ';'"):
        load_texts(f, labelset=sst2, fmt="csv")
    d = load_texts(f, labelset=sst2, sep=";")
    assert d.texts == ["great film, loved it", "boring", "fun"] and d.gold == ["positive", "negative", "positive"]
    assert load_texts(f, sep="none").texts[0] == "text;label"  # the explicit way to keep whole lines
    tab = tmp_path / "t.txt"
    tab.write_text("good\t1\nbad\t0\nok\t1\n", encoding="utf-8")
    assert load_texts(tab, labelset=sst2, sep="tab").gold == ["positive", "negative", "positive"]
    code, _, err = run_main(["distill", "label", "--data", str(f), "--labels", "sst2", "--out", str(tmp_path / "o")],
                            capsys)
    one_line_error(code, err, "--sep ';'")
    assert not (tmp_path / "o").exists()
    plain = tmp_path / "plain.txt"
    plain.write_text("a fine film; truly\nanother one, really good\nthe end\n", encoding="utf-8")
    assert len(load_texts(plain).texts) == 3  # ordinary prose is not mistaken for labels


# ============================================================================ misleading messages
def test_f17_redirect_429_and_empty_body_in_words(sst2):
    from distill.teachers import load_teacher

    with FaultServer(default_fault="redirect") as fs:
        t = load_teacher(fs.url, sst2, **FAST)
        with pytest.raises(UserError) as ei:
            t.score(["good"])
    msg = ei.value.message
    assert "redirect (HTTP 301" in msg and "hunter2" not in msg and "unparseable" not in msg
    with FaultServer(default_fault="429") as fs:
        t = load_teacher(fs.url, sst2, **{**FAST, "max_retries": 1})
        with pytest.raises(UserError) as ei:
            t.score(["good"])
    assert "rate limited (HTTP 429)" in ei.value.message and "('" not in ei.value.message
    with FaultServer(default_fault="empty") as fs:
        t = load_teacher(fs.url, sst2, **FAST)
        with pytest.raises(UserError, match="an empty body"):
            t.score(["good"])


def test_f17_pickle_only_student(tmp_path, capsys, student_dir):
    s = tmp_path / "student"
    s.mkdir()
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(student_dir / f, s / f)
    (s / "pytorch_model.bin").write_bytes(b"\x80\x02 not loaded")
    code, _, err = run_main(["export", str(s), "--out", str(tmp_path / "b")], capsys)
    one_line_error(code, err, "pytorch_model.bin (a pickle", "safetensors")
    assert "tensorflow" not in err and not (tmp_path / "b").exists()
    from distill.training.modeling import load_trained_student

    with pytest.raises(UserError, match="pickle"):
        load_trained_student(s)


def test_numbers_type_unit():
    from core.numbers import check_number

    assert check_number("3", "--n", int, 1, 10) == 3 and check_number(2.0, "f", int, 0) == 2
    for bad in ("nan", "inf", "-inf", "1e999", "abc", True, None, [1], 2.5, "99999999999999999999"):
        with pytest.raises(UserError):
            check_number(bad, "--n", int, 0)
    with pytest.raises(UserError, match=r"--lr: expected a number in \(0, 1\], got 0"):
        check_number(0, "--lr", float, 0, 1, "lo")
    assert np.isclose(check_number("1e-4", "--lr", float, 0, 1, "lo"), 1e-4)
