"""The teacher interface: per-class probabilities for texts, in label-set order."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.teachers.prompts import CONTENT_FREE, Calibrator, Prompt

SOURCES = ("scored", "parsed", "abstained")


@dataclass
class Scored:
    """One text's raw (uncalibrated) teacher output."""

    probs: np.ndarray  # (k,), sums to 1, label-set order
    source: str = "scored"  # scored | parsed | abstained
    answer: str | None = None  # generated text, when the teacher generated instead of scoring
    had_logprobs: bool = False  # a server answered with logprobs but no label word among them
    reason: str | None = None  # why an abstention abstained when the answer could not be read


class Teacher:
    """Base class. Subclasses implement :meth:`score` (raw probabilities for the current prompt).

    ``fingerprint`` identifies the model (weights/server + model name + numerics), not the prompt;
    the cache key is (fingerprint, prompt hash, text hash).
    """

    fingerprint: str = ""
    kind: str = "teacher"

    def __init__(self, labelset: LabelSet, prompt: Prompt | None = None, calibrator: Calibrator | None = None,
                 template: str | None = None, calibrate: str | None = None, shots=()):
        self.labelset = labelset
        self.prompt = prompt or Prompt(labelset, template or "field", shots=tuple(shots or ()))
        # An unfitted calibrator (ref None) is fitted on first use: content-free inputs, or the
        # mean over the texts of the first predict_proba call (pool-mean).
        self.calibrator = calibrator or Calibrator(calibrate or "none")
        self.calls = 0  # texts sent to the model (cache misses only, when used through labelling)

    # -- to implement ---------------------------------------------------------------------------
    def score(self, texts: list[str]) -> list[Scored]:  # pragma: no cover - abstract
        raise NotImplementedError

    def score_each(self, texts: list[str], sink) -> None:
        """``sink(i, Scored)`` for every text as results become available (here: per call of
        :meth:`score`; the server teacher overrides it to hand over each answer as it arrives, so
        the labelling run caches every answer at once)."""
        for i, r in enumerate(self.score(list(texts))):
            sink(i, r)

    def describe(self) -> dict:
        return {"kind": self.kind, "fingerprint": self.fingerprint}

    def close(self) -> None:
        pass

    # -- sklearn-style verbs --------------------------------------------------------------------
    def set_prompt(self, prompt: Prompt) -> None:
        if prompt.hash != self.prompt.hash and self.calibrator.ref is not None:
            self.calibrator = Calibrator(self.calibrator.method)  # the reference belongs to the old prompt
        self.prompt = prompt

    def fit_calibration(self, raw_pool: np.ndarray | None = None) -> Calibrator:
        """Fit the configured calibration for the current prompt and return it.

        ``content-free`` scores ``"N/A"``, ``""`` and ``"[MASK]"``; ``pool-mean`` uses ``raw_pool``
        (raw probabilities of the unlabelled pool). Teachers that could not *score* the
        content-free inputs (a server without logprobs) fall back to no calibration.
        """
        method = self.calibrator.method
        if method == "content-free":
            res = self.score(list(CONTENT_FREE))
            if all(r.source == "scored" for r in res):
                self.calibrator = Calibrator.content_free(lambda _t: np.stack([r.probs for r in res]))
            else:
                self.calibrator = Calibrator("content-free", None, ["<skipped: teacher gave no scores>"])
        elif method == "pool-mean" and raw_pool is not None and len(raw_pool):
            self.calibrator = Calibrator.pool_mean(raw_pool)
        return self.calibrator

    def score_proba(self, texts: list[str]) -> np.ndarray:
        """Raw (uncalibrated) probabilities, (n, k)."""
        res = self.score(list(texts))
        return np.stack([r.probs for r in res]) if res else np.zeros((0, len(self.labelset)))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Calibrated probabilities, (n, k), rows sum to 1, label-set order."""
        raw = self.score_proba(texts)
        if self.calibrator.method != "none" and self.calibrator.ref is None and not self.calibrator.inputs:
            self.fit_calibration(raw)
        return self.calibrator.apply(raw)

    def predict(self, texts: list[str]) -> list[str]:
        p = self.predict_proba(texts)
        return [self.labelset.names[i] for i in p.argmax(axis=1)]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def one_hot(k: int, i: int) -> np.ndarray:
    p = np.zeros(k, dtype=np.float64)
    p[i] = 1.0
    return p


def uniform(k: int) -> np.ndarray:
    return np.full(k, 1.0 / k, dtype=np.float64)


def label_token_ids(continuations, encode) -> list[list[int]]:
    """Each label continuation's token ids through ``encode``; every label must encode to some
    tokens, and no two to the same ones (the scorers read a label's probability off its tokens)."""
    ids = [list(encode(c)) for c in continuations]
    if any(not x for x in ids):
        raise UserError("a label verbalizer encodes to no tokens")
    if len({tuple(x) for x in ids}) != len(ids):
        raise UserError("two label verbalizers encode to the same tokens")
    return ids


def parsed_or_abstained(labelset: LabelSet, text: str | None) -> Scored:
    """Map generated text to a one-hot ('parsed') or, when it cannot be mapped, 'abstained'."""
    name = labelset.parse_answer(text or "")
    if name is None:
        return Scored(uniform(len(labelset)), "abstained", text)
    return Scored(one_hot(len(labelset), labelset.index(name)), "parsed", text)


def file_digest(path: Path) -> str:
    """sha256 of a file (a GGUF teacher's identity)."""
    from core.hashing import sha256_file

    return sha256_file(path)


def dir_digest(path: Path) -> str:
    """Identity of a model directory: its small text files' bytes, the other files' names and sizes."""
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.is_file() and f.suffix in {".json", ".txt", ".model"}:
            h.update(f.name.encode())
            h.update(f.read_bytes())
        elif f.is_file():
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}".encode())
    return h.hexdigest()


def shared_prefix(render) -> str:
    """The part every rendered prompt shares (``render(text) -> str``), cut after its last newline.

    Local teachers run it once and reuse its KV cache; both local backends cut at the same place,
    so their token sequences are the same."""
    a, b = render("\x01a"), render("\x02b")
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    cut = a.rfind("\n", 0, n)
    return a[: cut + 1] if cut >= 0 else ""
