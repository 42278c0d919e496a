"""advisor recommend / advisor rules: the CLI, bad input, the rules file against the seed documents,
counterfactuals, assumed defaults, languages, model filtering and the pty questionnaire.

The scenario suite (outcomes from the documents) is tests/advisor/test_advisor_scenarios.py; next steps
and --measure are tests/advisor/test_advisor_next_steps.py and tests/advisor/test_advisor_measure.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from advisor.cli import cli
from advisor.questionnaire.engine import recommend
from core.errors import UserError
from advisor.questionnaire.rulebook import TREE_002, default_rulebook, load_rulebook

ADVISOR = [sys.executable, "-m", "advisor.cli"]


def run_cli(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*ADVISOR, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, input=stdin)


def rec_json(*args: str) -> dict:
    res = CliRunner().invoke(cli, ["recommend", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def rec_text(*args: str) -> str:
    res = CliRunner().invoke(cli, ["recommend", *args])
    assert res.exit_code == 0, res.output
    return res.output


# --- through the real command line ---------------------------------------------------------------

def test_cli_subprocess_outcome_and_json_shape():
    proc = run_cli("recommend", "--task", "classification", "--labeled", "0", "--latency-ms", "20", "--qps", "500",
                   "--no-existing-bert", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["recommendation"] == "distill"
    for key in ("path", "departures", "models", "tradeoffs", "conflicts", "notes", "what_would_change", "cost", "next"):
        assert key in out
    assert out["path"][0]["id"] == "R-Q1-LATENCY"


def test_generation_meets_the_serving_question_first():
    """002's order: Q1 (serving) before Q3 (generation); qps is read for a generative task."""
    out = rec_json("--task", "summarization", "--latency-ms", "5000", "--qps", "500", "--no-rag")
    assert out["path"][0]["id"] == "R-Q1-QPS" and "qps" in out["answers"]
    assert out["recommendation"] == "gpt"
    assert [c["id"] for c in out["conflicts"] if c.get("kind") == "departure"] == ["R-L1-GENERATION"]


# --- the rules file against the seed documents ------------------------------------------------------

def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _all_sources(data: dict) -> list[dict]:
    out = []
    for r in data["rules"]:
        out.append(r["source"])
        out += r.get("also", [])
        if "departure" in r:
            out.append(r["departure"]["source"])
    out += [o["source"] for o in data["outcomes"].values()]
    out += [p["source"] for p in data["params"].values()]
    return out


def test_every_passage_exists_verbatim_in_its_seed(seeds_dir: Path):
    data = json.loads(CliRunner().invoke(cli, ["rules", "--json"]).output)
    seeds = {p.name: _norm(p.read_text(encoding="utf-8")) for p in seeds_dir.glob("*.txt")}
    sources = _all_sources(data)
    for src in sources:
        if src.get("toolkit"):
            assert len(src["ref"]) > 20, src  # a toolkit default names its external source
            continue
        assert src["file"] in seeds, src
        assert _norm(src["passage"]) in seeds[src["file"]], f"passage not in {src['file']}: {src['passage']}"
    assert {s["file"] for s in sources if not s.get("toolkit")} == set(seeds)  # every document is used
    for step, text in TREE_002.items():  # 002's tree as shown to users is 002's own text
        for line in text.split(" └─ 否 "):
            assert _norm(line) in seeds["002_6c6103523bb356e7.txt"], step


def test_each_rule_cites_the_passage_that_carries_it():
    """Spot checks of the citations the issue found wrong."""
    book = default_rulebook()
    assert "优先选BERT" in book.rule("R-L1-BERT").source.passage
    assert "边缘设备" in book.rule("R-Q1-EDGE").source.passage  # the edge passage only on the edge rule
    assert "边缘设备" not in book.rule("R-L1-BERT").source.passage
    assert "迁移到小型BERT" in book.rule("R-L1-DISTILL").source.passage  # distillation cites distillation
    assert "可能优于" in book.rule("N-MULTILINGUAL").source.passage and "局限" in book.rule("N-MULTILINGUAL").source.passage
    assert book.rule("N-PRIVACY-SELF-HOSTED").source.toolkit  # no document speaks of privacy: a toolkit default
    assert "微调BERT更优" in book.rule("R-L4-FINETUNE-BERT").source.passage
    # translation is a GPT task in the documents (003, 002 三.1): no rule sends it to T5/BART on labels alone
    out = rec_json("--task", "translation", "--latency-ms", "3000", "--qps", "1", "--no-few-shot", "--labeled", "50000",
                   "--no-understand-and-generate")
    assert out["recommendation"] == "gpt"


