"""A fault-injecting OpenAI-compatible HTTP server for tests (127.0.0.1 only).

Either answers itself with a tiny deterministic "model" (``upstream=None``: a text containing
one of ``POSITIVE_WORDS`` is positive, anything else negative) or forwards every request to a real
server (``upstream="http://127.0.0.1:PORT"``). Before answering it consumes one entry of
``faults`` per POST request:

  "429"      -> HTTP 429 with Retry-After: 0
  "500"      -> HTTP 500
  "hang"     -> sleep ``hang_s`` seconds, then close without an answer (client times out)
  "garbage"  -> HTTP 200 with a body that is not JSON
  "drop"     -> close the connection without any response
  "ok"       -> normal answer
  "trickle"  -> HTTP 200 with the right Content-Length, then the body one byte every ``trickle_s``
  "slowhead" -> the status line and headers themselves one byte every ``trickle_s``
  "huge"     -> HTTP 200, no Content-Length, ``huge_bytes`` of junk streamed until the client hangs up
  "redirect" -> HTTP 301 to ``redirect_to`` (a URL with credentials, to check they are never printed)
  "empty"    -> HTTP 200 with an empty body
  "overflow" -> a normal answer whose label logprob is 800 (``math.exp`` overflows on it)

``text_faults`` maps a substring of the prompt to a fault applied to every request for a text
containing it (e.g. ``{"poison": "overflow", "doomed": "500"}``), before ``faults`` is consulted.

After ``faults`` is used up, ``default_fault`` applies to every further request (default "ok").
``logprobs=False`` answers without logprobs (text only); ``answer_text`` overrides the text.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POSITIVE_WORDS = ("good", "great", "fun", "love", "best", "charming", "wonderful")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultServer:
    def __init__(self, upstream: str | None = None, faults=(), default_fault: str = "ok", hang_s: float = 2.0,
                 logprobs: bool = True, answer_text: str | None = None, model: str = "fake-model",
                 max_logprobs: int = 1000, labels_only_beyond: int | None = None, trickle_s: float = 0.5,
                 huge_bytes: int = 300 * 1024 * 1024, redirect_to: str = "http://user:hunter2@127.0.0.1:9/v1",
                 text_faults: dict | None = None, delay_s: float = 0.0):
        self.upstream = upstream.rstrip("/") if upstream else None
        self.faults = list(faults)
        self.default_fault = default_fault
        self.hang_s = hang_s
        self.logprobs = logprobs
        self.answer_text = answer_text
        self.model = model
        self.max_logprobs = max_logprobs  # more requested -> HTTP 400 (like vLLM's cap of 20)
        self.labels_only_beyond = labels_only_beyond  # label tokens listed only when more are requested
        self.trickle_s = trickle_s
        self.huge_bytes = huge_bytes
        self.redirect_to = redirect_to
        self.text_faults = dict(text_faults or {})
        self.delay_s = delay_s  # every normal answer waits this long (to keep requests in flight)
        self.bytes_sent = 0  # junk bytes of "huge" answers actually written
        self.requests: list[dict] = []  # POSTs: {"path", "fault", "body", "auth"}
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def next_fault(self) -> str:
        with self.lock:
            return self.faults.pop(0) if self.faults else self.default_fault

    # -------------------------------------------------------------------- fake model
    def fake_answer(self, path: str, body: dict) -> dict:
        if path.endswith("/chat/completions"):
            last = body["messages"][-1]["content"]  # the user turn: the text + the instruction
        else:
            text_in = body["prompt"]
            # the text being classified is the last "<Field>: ..." block of the prompt (after any shots)
            last = text_in.rsplit("\n\n", 1)[-1] if "\n\n" in text_in else text_in
        pos = any(w in last.lower() for w in POSITIVE_WORDS)
        p_pos = 0.8 if pos else 0.15
        top = {" positive": math.log(p_pos), " negative": math.log(0.95 - p_pos), " the": math.log(0.05)}
        n_req = body.get("top_logprobs") if path.endswith("/chat/completions") else body.get("logprobs")
        if self.labels_only_beyond is not None and isinstance(n_req, int) and n_req <= self.labels_only_beyond:
            top = {" the": math.log(0.3), " I": math.log(0.2)}  # flat: no label word in the top N
        word = self.answer_text if self.answer_text is not None else (" positive" if pos else " negative")
        if path.endswith("/chat/completions"):
            choice = {"index": 0, "message": {"role": "assistant", "content": word.strip()}, "finish_reason": "stop"}
            if self.logprobs and body.get("logprobs"):
                choice["logprobs"] = {"content": [{"token": word.strip(), "logprob": max(top.values()),
                                                   "top_logprobs": [{"token": t.strip(), "logprob": v} for t, v in top.items()]}]}
            return {"object": "chat.completion", "model": self.model, "choices": [choice]}
        choice = {"index": 0, "text": word, "finish_reason": "length"}
        if self.logprobs and body.get("logprobs"):
            choice["logprobs"] = {"tokens": [word], "token_logprobs": [max(top.values())], "top_logprobs": [top],
                                  "text_offset": [0]}
        else:
            choice["logprobs"] = None
        return {"object": "text_completion", "model": self.model, "choices": [choice]}

    # -------------------------------------------------------------------- HTTP
    def _handler(self):
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, payload: bytes, ctype="application/json", headers=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, method: str, data: bytes | None):
                req = urllib.request.Request(srv.upstream + self.path[len("/v1"):] if self.path.startswith("/v1") and srv.upstream.endswith("/v1") else srv.upstream + self.path,
                                             data=data, method=method, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=300) as r:
                        self._send(r.status, r.read())
                except urllib.error.HTTPError as e:
                    self._send(e.code, e.read())

            def do_GET(self):
                self.path = self.path.split("?", 1)[0]  # query parameters (e.g. ?api_key=) are not routes
                if srv.upstream:
                    return self._forward("GET", None)
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, json.dumps({"object": "list", "data": [{"id": srv.model, "object": "model"}]}).encode())
                self._send(404, b'{"error": "not found"}')

            def do_POST(self):
                self.path, _, query = self.path.partition("?")
                n = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                prompt = json.dumps(body.get("messages") or body.get("prompt") or "")
                fault = next((f for key, f in srv.text_faults.items() if key in prompt), None) or srv.next_fault()
                with srv.lock:
                    srv.requests.append({"path": self.path, "fault": fault, "body": body, "query": query,
                                         "auth": self.headers.get("Authorization")})
                if fault == "429":
                    return self._send(429, b'{"error": "rate limited"}', headers={"Retry-After": "0"})
                if fault == "500":
                    return self._send(500, b'{"error": "internal"}')
                n_req = body.get("top_logprobs") if "chat" in self.path else body.get("logprobs")
                if isinstance(n_req, int) and n_req > srv.max_logprobs and fault == "ok":
                    return self._send(400, b'{"error": "requested too many top-k values"}')
                if fault == "401":
                    return self._send(401, b'{"error": "bad key"}')
                if fault == "garbage":
                    return self._send(200, b"<html>\x00not json", ctype="text/html")
                if fault == "hang":
                    time.sleep(srv.hang_s)
                    self.close_connection = True
                    return
                if fault == "drop":
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if fault == "redirect":
                    return self._send(301, b"", headers={"Location": srv.redirect_to})
                if fault == "empty":
                    return self._send(200, b"")
                if fault == "huge":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    block = b"[" + b"0," * 32767 + b"0"
                    try:
                        while srv.bytes_sent < srv.huge_bytes:
                            self.wfile.write(block)
                            with srv.lock:
                                srv.bytes_sent += len(block)
                    except OSError:  # the client hung up: what a body cap should make it do
                        pass
                    return
                if srv.upstream:
                    return self._forward("POST", raw)
                if srv.delay_s:
                    time.sleep(srv.delay_s)
                answer = srv.fake_answer(self.path, body)
                if fault == "overflow":
                    choice = answer["choices"][0]
                    lp = choice.get("logprobs") or {}
                    if lp.get("top_logprobs"):
                        lp["top_logprobs"][0] = {k: 800.0 for k in lp["top_logprobs"][0]}
                    for c in lp.get("content") or []:
                        for e in c.get("top_logprobs") or []:
                            e["logprob"] = 800.0
                payload = json.dumps(answer).encode()
                if fault == "slowhead":
                    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}"
                            f"\r\nX-Padding: {'x' * 2000}\r\n\r\n").encode()
                    try:
                        for i in range(len(head)):
                            self.wfile.write(head[i:i + 1])
                            self.wfile.flush()
                            time.sleep(srv.trickle_s)
                        self.wfile.write(payload)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                if fault == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    try:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i:i + 1])
                            self.wfile.flush()
                            time.sleep(srv.trickle_s)
                    except OSError:
                        pass
                    self.close_connection = True
                    return
                self._send(200, payload)

        return H
