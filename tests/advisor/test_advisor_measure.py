"""advisor recommend --measure: the layer search, the server timing, and a real measurement."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from advisor.questionnaire import measure
from advisor.cli import cli
from core.errors import UserError


def test_layer_count_is_found_by_bisection(monkeypatch):
    """Synthetic p95 per layer count: the largest fitting count is chosen after at most 4 timings."""
    p95 = {1: 3.0, 2: 5.0, 3: 7.0, 4: 9.0, 5: 11.0, 6: 13.0}
    timed = []
    monkeypatch.setattr(measure, "student_onnx", lambda n, target, progress: n)

    def fake_time(n, seq_len):
        timed.append(n)
        return {"p50_ms": p95[n] - 1, "p95_ms": p95[n], "cpu_p50_ms": p95[n] - 1, "runs": 30, "tokens": seq_len}

    monkeypatch.setattr(measure, "time_onnx", fake_time)
    for budget, want in ((20, 6), (10, 4), (7.5, 3), (3, 1), (2, None)):
        timed.clear()
        got = measure.measure_student(budget, 64, lambda m: None)
        assert (got["chosen"] or {}).get("layers") == want, budget
        assert len(timed) <= 4 and len(set(timed)) == len(timed)


class _Handler(BaseHTTPRequestHandler):
    delay = 0.05
    usage = True

    def log_message(self, *a):
        pass

    def _send(self, code, body):
        raw = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self._send(200, {"data": [{"id": "fake-llm"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(self.delay)
        answer = {"choices": [{"message": {"role": "assistant", "content": "ok " * body["max_tokens"]}}]}
        if self.usage:
            answer["usage"] = {"prompt_tokens": 100, "completion_tokens": body["max_tokens"]}
        self._send(200, answer)


@pytest.fixture
def fake_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_server_timing_from_usage_counts(fake_server):
    got = measure.measure_server(fake_server, None, seq_len=64, gen_tokens=16, runs=4)
    assert got["model"] == "fake-llm" and got["tokens_out"] == 16
    assert got["p50_ms"] >= 50 and got["p95_ms"] >= got["p50_ms"]
    assert got["tokens_per_s"] == pytest.approx(16 / (got["p50_ms"] / 1000), rel=0.3)  # 16 tokens per ~50 ms


def test_server_without_usage_or_unreachable_is_a_one_line_error(fake_server, monkeypatch):
    monkeypatch.setattr(_Handler, "usage", False)
    with pytest.raises(UserError, match="usage.completion_tokens"):
        measure.measure_server(fake_server, "m", seq_len=16, gen_tokens=8, runs=1)
    with pytest.raises(UserError, match="ConnectError"):
        measure.measure_server("http://127.0.0.1:9/v1", "m", seq_len=16, gen_tokens=8, runs=1, timeout=5)


def test_measured_cost_and_evidence_render(fake_server, monkeypatch):
    """--measure with a server teacher: the evidence and the cost rows are the measured ones."""
    fake_student = {"target": "avx2", "seq_len": 64, "truncated_to": None, "budget_ms": 50,
                    "by_layers": {6: {"layers": 6, "p50_ms": 4.0, "p95_ms": 5.0, "cpu_p50_ms": 3.6, "runs": 30,
                                      "tokens": 64, "fits": True}},
                    "chosen": {"layers": 6, "p50_ms": 4.0, "p95_ms": 5.0, "cpu_p50_ms": 3.6, "runs": 30, "tokens": 64,
                               "fits": True}}
    monkeypatch.setattr(measure, "measure_student", lambda latency, seq_len, progress: fake_student)
    res = CliRunner().invoke(cli, ["recommend", "--task", "classification", "--latency-ms", "50", "--qps", "500",
                                   "--no-existing-bert", "--labeled", "0", "--seq-len", "64", "--measure",
                                   "--teacher", fake_server, "--gpu-hour-price", "2"])
    assert res.exit_code == 0, res.output
    text = res.output
    assert "Evidence, measured on this machine" in text and "ESTIMATES" not in text
    assert "p95 5.0 ms" in text and "vs --latency-ms 50: fits" in text
    assert "your server" in text and "tokens/s" in text and "GPU-hours per 1M" in text
    # cost of the student from the measured CPU time: 3.6 ms x 1M / 3600 s = 1.0 core-hour
    assert "1.00 CPU-core-hours per 1M" in text


@pytest.mark.slow
def test_printed_measure_command_measures_for_real(tmp_path):
    """The `--measure` next step as printed: the real student (int8 ONNX, cached) and the embedded teacher."""
    out = json.loads(CliRunner().invoke(cli, ["recommend", "--task", "classification", "--latency-ms", "50", "--qps", "500",
                                              "--no-existing-bert", "--labeled", "0", "--seq-len", "32", "--json"]).output)
    cmd = out["next"]["steps"][0]["run"]
    assert cmd.endswith("--measure")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", *shlex.split(cmd)[1:], "--json"], capture_output=True,
                          text=True, timeout=1200, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout)
    ev = got["evidence"]
    assert ev["student"]["by_layers"] and all(r["p95_ms"] >= r["p50_ms"] > 0 for r in ev["student"]["by_layers"].values())
    assert ev["teacher"]["kind"] == "local" and ev["teacher"]["tokens_per_s"] > 0 and ev["teacher"]["score_p50_ms"] > 0
    assert got["cost"]["measured"]
    chosen = ev["student"]["chosen"]
    if chosen:  # the config's layer count is the measured one
        assert f"layers: {chosen['layers']}  # keep the bottom N layers: measured: {chosen['layers']} of 6 layers" in got["next"]["files"][0]["content"]
    # second call: the exports are cached, nothing is exported again
    msgs = []
    start = time.perf_counter()
    measure.measure_student(50, 32, msgs.append)
    assert not any("exporting" in m for m in msgs) and time.perf_counter() - start < 60
