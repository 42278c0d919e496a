"""The OpenAI-compatible teacher against a fault-injecting local server, and (marked ``server``)
against a real llama.cpp server running the default teacher GGUF."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.teachers import load_teacher
from distill.teachers.server import ServerTeacher

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/: fault_proxy
from fault_proxy import FaultServer, free_port  # noqa: E402

FAST = dict(timeout=0.5, max_retries=5, retry_base=0.01, retry_cap=0.05)


@pytest.fixture
def sst2():
    return LabelSet.from_spec("sst2")


@pytest.mark.parametrize("template", ["field", "chat"])
def test_probabilities_from_logprobs(sst2, template):
    with FaultServer() as fs:
        t = load_teacher(fs.url, sst2, template=template, **FAST)
        assert isinstance(t, ServerTeacher) and t.server_model == "fake-model"
        res = t.score(["a good film", "a bad film", "great fun", "boring"])
        assert [r.source for r in res] == ["scored"] * 4
        p = np.stack([r.probs for r in res])
        np.testing.assert_allclose(p.sum(1), 1)
        assert list(p.argmax(1)) == [1, 0, 1, 0]
        np.testing.assert_allclose(p[0], [0.15 / 0.95, 0.8 / 0.95], rtol=1e-6)
        path = fs.requests[0]["path"]
        assert path.endswith("/chat/completions" if template == "chat" else "/completions")
        body = fs.requests[0]["body"]
        assert body["temperature"] == 0 and body["model"] == "fake-model"
        assert (body["top_logprobs"] if template == "chat" else body["logprobs"]) == 20


def test_retries_on_429_500_garbage_hang_drop(sst2):
    with FaultServer(faults=["429", "500", "garbage", "hang", "drop"], hang_s=1.5) as fs:
        t = load_teacher(fs.url, sst2, concurrency=1, **FAST)
        res = t.score(["good", "bad"])
        assert [r.source for r in res] == ["scored", "scored"]
        assert [r.probs.argmax() for r in res] == [1, 0]
        assert t.stats["retries"] == 5
        assert [r["fault"] for r in fs.requests][:6] == ["429", "500", "garbage", "hang", "drop", "ok"]


def test_clear_error_after_last_retry(sst2):
    for fault, reason in (("500", "HTTP 500"), ("hang", "timed out"), ("garbage", "unparseable")):
        with FaultServer(default_fault=fault, hang_s=1.0) as fs:
            t = load_teacher(fs.url, sst2, timeout=0.3, max_retries=2, retry_base=0.01, retry_cap=0.02)
            with pytest.raises(UserError) as ei:
                t.score(["good"])
            msg = str(ei.value.message)
            assert "failed after 3 attempts" in msg and reason in msg and "\n" not in msg
            assert len(fs.requests) == 3


def test_no_logprobs_falls_back_to_parsed_and_abstained(sst2):
    with FaultServer(logprobs=False) as fs:
        t = load_teacher(fs.url, sst2, **FAST)
        res = t.score(["good", "bad"])
        assert [r.source for r in res] == ["parsed", "parsed"]
        assert [list(r.probs) for r in res] == [[0, 1], [1, 0]]
    with FaultServer(logprobs=False, answer_text=" I am not sure what you mean") as fs:
        t = load_teacher(fs.url, sst2, template="chat", **FAST)
        (r,) = t.score(["good"])
        assert r.source == "abstained" and list(r.probs) == [0.5, 0.5] and "not sure" in r.answer


def test_wider_logprobs_when_no_label_in_top_n(sst2):
    # labels only beyond the top 20: one more request with a wider top-N finds them
    with FaultServer(labels_only_beyond=20, answer_text=" I think") as fs:
        t = load_teacher(fs.url, sst2, concurrency=1, **FAST)
        res = t.score(["good", "bad"])
        assert [r.source for r in res] == ["scored", "scored"] and [r.probs.argmax() for r in res] == [1, 0]
        assert [r["body"]["logprobs"] for r in fs.requests] == [20, 200, 20, 200]
    # a server that caps logprobs at 20 (vLLM): asked once, then the text is parsed / abstained
    with FaultServer(labels_only_beyond=20, max_logprobs=20, answer_text=" I think") as fs:
        t = load_teacher(fs.url, sst2, concurrency=1, **FAST)
        res = t.score(["good", "bad"])
        assert [r.source for r in res] == ["abstained", "abstained"]
        assert [r["body"]["logprobs"] for r in fs.requests] == [20, 200, 20]


def test_unreachable_and_unauthorized(sst2, monkeypatch):
    port = free_port()  # nothing listens there
    with pytest.raises(UserError, match="cannot reach server"):
        load_teacher(f"http://127.0.0.1:{port}/v1", sst2, max_retries=1, retry_base=0.01)
    monkeypatch.setenv("MY_SECRET_KEY", "sk-test-123456")
    with FaultServer(default_fault="401") as fs:
        t = load_teacher(fs.url, sst2, api_key_env="MY_SECRET_KEY", **FAST)
        with pytest.raises(UserError) as ei:
            t.score(["x"])
        assert "$MY_SECRET_KEY" in ei.value.message and "sk-test" not in ei.value.message
        assert fs.requests[0]["auth"] == "Bearer sk-test-123456"
        assert "sk-test" not in json.dumps(t.describe())


@pytest.mark.slow  # 8-20 s here: in `make test`, not in `make test-fast`
def test_cli_labels_through_server_and_fails_cleanly(tmp_path, repo_dir):
    data = tmp_path / "in.csv"
    data.write_text("text,label\ngood movie,1\nbad movie,0\ngreat fun,1\nawful,0\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(repo_dir)}
    with FaultServer(faults=["429", "500"]) as fs:
        run = tmp_path / "run"
        p = subprocess.run([sys.executable, "-m", "advisor.cli", "distill", "label", "--data", str(data), "--labels", "sst2",
                            "--out", str(run), "--teacher", fs.url, "--quiet", "--max-retries", "3", "--timeout", "2"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "teacher accuracy vs gold: 100.0%" in p.stdout
        rows = [json.loads(x) for x in (run / "labels.jsonl").read_text().splitlines()]
        assert [r["source"] for r in rows] == ["scored"] * 4
        assert json.loads((run / "teacher.json").read_text())["teacher"]["server_model"] == "fake-model"
    with FaultServer(default_fault="500") as fs:
        run2 = tmp_path / "run2"
        p = subprocess.run([sys.executable, "-m", "advisor.cli", "distill", "label", "--data", str(data), "--labels", "sst2",
                            "--out", str(run2), "--teacher", fs.url, "--quiet", "--max-retries", "1", "--timeout", "2"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 2
        err = [x for x in p.stderr.splitlines() if x.startswith("error:")]
        assert len(err) == 1 and "failed after 2 attempts" in err[0] and "Traceback" not in p.stderr
        assert not (run2 / "labels.jsonl").exists()


def _llama_cpp_available() -> bool:
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.server
@pytest.mark.skipif(not _llama_cpp_available(), reason="llama_cpp is not importable: run `make setup-server`")
def test_real_llama_cpp_server(shared_data, sst2, tmp_path):
    from distill.data.reader import load_texts
    from distill.defaults import default_teacher_gguf

    port = free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_teacher_gguf()),
                             "--port", str(port), "--host", "127.0.0.1", "--n_ctx", "1024", "--n_threads", "2"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.time() + 120
        import httpx

        while time.time() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        d = load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2, limit=20)
        # through the fault proxy: the first requests hit 429/500 and are retried
        with FaultServer(upstream=url, faults=["429", "500"]) as fs:
            t = load_teacher(fs.url, sst2, concurrency=2, timeout=60, max_retries=4, retry_base=0.05)
            p = t.predict_proba(d.texts)
            res = t.score(d.texts[:3])
        assert [r.source for r in res] == ["scored"] * 3
        np.testing.assert_allclose(p.sum(1), 1, rtol=1e-6)
        assert t.stats["retries"] >= 2 and t.stats["no_logprobs"] == 0, t.stats
        acc = np.mean([sst2.names[i] == g for i, g in zip(p.argmax(1), d.gold)])
        assert acc >= 0.6, acc  # the same 135M teacher scores ~80% on SST-2 dev through transformers
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
