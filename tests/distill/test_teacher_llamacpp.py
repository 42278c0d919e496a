"""The llama.cpp GGUF backend agrees with the transformers reference (same prompts, same tokens):
first-token labels, multi-token verbalizers, a shared prefix with several texts per decode, and
the pruned continuations of many labels. The default SmolLM2 teacher keeps it fast."""

from __future__ import annotations

import numpy as np
import pytest

from distill.data.labelset import Label, LabelSet
from distill.teachers.prompts import Prompt
from distill.teachers import load_teacher

pytest.importorskip("llama_cpp", reason="needs llama-cpp-python (make setup-server)")

TEXTS = ["a gorgeous , witty , seductive movie .", "unflinchingly bleak and desperate",
         "it 's a charming and often affecting journey .", "the plot is nothing but boilerplate clichés .",
         "a masterpiece four years in the making .", "the acting is amateurish and the pace glacial ."]


@pytest.fixture(scope="module")
def sst2():
    return LabelSet.from_spec("sst2")


@pytest.fixture(scope="module")
def reference(sst2):
    t = load_teacher(None, sst2, backend="transformers", dtype="float32", batch_size=8)
    yield t
    t.close()


@pytest.fixture(scope="module")
def fast(sst2):
    t = load_teacher(None, sst2, batch_size=4, threads=1)
    assert t.kind == "llama-cpp"  # auto picks llama.cpp for a GGUF when it is installed
    yield t
    t.close()


def _agree(a, b) -> bool:
    """Same argmax wherever the reference is not a coin toss (top probability above 0.6)."""
    sure = a.max(1) > 0.6
    return bool(sure.sum() >= 3 and (a.argmax(1) == b.argmax(1))[sure].all())


def _both(ref, fast, prompt):
    ref.set_prompt(prompt)
    fast.set_prompt(prompt)
    fast.labelset = ref.labelset = prompt.labelset
    return ref.score_proba(TEXTS), fast.score_proba(TEXTS)


def test_first_token_labels_match_the_reference(reference, fast, sst2):
    a, b = _both(reference, fast, Prompt(sst2, "field"))
    assert np.allclose(b.sum(1), 1) and _agree(a, b)
    assert np.abs(a - b).max() < 0.08  # Q4_1 x Q8 kernels vs de-quantised fp32


def test_shared_prefix_and_batching(reference, fast, sst2):
    """instruct: a shared prefix (the instruction) decoded once, four texts per decode over it."""
    prompt = Prompt(sst2, "instruct")
    a, b = _both(reference, fast, prompt)
    assert np.abs(a - b).max() < 0.08 and _agree(a, b)
    one = load_teacher(None, sst2, batch_size=1, threads=1)
    one.set_prompt(prompt)
    c = one.score_proba(TEXTS)
    one.close()
    assert np.abs(b - c).max() < 0.05  # one text per decode or four: the same answers


def test_multi_token_verbalizers(reference, fast):
    ls = LabelSet((Label("neg", verbalizer="utterly terrible"), Label("pos", verbalizer="truly wonderful")))
    assert all(len(fast._encode(" " + w)) > 1 for w in ls.words)
    a, b = _both(reference, fast, Prompt(ls, "field"))
    assert np.abs(a - b).max() < 0.08 and _agree(a, b)


@pytest.mark.slow
def test_many_labels_pruned_continuations(sst2):
    ls = LabelSet.from_spec("clinc150")
    t = load_teacher(None, ls, batch_size=2, threads=1, expand=2, template="options")
    p = t.score_proba(["what is the spanish word for pasta", "book me a table for two at 8"])
    t.close()
    assert p.shape == (2, 150) and np.allclose(p.sum(1), 1) and t.pruned >= 1
