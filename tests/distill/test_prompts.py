import numpy as np
import pytest

from core.errors import UserError
from distill.data.labelset import LabelSet
from distill.teachers.prompts import CONTENT_FREE, TEMPLATES, Calibrator, Prompt, Shot, load_shots, select_shots


@pytest.fixture
def sst2():
    return LabelSet.from_spec("sst2")


def test_field_template_is_the_measured_completion_prompt(sst2):
    p = Prompt(sst2, "field")
    assert p.render("a fine film") == "Review: a fine film\nSentiment:"
    assert p.label_continuations() == [" negative", " positive"]
    assert not p.is_chat and p.prefix() == ""


def test_every_template_renders_and_hashes_differ(sst2):
    hashes = set()
    for name in TEMPLATES:
        p = Prompt(sst2, name, shots=(Shot("so good", "positive"), Shot("awful", "negative")))
        ex = p.example("TEXT")
        assert "TEXT" in ex and "so good" in ex and "awful" in ex
        if p.is_chat:
            m = p.messages("TEXT")
            assert m[0]["role"] == "system" and m[-1]["role"] == "user" and "TEXT" in m[-1]["content"]
            answer = dict(zip(sst2.names, p.answers()))  # the label words; the letters for options templates
            assert [x["content"] for x in m if x["role"] == "assistant"] == [answer["positive"], answer["negative"]]
            assert p.label_continuations() == p.answers()
            assert p.answers() == (["A", "B"] if "options" in name else ["negative", "positive"])
        else:
            assert p.render("TEXT").startswith(p.prefix()) and p.render("TEXT").endswith(":")
        hashes.add(p.hash)
    assert len(hashes) == len(TEMPLATES)
    assert Prompt(sst2, "field").hash != Prompt(sst2, "field", shots=(Shot("x", "positive"),)).hash
    with pytest.raises(UserError, match="unknown prompt template"):
        Prompt(sst2, "nope")


def test_descriptions_in_described_template():
    ag = LabelSet.from_spec("ag_news")
    text = Prompt(ag, "described").render("x")
    assert "- Technology: science and technology" in text and "topic of a news article" in text


def test_shots_are_balanced_and_seeded(shared_data, sst2):
    shots = load_shots(shared_data / "sst2" / "train.tsv", sst2, 4, seed=1)
    assert len(shots) == 4 and sorted(s.label for s in shots) == ["negative", "negative", "positive", "positive"]
    assert shots == load_shots(shared_data / "sst2" / "train.tsv", sst2, 4, seed=1)
    assert shots != load_shots(shared_data / "sst2" / "train.tsv", sst2, 4, seed=2)
    ag = LabelSet.from_spec("ag_news")
    s = select_shots(["a", "b", "c", "d", "e"], ["1", "1", "2", "3", "4"], ag, 4, exclude={"b"})
    assert sorted(x.label for x in s) == sorted(ag.names)


def test_calibration_math():
    raw = np.array([[0.7, 0.3], [0.6, 0.4], [0.9, 0.1]])
    cf = Calibrator.content_free(lambda texts: np.array([[0.8, 0.2]] * len(texts)))
    assert cf.inputs == list(CONTENT_FREE)
    out = cf.apply(raw)
    np.testing.assert_allclose(out.sum(1), 1)
    # 0.7/0.8 vs 0.3/0.2 -> positive wins after dividing out the negative bias
    assert out[0].argmax() == 1 and out[2].argmax() == 0
    pm = Calibrator.pool_mean(raw)
    np.testing.assert_allclose(pm.ref, raw.mean(0) / raw.mean(0).sum())
    assert Calibrator("none").apply(raw) is not None and np.allclose(Calibrator("none").apply(raw), raw)
    with pytest.raises(UserError):
        Calibrator("bogus")