def test_toolkit_defaults_are_shown_as_such():
    text = rec_text("--task", "generation", "--latency-ms", "3000", "--qps", "1", "--privacy", "--no-few-shot",
                    "--no-rag", "--no-understand-and-generate")
    assert "N-PRIVACY-SELF-HOSTED" in text and "toolkit default (not in the documents)" in text


def test_rules_file_validation_catches_mistakes(tmp_path):
    good = yaml.safe_load(default_rulebook().path.read_text(encoding="utf-8"))

    def broken(mutate) -> Path:
        data = json.loads(json.dumps(good))
        mutate(data)
        path = tmp_path / "rules.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return path

    cases = [
        lambda d: d["nodes"]["root"][0].update(next="nowhere"),
        lambda d: d["nodes"]["root"][0].update(when={"mood": "happy"}),
        lambda d: d["nodes"]["bert_side"][1].update(id="R-Q1-LATENCY"),
        lambda d: d["nodes"]["generation"][-1].update(outcome="xlnet"),
        lambda d: d["nodes"]["generation"].pop(),
        lambda d: d["checks"][0].pop("source"),
        lambda d: d["nodes"]["bert_side"][0].pop("departure"),          # a departure must say why
        lambda d: d["nodes"]["root"][0].update(tree={"step": "Q9"}),
        lambda d: d["nodes"]["root"][0].update(when={"latency_ms": {"lte": "$nope"}}),
        lambda d: d["params"]["high_qps"].update(source={"toolkit": True}),  # a toolkit default needs its ref
    ]
    for mutate in cases:
        with pytest.raises(UserError):
            load_rulebook(broken(mutate))


# --- what would change the answer -----------------------------------------------------------------

def test_counterfactuals_are_real_and_valid_cli():
    out = rec_json("--task", "classification", "--latency-ms", "1000", "--qps", "1", "--labeled", "0", "--no-few-shot",
                   "--no-reasoning", "--no-adversarial", "--no-existing-bert")
    assert out["recommendation"] == "gpt"
    changes = {c["question"]: c for c in out["what_would_change"]}
    assert changes["latency_ms"]["cli"] == "--latency-ms 100"      # found by bisection: exactly the threshold
    assert changes["latency_ms"]["outcome"] == "distill"
    assert changes["qps"]["cli"] == "--qps 100"
    assert changes["adversarial"]["cli"] == "--adversarial"
    assert changes["existing_bert"]["cli"] == "--existing-bert"
    assert changes["labeled"]["cli"] == "--labeled 1" and changes["labeled"]["outcome"] == "bert"  # no cliff at 1000
    assert any("strict_latency_ms = 100 ms" in t and "Nielsen" in t for t in changes["latency_ms"]["thresholds_text"])
    for c in out["what_would_change"]:
        assert "True" not in c["cli"] and "False" not in c["cli"] and not re.search(r"\d\.0\b", c["cli"])
        again = rec_json(*_flags_of(out["answers"], c))
        assert again["recommendation"] == c["outcome"] != out["recommendation"]


def _flags_of(answers: dict, change: dict) -> list[str]:
    book = default_rulebook()
    values = {**answers, change["question"]: change["to"]}
    return [tok for k, v in values.items() if v is not None for tok in book.questions[k].cli_value(v).split()]


def test_threshold_moves_with_param_override():
    out = rec_json("--task", "classification", "--latency-ms", "1000", "--qps", "1", "--labeled", "0", "--no-few-shot",
                   "--no-reasoning", "--no-adversarial", "--no-existing-bert", "--param", "strict_latency_ms=250")
    assert {c["question"]: c["cli"] for c in out["what_would_change"]}["latency_ms"] == "--latency-ms 250"


