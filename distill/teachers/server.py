"""An OpenAI-compatible server as the teacher: vLLM, Ollama, llama.cpp server, OpenAI.

Completion templates go to ``POST {base}/completions`` (``logprobs=N``: the top-N first tokens);
chat templates to ``POST {base}/chat/completions`` (``logprobs=true, top_logprobs=N``). A label's
probability is the mass of the top first tokens that start its verbalizer (``" pos"``,
``"positive"``, ``"Positive"`` ... all count), normalised over the labels; a label absent from
the top-N gets half the smallest top-N probability. When the server returns no usable
logprobs, the generated text is mapped to a label (source ``parsed``) or recorded as an
abstention (``abstained``).

Requests run on a bounded thread pool (``concurrency``), each with a timeout; 429, 5xx,
timeouts, dropped connections and unparseable bodies are retried with exponential backoff and
jitter (``Retry-After`` honoured); after the last retry a one-line :class:`UserError`. The API
key is read from the environment variable named by ``api_key_env`` and never stored or logged.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import numpy as np

from advisor.errors import UserError
from distill.labelset import LabelSet
from distill.prompts import Calibrator, Prompt
from distill.teachers.base import Scored, Teacher, parsed_or_abstained

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Retryable(Exception):
    pass


def _one_line(s: str, n: int = 160) -> str:
    return " ".join(str(s).split())[:n]


def normalize_base_url(url: str) -> str:
    u = urlparse(url.strip())
    if u.scheme not in {"http", "https"} or not u.netloc:
        raise UserError(f"bad server URL {url!r}; expected http(s)://host:port/v1")
    path = u.path.rstrip("/")
    if path == "":
        path = "/v1"
    return f"{u.scheme}://{u.netloc}{path}"


class ServerTeacher(Teacher):
    kind = "server"

    def __init__(
        self,
        base_url: str,
        labelset: LabelSet,
        prompt: Prompt | None = None,
        calibrator: Calibrator | None = None,
        server_model: str | None = None,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout: float = 60.0,
        max_retries: int = 4,
        retry_base: float = 0.5,
        retry_cap: float = 20.0,
        top_logprobs: int = 20,
        wide_logprobs: int = 200,
        max_tokens: int | None = None,
        template: str | None = None,
        calibrate: str | None = None,
        shots=(),
        probe: bool = True,
        **_ignored,
    ):
        super().__init__(labelset, prompt, calibrator, template=template, calibrate=calibrate, shots=shots)
        import httpx

        self.httpx = httpx
        self.base_url = normalize_base_url(base_url)
        if concurrency < 1:
            raise UserError(f"--concurrency must be at least 1, got {concurrency}")
        if timeout is None or timeout <= 0:
            raise UserError(f"--timeout must be positive, got {timeout}")
        if max_retries < 0:
            raise UserError(f"--max-retries must be >= 0, got {max_retries}")
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_base, self.retry_cap = float(retry_base), float(retry_cap)
        self.top_logprobs = int(top_logprobs)
        # When no label word is among the top-N first tokens (a small model's flat distribution),
        # ask once more for the top ``wide_logprobs``; servers that refuse (vLLM caps at 20,
        # OpenAI chat at 20) are remembered and not asked again.
        self.wide_logprobs = int(wide_logprobs)
        self._wide_ok: bool | None = None if self.wide_logprobs > self.top_logprobs else False
        self.max_tokens = max_tokens
        self.api_key_env = api_key_env or "OPENAI_API_KEY"
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(timeout=httpx.Timeout(self.timeout), headers=headers,
                                   limits=httpx.Limits(max_connections=self.concurrency * 2))
        self.stats = {"requests": 0, "retries": 0, "no_logprobs": 0}
        self._lock = threading.Lock()
        self.server_model = server_model
        if probe:
            self._probe()
        if not self.server_model:
            raise UserError(f"server {self.base_url} lists no model; pass --server-model NAME")
        self.fingerprint = hashlib.sha256(f"server|{self.base_url}|{self.server_model}".encode()).hexdigest()[:16]

    # ------------------------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        url = self.base_url + path
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.stats["retries"] += 1
                delay = min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)) * (0.5 + random.random())
                if isinstance(last, tuple):  # (reason, retry-after seconds)
                    delay = max(delay, min(self.retry_cap, last[1]))
                    last = last[0]
                time.sleep(delay)
            try:
                with self._lock:
                    self.stats["requests"] += 1
                r = self.client.request(method, url, json=payload)
            except self.httpx.TimeoutException:
                last = f"timed out after {self.timeout:g}s"
                continue
            except self.httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {_one_line(exc, 80)})"
                continue
            if r.status_code in RETRY_STATUS:
                reason = f"HTTP {r.status_code} {_one_line(r.text, 80)}"
                ra = r.headers.get("retry-after")
                try:
                    last = (reason, float(ra)) if ra else reason
                except ValueError:
                    last = reason
                continue
            if r.status_code == 401 or r.status_code == 403:
                raise UserError(f"server {self.base_url} refused the request (HTTP {r.status_code}); "
                                f"set the API key in ${self.api_key_env}")
            if r.status_code >= 400:
                raise UserError(f"server {url} answered HTTP {r.status_code}: {_one_line(r.text)}")
            try:
                obj = r.json()
                if not isinstance(obj, dict):
                    raise ValueError("not a JSON object")
            except ValueError:
                last = f"unparseable response ({_one_line(r.text, 60)!r})"
                continue
            return obj
        raise UserError(f"server {url} failed after {self.max_retries + 1} attempts: {last}")

    def _probe(self) -> None:
        """Check the server answers; pick its first model when none was named."""
        url = self.base_url + "/models"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                r = self.client.get(url)
            except (self.httpx.TimeoutException, self.httpx.TransportError) as exc:
                last = f"{type(exc).__name__}"
                continue
            if r.status_code in RETRY_STATUS:
                last = f"HTTP {r.status_code}"
                continue
            if r.status_code in (401, 403):
                raise UserError(f"server {self.base_url} refused the request (HTTP {r.status_code}); "
                                f"set the API key in ${self.api_key_env}")
            if not self.server_model and r.status_code == 200:
                try:
                    data = r.json().get("data") or []
                    self.server_model = data[0]["id"] if data else None
                except (ValueError, AttributeError, KeyError, IndexError, TypeError):
                    pass
            return
        raise UserError(f"cannot reach server {self.base_url} ({last} after {self.max_retries + 1} attempts)")

    def close(self) -> None:
        self.client.close()

    def describe(self) -> dict:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "base_url": self.base_url,
                "server_model": self.server_model, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "timeout": self.timeout, "max_retries": self.max_retries,
                "top_logprobs": self.top_logprobs, "stats": dict(self.stats)}

    # ------------------------------------------------------------------------------ scoring
    def _payload(self, text: str, n_logprobs: int | None = None) -> tuple[str, dict]:
        p = self.prompt
        n = n_logprobs or self.top_logprobs
        body: dict = {"model": self.server_model, "temperature": 0}
        if p.is_chat:
            body.update(messages=p.messages(text), max_tokens=self.max_tokens or 8, logprobs=True, top_logprobs=n)
            return "/chat/completions", body
        body.update(prompt=p.render(text), max_tokens=self.max_tokens or 3, logprobs=n)
        return "/completions", body

    def _one(self, text: str) -> Scored:
        path, body = self._payload(text)
        try:
            obj = self._request("POST", path, body)
        except UserError as exc:
            # Some APIs cap logprobs (OpenAI completions: 5, chat: 20): retry once with 5.
            if "logprob" in str(exc).lower() and self.top_logprobs > 5:
                self.top_logprobs = 5
                return self._one(text)
            raise
        res = self._parse(obj)
        if res.source != "scored" and res.had_logprobs and self._wide_ok is not False:
            path, body = self._payload(text, self.wide_logprobs)
            try:
                wide = self._parse(self._request("POST", path, body))
            except UserError:
                self._wide_ok = False
                return res
            self._wide_ok = True
            with self._lock:
                self.stats["wide_requests"] = self.stats.get("wide_requests", 0) + 1
            if wide.source == "scored":
                return wide
        return res

    def _parse(self, obj: dict) -> Scored:
        k = len(self.labelset)
        try:
            choice = (obj.get("choices") or [None])[0] or {}
        except (AttributeError, TypeError):
            choice = {}
        if not isinstance(choice, dict):
            choice = {}
        text = choice.get("text")
        if text is None and isinstance(choice.get("message"), dict):
            text = choice["message"].get("content")
        top = self._top_first_token(choice.get("logprobs"))
        if top:
            probs = self._probs_from_top(top)
            if probs is not None:
                return Scored(probs, "scored", None)
        else:
            with self._lock:
                self.stats["no_logprobs"] += 1
        res = Scored(np.full(k, 1.0 / k), "abstained", None) if text is None else parsed_or_abstained(self.labelset, text)
        res.had_logprobs = bool(top)
        return res

    @staticmethod
    def _top_first_token(lp) -> list[tuple[str, float]]:
        """[(token, logprob)] for the first generated token, from either logprobs format."""
        if not isinstance(lp, dict):
            return []
        out: list[tuple[str, float]] = []
        try:
            if isinstance(lp.get("content"), list) and lp["content"]:  # chat format
                first = lp["content"][0]
                for e in first.get("top_logprobs") or []:
                    out.append((str(e["token"]), float(e["logprob"])))
                if not out and "token" in first:
                    out.append((str(first["token"]), float(first["logprob"])))
            elif isinstance(lp.get("top_logprobs"), list) and lp["top_logprobs"]:  # completions format
                first = lp["top_logprobs"][0]
                if isinstance(first, dict):
                    out = [(str(t), float(v)) for t, v in first.items()]
                if not out and lp.get("tokens") and lp.get("token_logprobs"):
                    out = [(str(lp["tokens"][0]), float(lp["token_logprobs"][0]))]
        except (KeyError, TypeError, ValueError, IndexError):
            return []
        return [(t, v) for t, v in out if v is not None and math.isfinite(v)]

    def _probs_from_top(self, top: list[tuple[str, float]]) -> np.ndarray | None:
        words = [w.strip().casefold() for w in self.labelset.words]
        mass = np.zeros(len(words))
        for tok, lp in top:
            t = tok.replace("Ġ", " ").replace("▁", " ").strip().casefold()
            if not t:
                continue
            exact = [i for i, w in enumerate(words) if w == t]
            hits = exact or [i for i, w in enumerate(words) if w.startswith(t)]
            if len(hits) == 1:
                mass[hits[0]] += math.exp(lp)
        if mass.sum() <= 0:
            return None
        floor = min(math.exp(lp) for _, lp in top) / 2
        mass[mass == 0] = floor
        return mass / mass.sum()

    def score(self, texts: list[str]) -> list[Scored]:
        texts = list(texts)
        if not texts:
            return []
        if self.concurrency == 1 or len(texts) == 1:
            out = [self._one(t) for t in texts]
        else:
            ex = ThreadPoolExecutor(max_workers=min(self.concurrency, len(texts)))
            try:
                out = list(ex.map(self._one, texts))
            finally:
                ex.shutdown(wait=True, cancel_futures=True)
        self.calls += len(texts)
        return out
