"""On-device runtime for an exported bundle: needs only ``onnxruntime``, ``tokenizers`` and ``numpy``.

This file is self-contained on purpose: ``advisor export`` copies it into every bundle as
``runtime.py``, so a phone, a board or a server without torch/transformers runs::

    pip install onnxruntime tokenizers numpy
    python BUNDLE/runtime.py BUNDLE "a charming and often affecting journey"
    printf '{"text": "dull"}\\n' | python BUNDLE/runtime.py BUNDLE
    python BUNDLE/runtime.py PAIR_BUNDLE --pair "He left." "He went away."   # a sentence-pair bundle

or from Python::

    from runtime import Bundle            # or: from export.runtime import Bundle
    b = Bundle.load("BUNDLE")             # checks every file against manifest.json (sha256)
    b.predict(["great film", "boring"])   # [{"label": ..., "score": ..., "probs": {...}}, ...]
    b.predict_proba(["great film"])       # (n, k) numpy array, columns in ``b.labels`` order

It must never import torch, transformers, click or anything from this project (tested).

What a bundle is, checked before anything in it is read (``check_manifest``): ``manifest.json`` lists
every file of the bundle (``bench/`` and dotfiles aside) with its size and sha256; a file that is
listed but missing, present but not listed, or different from its entry refuses the bundle, and so
does a bundle whose manifest does not list every file the runtime reads (config, tokenizer,
verification record, each model in ``config.json``). Every file is a regular file inside the
bundle directory: a symlink (to a file elsewhere, or to ``/etc/passwd``) is refused, never followed.
The bytes the runtime uses are the bytes it hashed (read once, checked, then parsed). Malformed
metadata (a manifest entry that is not an object, ``format_version: "abc"``, ``max_length: "abc"``,
more labels than the model has outputs) is a one-line :class:`BundleError`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import socket
import stat
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

BUNDLE_FORMAT = "bert-or-gpt-onnx-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CONFIG = "config.json"
VERIFICATION = "verification.json"
TOKENIZER = "tokenizer.json"
DEFAULT_BATCH_SIZE = 32
REQUIRED = (CONFIG, TOKENIZER, VERIFICATION)  # + every model named in config.json
MAX_JSON_BYTES = 64 * 1024 * 1024  # config/manifest/verification/tokenizer: far below this
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

__all__ = ["Bundle", "BundleError", "CascadeTeacher", "PAIR_SEP", "TASKS", "TeacherError", "check_manifest",
           "read_manifest", "check_regular_files", "read_config", "sha256_file", "pair_arguments", "parse_input_lines",
           "split_input"]


class BundleError(ValueError):
    """A bundle that cannot be used (missing/tampered file, bad config) or an unusable input."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _safe_rel(name: object, where: str) -> str:
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        raise BundleError(f"{where} lists an unsafe path: {str(name)[:80]!r}")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or rel.as_posix() != name:
        raise BundleError(f"{where} lists an unsafe path: {name[:80]!r}")
    return name


def _open_regular(root: Path, name: str):
    """Open ``root/name`` for reading, refusing symlinks anywhere below ``root`` and anything that
    is not a regular file; returns (file object, size)."""
    rel = Path(_safe_rel(name, "bundle"))
    cur = root
    for part in rel.parts[:-1]:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            raise BundleError(f"bundle file {name} is missing from {root}") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise BundleError(f"bundle file {name}: {cur.name} is not a directory inside the bundle (a symlink?)")
    path = root / rel
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise BundleError(f"bundle file {name} is missing from {root}") from None
    if stat.S_ISLNK(st.st_mode):
        raise BundleError(f"bundle file {name} is a symlink; a bundle's files must be regular files inside it "
                          f"(copy the file in, then re-export)")
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"bundle file {name} is not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BundleError(f"cannot open bundle file {name}: {exc.strerror or type(exc).__name__}") from None
    fh = os.fdopen(fd, "rb")
    st2 = os.fstat(fh.fileno())
    if not stat.S_ISREG(st2.st_mode) or (st2.st_ino, st2.st_dev) != (st.st_ino, st.st_dev):
        fh.close()
        raise BundleError(f"bundle file {name} changed while it was opened")
    return fh, st2.st_size


def _read_file(root: Path, name: str, entry: dict | None, limit: int | None = None) -> bytes:
    """The bytes of a bundle file, checked against its manifest ``entry`` (size, sha256) when given."""
    fh, size = _open_regular(root, name)
    with fh:
        if limit is not None and size > limit:
            raise BundleError(f"bundle file {name} is {size / 1e6:.0f} MB, more than such a file can be")
        data = fh.read()
    if entry is not None:
        _compare(name, entry, len(data), hashlib.sha256(data).hexdigest())
    return data


def _compare(name: str, entry: dict, size: int, digest: str) -> None:
    if size != entry["bytes"]:
        raise BundleError(f"bundle file {name} was modified: {size} bytes, manifest says {entry['bytes']} "
                          f"(sha256 check failed; re-export the bundle)")
    if digest != entry["sha256"]:
        raise BundleError(f"bundle file {name} was modified: its sha256 does not match manifest.json "
                          f"(re-export the bundle)")