def test_budget_flip_is_the_gpt_cost_of_the_volume():
    """002 六.2: volume x hosted-API cost per text vs the budget; the flip is found by search."""
    base = ["--task", "classification", "--latency-ms", "1000", "--qps", "1", "--volume", "10000000", "--seq-len", "140",
            "--labeled", "0", "--no-few-shot", "--no-reasoning", "--no-adversarial", "--no-existing-bert"]
    # per text: (140 + 60) x 0.15/1M + 2 x 0.60/1M = 3.12e-5 -> 312 per month for 10M texts
    low = rec_json(*base, "--budget", "300")
    assert low["path"][0]["id"] == "R-Q1-BUDGET" and low["recommendation"] == "distill"
    high = rec_json(*base, "--budget", "312")
    assert high["path"][0]["id"] == "R-Q1-NO" and high["recommendation"] == "gpt"
    flip = {c["question"]: c for c in low["what_would_change"]}
    assert flip["budget"]["cli"] == "--budget 312"
    assert flip["volume"]["cli"] == "--volume 9615000"  # largest 1,000-step volume whose cost stays within 300


# --- assumed defaults ------------------------------------------------------------------------------

def test_assumed_decisive_values_are_named_in_the_verdict():
    text = rec_text("--task", "classification")
    first = text.splitlines()[:2]
    assert first[0].startswith("Recommendation: ")
    assert first[1].startswith("!! ASSUMED, not given:") and "--latency-ms 1000" in first[1] and "--qps 1" in first[1]
    out = rec_json("--task", "classification")
    assert out["assumed"]["latency_ms"] == 1000 and "--labeled 0" in out["assumed_flags"]


def test_no_assumed_notice_when_every_decisive_answer_is_given():
    text = rec_text("--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0")
    assert "ASSUMED" not in text


# --- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, fragment", [
    (["--task", "classification", "--latency-ms", "-5"], "latency"),
    (["--task", "poetry-slam"], "unknown value"),
    (["--task", "classification", "--labeled", "many"], "labeled"),
    (["--task", "classification", "--labeled", "2.5"], "whole number"),
    (["--task", "classification", "--qps", "nan"], "qps"),
    (["--task", "classification", "--deployment", "moon"], "deployment"),
    (["--task", "classification", "--budget", "cheap"], "budget"),
    (["--task", "classification", "--param", "nope=3"], "--param"),
    (["--task", "classification", "--cpu-hour-price", "-1"], "cpu-hour-price"),
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


@pytest.mark.parametrize("args, fragment", [
    (["--task", "诗歌"], "未知的取值"),
    (["--task", "classification", "--labeled", "很多"], "应为数字"),
    ([], "缺少回答"),
])
def test_bad_input_in_chinese(args, fragment):
    proc = run_cli("recommend", *args, "--lang", "zh")
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and fragment in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("content, fragment", [
    ("task: [classification\n", "not valid"),
    ("- just\n- a list\n", "mapping"),
    ("task: classification\nmood: 3\n", "unknown question"),
    ("task: classification\nlatency_ms: fast\n", "latency"),
])
def test_malformed_answers_file(tmp_path, content, fragment):
    path = tmp_path / "answers.yaml"
    path.write_text(content)
    proc = run_cli("recommend", "--answers", str(path))
    assert proc.returncode == 2 and fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_answers_file_and_flag_override(tmp_path):
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"task": "classification", "labeled": 5000, "latency-ms": 5000, "qps": 1,
                                "few_shot": False, "existing_bert": "no"}))
    assert rec_json("--answers", str(path))["recommendation"] == "bert"
    assert rec_json("--answers", str(path), "--labeled", "0", "--latency-ms", "20")["recommendation"] == "distill"


# --- language ------------------------------------------------------------------------------------

def test_lang_zh_is_chinese_throughout():
    text = rec_text("--task", "对话", "--latency-ms", "50", "--intent-and-reply", "--lang", "zh")
    assert text.startswith("推荐方案：混合级联（hybrid）")
    for word in ("决策路径", "与 002 决策树的冲突", "可考虑的模型", "权衡", "哪些回答会改变结论", "下一步", "证据", "成本"):
        assert word in text, word
    assert "（当前 否）" in text or "（当前 是）" in text  # booleans in Chinese
    assert "True" not in text and "False" not in text
    assert "Recommendation" not in text and "Next:" not in text


def test_lang_follows_locale():
    proc = run_cli("recommend", "--task", "generation", env={"LC_ALL": "zh_CN.UTF-8"})
    assert "推荐方案" in proc.stdout
    proc = run_cli("recommend", "--task", "generation", env={"LC_ALL": "en_US.UTF-8"})
    assert "Recommendation" in proc.stdout


