import json

import pytest

from core.errors import UserError
from distill.data.reader import load_texts
from distill.data.labelset import LabelSet


@pytest.fixture
def sst2():
    return LabelSet.from_spec("sst2")


def test_shared_sst2_dev(shared_data, sst2):
    d = load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2)
    assert len(d) == 872 and d.text_column == "sentence" and d.label_column == "label"
    assert d.gold[:2] == ["positive", "negative"]
    assert d.texts[0].startswith("it 's a charming")
    assert d.ids[:3] == ["0", "1", "2"]


def test_shared_ag_news_and_sms(shared_data):
    ag = LabelSet.from_spec("ag_news")
    d = load_texts(shared_data / "ag_news" / "test.csv", labelset=ag, limit=50)
    assert len(d) == 50 and d.gold[0] == "Business"
    assert d.texts[0].startswith("Fears for T N pension after talks. Unions")
    assert all("\\" not in t for t in d.texts)  # literal backslash-n removed
    sms = LabelSet.from_spec("sms_spam")
    s = load_texts(shared_data / "sms_spam" / "SMSSpamCollection", labelset=sms)
    assert len(s) == 5574 and s.gold.count("spam") == 747


def test_formats(tmp_path, sst2):
    (tmp_path / "a.csv").write_text('id,review,label\nx1,"good, really",1\nx2,bad,0\n', encoding="utf-8")
    d = load_texts(tmp_path / "a.csv", labelset=sst2)
    assert d.texts == ["good, really", "bad"] and d.gold == ["positive", "negative"] and d.ids == ["x1", "x2"]
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "fine", "y": "positive"}) + "\n\n"
                                      + json.dumps({"text": "meh", "y": "NEGATIVE"}) + "\n", encoding="utf-8")
    d = load_texts(tmp_path / "a.jsonl", label_column="y", labelset=sst2)
    assert d.texts == ["fine", "meh"] and d.gold == ["positive", "negative"]
    (tmp_path / "a.txt").write_text("one\n\ntwo\n", encoding="utf-8")
    d = load_texts(tmp_path / "a.txt")
    assert d.texts == ["one", "two"] and d.gold is None and d.skipped_empty == 1 and d.ids == ["0", "2"]
    # the label column is ignored without a label set, or with "none"
    assert load_texts(tmp_path / "a.csv").gold is None
    assert load_texts(tmp_path / "a.csv", labelset=sst2, label_column="none").gold is None


def test_datasets_dir(tmp_path, sst2):
    import datasets

    feats = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["negative", "positive"])})
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 1]}, features=feats)
    ds.save_to_disk(str(tmp_path / "ds"))
    d = load_texts(tmp_path / "ds", labelset=sst2)
    assert d.texts == ["a", "b", "c"] and d.gold == ["negative", "positive", "positive"]
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(UserError, match="--split"):
        load_texts(tmp_path / "dd")
    assert len(load_texts(tmp_path / "dd", split="test")) == 3


def test_sample_and_limit(shared_data, sst2):
    a = load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2, sample=50, seed=3)
    b = load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2, sample=50, seed=3)
    c = load_texts(shared_data / "sst2" / "dev.tsv", labelset=sst2, sample=50, seed=4)
    assert a.ids == b.ids and a.ids != c.ids and len(a) == 50
    assert [int(i) for i in a.ids] == sorted(int(i) for i in a.ids)
    assert len(load_texts(shared_data / "sst2" / "dev.tsv", limit=7)) == 7


def test_bad_inputs(tmp_path, sst2):
    with pytest.raises(UserError, match="not found"):
        load_texts(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        load_texts(tmp_path / "empty.csv")
    (tmp_path / "hdr.csv").write_text("text,label\n", encoding="utf-8")
    with pytest.raises(UserError, match="no data rows"):
        load_texts(tmp_path / "hdr.csv")
    (tmp_path / "c.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(UserError, match="text column"):
        load_texts(tmp_path / "c.csv")
    with pytest.raises(UserError, match="no text column 'body2'"):
        load_texts(tmp_path / "c.csv", text_column="body2")
    with pytest.raises(UserError, match="no label column 'gold2'"):
        load_texts(tmp_path / "c.csv", text_column="a", label_column="gold2", labelset=sst2)
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_texts(tmp_path / "latin1.txt")
    (tmp_path / "g.csv").write_text("text,label\nhi,maybe\n", encoding="utf-8")
    with pytest.raises(UserError, match="not in the label set"):
        load_texts(tmp_path / "g.csv", labelset=sst2)
    (tmp_path / "j.jsonl").write_text('{"text": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(UserError, match="line 2"):
        load_texts(tmp_path / "j.jsonl")
    (tmp_path / "blank.txt").write_text("\n  \n", encoding="utf-8")
    with pytest.raises(UserError, match="empty|no non-empty"):
        load_texts(tmp_path / "blank.txt")
