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
key is read from the environment variable named by ``api_key_env`` and never stored or logged;
credentials in the URL (``user:pw@``, ``?api_key=``) are used for requests but every URL that is
printed or written is redacted (``distill.teachers.http.redact_url``). Every request goes through
:class:`distill.teachers.http.HttpCaller` (a total deadline and a body cap per attempt).

``score_each`` hands every answer to the caller as it arrives (the labelling run caches it at
once), whatever happens to the other texts in flight; an answer that cannot be read (a logprob
that is not a log-probability, a malformed body) abstains with its reason.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from urllib.parse import parse_qsl, urlparse

import numpy as np

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.teachers.prompts import Calibrator, Prompt
from distill.teachers.base import Scored, Teacher, parsed_or_abstained, uniform
from distill.teachers.http import (DEFAULT_API_KEY_ENV, DEFAULT_CONCURRENCY, DEFAULT_MAX_BODY, DEFAULT_MAX_RETRIES,
                                   DEFAULT_TIMEOUT, HttpCaller, redact_url)

MAX_LOGPROB = 1e-3  # a log-probability is <= 0; a little rounding above 0 is tolerated


class BadAnswer(ValueError):
    """An answer the server sent that cannot be read as label probabilities (it abstains)."""


def normalize_base_url(url: str) -> str:
    """``scheme://[userinfo@]host[:port]/path`` without the query (see :func:`url_query`)."""
    try:
        u = urlparse(url.strip())
        u.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError:
        raise UserError(f"bad server URL {redact_url(url)!r}; expected http(s)://host:port/v1") from None
    if u.scheme not in {"http", "https"} or not u.hostname:
        raise UserError(f"bad server URL {redact_url(url)!r}; expected http(s)://host:port/v1")
    path = u.path.rstrip("/")
    if path == "":
        path = "/v1"
    return f"{u.scheme}://{u.netloc}{path}"


def url_query(url: str) -> list[tuple[str, str]]:
    """The query parameters of a server URL (e.g. ``?api-version=...``), sent with every request."""
    return parse_qsl(urlparse(url.strip()).query, keep_blank_values=True)


