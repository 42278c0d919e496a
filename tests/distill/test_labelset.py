import json

import pytest

from core.errors import UserError
from distill.data.labelset import Label, LabelSet, preset_names


def test_comma_list_and_aliases():
    ls = LabelSet.from_spec("0=negative, 1=positive")
    assert ls.names == ["negative", "positive"]
    assert ls.normalize("1") == "positive"
    assert ls.normalize(" NEGATIVE ") == "negative"
    assert ls.index("positive") == 1
    with pytest.raises(UserError, match="not in the label set"):
        ls.normalize("2")


@pytest.mark.parametrize("spec,msg", [
    ("positive", "fewer than two labels"),
    ("a,A", "duplicate label name"),
    ("a,,b", "empty label name"),
    ("", "no label set"),
])
def test_bad_specs(spec, msg):
    with pytest.raises(UserError, match=msg):
        LabelSet.from_spec(spec)


def test_presets_match_shared_data():
    assert {"sst2", "ag_news", "sms_spam"} <= set(preset_names())
    sst2 = LabelSet.from_spec("sst2")
    assert sst2.names == ["negative", "positive"]
    assert [sst2.normalize(x) for x in ("0", "1")] == ["negative", "positive"]
    ag = LabelSet.from_spec("ag_news")
    assert ag.names == ["World", "Sports", "Business", "Sci/Tech"]
    assert [ag.normalize(x) for x in "1234"] == ag.names
    sms = LabelSet.from_spec("sms_spam")
    assert sms.names == ["ham", "spam"] and sms.normalize("Spam") == "spam"
    assert sms.labels[0].word == "normal"  # verbalizer differs from the name


def test_yaml_and_json_files_roundtrip(tmp_path):
    y = tmp_path / "l.yaml"
    y.write_text("task: the mood\nlabels:\n  - name: sad\n    description: unhappy\n    verbalizer: bad\n"
                 "    aliases: [0]\n  - happy\n", encoding="utf-8")
    ls = LabelSet.from_spec(str(y))
    assert ls.names == ["sad", "happy"] and ls.words == ["bad", "happy"] and ls.normalize(0) == "sad"
    j = tmp_path / "l.json"
    j.write_text(json.dumps(ls.to_dict()), encoding="utf-8")
    again = LabelSet.from_spec(str(j))
    assert again.to_dict() == ls.to_dict()
    assert LabelSet.from_dict(ls.to_dict()).labels == ls.labels


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="not found"):
        LabelSet.from_spec(str(tmp_path / "missing.yaml"))
    e = tmp_path / "e.yaml"
    e.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        LabelSet.from_spec(str(e))
    d = tmp_path / "d.json"
    d.write_text('{"labels": ["x", "y", "x"]}', encoding="utf-8")
    with pytest.raises(UserError, match="duplicate"):
        LabelSet.from_spec(str(d))
    one = tmp_path / "one.json"
    one.write_text('{"labels": ["x"]}', encoding="utf-8")
    with pytest.raises(UserError, match="at least two"):
        LabelSet.from_spec(str(one))
    bad = tmp_path / "b.yaml"
    bad.write_text("labels: [a, b\n", encoding="utf-8")
    with pytest.raises(UserError, match="is not valid YAML"):
        LabelSet.from_spec(str(bad))
    same_word = tmp_path / "w.json"
    same_word.write_text('{"labels": [{"name": "a", "verbalizer": "yes"}, {"name": "b", "verbalizer": "Yes"}]}')
    with pytest.raises(UserError, match="verbalizer"):
        LabelSet.from_spec(str(same_word))


def test_parse_answer():
    ag = LabelSet.from_spec("ag_news")
    assert ag.parse_answer(" Sports.") == "Sports"
    assert ag.parse_answer("Technology") == "Sci/Tech"
    assert ag.parse_answer("sci/tech") == "Sci/Tech"
    assert ag.parse_answer("The topic is business news") == "Business"
    assert ag.parse_answer("I don't know") is None
    assert ag.parse_answer("") is None
    ls = LabelSet((Label("negative"), Label("positive")))
    assert ls.parse_answer("Positive!") == "positive"
    assert ls.parse_answer("not sure") is None