def _parse_json(data: bytes, path: Path, what: str) -> dict:
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BundleError(f"{what} {path} is unreadable: {str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}") from None
    if not isinstance(obj, dict):
        raise BundleError(f"{what} {path} is not a JSON object")
    return obj


def _read_json(path: Path, what: str) -> dict:
    """A JSON object from a bundle file (regular file, no symlink), without a manifest check."""
    root, name = path.parent, path.name
    if not os.path.lexists(path):
        raise BundleError(f"{root} is not a complete bundle: {name} is missing")
    return _parse_json(_read_file(root, name, None, MAX_JSON_BYTES), path, what)


def _bundle_files(root: Path) -> list[str]:
    """Every file (and symlink) below ``root`` except manifest.json, bench/ and dotfiles, as posix paths."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir.parts and (rel_dir.parts[0] == "bench" or any(p.startswith(".") for p in rel_dir.parts)):
            dirnames[:] = []
            continue
        for d in list(dirnames):  # a symlinked directory is listed as an entry (and refused), not walked
            if os.path.islink(os.path.join(dirpath, d)):
                dirnames.remove(d)
                filenames.append(d)
        for f in filenames:
            if f.startswith("."):
                continue
            rel = (rel_dir / f).as_posix()
            if rel != MANIFEST:
                out.append(rel)
    return sorted(out)


def read_manifest(bundle_dir: str | os.PathLike) -> dict:
    """``manifest.json`` parsed and validated (format, version, one well-formed entry per file)."""
    root = Path(bundle_dir)
    if not root.is_dir():
        raise BundleError(f"bundle directory {root} does not exist")
    if not os.path.lexists(root / MANIFEST):
        raise BundleError(f"{root} is not a bundle: manifest.json is missing")
    manifest = _read_json(root / MANIFEST, "manifest")
    where = root / MANIFEST
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where} is not a {BUNDLE_FORMAT} manifest")
    version = manifest.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise BundleError(f"{where}: format_version must be an integer, got {str(version)[:40]!r}")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version} is newer than this runtime ({FORMAT_VERSION}); update the runtime"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{where} lists no files")
    for name, meta in files.items():
        _safe_rel(name, str(where))
        if (not isinstance(meta, dict) or not isinstance(meta.get("sha256"), str)
                or not _SHA256.match(meta["sha256"]) or isinstance(meta.get("bytes"), bool)
                or not isinstance(meta.get("bytes"), int) or meta["bytes"] < 0):
            raise BundleError(f"{where}: the entry of {name} is malformed (needs sha256 and bytes)")
    return manifest


def check_manifest(bundle_dir: str | os.PathLike, *, hash_files: bool = True, skip: Iterable[str] = ()) -> dict:
    """Check the bundle's complete file set against ``manifest.json``; return the manifest.

    Every listed file exists as a regular file inside the bundle with the listed size and sha256
    (hashes of the files in ``skip`` are left to the caller, who reads and hashes them itself);
    no file is present that the manifest does not list; the files the runtime reads are all listed.
    Raises :class:`BundleError` naming the first offending file.
    """
    root = Path(bundle_dir)
    manifest = read_manifest(root)
    files: dict = manifest["files"]
    present = _bundle_files(root)
    unlisted = [f for f in present if f not in files]
    if unlisted:
        raise BundleError(f"bundle file {unlisted[0]} is not listed in manifest.json (added or swapped in after "
                          f"export); the runtime refuses it: re-export the bundle")
    for name in REQUIRED:
        if name not in files:
            raise BundleError(f"manifest.json does not list {name}, which the runtime reads; re-export the bundle")
    skip = set(skip)
    for name, meta in files.items():
        if hash_files and name not in skip:
            fh, _ = _open_regular(root, name)
            with fh:
                h, size = hashlib.sha256(), 0
                while True:
                    block = fh.read(1 << 20)
                    if not block:
                        break
                    size += len(block)
                    h.update(block)
            _compare(name, meta, size, h.hexdigest())
        else:
            fh, _ = _open_regular(root, name)  # exists, regular, inside
            fh.close()
    return manifest


def check_regular_files(bundle_dir: str | os.PathLike) -> list[str]:
    """Every file of the bundle is a regular file inside it (no symlink); returns their names."""
    root = Path(bundle_dir)
    names = _bundle_files(root)
    for name in names:
        _open_regular(root, name)[0].close()
    return names


def read_config(bundle_dir: str | os.PathLike) -> dict:
    """``config.json`` of a bundle (a regular file inside it), without the manifest check."""
    return _read_json(Path(bundle_dir) / CONFIG, "config")


def _check_info(info: object, where: Path) -> dict:
    """``config.json``'s ``onnx_bundle`` section, field by field: a one-line BundleError when malformed."""
    if not isinstance(info, dict) or not info.get("labels") or not info.get("models"):
        raise BundleError(f"{where} has no 'onnx_bundle' section with labels and models")
    labels = info["labels"]
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise BundleError(f"{where}: onnx_bundle.labels must be a list of at least two distinct names")
    for key, lo, hi in (("max_length", 1, 1_000_000), ("pad_id", 0, 10_000_000)):
        v = info.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise BundleError(f"{where}: onnx_bundle.{key} must be an integer in [{lo}, {hi}], got {str(v)[:40]!r}")
    if not isinstance(info.get("pad_token"), str):
        raise BundleError(f"{where}: onnx_bundle.pad_token must be a string")
    task = info.get("task", DEFAULT_TASK)
    if not isinstance(task, str) or task not in TASKS:
        raise BundleError(f"{where}: onnx_bundle.task {str(task)[:40]!r} is not a task this runtime knows "
                          f"({', '.join(TASKS)}); use the runtime.py shipped in the bundle")
    th = info.get("thresholds")
    if th is not None and (not isinstance(th, list) or len(th) != len(labels)
                           or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x <= 1 for x in th)):
        raise BundleError(f"{where}: onnx_bundle.thresholds must be one number in [0, 1] per label")
    models = info["models"]
    if not isinstance(models, dict) or "model.onnx" not in models:
        raise BundleError(f"{where}: onnx_bundle.models must map model.onnx (and others) to int8/fp32")
    for f, v in models.items():
        _safe_rel(f, str(where))
        if v not in ("int8", "fp32"):
            raise BundleError(f"{where}: onnx_bundle.models[{f!r}] must be int8 or fp32, got {str(v)[:20]!r}")
    return info


