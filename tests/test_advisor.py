"""advisor recommend / advisor rules: outcomes, bad input, rules-file integrity, the pty questionnaire."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from advisor.engine import recommend
from advisor.errors import UserError
from advisor.rulebook import default_rulebook, load_rulebook

ADVISOR = [sys.executable, "-m", "advisor.cli"]


def run_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ADVISOR, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, input=stdin)


def rec_json(*args: str) -> dict:
    proc = run_cli("recommend", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# --- the acceptance cases, through the real command line ---------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["--task", "classification", "--labeled", "0", "--latency-ms", "20", "--qps", "500"], "distill"),
    (["--task", "generation", "--latency-ms", "5000"], "gpt"),
    (["--task", "classification", "--labeled", "5000", "--latency-ms", "5000", "--qps", "1", "--no-few-shot"], "bert"),
    (["--task", "dialogue", "--intent-and-reply"], "hybrid"),
    (["--task", "summarization", "--labeled", "20000", "--latency-ms", "3000"], "encoder-decoder"),
])
def test_acceptance_outcomes(args, expected):
    out = rec_json(*args)
    assert out["recommendation"] == expected
    for key in ("path", "models", "tradeoffs", "next"):
        assert out[key], key
    book = default_rulebook()
    for step in out["path"]:
        assert step["id"] in {r.id for r in book.rules}
        assert step["source"]["file"] and step["source"]["passage"] and step["rationale"]


def test_distill_outcome_prints_ready_config():
    out = rec_json("--task", "classification", "--labeled", "0", "--latency-ms", "20", "--deployment", "edge")
    assert out["recommendation"] == "distill"
    config = yaml.safe_load(out["next"]["config"])
    assert config["export"]["target"] == "arm64"
    assert "advisor distill run distill.yaml" in out["next"]["commands"]


# --- every outcome and branch via the engine ---------------------------------------------------

@pytest.mark.parametrize("answers, outcome, last_rule", [
    ({"task": "dialogue", "intent_and_reply": True}, "hybrid", "R-TASK-DIALOGUE-HYBRID"),
    ({"task": "qa", "rag": True}, "hybrid", "R-TASK-RAG-HYBRID"),
    ({"task": "translation", "labeled": 50000}, "encoder-decoder", "R-GEN-SEQ2SEQ"),
    ({"task": "translation", "labeled": 50000, "few_shot": True}, "gpt", "R-GEN-GPT"),
    ({"task": "reasoning"}, "gpt", "R-GEN-REASONING"),
    ({"task": "generation"}, "gpt", "R-GEN-GPT"),
    ({"task": "classification", "latency_ms": 10, "few_shot": True}, "distill", "R-STRICT-ICL"),
    ({"task": "extraction", "latency_ms": 10, "labeled": 5000}, "bert", "R-STRICT-LABELED"),
    ({"task": "matching", "deployment": "edge"}, "distill", "R-STRICT-COLD-START"),
    ({"task": "classification", "qps": 1000, "labeled": 100}, "distill", "R-STRICT-COLD-START"),
    ({"task": "classification", "reasoning": True}, "gpt", "R-FLEX-ICL"),
    ({"task": "retrieval", "labeled": 5000}, "bert", "R-FLEX-LABELED"),
    ({"task": "classification", "labeled": 10}, "gpt", "R-FLEX-COLD-START"),
])
def test_each_branch(answers, outcome, last_rule):
    rec = recommend(answers)
    assert rec.outcome == outcome
    assert rec.path[-1].id == last_rule


def test_every_decision_rule_is_reachable():
    cases = [
        {"task": "dialogue", "intent_and_reply": True}, {"task": "qa", "rag": True},
        {"task": "translation", "labeled": 50000}, {"task": "reasoning"}, {"task": "generation"},
        {"task": "classification", "latency_ms": 10, "few_shot": True},
        {"task": "extraction", "latency_ms": 10, "labeled": 5000}, {"task": "matching", "deployment": "edge"},
        {"task": "classification", "reasoning": True}, {"task": "retrieval", "labeled": 5000},
        {"task": "classification", "labeled": 10},
    ]
    seen = {r.id for case in cases for r in recommend(case).path}
    book = default_rulebook()
    assert seen == {r.id for rules in book.nodes.values() for r in rules}


@pytest.mark.parametrize("answers, check", [
    ({"task": "generation", "latency_ms": 10, "deployment": "edge"}, "C-GEN-TIGHT-BUDGET"),
    ({"task": "classification", "latency_ms": 10, "reasoning": True}, "C-REASONING-STRICT"),
    ({"task": "generation", "deployment": "edge"}, "C-GPT-ON-EDGE"),
    ({"task": "generation", "privacy": True, "deployment": "hosted-api"}, "C-PRIVACY-HOSTED"),
    ({"task": "classification", "latency_ms": 10, "streaming": True}, "C-STREAMING-ENCODER"),
    ({"task": "generation", "privacy": True}, "N-PRIVACY-OPEN-WEIGHTS"),
    ({"task": "classification", "latency_ms": 10, "long_inputs": True}, "N-LONG-INPUTS-ENCODER"),
    ({"task": "generation", "long_inputs": True}, "N-LONG-INPUTS-DECODER"),
    ({"task": "classification", "deployment": "edge"}, "N-EDGE-COMPRESSED"),
    ({"task": "classification", "languages": "low-resource"}, "N-MULTILINGUAL"),
    ({"task": "classification", "labeled": 0}, "N-FEW-SHOT-STABILITY"),
    ({"task": "matching", "latency_ms": 10}, "N-SENTENCE-PAIR"),
])
def test_each_check_fires(answers, check):
    rec = recommend(answers)
    assert check in {c.id for c in rec.checks}


def test_conflicts_called_out_for_generation_on_10ms_edge():
    out = rec_json("--task", "generation", "--latency-ms", "10", "--deployment", "edge")
    assert {c["id"] for c in out["conflicts"]} >= {"C-GEN-TIGHT-BUDGET", "C-GPT-ON-EDGE"}


def test_what_would_change_is_real():
    """Every counterfactual, re-run with the changed answer, gives the outcome it claims."""
    answers = {"task": "classification", "labeled": 0, "latency_ms": 20, "qps": 500}
    rec = recommend(answers)
    assert rec.what_would_change
    for change in rec.what_would_change:
        again = recommend({**rec.answers.values, change["question"]: change["to"]})
        assert again.outcome == change["outcome"] != rec.outcome


def test_only_questions_on_the_path_are_used():
    rec = recommend({"task": "dialogue", "intent_and_reply": True})
    assert "labeled" not in rec.answers.used and "qps" not in rec.answers.used and "few_shot" not in rec.answers.used


# --- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--task", "classification", "--latency-ms", "-5"], "latency"),
    (["--task", "poetry-slam"], "unknown value"),
    (["--task", "classification", "--labeled", "many"], "labeled"),
    (["--task", "classification", "--qps", "nan"], "qps"),
    (["--task", "classification", "--deployment", "moon"], "deployment"),
    (["--answers", "/definitely/not/here.yaml"], "not found"),
    ([], "missing answer 'task'"),
])
def test_bad_input_one_line_exit_2(args, fragment):
    proc = run_cli("recommend", *args, "--json")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("content, fragment", [
    ("task: [classification\n", "not valid"),
    ("- just\n- a list\n", "mapping"),
    ("task: classification\nbudget: 3\n", "unknown question"),
    ("task: classification\nlatency_ms: fast\n", "latency"),
])
def test_malformed_answers_file(tmp_path, content, fragment):
    path = tmp_path / "answers.yaml"
    path.write_text(content)
    proc = run_cli("recommend", "--answers", str(path))
    assert proc.returncode == 2 and fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_answers_file_and_flag_override(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"task": "classification", "labeled": 5000, "latency-ms": 5000, "qps": 1}))
    assert rec_json("--answers", str(path))["recommendation"] == "bert"
    assert rec_json("--answers", str(path), "--labeled", "0", "--latency-ms", "20")["recommendation"] == "distill"


# --- the rules file -----------------------------------------------------------------------------

def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_rules_json_sources_exist_and_quote_the_seed(seeds_dir: Path):
    proc = run_cli("rules", "--json")
    assert proc.returncode == 0
    data = json.loads(proc.stdout)
    seeds = {p.name: _norm(p.read_text(encoding="utf-8")) for p in seeds_dir.glob("*.txt")}
    sources = [r["source"] for r in data["rules"]] + [o["source"] for o in data["outcomes"].values()]
    for src in sources:
        assert src["file"] in seeds, src
        assert _norm(src["passage"]) in seeds[src["file"]], f"passage not in {src['file']}: {src['passage']}"
    # every seed document is used
    assert {s["file"] for s in sources} == set(seeds)
    ids = [r["id"] for r in data["rules"]]
    assert len(ids) == len(set(ids))
    # every rule id on every path is listed
    for case in ({"task": "classification", "labeled": 0, "latency_ms": 20, "qps": 500},
                 {"task": "generation", "latency_ms": 5000}, {"task": "dialogue", "intent_and_reply": True}):
        rec = recommend(case)
        assert {r.id for r in rec.path + rec.checks} <= set(ids)


def test_rules_file_validation_catches_mistakes(tmp_path):
    good = yaml.safe_load(default_rulebook().path.read_text(encoding="utf-8"))

    def broken(mutate) -> Path:
        data = json.loads(json.dumps(good))
        mutate(data)
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return path

    cases = [
        lambda d: d["nodes"]["root"][0].update(next="nowhere", outcome=None),
        lambda d: d["nodes"]["root"][0].update(when={"mood": "happy"}),
        lambda d: d["nodes"]["strict"][1].update(id="R-SPINE-STRICT"),
        lambda d: d["nodes"]["flexible"][-1].update(outcome="xlnet"),
        lambda d: d["nodes"]["flexible"].pop(),
        lambda d: d["checks"][0].pop("source"),
    ]
    for mutate in cases:
        with pytest.raises(UserError):
            load_rulebook(broken(mutate))


# --- language -----------------------------------------------------------------------------------

def test_lang_zh_prints_chinese():
    proc = run_cli("recommend", "--task", "classification", "--labeled", "0", "--latency-ms", "20", "--lang", "zh")
    assert proc.returncode == 0
    assert "推荐方案" in proc.stdout and "决策路径" in proc.stdout and "冷启动" in proc.stdout


def test_lang_follows_locale():
    proc = run_cli("recommend", "--task", "generation", env={"LC_ALL": "zh_CN.UTF-8"})
    assert "推荐方案" in proc.stdout
    proc = run_cli("recommend", "--task", "generation", env={"LC_ALL": "en_US.UTF-8"})
    assert "Recommendation" in proc.stdout


# --- interactive, through a pseudo-terminal -----------------------------------------------------

def _drive(answers: dict[str, str], lang: str = "en") -> str:
    pexpect = pytest.importorskip("pexpect")
    book = default_rulebook()
    child = pexpect.spawn(sys.executable, ["-m", "advisor.cli", "recommend", "--lang", lang],
                          encoding="utf-8", timeout=60, env={**os.environ, "COLUMNS": "200"})
    asked = []
    prompts = {q.prompt[lang][:30]: qid for qid, q in book.questions.items()}
    patterns = list(prompts) + [pexpect.EOF]
    while True:
        i = child.expect_exact(patterns)
        if patterns[i] is pexpect.EOF:
            break
        qid = prompts[patterns[i]]
        asked.append(qid)
        child.sendline(answers[qid])
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before, asked


@pytest.mark.parametrize("answers, flags, expected", [
    ({"task": "classification", "latency_ms": "20", "few_shot": "n", "reasoning": "n", "labeled": "0",
      "streaming": "n", "privacy": "n", "long_inputs": "n", "deployment": "cpu-server", "languages": "single"},
     ["--task", "classification", "--latency-ms", "20", "--labeled", "0"], "distill"),
    ({"task": "dialogue", "intent_and_reply": "y", "latency_ms": "2000", "deployment": "gpu-server",
      "privacy": "n", "long_inputs": "n", "languages": "single"},
     ["--task", "dialogue", "--intent-and-reply", "--latency-ms", "2000"], "hybrid"),
])
def test_interactive_questionnaire_matches_flags(answers, flags, expected):
    output, asked = _drive(answers)
    assert f"Recommendation: {expected}" in output
    assert rec_json(*flags)["recommendation"] == expected
    # only the questions on the path were asked: e.g. a dialogue is never asked for labels
    if expected == "hybrid":
        assert "labeled" not in asked and "qps" not in asked


def test_interactive_zh_questions():
    answers = {"task": "generation", "rag": "n", "reasoning": "n", "latency_ms": "5000", "deployment": "gpu-server",
               "privacy": "n", "long_inputs": "n", "languages": "single", "intent_and_reply": "n"}
    output, asked = _drive(answers, lang="zh")
    assert "推荐方案: gpt" in output and "task" in asked
