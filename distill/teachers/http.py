"""The one HTTP call of the server teacher: a total deadline, a body cap, retries, clear reasons.

``HttpCaller.call_json(method, path, payload)`` sends one request and returns the JSON object of a
2xx answer. Every attempt is bounded: the answer -- headers and body -- must be complete within
``timeout`` seconds of the request being sent (every socket read and write waits at most until that
deadline, so a server that trickles one byte every half second is cut off), and a body larger than
``max_body`` bytes is refused without being read in full. 408/409/425/429/5xx, timeouts, dropped
connections and unparseable bodies are retried with exponential backoff and jitter
(``Retry-After`` honoured, capped); a redirect, a 4xx or the last failed attempt is a one-line
:class:`UserError` that says what happened in words.

``redact_url`` strips the userinfo (``user:password@``) and key-like query parameters from a URL:
every URL that reaches a message, a log or a file goes through it.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from core.errors import UserError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"  # the environment variable a server's key is read from
# a teacher server's requests: seconds for one, retries of a failed one, how many run at once
DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES, DEFAULT_CONCURRENCY = 60.0, 4, 4
DEFAULT_MAX_BODY = 16 * 1024 * 1024  # a completion with top-200 logprobs is well under 1 MB
SECRET_PARAM = re.compile(r"(key|token|secret|passw|pwd|auth|sig|credential|session)", re.I)


def redact_url(url: str | None) -> str | None:
    """``url`` without ``user:password@`` and with key-like query values replaced by ``***``."""
    if not url or "://" not in str(url):
        return url
    try:
        u = urlsplit(str(url))
    except ValueError:
        return "<unparseable URL>"
    netloc = u.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = u.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((u.scheme, netloc, u.path, query, ""))


def one_line(s, n: int = 160) -> str:
    return " ".join(str(s).split())[:n]


_local = threading.local()  # the deadline of the attempt running in this thread (time.monotonic())


def _remaining(timeout: float | None, kind: str):
    """``timeout`` clamped to what is left of this thread's attempt deadline (raises when none is)."""
    deadline = getattr(_local, "deadline", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        import httpcore

        raise {"connect": httpcore.ConnectTimeout, "write": httpcore.WriteTimeout}.get(kind, httpcore.ReadTimeout)(
            "deadline of the request passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream:
    """A network stream whose every read/write waits at most until the attempt's deadline, so the
    headers of an answer are bounded like its body (a server trickling header bytes is cut off)."""

    def __init__(self, inner):
        self._inner = inner

    def read(self, max_bytes, timeout=None):
        return self._inner.read(max_bytes, _remaining(timeout, "read"))

    def write(self, buffer, timeout=None):
        return self._inner.write(buffer, _remaining(timeout, "write"))

    def close(self):
        return self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout, "connect")))

    def get_extra_info(self, info):
        return self._inner.get_extra_info(info)


class _DeadlineBackend:
    """httpcore network backend wrapper: connections whose reads and writes obey the deadline."""

    def __init__(self, inner):
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._inner.connect_tcp(host, port, _remaining(timeout, "connect"), local_address,
                                                       socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._inner.connect_unix_socket(path, _remaining(timeout, "connect"), socket_options))

    def sleep(self, seconds):
        return self._inner.sleep(seconds)


def _bound_every_read(client) -> bool:
    """Make every connection of ``client`` (direct and through proxies) obey the attempt deadline.
    Uses httpx/httpcore internals (``_transport._pool._network_backend``); when they are not
    there, the deadline is still checked between the chunks of the body."""
    done = False
    for transport in [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)
            done = True
    return done