def test_chinese_and_alias_flag_values():
    assert rec_json("--task", "命名实体识别", "--deployment", "手机", "--labeled", "5000", "--no-existing-bert")["answers"]["deployment"] == "edge"
    assert rec_json("--task", "ner", "--deployment", "gpu", "--language", "多语言")["answers"]["language"] == "multilingual"


# --- model suggestions -------------------------------------------------------------------------------

def _models(out: dict, role: str) -> list[str]:
    return [m["name"] for g in out["model_groups"] if g["role"] == role for m in g["models"]]


def test_models_filtered_by_latency_language_and_deployment():
    fast = rec_json("--task", "classification", "--latency-ms", "20", "--qps", "500", "--labeled", "5000", "--no-existing-bert",
                    "--no-few-shot", "--no-reasoning", "--language", "english")
    enc = _models(fast, "encoder")
    assert "ALBERT-xxlarge" not in enc and "all-MiniLM-L6-v2" in enc  # no 200x-compute encoder for a 20 ms budget
    multi = rec_json("--task", "classification", "--latency-ms", "50", "--qps", "1", "--labeled", "5000", "--no-existing-bert",
                     "--no-few-shot", "--no-reasoning", "--language", "multilingual")
    enc = _models(multi, "encoder")
    assert enc and all(n in ("paraphrase-multilingual-MiniLM-L12-v2", "XLM-RoBERTa-base", "mDeBERTa-v3-base") for n in enc)
    assert not any("BLOOM" in n for n in multi["models"])  # a decoder is not a 50 ms classifier
    edge = rec_json("--task", "dialogue", "--deployment", "edge", "--latency-ms", "500", "--qps", "1", "--no-intent-and-reply",
                    "--no-rag")
    assert _models(edge, "decoder") and all(n in ("SmolLM2-135M-Instruct", "Qwen2.5-0.5B-Instruct") for n in _models(edge, "decoder"))
    private = rec_json("--task", "generation", "--deployment", "hosted-api", "--privacy", "--latency-ms", "3000", "--qps", "1",
                       "--no-few-shot", "--no-rag", "--no-understand-and-generate")
    assert not any("hosted" in n for n in private["models"])
    hosted = rec_json("--task", "generation", "--deployment", "hosted-api", "--latency-ms", "3000", "--qps", "1",
                      "--no-few-shot", "--no-rag", "--no-understand-and-generate")
    assert any("hosted" in n for n in hosted["models"])
    zh = rec_json("--task", "classification", "--latency-ms", "500", "--qps", "1", "--labeled", "5000", "--no-existing-bert",
                  "--no-few-shot", "--no-reasoning", "--no-understand-and-generate", "--language", "chinese")
    assert "bert-base-chinese" in zh["models"] and "RoBERTa-base" not in zh["models"]


# --- cost ------------------------------------------------------------------------------------------

def test_cost_rows_are_estimates_with_sources_without_measure():
    out = rec_json("--task", "classification", "--latency-ms", "20", "--qps", "500", "--labeled", "0", "--no-existing-bert",
                   "--volume", "2000000", "--api-price-in", "1", "--api-price-out", "2")
    rows = {r["model"]: r for r in out["cost"]["rows"]}
    assert not out["cost"]["measured"] and out["evidence"] is None
    api = rows["gpt-hosted-api"]
    assert api["cost"] == pytest.approx((128 + 60) * 1 + 2 * 2)   # per 1M texts, prices given
    assert api["per_month"] == pytest.approx(api["cost"] * 2)
    assert "docs/benchmarks.md" in rows["student"]["how"]
    text = rec_text("--task", "classification", "--latency-ms", "20", "--qps", "500", "--labeled", "0", "--no-existing-bert")
    assert "ESTIMATES, not measured" in text


# --- interactive, through a pseudo-terminal ----------------------------------------------------------

