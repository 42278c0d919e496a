"""Every next step `advisor recommend` prints runs as printed.

Fast tests: for every scenario of the scenario suite, each printed command parses through the real
click tree, every outcome and task kind gets steps (commands or honest pointers), and the printed
config is complete and valid. Slow tests execute the printed commands in a scratch directory that
holds the placeholder files the steps name: the quick ones fully (gold-labels, fine-tuning, export,
predict, the LLM check on a gold set), the pipeline ones with --dry-run.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from advisor.cli import cli
from tests.advisor.test_advisor_scenarios import SCENARIOS
from tests.test_docs import _parse  # the click-tree parser the docs test uses


def _rec(*flags: str, lang: str = "en") -> dict:
    res = CliRunner().invoke(cli, ["recommend", *flags, "--json", "--lang", lang])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("sid, flags", [(s[0], s[1]) for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_every_printed_command_parses_and_every_outcome_has_steps(sid, flags):
    out = _rec(*flags)
    steps = out["next"]["steps"]
    assert steps, sid
    for s in steps:
        if s["kind"] == "command":
            args = shlex.split(s["run"])
            assert args[0] == "advisor"
            _parse(args[1:])
        else:
            assert len(s["text"]) > 40
    kinds = {s["kind"] for s in steps}
    task = out["answers"]["task"]
    if out["recommendation"] in ("distill", "bert") and task == "classification" and "--existing-bert" not in flags:
        assert any(" distill " in s.get("run", "") for s in steps), sid  # the toolkit trains it
    if task in ("generation", "dialogue", "summarization", "translation", "qa", "retrieval", "matching") \
            and out["recommendation"] != "hybrid":
        assert "pointer" in kinds, sid  # not trained by the toolkit: an honest pointer


def test_counterfactual_and_measure_commands_use_valid_syntax():
    out = _rec("--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0",
               "--streaming")
    measure = out["next"]["steps"][0]["run"]
    assert measure == ("advisor recommend --task classification --latency-ms 20 --qps 500 --no-existing-bert "
                       "--labeled 0 --streaming --measure")


def _placeholders(root: Path, labels=("label_a", "label_b"), n: int = 12) -> None:
    rows = [("text", "label")] + [(f"this film was {'wonderful' if i % 2 else 'dreadful'}, scene {i}", labels[i % 2])
                                  for i in range(n)]
    for name in ("my_texts.csv", "my_gold.csv"):
        with open(root / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_printed_config_is_complete_commented_and_valid(tmp_path, lang):
    from advisor.pipeline.config import parse_config

    out = _rec("--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0",
               "--deployment", "edge", lang=lang)
    files = out["next"]["files"]
    assert [f["name"] for f in files] == ["distill.yaml"]
    text = files[0]["content"]
    cfg = yaml.safe_load(text)
    assert cfg["teacher"]["model"] == "default" and "SmolLM2-135M" in text  # the teacher is named
    assert cfg["gold"]["path"] == "my_gold.csv" and cfg["gold"]["label_column"] == "label"  # the gold slot
    assert cfg["export"]["target"] == "arm64"
    for line in text.splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"no comment on: {line}"  # every key, default or not, says what it is
    if lang == "zh":
        assert "教师模型" in text and "占位符" in text
    _placeholders(tmp_path)
    parsed = parse_config(cfg, tmp_path)
    assert parsed["student"]["layers"] == cfg["student"]["layers"] and parsed["gold"]["path"].endswith("my_gold.csv")


def test_given_paths_and_teacher_go_into_the_config(tmp_path):
    _placeholders(tmp_path)
    out = _rec("--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0",
               "--data", str(tmp_path / "my_texts.csv"), "--gold", str(tmp_path / "my_gold.csv"),
               "--label-set", "label_a,label_b", "--teacher", "http://127.0.0.1:9/v1", "--server-model", "qwen")
    cfg = yaml.safe_load(out["next"]["files"][0]["content"])
    assert cfg["data"]["path"] == str(tmp_path / "my_texts.csv") and cfg["labels"] == ["label_a", "label_b"]
    assert cfg["teacher"] == {"model": "http://127.0.0.1:9/v1", "server_model": "qwen", "calibrate": "content-free"}
    assert out["next"]["placeholders"] == []


# --- executing the printed commands ---------------------------------------------------------------------

def _run_steps(out: dict, cwd: Path, dry_pipeline: bool = True, skip=("advisor recommend",)) -> list[str]:
    for f in out["next"]["files"]:
        (cwd / f["name"]).write_text(f["content"], encoding="utf-8")
    ran = []
    for s in out["next"]["steps"]:
        if s["kind"] != "command" or s["run"].startswith(skip):
            continue
        args = shlex.split(s["run"])[1:]
        if dry_pipeline and args[:2] == ["distill", "run"] and "--dry-run" not in args:
            args.append("--dry-run")
        proc = subprocess.run([sys.executable, "-m", "advisor.cli", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=900, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 0, f"{s['run']}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        ran.append(s["run"])
    return ran


@pytest.mark.slow
@pytest.mark.parametrize("flags", [
    ["--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0"],  # distill
    ["--task", "dialogue", "--latency-ms", "50", "--intent-and-reply"],  # hybrid: the intent classifier's config
], ids=["distill", "hybrid-intent"])
@pytest.mark.slow  # ~1-2 min here: the full `make test` runs it, `make test-fast` does not
def test_pipeline_steps_run_with_dry_run(tmp_path, flags):
    out = _rec(*flags)
    _placeholders(tmp_path)
    ran = _run_steps(out, tmp_path)
    assert "advisor distill run distill.yaml --dry-run" in ran and "advisor distill run distill.yaml" in ran


@pytest.mark.slow
def test_bert_fine_tuning_steps_run_as_printed_on_plain_gold_csv(tmp_path, shared_data):
    """The bert route on an ordinary text,label file: gold-labels -> distill train -> export -> predict."""
    rows = [r for r in csv.DictReader(open(shared_data / "sst2" / "dev.tsv", encoding="utf-8"), delimiter="\t")][:40]
    with open(tmp_path / "my_gold.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for r in rows:
            w.writerow([r["sentence"].strip(), "positive" if r["label"] == "1" else "negative"])
    out = _rec("--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "40",
               "--no-few-shot", "--no-reasoning")
    assert out["recommendation"] == "bert"
    ran = _run_steps(out, tmp_path)
    assert [r.split()[1] for r in ran] == ["gold-labels", "distill", "export", "predict"]
    first = json.loads((tmp_path / "runs" / "bert" / "labels.jsonl").read_text().splitlines()[0])
    assert first["source"] == "gold" and first["probs"][first["label"]] == 1.0
    assert (tmp_path / "runs" / "bert" / "bundle" / "model.onnx").is_file()


@pytest.mark.slow
def test_gpt_llm_check_step_runs_as_printed(tmp_path):
    out = _rec("--task", "classification", "--latency-ms", "2000", "--qps", "1", "--no-adversarial", "--no-existing-bert",
               "--few-shot")
    assert out["recommendation"] == "gpt"
    _placeholders(tmp_path, n=6)
    ran = _run_steps(out, tmp_path)
    assert any(r.startswith("advisor distill label") for r in ran)
    assert (tmp_path / "runs" / "llm-check" / "labels.jsonl").is_file()


def test_gold_labels_command(tmp_path):
    (tmp_path / "g.csv").write_text("text,label\ngood film,pos\nbad film,neg\nfine film,pos\n", encoding="utf-8")
    res = CliRunner().invoke(cli, ["gold-labels", str(tmp_path / "g.csv"), "--out", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in (tmp_path / "run" / "labels.jsonl").read_text().splitlines()]
    assert [r["label"] for r in rows] == ["pos", "neg", "pos"] and rows[1]["probs"] == {"pos": 0.0, "neg": 1.0}
    from distill.training.labels import read_labels

    got = read_labels(tmp_path / "run" / "labels.jsonl")
    assert got.names == ["pos", "neg"] and got.teacher == [0, 1, 0] and got.gold == [0, 1, 0]
    (tmp_path / "one.csv").write_text("text,label\ngood,pos\nbad,pos\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", "gold-labels", str(tmp_path / "one.csv"), "--out",
                           str(tmp_path / "r2")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error:") and "only one value" in proc.stderr


# --- the config of the right task kind (issue 14): matching -> pairs -----------------------------------

KIND_SCENARIOS = [  # (flags, the task kind of the printed config)
    (["--task", "matching", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0"], "pairs"),
    (["--task", "extraction", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0"], "ner"),
    (["--task", "classification", "--multi-label", "--latency-ms", "20", "--qps", "500", "--no-existing-bert",
      "--labeled", "0"], "multilabel"),
]


def _kind_placeholders(root: Path, kind: str) -> None:
    if kind == "ner":
        rows = [{"text": f"Alice met Bob in Paris on day {i}", "spans": [{"start": 0, "end": 5, "type": "type_a"},
                                                                      {"start": 17, "end": 22, "type": "type_b"}]}
                for i in range(12)]
        for name in ("my_texts.jsonl", "my_gold.jsonl"):
            (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return None
    if kind == "multilabel":
        rows = [("text", "label")] + [(f"a film that was {'wonderful' if i % 2 else 'dreadful'}, take {i}",
                                       "label_a,label_b" if i % 3 == 0 else ("label_a", "label_b")[i % 2])
                                      for i in range(12)]
        for name in ("my_texts.csv", "my_gold.csv"):
            with open(root / name, "w", newline="", encoding="utf-8") as fh:
                csv.writer(fh).writerows(rows)
        return None
    if kind != "pairs":
        return _placeholders(root)
    rows = [("text", "text_pair", "label")] + [(f"the film was good, take {i}", f"the movie was {'good' if i % 2 else 'bad'}",
                                                ("label_a", "label_b")[i % 2]) for i in range(12)]
    for name in ("my_texts.csv", "my_gold.csv"):
        with open(root / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)


@pytest.mark.parametrize("flags, kind", KIND_SCENARIOS, ids=[k for _, k in KIND_SCENARIOS])
def test_the_printed_config_has_the_task_kind(tmp_path, flags, kind):
    from advisor.pipeline.config import parse_config

    out = _rec(*flags)
    cfg = yaml.safe_load(out["next"]["files"][0]["content"])
    assert cfg.get("task", "classification") == kind
    _kind_placeholders(tmp_path, kind)
    parsed = parse_config(cfg, tmp_path)
    assert parsed["task"] == kind
    if kind == "pairs":
        assert parsed["data"]["text_pair_column"] == "text_pair" and parsed["gold"]["text_pair_column"] == "text_pair"
    if kind == "ner":
        assert parsed["data"]["format"] == "spans" and parsed["labels"] == "type_a,type_b"
    assert not any("not a task kind" in s.get("text", "") for s in out["next"]["steps"])


@pytest.mark.slow
@pytest.mark.parametrize("flags, kind", KIND_SCENARIOS, ids=[k for _, k in KIND_SCENARIOS])
def test_the_printed_config_of_each_kind_passes_the_dry_run(tmp_path, flags, kind):
    out = _rec(*flags)
    _kind_placeholders(tmp_path, kind)
    ran = _run_steps(out, tmp_path)
    assert "advisor distill run distill.yaml --dry-run" in ran