class Failure(Exception):
    """Why an attempt failed, in words, and how long the server asked us to wait (Retry-After)."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Fatal(Exception):
    """Not worth retrying (a redirect, a 4xx other than the retryable ones)."""


class HttpCaller:
    """A bounded, retrying JSON-over-HTTP client for one base URL (thread-safe)."""

    def __init__(self, base_url: str, *, headers: dict | None = None, params: list | None = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = DEFAULT_MAX_RETRIES, retry_base: float = 0.5, retry_cap: float = 20.0,
                 max_body: int = DEFAULT_MAX_BODY, max_connections: int = 8, api_key_env: str = DEFAULT_API_KEY_ENV):
        import httpx

        self.httpx = httpx
        self.base_url = base_url  # may carry userinfo: used for requests only, never printed
        self.public_url = redact_url(base_url)
        self.params = list(params or [])
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.retry_base, self.retry_cap = float(retry_base), float(retry_cap)
        self.max_body = int(max_body)
        self.api_key_env = api_key_env
        self.client = httpx.Client(timeout=httpx.Timeout(self.timeout), headers=headers or {},
                                   follow_redirects=False, limits=httpx.Limits(max_connections=max_connections))
        self.every_read_bounded = _bound_every_read(self.client)
        self.stats = {"requests": 0, "retries": 0}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] = self.stats.get(key, 0) + 1

    # ------------------------------------------------------------------ one attempt
    def attempt(self, method: str, path: str, payload: dict | None = None):
        """One request: ``(status, headers, body bytes)``; raises ``Failure`` (retryable) or ``_Fatal``."""
        url = self.base_url + path
        deadline = time.monotonic() + self.timeout
        self._count("requests")
        _local.deadline = deadline
        try:
            with self.client.stream(method, url, json=payload, params=self.params or None) as r:
                status, headers = r.status_code, r.headers
                if 300 <= status < 400:
                    loc = redact_url(headers.get("location") or "") or "nowhere"
                    raise _Fatal(f"server {self.public_url}{path} answered with a redirect (HTTP {status} to "
                                 f"{one_line(loc, 120)}); use the final URL as the teacher")
                declared = headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self.max_body:
                    raise Failure(f"response body of {int(declared) / 1e6:.1f} MB exceeds the "
                                  f"{self.max_body / 1e6:.0f} MB limit")
                chunks, size = [], 0
                for chunk in r.iter_bytes():  # decoded (gzip...) chunk by chunk: the cap holds after decoding
                    size += len(chunk)
                    if size > self.max_body:
                        raise Failure(f"response body exceeds the {self.max_body / 1e6:.0f} MB limit")
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise Failure(f"timed out (no complete answer within {self.timeout:g}s: the server is "
                                      f"sending too slowly)")
                body = b"".join(chunks)
        except self.httpx.TimeoutException:
            if time.monotonic() >= deadline - 0.05:
                raise Failure(f"timed out (no complete answer within {self.timeout:g}s)") from None
            raise Failure(f"timed out after {self.timeout:g}s") from None
        except self.httpx.TransportError as exc:
            raise Failure(f"connection failed ({type(exc).__name__}: {one_line(exc, 80)})") from None
        finally:
            _local.deadline = None
        return status, headers, body

    # ------------------------------------------------------------------ with retries
    def call_json(self, method: str, path: str, payload: dict | None = None, attempts: int | None = None) -> dict:
        """The JSON object of a 2xx answer, retrying what is worth retrying; else a one-line UserError."""
        total = (self.max_retries + 1) if attempts is None else attempts
        last: Failure | None = None
        for attempt in range(total):
            if attempt:
                self._count("retries")
                delay = min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)) * (0.5 + random.random())
                if last is not None and last.retry_after is not None:
                    delay = max(delay, min(self.retry_cap, last.retry_after))
                time.sleep(delay)
            try:
                status, headers, body = self.attempt(method, path, payload)
            except Failure as f:
                last = f
                continue
            except _Fatal as exc:
                raise UserError(str(exc)) from None
            if status in RETRY_STATUS:
                last = Failure(self.status_reason(status, body), _retry_after(headers.get("retry-after")))
                continue
            if status in (401, 403):
                raise UserError(f"server {self.public_url} refused the request (HTTP {status}); "
                                f"set the API key in ${self.api_key_env}")
            if status >= 400:
                raise UserError(f"server {self.public_url}{path} answered HTTP {status}: "
                                f"{one_line(_text(body))}")
            try:
                obj = json.loads(body)
            except (ValueError, RecursionError):
                last = Failure("unparseable response (" + (repr(one_line(_text(body), 60)) if body.strip()
                                                           else "an empty body") + ")")
                continue
            if not isinstance(obj, dict):
                last = Failure(f"unparseable response (a JSON {type(obj).__name__}, not an object)")
                continue
            return obj
        reason = last.reason if last is not None else "no attempt"
        raise UserError(f"server {self.public_url}{path} failed after {total} attempts: {reason}")

    @staticmethod
    def status_reason(status: int, body: bytes) -> str:
        words = {429: "rate limited (HTTP 429)", 408: "request timeout (HTTP 408)", 409: "conflict (HTTP 409)",
                 425: "too early (HTTP 425)", 500: "server error (HTTP 500)", 502: "bad gateway (HTTP 502)",
                 503: "service unavailable (HTTP 503)", 504: "gateway timeout (HTTP 504)"}
        detail = one_line(_text(body), 80)
        return words.get(status, f"HTTP {status}") + (f": {detail}" if detail else "")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        v = float(value)
    except ValueError:
        return None
    return v if 0 <= v < 1e6 else None


def _text(body: bytes) -> str:
    return body[:2000].decode("utf-8", errors="replace")