def _softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


# --- task kinds: what the model's logits mean, keyed by config.json's onnx_bundle.task (the task kind
# of distill/tasks that trained the student; a bundle without the field is a classifier) --------------
class _Classification:
    """One text -> one of the labels: softmax over the logits (temperature-scaled), the top label wins."""

    @staticmethod
    def probs(logits: np.ndarray, temperature: float) -> np.ndarray:
        return _softmax(logits.astype(np.float64) / temperature)

    @staticmethod
    def rows(probs: np.ndarray, labels: Sequence[str]) -> list[dict]:
        rows = []
        for p in probs:
            j = int(p.argmax())
            rows.append({"label": labels[j], "score": round(float(p[j]), 6),
                         "probs": {lab: round(float(v), 6) for lab, v in zip(labels, p)}})
        return rows


class _Pairs(_Classification):
    """Two texts (a sentence pair) -> one of the labels: the tokenizer encodes ``[CLS] a [SEP] b``;
    the logits are read as classification's."""

    pairs = True


class _Ner:
    """Entities (token classification): one tag per subword token (``O``, ``B-type``, ``I-type``:
    the bundle's labels), decoded into spans of the ORIGINAL text through the tokenizer's character
    offsets. IOB2 read as seqeval does (``I-x`` without an open ``x`` entity opens one); an entity's
    confidence is the mean probability of its tokens' tags. The same rules as distill/tasks/ner.py
    ``decode`` (tests/distill/test_ner.py keeps them in step)."""

    tokens = True

    @staticmethod
    def probs(logits: np.ndarray, temperature: float) -> np.ndarray:
        return _softmax(logits.astype(np.float64) / temperature)

    @staticmethod
    def spans(text: str, offsets, special, probs: np.ndarray, labels: Sequence[str]) -> list[dict]:
        out, cur = [], None
        ids = probs.argmax(-1)
        for i, (a, b) in enumerate(offsets):
            if special[i] or a >= b:
                continue
            tag = labels[int(ids[i])]
            if tag == "O":
                if cur:
                    out.append(cur)
                cur = None
                continue
            prefix, typ = tag[:1], tag[2:]
            p = float(probs[i, ids[i]])
            if prefix == "I" and cur is not None and cur["type"] == typ:
                cur["end"] = int(b)
                cur["_p"].append(p)
                continue
            if cur:
                out.append(cur)
            cur = {"start": int(a), "end": int(b), "type": typ, "_p": [p]}
        if cur:
            out.append(cur)
        for sp in out:
            ps = sp.pop("_p")
            sp["text"] = text[sp["start"]:sp["end"]]
            sp["confidence"] = round(sum(ps) / len(ps), 6)
        return out

    @classmethod
    def predict(cls, bundle: "Bundle", texts: Sequence[str], batch_size: int) -> list[dict]:
        """``{"entities": [{"start", "end", "type", "text", "confidence"}]}`` per text."""
        texts = bundle._check_texts(texts)
        if batch_size < 1:
            raise BundleError("batch_size must be >= 1")
        k = len(bundle.labels)
        rows: list[dict] = []
        for start in range(0, len(texts), batch_size):
            part = texts[start:start + batch_size]
            enc = bundle.tokenizer.encode_batch(list(part))
            feed = {"input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
                    "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
                    "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64)}
            (logits,) = bundle.session.run(["logits"], {n: feed[n] for n in bundle._inputs})
            if logits.ndim != 3 or logits.shape[-1] != k:
                raise BundleError(f"{bundle.model_file} gave logits of shape {tuple(logits.shape)}, not one row of "
                                  f"{k} tag scores per token")
            probs = cls.probs(logits, bundle.temperature)
            for t, e, p in zip(part, enc, probs):
                special = [s or (1 - m) for s, m in zip(e.special_tokens_mask, e.attention_mask)]
                rows.append({"entities": cls.spans(t, e.offsets, special, p, bundle.labels)})
        return rows


class _MultiLabel:
    """One text -> any number of the labels: an independent sigmoid per label (logits / temperature);
    a label is on when its probability reaches its threshold (``onnx_bundle.thresholds``, tuned on the
    dev set at training; 0.5 without). A row: ``labels`` (the labels on, most probable first),
    ``scores`` (their probabilities), ``label``/``score`` (the most probable label, on or not) and
    ``probs`` (every label's probability)."""

    @staticmethod
    def probs(logits: np.ndarray, temperature: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-logits.astype(np.float64) / temperature))

    @staticmethod
    def rows(probs: np.ndarray, labels: Sequence[str], thresholds: Sequence[float] | None = None) -> list[dict]:
        t = np.full(len(labels), 0.5) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        rows = []
        for p in probs:
            on = sorted((j for j in range(len(labels)) if p[j] >= t[j]), key=lambda j: -p[j])
            j = int(p.argmax())
            rows.append({"labels": [labels[i] for i in on], "scores": [round(float(p[i]), 6) for i in on],
                         "label": labels[j], "score": round(float(p[j]), 6),
                         "probs": {lab: round(float(v), 6) for lab, v in zip(labels, p)}})
        return rows