class ServerTeacher(Teacher):
    kind = "server"

    def __init__(
        self,
        base_url: str,
        labelset: LabelSet,
        prompt: Prompt | None = None,
        calibrator: Calibrator | None = None,
        server_model: str | None = None,
        api_key_env: str | None = DEFAULT_API_KEY_ENV,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_base: float = 0.5,
        retry_cap: float = 20.0,
        top_logprobs: int = 20,
        wide_logprobs: int = 200,
        max_tokens: int | None = None,
        template: str | None = None,
        calibrate: str | None = None,
        shots=(),
        probe: bool = True,
        max_body: int | None = None,
        **_ignored,
    ):
        super().__init__(labelset, prompt, calibrator, template=template, calibrate=calibrate, shots=shots)
        import httpx

        self.httpx = httpx
        self.base_url = normalize_base_url(base_url)  # may hold user:pw@ -- for requests only
        self.public_url = redact_url(self.base_url + ("?" + base_url.split("?", 1)[1] if "?" in base_url else ""))
        if concurrency < 1:
            raise UserError(f"--concurrency must be at least 1, got {concurrency}")
        if timeout is None or not timeout > 0 or not math.isfinite(timeout):
            raise UserError(f"--timeout must be a positive number of seconds, got {timeout}")
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
        self.api_key_env = api_key_env or DEFAULT_API_KEY_ENV
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.http = HttpCaller(self.base_url, headers=headers, params=url_query(base_url), timeout=self.timeout,
                               max_retries=self.max_retries, retry_base=self.retry_base, retry_cap=self.retry_cap,
                               max_body=max_body or DEFAULT_MAX_BODY, max_connections=self.concurrency * 2, api_key_env=self.api_key_env)
        self.client = self.http.client
        self.stats = {"requests": 0, "retries": 0, "no_logprobs": 0}
        self._lock = threading.Lock()
        self.server_model = server_model
        if probe:
            self._probe()
        if not self.server_model:
            raise UserError(f"server {self.public_url} lists no model; pass --server-model NAME")
        # the public (redacted) URL: a password never feeds a hash that is written to disk
        self.fingerprint = hashlib.sha256(f"server|{self.public_url}|{self.server_model}".encode()).hexdigest()[:16]

    # ------------------------------------------------------------------------------ HTTP
    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        try:
            return self.http.call_json(method, path, payload)
        finally:
            with self._lock:
                self.stats["requests"] = self.http.stats["requests"]
                self.stats["retries"] = self.http.stats["retries"]

    def _probe(self) -> None:
        """Check the server answers; pick its first model when none was named."""
        try:
            obj = self._request("GET", "/models")
        except UserError as exc:
            msg = str(exc.message)
            if "refused the request" in msg or "redirect" in msg:
                raise
            reason = msg.split(" attempts: ", 1)[-1]
            if "connection failed" in reason or "timed out" in reason:
                raise UserError(f"cannot reach server {self.public_url} ({reason} after {self.max_retries + 1} "
                                f"attempts)") from None
            if self.server_model:  # no usable /models list (some proxies): the model is named, go on
                return
            raise UserError(f"server {self.public_url} has no usable /models list ({reason[:120]}); pass "
                            f"--server-model NAME") from None
        if not self.server_model:
            data = obj.get("data")
            try:
                first = data[0]["id"] if isinstance(data, list) and data else None
            except (KeyError, TypeError, IndexError):
                first = None
            self.server_model = str(first) if isinstance(first, (str, int)) and str(first).strip() else None

    def close(self) -> None:
        self.http.close()

    def describe(self) -> dict:
        return {"kind": self.kind, "fingerprint": self.fingerprint, "base_url": self.public_url,
                "server_model": self.server_model, "api_key_env": self.api_key_env,
                "concurrency": self.concurrency, "timeout": self.timeout, "max_retries": self.max_retries,
                "top_logprobs": self.top_logprobs, "stats": dict(self.stats)}

    # ------------------------------------------------------------------------------ generation (task ner)
    def generate(self, text: str, max_tokens: int = 256) -> tuple[str, list[str], list[float] | None]:
        """The server's greedy answer (``/chat/completions``, temperature 0, ``logprobs``): (answer,
        its tokens, their log-probabilities; None when the server sends none)."""
        body = {"model": self.server_model, "temperature": 0, "messages": self.prompt.messages(text),
                "max_tokens": max_tokens, "logprobs": True}
        obj = self._request("POST", "/chat/completions", body)
        try:
            choice = obj["choices"][0]
            answer = choice["message"].get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UserError(f"the server at {self.public_url} answered /chat/completions without a message") from None
        content = ((choice.get("logprobs") or {}).get("content")) if isinstance(choice, dict) else None
        if isinstance(content, list) and content and all(isinstance(c, dict) for c in content):
            tokens = [str(c.get("token", "")) for c in content]
            lps = [float(c["logprob"]) if isinstance(c.get("logprob"), (int, float)) else None for c in content]
            if "".join(tokens) == answer:
                return answer, tokens, lps
        return answer, [], None

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
        """One text's answer. An answer that cannot be read abstains with its reason; a request
        that fails for good (after the retries) raises: nothing was received."""
        return self._one_raw(text)

    def _parse_safe(self, obj: dict) -> Scored:
        try:
            return self._parse(obj)
        except (BadAnswer, OverflowError, ValueError, TypeError, KeyError, IndexError) as exc:
            with self._lock:
                self.stats["bad_answers"] = self.stats.get("bad_answers", 0) + 1
            reason = str(exc) if isinstance(exc, BadAnswer) else f"unreadable answer ({type(exc).__name__}: {exc})"
            return Scored(uniform(len(self.labelset)), "abstained", None, reason=" ".join(reason.split())[:200])

    def _one_raw(self, text: str) -> Scored:
        path, body = self._payload(text)
        try:
            obj = self._request("POST", path, body)
        except UserError as exc:
            # Some APIs cap logprobs (OpenAI completions: 5, chat: 20): retry once with 5.
            if "logprob" in str(exc).lower() and self.top_logprobs > 5:
                self.top_logprobs = 5
                return self._one_raw(text)
            raise
        res = self._parse_safe(obj)
        if res.source != "scored" and res.had_logprobs and self._wide_ok is not False:
            path, body = self._payload(text, self.wide_logprobs)
            try:
                wide = self._parse_safe(self._request("POST", path, body))
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
        out = [(t, v) for t, v in out if v is not None and math.isfinite(v)]
        for tok, v in out:
            if v > MAX_LOGPROB:
                raise BadAnswer(f"the server sent logprob {v:g} for {tok[:20]!r}; a log-probability is <= 0")
        return out

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
        out: list[Scored | None] = [None] * len(texts)

        def keep(i: int, r: Scored) -> None:
            out[i] = r

        self.score_each(texts, keep)
        return out  # type: ignore[return-value]

    def score_each(self, texts: list[str], sink) -> None:
        """``sink(i, Scored)`` for each text as its answer arrives (in completion order).

        A text whose request fails for good stops the run: requests not yet sent are cancelled, the
        ones in flight finish and reach ``sink``, then the first failure is raised.
        """
        texts = list(texts)
        if not texts:
            return
        if self.concurrency == 1 or len(texts) == 1:
            for i, t in enumerate(texts):
                sink(i, self._one(t))
                self.calls += 1
            return
        ex = ThreadPoolExecutor(max_workers=min(self.concurrency, len(texts)))
        try:
            futures = {ex.submit(self._one, t): i for i, t in enumerate(texts)}
            pending = set(futures)
            error: BaseException | None = None
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    if f.cancelled():
                        continue
                    exc = f.exception()
                    if exc is not None:
                        if error is None:
                            error = exc
                            for p in pending:  # not started yet: never sent
                                p.cancel()
                        continue
                    sink(futures[f], f.result())
                    self.calls += 1
            if error is not None:
                raise error
        finally:
            ex.shutdown(wait=True, cancel_futures=True)