def _drive(answers: dict[str, str], lang: str = "en", extra: tuple[str, ...] = ()) -> tuple[str, list[str], str]:
    pexpect = pytest.importorskip("pexpect")
    answers = {"multi_label": "no" if lang == "en" else "否", **answers}  # asked after the walk for classification
    book = default_rulebook()
    child = pexpect.spawn(sys.executable, ["-m", "advisor.cli", "recommend", "--lang", lang, *extra],
                          encoding="utf-8", timeout=60, env={**os.environ, "COLUMNS": "250"})
    asked, transcript = [], []
    prompts = {q.prompt[lang][:14]: qid for qid, q in book.questions.items()}
    patterns = list(prompts) + [pexpect.EOF]
    while True:
        i = child.expect_exact(patterns)
        transcript.append(child.before)
        if patterns[i] is pexpect.EOF:
            break
        qid = prompts[patterns[i]]
        asked.append(qid)
        child.sendline(answers[qid])
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before, asked, "".join(transcript)


def test_interactive_english_with_aliases():
    answers = {"task": "ner", "latency_ms": "30", "qps": "200", "deployment": "mobile", "existing_bert": "n",
               "generative_extraction": "no",
               "few_shot": "no", "reasoning": "n", "labeled": "5000", "privacy": "n", "seq_len": "", "language": "en",
               "domain": "", "adversarial": "n", "streaming": "n", "volume": "2,000,000"}
    output, asked, _ = _drive(answers)
    assert "Recommendation: bert" in output
    assert asked[0] == "task" and "intent_and_reply" not in asked and "rag" not in asked
    assert asked[-1] == "volume" and "2,000,000 texts" in output  # the volume question feeds the cost section
    flags = rec_json("--task", "extraction", "--latency-ms", "30", "--qps", "200", "--deployment", "edge",
                     "--no-existing-bert", "--no-generative-extraction", "--no-few-shot", "--no-reasoning", "--labeled", "5000")
    assert flags["recommendation"] == "bert"


def test_interactive_rejects_then_accepts_and_lists_choices_once():
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(sys.executable, ["-m", "advisor.cli", "recommend", "--lang", "en", "--latency-ms", "20", "--qps", "500",
                                           "--no-existing-bert", "--labeled", "0", "--no-privacy", "--no-streaming",
                                           "--seq-len", "64", "--volume", "5000", "--language", "english", "--deployment", "gpu",
                                           "--no-adversarial", "--domain", "general"],
                          encoding="utf-8", timeout=60, env={**os.environ, "COLUMNS": "250"})
    child.expect_exact("What is the task?")
    child.expect_exact("] ")
    prompt = child.before
    assert prompt.count("classification") == 1  # the choices, once
    child.sendline("poetry")
    child.expect_exact("unknown value 'poetry'")
    child.expect_exact("What is the task?")
    child.sendline("chat")  # alias of dialogue
    child.expect_exact("Must the dialogue system")
    child.sendline("yes")
    child.expect(pexpect.EOF)
    assert "Recommendation: hybrid" in child.before


def test_interactive_chinese_words():
    answers = {"task": "对话", "latency_ms": "500", "qps": "5", "deployment": "gpu", "budget": "", "few_shot": "否",
               "reasoning": "否", "intent_and_reply": "是", "privacy": "否", "seq_len": "", "language": "中文",
               "domain": "通用", "streaming": "否", "rag": "否", "volume": ""}
    output, asked, transcript = _drive(answers, lang="zh")
    assert "推荐方案：混合级联（hybrid）" in output
    assert asked[0] == "task" and "intent_and_reply" in asked and "labeled" not in asked
    assert "[是/否]" in transcript and "对话 dialogue" in transcript
    assert rec_json("--task", "dialogue", "--latency-ms", "500", "--qps", "5", "--no-few-shot", "--no-reasoning",
                    "--intent-and-reply")["recommendation"] == "hybrid"


def test_interactive_chinese_edge_and_labels():
    answers = {"task": "分类", "latency_ms": "2000", "qps": "1", "deployment": "端侧", "existing_bert": "否", "few_shot": "否",
               "reasoning": "否", "labeled": "0", "privacy": "否", "seq_len": "64", "language": "中文", "domain": "医疗",
               "adversarial": "否", "streaming": "不需要", "volume": "100000", "multi_label": "是"}
    output, asked, _ = _drive(answers, lang="zh")
    assert "推荐方案：蒸馏（distill）" in output and "N-VERTICAL-DOMAIN" in output
    assert asked[-1] == "multi_label" and "task: multilabel" in output  # a classification task: the config's kind