DEFAULT_TASK = "classification"
TASKS = {"classification": _Classification, "pairs": _Pairs, "multilabel": _MultiLabel, "ner": _Ner}
# A sentence pair given as one string: the two texts joined by this character (core/pairs.py's
# PAIR_SEP; kept here as well because this file is shipped alone). ``Bundle.predict`` also takes
# (text, text_pair) tuples.
PAIR_SEP = "\x1f"


class TeacherError(RuntimeError):
    """The cascade's teacher gave no usable answer (timeout, HTTP error, oversized or odd body)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise TeacherError(f"teacher answered HTTP {code} redirect to {newurl.split('?')[0]} (not followed)")


class CascadeTeacher:
    """The bundle's teacher endpoint (``onnx_bundle.cascade.teacher``): an OpenAI-compatible
    server asked, with the prompt the teacher labelled with, about the texts the student is
    unsure of. Standard library only; every request has a total deadline and a body cap, and
    any failure is a :class:`TeacherError` (the caller keeps the student's answer)."""

    def __init__(self, spec: dict):
        try:
            self.url = str(spec["url"]).rstrip("/") + str(spec["endpoint"])
            self.request = spec["request"]
            self.placeholder = str(spec["placeholder"])
            # a sentence-pair bundle's request holds a second placeholder for the pair's second text
            second = spec.get("placeholder_pair")
            self.placeholder_pair = None if second is None else str(second)
            self.words = {str(k): str(v) for k, v in spec["verbalizers"].items()}
            self.timeout = float(spec.get("timeout_s", 10.0))
            self.max_bytes = int(spec.get("max_body_bytes", 1 << 20))
            wide = spec.get("wide_logprobs")
            self.wide = None if wide is None else int(wide)
            ref = spec.get("reference")
            self.reference = None if ref is None else np.asarray([float(x) for x in ref], dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"{CONFIG}: onnx_bundle.cascade.teacher is malformed ({exc!r})") from None
        if not (0 < self.timeout < 3600) or self.max_bytes <= 0 or not self.url.startswith(("http://", "https://")):
            raise BundleError(f"{CONFIG}: onnx_bundle.cascade.teacher has a bad url, timeout or body cap")
        key_env = spec.get("api_key_env")
        self.headers = {"Content-Type": "application/json"}
        if key_env and os.environ.get(str(key_env)):
            self.headers["Authorization"] = f"Bearer {os.environ[str(key_env)]}"
        self.opener = urllib.request.build_opener(_NoRedirect)

    def _body(self, text, wide: bool = False):
        if isinstance(text, str):
            first, second = text, None
        else:  # a (text, text_pair) pair
            first, second = text
            if self.placeholder_pair is None:  # a request made for one text: both, one per line
                first, second = f"{first}\n{second}", None

        def fill(x):
            if isinstance(x, str):
                x = x.replace(self.placeholder, first)
                return x if second is None else x.replace(self.placeholder_pair, second)
            if isinstance(x, list):
                return [fill(v) for v in x]
            if isinstance(x, dict):
                return {k: fill(v) for k, v in x.items()}
            return x
        body = fill(self.request)
        if wide:  # the labelling teacher's second ask when no label was among the top first tokens
            body["top_logprobs" if "messages" in body else "logprobs"] = self.wide
        return json.dumps(body).encode("utf-8")

    def _post(self, text, wide: bool = False) -> dict:
        deadline = time.monotonic() + self.timeout
        req = urllib.request.Request(self.url, data=self._body(text, wide), headers=self.headers, method="POST")
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                chunks, size = [], 0
                while True:
                    if time.monotonic() > deadline:
                        raise TeacherError(f"timed out after {self.timeout:g} s")
                    block = resp.read1(65536)
                    if not block:
                        break
                    size += len(block)
                    if size > self.max_bytes:
                        raise TeacherError(f"answer larger than {self.max_bytes} bytes")
                    chunks.append(block)
        except TeacherError:
            raise
        except urllib.error.HTTPError as exc:
            raise TeacherError(f"HTTP {exc.code}") from None
        except (TimeoutError, socket.timeout):
            raise TeacherError(f"timed out after {self.timeout:g} s") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise TeacherError(f"unreachable ({type(getattr(exc, 'reason', exc)).__name__})") from None
        try:
            obj = json.loads(b"".join(chunks).decode("utf-8"))
        except ValueError:
            raise TeacherError("answer is not JSON") from None
        if not isinstance(obj, dict):
            raise TeacherError("answer is not a JSON object")
        return obj

    def _top_first_token(self, lp) -> list[tuple[str, float]]:
        out: list[tuple[str, float]] = []
        try:
            if isinstance(lp.get("content"), list) and lp["content"]:  # chat format
                out = [(str(e["token"]), float(e["logprob"])) for e in lp["content"][0].get("top_logprobs") or []]
            elif isinstance(lp.get("top_logprobs"), list) and lp["top_logprobs"]:  # completions format
                out = [(str(t), float(v)) for t, v in lp["top_logprobs"][0].items()]
        except (AttributeError, KeyError, TypeError, ValueError):
            return []
        return [(t, v) for t, v in out if math.isfinite(v) and v <= 0]

    def classify(self, text, labels: Sequence[str]) -> tuple[str, np.ndarray | None]:
        """(label, probabilities in ``labels`` order, or None when no label word was among the
        first-token log-probabilities and the answer text was mapped to a label instead). ``text``
        is a string, or a (text, text_pair) tuple for a sentence-pair bundle."""
        obj = self._post(text)
        probs = self._probs(obj, labels)
        if probs is None and self.wide:  # as the labelling teacher: ask once more for a wider top-N
            try:
                probs = self._probs(self._post(text, wide=True), labels)
            except TeacherError:
                probs = None
        if probs is not None:
            return labels[int(probs.argmax())], probs
        return self._parse_text(obj, labels), None

    @staticmethod
    def _choice(obj: dict) -> dict:
        try:
            choice = obj["choices"][0]
        except (KeyError, IndexError, TypeError):
            raise TeacherError("answer has no choices") from None
        if not isinstance(choice, dict):
            raise TeacherError("answer has no choices")
        return choice

    def _words(self, labels: Sequence[str]) -> list[str]:
        return [self.words.get(lab, lab).strip().casefold() for lab in labels]

    def _probs(self, obj: dict, labels: Sequence[str]) -> np.ndarray | None:
        choice = self._choice(obj)
        lp = choice.get("logprobs")
        top = self._top_first_token(lp) if isinstance(lp, dict) else []
        words = self._words(labels)
        mass = np.zeros(len(labels))
        for tok, v in top:  # a first token that starts exactly one label's word counts for it
            t = tok.replace("\u0120", " ").replace("\u2581", " ").strip().casefold()
            hits = [i for i, w in enumerate(words) if t and (w == t or w.startswith(t))]
            if len(hits) == 1:
                mass[hits[0]] += math.exp(v)
        if mass.sum() <= 0:
            return None
        mass[mass == 0] = min(math.exp(v) for _, v in top) / 2  # as the labelling teacher does
        probs = mass / mass.sum()
        if self.reference is not None and len(self.reference) == len(probs):  # the teacher's calibration
            probs = probs / np.clip(self.reference, 1e-12, None)
            probs = probs / probs.sum()
        return probs

    def _parse_text(self, obj: dict, labels: Sequence[str]) -> str:
        choice = self._choice(obj)
        answer = choice.get("text")
        if answer is None and isinstance(choice.get("message"), dict):
            answer = choice["message"].get("content")
        said = " ".join(str(answer or "").split()).strip(" .,:;!\"'`*()[]{}").casefold()
        hits = [lab for lab, w in zip(labels, self._words(labels)) if said and (said == w or said.startswith(w + " "))]
        if len(hits) != 1:
            raise TeacherError(f"answer {said[:40]!r} is not one of the labels")
        return hits[0]


class Bundle:
    """A loaded bundle: tokenizer + ONNX Runtime session + labels."""

    def __init__(self, root: Path, config: dict, manifest: dict | None, model_file: str,
                 session: ort.InferenceSession, tokenizer: Tokenizer):
        self.root = root
        self.config = config
        self.manifest = manifest
        self.model_file = model_file
        self.session = session
        self.tokenizer = tokenizer
        info = config["onnx_bundle"]
        self.labels: list[str] = list(info["labels"])
        self.max_length: int = int(info["max_length"])
        self.variant: str = info["models"][model_file]
        self.task: str = info.get("task", DEFAULT_TASK)
        self._task = TASKS[self.task]
        self.thresholds: list[float] | None = info.get("thresholds")  # multilabel: one per label
        cal = info.get("calibration") or {}
        t = cal.get("temperature", 1.0) if isinstance(cal, dict) else None
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t < float("inf")):
            raise BundleError(f"{CONFIG}: onnx_bundle.calibration.temperature must be a positive number, got {t!r}")
        self.temperature: float = float(t)
        self._inputs = [i.name for i in session.get_inputs()]
        unknown = set(self._inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise BundleError(f"{model_file} expects unsupported inputs: {sorted(unknown)}")

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | os.PathLike, variant: str | None = None, *, threads: int | None = None,
             check: bool = True, allow_unverified: bool = False,
             providers: Sequence[str] | None = None,
             session_options: ort.SessionOptions | None = None) -> "Bundle":
        """Load a bundle directory.

        ``variant``: None -> ``model.onnx`` (the variant chosen at export); ``"int8"``/``"fp32"``
        -> that variant if the bundle has it. ``threads``: ONNX Runtime intra-op threads (1 gives
        the lowest batch-1 latency and no contention; None = all cores). ``check``: verify sha256 of
        every file against the manifest (on by default). A bundle whose verification failed at
        export is refused unless ``allow_unverified``.
        """
        root = Path(path)
        if not root.is_dir():
            raise BundleError(f"bundle directory {root} does not exist")
        if check and not os.path.lexists(root / MANIFEST):
            raise BundleError(f"{root} is not a bundle: manifest.json is missing")
        # 1. the complete file set, before anything is parsed: listed = present, regular files only,
        #    the small files hashed here; the model is hashed as it is read (below), once
        manifest = None
        entries: dict = {}
        if check:
            manifest = check_manifest(root, hash_files=False)
            entries = manifest["files"]

        def read(name: str, limit: int | None = MAX_JSON_BYTES) -> bytes:
            if check and name not in entries:
                raise BundleError(f"manifest.json does not list {name}, which the runtime reads; re-export the bundle")
            return _read_file(root, name, entries.get(name) if check else None, limit)

        if not check and not os.path.lexists(root / CONFIG):
            raise BundleError(f"{root} is not a complete bundle: {CONFIG} is missing")
        config = _parse_json(read(CONFIG), root / CONFIG, "config")
        info = _check_info(config.get("onnx_bundle"), root / CONFIG)
        verification = {}
        if check or os.path.lexists(root / VERIFICATION):
            verification = _parse_json(read(VERIFICATION), root / VERIFICATION, "verification")
        if verification.get("passed") is False and not allow_unverified:
            raise BundleError(
                f"bundle {root} failed verification at export ({str(verification.get('summary', 'see verification.json'))[:300]}); "
                f"pass allow_unverified=True / --allow-unverified to use it anyway"
            )
        models: dict = info["models"]
        if variant is None:
            model_file = "model.onnx"
        else:
            matches = [f for f, v in models.items() if v == variant]
            if not matches:
                raise BundleError(f"bundle {root} has no {variant} model (it has: {sorted(set(models.values()))})")
            model_file = "model.onnx" if "model.onnx" in matches else matches[0]
        if check:
            for f in models:  # every model the config names is part of the signed file set
                if f not in entries:
                    raise BundleError(f"manifest.json does not list {f}, which config.json names; re-export the bundle")
            # 2. every other file's sha256 (the ones read below are hashed as they are read)
            check_manifest(root, skip={CONFIG, VERIFICATION, TOKENIZER, model_file})
        model_bytes = read(model_file, None)
        tokenizer_json = read(TOKENIZER)

        opts = session_options or ort.SessionOptions()
        if session_options is None:
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            if threads is not None:
                opts.intra_op_num_threads = int(threads)
                opts.inter_op_num_threads = 1
            opts.log_severity_level = 3
        # graph passes the exporter measured as slower and left unfused (export/onnx.py, SESSION_DISABLED_OPTIMIZERS)
        disabled = (info.get("session") or {}).get("disabled_optimizers") or []
        if not isinstance(disabled, list) or not all(isinstance(x, str) for x in disabled):
            raise BundleError(f"{root / CONFIG}: onnx_bundle.session.disabled_optimizers must be a list of names")
        try:  # the bytes that were checked, not the path (which could be swapped in between)
            session = ort.InferenceSession(model_bytes, opts,
                                           providers=list(providers or ["CPUExecutionProvider"]),
                                           disabled_optimizers=disabled)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"onnxruntime cannot load {root / model_file}: {str(exc).splitlines()[0][:200]}") from None
        del model_bytes
        outputs = {o.name: o for o in session.get_outputs()}
        if "logits" not in outputs:
            raise BundleError(f"{model_file} has no 'logits' output (it has: {sorted(outputs)[:5]})")
        width = (outputs["logits"].shape or [None])[-1]
        if isinstance(width, int) and width != len(info["labels"]):
            raise BundleError(f"{model_file} gives {width} logits per text but {CONFIG} lists "
                              f"{len(info['labels'])} labels ({', '.join(info['labels'])[:100]})")

        try:
            tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
        except Exception as exc:
            raise BundleError(f"cannot read {root / TOKENIZER}: {str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        try:
            tokenizer.enable_truncation(max_length=int(info["max_length"]))
            tokenizer.enable_padding(pad_id=int(info["pad_id"]), pad_token=str(info["pad_token"]),
                                     pad_type_id=0)  # pad to the longest text of each batch
        except Exception as exc:  # noqa: BLE001 - tokenizers raises its own types
            raise BundleError(f"{root / CONFIG}: unusable tokenizer settings ({str(exc)[:120]})") from None
        return cls(root, config, manifest, model_file, session, tokenizer)

    # --------------------------------------------------------------- inference
    @property
    def pairs(self) -> bool:
        """True for a sentence-pair bundle: each input is two texts."""
        return bool(getattr(self._task, "pairs", False))

    def _check_texts(self, texts: Sequence) -> list:
        """The inputs checked: strings, or for a pair bundle (text, text_pair) pairs (a tuple or list
        of two strings, or one string with the two joined by ``PAIR_SEP``), returned as tuples."""
        if isinstance(texts, str):
            raise BundleError("texts must be a list of strings, not one string")
        out = list(texts)
        for i, t in enumerate(out):
            if self.pairs:
                if isinstance(t, str) and PAIR_SEP in t:
                    t = tuple(t.split(PAIR_SEP, 1))
                if not isinstance(t, (tuple, list)) or len(t) != 2 or not all(isinstance(x, str) for x in t):
                    raise BundleError(f"input {i} is not a sentence pair: this bundle ({self.task}) takes two texts "
                                      f"per input, (text, text_pair)")
                if not t[0].strip() or not t[1].strip():
                    raise BundleError(f"input {i} is a sentence pair with an empty text; both texts are needed")
                out[i] = (t[0], t[1])
                continue
            if not isinstance(t, str):
                raise BundleError(f"text {i} is not a string ({type(t).__name__})")
            if not t.strip():
                raise BundleError(f"text {i} is empty")
        return out

    def encode(self, texts: Sequence) -> dict[str, np.ndarray]:
        """Tokenise (truncate to ``max_length``, pad to the batch's longest) into model inputs; a
        (text, text_pair) tuple is encoded as a pair (``[CLS] a [SEP] b``, token types 0 then 1)."""
        enc = self.tokenizer.encode_batch(list(texts))
        feed = {
            "input_ids": np.asarray([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in enc], dtype=np.int64),
        }
        return {k: feed[k] for k in self._inputs}

    def logits(self, texts: Sequence, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        texts = self._check_texts(texts)
        k = len(self.labels)
        if not texts:
            return np.zeros((0, k), dtype=np.float32)
        if batch_size < 1:
            raise BundleError("batch_size must be >= 1")
        if len(texts) <= batch_size:
            order = list(range(len(texts)))
        else:  # sort by length so each batch pads little; results are put back in input order
            lengths = [len(e.ids) for e in self.tokenizer.encode_batch(texts)]
            order = sorted(range(len(texts)), key=lambda i: lengths[i])
        out = np.empty((len(texts), k), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            (logits,) = self.session.run(["logits"], self.encode([texts[i] for i in idx]))
            if logits.ndim != 2 or logits.shape[1] != k:
                raise BundleError(f"{self.model_file} gave logits of shape {tuple(logits.shape)} for {k} labels")
            out[idx] = logits
        return out

    def predict_proba(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """(n, k) probabilities, columns in ``self.labels`` order (temperature-scaled when the
        bundle was calibrated at export: ``onnx_bundle.calibration.temperature``)."""
        return self._task.probs(self.logits(texts, batch_size), self.temperature)

    @property
    def cascade(self) -> dict | None:
        """The bundle's cascade section (``advisor export cascade``), or None."""
        c = self.config["onnx_bundle"].get("cascade")
        return c if isinstance(c, dict) else None

    def predict(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE,
                cascade: bool = True) -> list[dict]:
        """One dict per text: ``{"label", "score", "probs": {label: p}}``.

        With a cascade in the bundle (and ``cascade``), a text whose top probability is below the
        cascade's threshold goes to the teacher: its row then has ``"source": "teacher"`` and the
        student's answer under ``"student"``; when the teacher fails, the student's answer stays,
        with ``"source": "student"`` and the reason under ``"teacher_error"``."""
        if getattr(self._task, "tokens", False):  # entities: spans per text (no cascade)
            return self._task.predict(self, texts, batch_size)
        probs = self.predict_proba(texts, batch_size)
        if self.thresholds is not None:
            rows = self._task.rows(probs, self.labels, self.thresholds)
        else:
            rows = self._task.rows(probs, self.labels)
        spec = self.cascade if cascade else None
        if spec is None:
            return rows
        if self.task == "multilabel":
            raise BundleError("the cascade is not supported for multi-label bundles (task multilabel); predict "
                              "with cascade=False / --no-cascade")
        threshold = spec.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
            raise BundleError(f"{CONFIG}: onnx_bundle.cascade.threshold must be a number in [0, 1]")
        teacher = CascadeTeacher(spec.get("teacher") or {})
        for text, row, p in zip(texts, rows, probs):
            if isinstance(text, str) and PAIR_SEP in text:  # a pair: the teacher's request has a place for each
                text = tuple(text.split(PAIR_SEP, 1))
            row["source"] = "student"
            if float(p.max()) >= threshold:
                continue
            row["deferred"] = True
            try:
                label, tp = teacher.classify(text, self.labels)
            except TeacherError as exc:
                row["teacher_error"] = str(exc)
                continue
            row["student"] = {"label": row["label"], "score": row["score"]}
            row["source"] = "teacher"
            row["label"] = label
            if tp is None:
                row["score"] = None
                row["probs"] = None
            else:
                row["score"] = round(float(tp[self.labels.index(label)]), 6)
                row["probs"] = {lab: round(float(v), 6) for lab, v in zip(self.labels, tp)}
        return rows


def parse_input_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, str | None, str]]:
    """Parse stdin for ``predict``: a JSON object per line (``{"text": ..., "id": ...}``) or plain text.

    Yields ``(line_number, id_or_None, text)``. Blank lines are skipped. A line that starts with
    ``{`` must be a JSON object with a string ``text``; an empty text is an error naming the line.
    A sentence pair is ``{"text": ..., "text_pair": ...}``: its text is the two joined by
    ``PAIR_SEP`` (``split_input`` takes them apart); an empty ``text_pair`` is an error too.
    """
    for n, raw in enumerate(lines, 1):
        if isinstance(raw, bytes):  # a binary stream (stdin.buffer): decode here to name the line
            try:
                raw = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise BundleError(f"input line {n} is not valid UTF-8 (byte {exc.start}); re-encode the input "
                                  f"as UTF-8") from None
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise BundleError(f"input line {n}: invalid JSON ({exc})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise BundleError(f'input line {n}: a JSON line needs a string "text" field')
            text = obj["text"]
            if "text_pair" in obj:
                second = obj["text_pair"]
                if not isinstance(second, str) or not second.strip() or not text.strip():
                    raise BundleError(f'input line {n}: a sentence pair needs two non-empty strings "text" and '
                                      f'"text_pair"')
                text = text.replace(PAIR_SEP, " ") + PAIR_SEP + second.replace(PAIR_SEP, " ")
            rid = obj.get("id")
            rid = None if rid is None else str(rid)
        else:
            text, rid = line, None
        if not text.strip():
            raise BundleError(f"input line {n}: empty text")
        yield n, rid, text


def split_input(text: str) -> dict:
    """``{"text": ...}``, or ``{"text": a, "text_pair": b}`` for two texts joined by ``PAIR_SEP``."""
    if PAIR_SEP in text:
        a, b = text.split(PAIR_SEP, 1)
        return {"text": a, "text_pair": b}
    return {"text": text}


def pair_arguments(texts: Sequence[str]) -> list[str]:
    """TEXT arguments taken two at a time (``--pair``): each pair joined by ``PAIR_SEP``."""
    if len(texts) % 2:
        raise BundleError(f"--pair takes the texts two at a time (text, text_pair); got {len(texts)} texts")
    for i, t in enumerate(texts, 1):
        if not t.strip():
            raise BundleError(f"text argument {i} is empty")
    return [texts[i].replace(PAIR_SEP, " ") + PAIR_SEP + texts[i + 1].replace(PAIR_SEP, " ")
            for i in range(0, len(texts), 2)]


def main(argv: list[str] | None = None) -> int:
    """``python runtime.py BUNDLE [TEXT ...]``: JSONL predictions (texts from stdin when none given)."""
    import argparse

    ap = argparse.ArgumentParser(prog="runtime.py", description=main.__doc__)
    ap.add_argument("bundle")
    ap.add_argument("texts", nargs="*")
    ap.add_argument("--variant", choices=["int8", "fp32"], default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--no-cascade", action="store_true", help="answer with the student alone")
    ap.add_argument("--pair", action="store_true",
                    help="sentence pairs: the TEXT arguments two at a time (text, text_pair)")
    args = ap.parse_intermixed_args(argv)  # flags anywhere: BUNDLE --pair A B as well as BUNDLE A B --pair
    try:
        if args.threads is not None and not 1 <= args.threads <= 1024:
            raise BundleError(f"--threads must be in [1, 1024], got {args.threads}")
        if not 1 <= args.batch_size <= 65536:
            raise BundleError(f"--batch-size must be in [1, 65536], got {args.batch_size}")
        bundle = Bundle.load(args.bundle, args.variant, threads=args.threads)
        if args.texts and args.pair:
            items = [(i + 1, None, t) for i, t in enumerate(pair_arguments(args.texts))]
        elif args.texts:
            items = [(i + 1, None, t) for i, t in enumerate(args.texts)]
            for i, _, t in items:
                if not t.strip():
                    raise BundleError(f"text argument {i} is empty")
        else:
            items = list(parse_input_lines(getattr(sys.stdin, "buffer", sys.stdin)))
        preds = bundle.predict([t for _, _, t in items], args.batch_size, cascade=not args.no_cascade)
    except BundleError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    for (_, rid, text), p in zip(items, preds):
        row = {"id": rid, **split_input(text), **p} if rid is not None else {**split_input(text), **p}
        print(json.dumps(row, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
