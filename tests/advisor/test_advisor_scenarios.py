"""Engineering scenarios for `advisor recommend`, written from the five seed documents.

Each scenario: the flags an engineer would give, the outcome the documents call for, the rules
expected on the path (or among the checks), and one line of justification citing the document.
Together they cover every step of 002's tree (section 五), every decision rule, every check and
every departure from 002's tree (tests at the bottom enforce this).

Serving is "relaxed" in these scenarios unless said: p95 budget 2 s, 5 requests/s on a GPU server,
no budget limit - 002 六.1 "工业部署依赖云服务，对时延不敏感".
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from advisor.cli import cli
from advisor.questionnaire.rulebook import TREE_STEPS, default_rulebook

RELAXED = ["--latency-ms", "2000", "--qps", "5", "--deployment", "gpu-server"]
NLU_RELAXED = RELAXED + ["--no-adversarial", "--no-existing-bert"]

# (id, flags, expected outcome, rules expected on the path or among the checks, justification)
SCENARIOS = [
    ("sentiment-5k-labels", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "5000", "--no-understand-and-generate"],
     "bert", ["R-Q1-NO", "R-Q2-NO", "R-L4-FINETUNE-BERT"],
     "002 五 L4: 否（如仅需分类） → 微调BERT更优 - no serving constraint, no ICL, not generative"),
    ("sentiment-300-labels", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "300", "--no-understand-and-generate"],
     "bert", ["R-L4-FINETUNE-BERT", "N-FEW-LABELS"],
     "002 五 L4 has no label-count threshold; few-sample instability is an external caution (Zhang et al. 2021), not an outcome"),
    ("intent-20ms-500qps-no-labels", ["--task", "classification", "--latency-ms", "20", "--qps", "500", "--no-existing-bert", "--labeled", "0"],
     "distill", ["R-Q1-LATENCY", "R-L1-DISTILL"],
     "002 五 Q1 yes -> BERT; no labels, so a GPT teacher labels for a BERT student (002 四.3 模型蒸馏)"),
    ("intent-500qps-only", ["--task", "classification", "--latency-ms", "500", "--qps", "500", "--no-existing-bert", "--labeled", "0"],
     "distill", ["R-Q1-QPS", "R-L1-DISTILL"],
     "002 五 Q1 asks about high concurrency as well as low latency"),
    ("moderation-on-phones-10k-labels", ["--task", "classification", "--latency-ms", "500", "--qps", "1", "--deployment", "edge",
                                         "--no-existing-bert", "--no-few-shot", "--no-reasoning", "--labeled", "10000"],
     "bert", ["R-Q1-EDGE", "R-L1-BERT", "N-EDGE-COMPRESSED"],
     "002 三: 轻量级模型（如BERT-PET或TinyBERT）可在边缘设备（如手机、IoT）运行"),
    ("edge-no-labels", ["--task", "classification", "--latency-ms", "500", "--qps", "1", "--deployment", "edge", "--no-existing-bert",
                        "--no-few-shot", "--no-reasoning", "--labeled", "0"],
     "distill", ["R-Q1-EDGE", "R-L1-DISTILL", "N-EDGE-COMPRESSED"],
     "002 六.2 对推理速度和能耗（如移动端）要求高 -> BERT; labels from a GPT teacher (002 四.3)"),
    ("50M-texts-small-budget", ["--task", "classification", *RELAXED, "--budget", "100", "--volume", "50000000", "--seq-len", "128",
                                "--no-existing-bert", "--no-few-shot", "--no-reasoning", "--labeled", "5000"],
     "bert", ["R-Q1-BUDGET", "R-L1-BERT"],
     "002 六.2: 数据量大但预算有限（大模型训练/推理成本高） is a case where BERT cannot be replaced"),
    ("1M-texts-ample-budget", ["--task", "classification", *NLU_RELAXED, "--budget", "1000", "--volume", "1000000", "--seq-len", "128",
                               "--no-few-shot", "--no-reasoning", "--labeled", "5000", "--no-understand-and-generate"],
     "bert", ["R-Q1-NO", "R-L4-FINETUNE-BERT"],
     "a budget that covers the GPT cost is no constraint; 002 五 continues to L4 for a labelled classifier"),
    ("paraphrase-no-labels", ["--task", "matching", *RELAXED, "--labeled", "0"],
     "bert", ["R-Q1-PAIR", "R-L1-PAIR", "N-SENTENCE-PAIR"],
     "002 三: BERT的[CLS]向量适合句子对分类（如同义句识别），而GPT的[SEP]表示不稳定"),
    ("similarity-few-shot", ["--task", "similarity", *RELAXED, "--few-shot"],
     "bert", ["R-Q1-PAIR", "R-L1-PAIR"],
     "002 三 lists symmetric sentence-pair tasks where BERT stays irreplaceable, even when prompting is possible"),
    ("spam-adversarial-no-labels", ["--task", "classification", *RELAXED, "--adversarial", "--no-existing-bert", "--no-few-shot",
                                    "--no-reasoning", "--labeled", "0"],
     "distill", ["R-Q1-ADVERSARIAL", "R-L1-DISTILL", "N-ADVERSARIAL-DISTILL"],
     "002 三: BERT的MLM训练范式隐含增强了对局部扰动的抵抗能力; the student is a BERT, labels from a GPT"),
    ("fraud-adversarial-20k-labels", ["--task", "classification", *RELAXED, "--adversarial", "--no-existing-bert", "--no-few-shot",
                                      "--no-reasoning", "--labeled", "20000"],
     "bert", ["R-Q1-ADVERSARIAL", "R-L1-BERT"],
     "002 三 adversarial robustness: 大模型可能因依赖更复杂的特征关联性而更脆弱"),
    ("simple-task-existing-bert", ["--task", "classification", *RELAXED, "--no-adversarial", "--existing-bert"],
     "bert", ["R-Q1-EXISTING", "R-L1-EXISTING"],
     "002 六.2: 任务简单且已存在适配BERT的完整解决方案"),
    ("existing-bert-20ms", ["--task", "classification", "--latency-ms", "20", "--existing-bert"],
     "bert", ["R-Q1-LATENCY", "R-L1-EXISTING"],
     "002 五 L1: 优先选BERT（或尝试模型压缩的BERT变体） - keep and compress the existing model"),
    ("labels-change-weekly", ["--task", "classification", *NLU_RELAXED, "--few-shot"],
     "gpt", ["R-Q2-FEW-SHOT", "N-FEW-SHOT-STABILITY"],
     "002 五 L2: 是否依赖上下文学习 -> 是 -> 使用大参数GPT模型; 002 二.1 效果可能不如微调后的BERT稳定"),
    ("classification-with-reasoning", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--reasoning"],
     "gpt", ["R-Q2-REASONING"],
     "002 五 L2: 复杂推理 -> 大参数GPT; 002 二.4 思维链提示显著提升效果"),
    ("math-word-problems", ["--task", "math", *RELAXED, "--no-few-shot"],
     "gpt", ["R-Q2-REASONING"],
     "002 二.4: 数学问题求解 with CoT prompting; 002 五 L2"),
    ("cold-start-classifier", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "0"],
     "gpt", ["R-Q2-COLD-START", "N-FEW-SHOT-STABILITY"],
     "002 二.1: 避免了BERT系列模型微调时对标注数据的依赖，适用于冷启动场景"),
    ("extractive-qa-no-labels", ["--task", "qa", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "0", "--no-rag"],
     "gpt", ["R-Q2-COLD-START"],
     "002 二.1 cold start: with no labels there is nothing to fine-tune a BERT on"),
    ("ner-8k-labels", ["--task", "ner", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "8000", "--no-generative-extraction"],
     "bert", ["R-Q2-NO", "R-L4-FINETUNE-BERT"],
     "000 一: BERT擅长理解任务（如文本分类、命名实体识别）; 002 五 L4"),
    ("ranking-5k-labels", ["--task", "ranking", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "5000", "--no-rag"],
     "bert", ["R-L4-FINETUNE-BERT"],
     "004 场景3: BERT 做检索/排序; 002 五 L4"),
    ("drug-names-from-dialogue", ["--task", "extraction", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "100",
                                  "--generative-extraction"],
     "gpt", ["R-Q3-GEN-EXTRACTION"],
     "002 二.2: GPT类模型可直接通过生成式输出完成分类或信息提取，而无需BERT额外设计标注层"),
    ("generative-extraction-50ms", ["--task", "extraction", "--latency-ms", "50", "--generative-extraction"],
     "gpt", ["R-Q1-LATENCY", "R-L1-GENERATION"],
     "generated output needs a decoder (001 三.1 BERT难以直接用于文本生成); 002 L1 is overridden, shown as a conflict"),
    ("news-summaries", ["--task", "summarization", *RELAXED, "--no-few-shot", "--no-rag", "--no-understand-and-generate"],
     "gpt", ["R-Q2-NO", "R-Q3-GENERATIVE"],
     "002 五 L3: 是否为生成导向任务 -> 是 -> GPT类模型; 000 案例2 新闻摘要生成（GPT）"),
    ("translation-50k-pairs", ["--task", "translation", *RELAXED, "--no-few-shot", "--no-understand-and-generate", "--labeled", "50000"],
     "gpt", ["R-Q3-GENERATIVE", "N-GEN-LORA"],
     "003 四: GPT ... 在文本生成、机器翻译 ... 表现出色; 002 三: 大模型微调 ... 如LoRA、P-Tuning"),
    ("summarise-and-classify", ["--task", "summarization", *RELAXED, "--no-few-shot", "--no-rag", "--understand-and-generate"],
     "encoder-decoder", ["R-Q3-BOTH", "N-PREFIX-LM"],
     "002 四.1: T5可同时处理摘要（生成）和文本分类（理解）; 001 五.1 Prefix-LM"),
    ("classifier-that-also-explains", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "5000",
                                       "--understand-and-generate"],
     "encoder-decoder", ["R-Q3-BOTH"],
     "000 四: 两者逐渐融合（如UniLM、T5），同时支持生成和理解"),
    ("shop-assistant-intent-and-reply", ["--task", "dialogue", *RELAXED, "--no-few-shot", "--intent-and-reply"],
     "hybrid", ["R-Q3-INTENT-REPLY"],
     "000 案例3: 混合架构（BERT识别意图+GPT生成回复）效果最佳"),
    ("support-qa-over-docs", ["--task", "qa", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "0", "--rag"],
     "hybrid", ["R-Q3-RAG"],
     "004 场景3: 先检索，再生成答案 - BERT 做检索/排序，GPT 做生成"),
    ("report-generation-with-retrieval", ["--task", "generation", *RELAXED, "--no-few-shot", "--rag"],
     "hybrid", ["R-Q3-RAG"],
     "004 场景3 retrieval + generation"),
    ("dialogue-intent-reply-50ms", ["--task", "chat", "--latency-ms", "50", "--intent-and-reply"],
     "hybrid", ["R-Q1-LATENCY", "R-L1-CASCADE"],
     "002 四.2 级联式流水线: the BERT stage meets the budget, only replies need the GPT (a departure from L1, shown)"),
    ("rag-qa-300qps", ["--task", "qa", "--latency-ms", "1000", "--qps", "300", "--rag"],
     "hybrid", ["R-Q1-QPS", "R-L1-CASCADE"],
     "002 四.2 阶段1（BERT式理解） filters/retrieves under load, 阶段2 GPT generates"),
    ("summaries-80ms-500qps", ["--task", "summarization", "--latency-ms", "80", "--qps", "500", "--no-rag"],
     "gpt", ["R-Q1-LATENCY", "R-L1-GENERATION"],
     "002 Q1 is met first (002's order), but 001: BERT难以直接用于文本生成 - gpt with the conflict stated"),
    ("chatbot-on-phone", ["--task", "dialogue", "--latency-ms", "500", "--qps", "1", "--deployment", "mobile", "--no-intent-and-reply", "--no-rag"],
     "gpt", ["R-Q1-EDGE", "R-L1-GENERATION", "C-GPT-ON-EDGE"],
     "002 三: 大模型需依赖云服务 - a phone cannot host a large GPT"),
    ("strict-classifier-needing-reasoning", ["--task", "classification", "--latency-ms", "30", "--no-existing-bert", "--no-few-shot", "--reasoning"],
     "distill", ["R-L1-DISTILL", "C-REASONING-STRICT"],
     "001 四.2: 逐步推理能力 ... 这是完形填空任务难以实现的 - the student will not reason"),
    ("math-under-50ms", ["--task", "reasoning", "--latency-ms", "50"],
     "gpt", ["R-L1-GENERATION"],
     "reasoning chains are generated (001 四.2); 002 L1's BERT cannot produce them, shown as a conflict"),
    ("private-generation-on-hosted-api", ["--task", "generation", "--latency-ms", "2000", "--qps", "5", "--deployment", "hosted-api",
                                          "--no-few-shot", "--no-rag", "--no-understand-and-generate", "--privacy"],
     "gpt", ["R-Q3-GENERATIVE", "C-PRIVACY-HOSTED", "N-PRIVACY-SELF-HOSTED"],
     "001 四.2: API化服务（如ChatGPT按token收费），而BERT更依赖私有化部署"),
    ("strict-classifier-streaming", ["--task", "classification", "--latency-ms", "20", "--no-existing-bert", "--labeled", "0", "--streaming"],
     "distill", ["R-L1-DISTILL", "C-STREAMING-ENCODER"],
     "001 二.2: 逐词生成模式天然适配流式输出需求 - an encoder does not stream"),
    ("strict-chat-streaming", ["--task", "dialogue", "--latency-ms", "60", "--no-intent-and-reply", "--no-rag", "--streaming"],
     "gpt", ["R-L1-GENERATION", "N-STREAMING-FIRST-TOKEN"],
     "001 二.2 streaming: the budget can apply to the first token"),
    ("long-contracts-classifier", ["--task", "classification", "--latency-ms", "80", "--no-existing-bert", "--no-few-shot", "--no-reasoning",
                                   "--labeled", "5000", "--seq-len", "2000"],
     "bert", ["R-L1-BERT", "N-LONG-INPUTS-ENCODER"],
     "001 三.1: 编码器需预设输入长度（如512 tokens），限制长文本处理能力"),
    ("long-report-summaries", ["--task", "summarization", *RELAXED, "--no-few-shot", "--no-rag", "--no-understand-and-generate", "--seq-len", "4000"],
     "gpt", ["R-Q3-GENERATIVE", "N-LONG-INPUTS-DECODER"],
     "001 三.2: 自回归生成需缓存历史状态（如KV Cache）"),
    ("southeast-asian-no-labels", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "0",
                                   "--language", "low-resource"],
     "gpt", ["R-Q2-COLD-START", "N-MULTILINGUAL"],
     "002 二.3: 缺乏标注数据的语言 ... 跨语言迁移能力 ... 可能优于BERT的单语言模型 (with its caveats)"),
    ("multilingual-20k-labels", ["--task", "classification", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "20000",
                                 "--no-understand-and-generate", "--language", "多语言"],
     "bert", ["R-L4-FINETUNE-BERT", "N-MULTILINGUAL"],
     "002 五 L4 with labels; the multilingual note keeps 002 二.3's 可能 and 局限"),
    ("medical-triage-few-shot", ["--task", "classification", *NLU_RELAXED, "--few-shot", "--domain", "medical"],
     "gpt", ["R-Q2-FEW-SHOT", "N-VERTICAL-DOMAIN"],
     "002 六.3: 目前BERT在特定垂直领域（如医疗、法律）中仍具备长期价值"),
    ("legal-ner-3k-labels", ["--task", "extraction", *NLU_RELAXED, "--no-few-shot", "--no-reasoning", "--labeled", "3000",
                             "--no-generative-extraction", "--domain", "legal"],
     "bert", ["R-L4-FINETUNE-BERT", "N-VERTICAL-DOMAIN"],
     "001 本质矛盾: BERT路线 ... 适合需要确定性答案的场景（如法律条文解析）"),
    ("private-generation-self-hosted", ["--task", "generation", *RELAXED, "--no-few-shot", "--no-rag", "--no-understand-and-generate", "--privacy"],
     "gpt", ["R-Q3-GENERATIVE", "N-PRIVACY-SELF-HOSTED"],
     "toolkit default (no document): self-hosted open weights keep data on your machines"),
    ("search-answers-few-shot", ["--task", "retrieval", *NLU_RELAXED, "--few-shot", "--rag"],
     "gpt", ["R-Q2-FEW-SHOT", "N-RAG-RETRIEVER"],
     "002 五 L2 for ICL; 004 场景3 puts a BERT retriever in front of the GPT"),
    ("edge-assistant-intent-and-reply", ["--task", "dialogue", "--latency-ms", "300", "--qps", "1", "--deployment", "edge", "--intent-and-reply"],
     "hybrid", ["R-Q1-EDGE", "R-L1-CASCADE", "C-GPT-ON-EDGE"],
     "002 四.2 cascade on device; 002 三 大模型需依赖云服务 for the reply stage"),
]


def _run(flags: list[str]) -> dict:
    res = CliRunner().invoke(cli, ["recommend", *flags, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("sid, flags, outcome, rules, why", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenario(sid, flags, outcome, rules, why):
    out = _run(flags)
    assert out["recommendation"] == outcome, f"{sid}: {why}\n path: {[p['id'] for p in out['path']]}"
    seen = {p["id"] for p in out["path"]} | {c["id"] for c in out["conflicts"]} | {n["id"] for n in out["notes"]}
    missing = [r for r in rules if r not in seen]
    assert not missing, f"{sid}: expected {missing} ({why}); got {sorted(seen)}"
    # every departure on the path is reported as a conflict with 002's tree, with a source
    for step in out["path"]:
        rule = default_rulebook().rule(step["id"])
        if rule.relation != "as-written":
            dep = [c for c in out["conflicts"] if c["id"] == step["id"] and c.get("kind") == "departure"]
            assert dep and dep[0]["source"]["text"] and dep[0]["tree_text"], f"{sid}: departure {step['id']} not shown"


def _covered() -> tuple[set[str], set[str]]:
    rules, steps = set(), set()
    book = default_rulebook()
    for _sid, flags, _o, expected, _why in SCENARIOS:
        rules |= set(expected)
        for r in expected:
            if book.rule(r).tree_step:
                steps.add(book.rule(r).tree_step)
    return rules, steps


def test_suite_is_big_enough_and_justified():
    assert len(SCENARIOS) >= 40
    assert len({s[0] for s in SCENARIOS}) == len(SCENARIOS)
    for sid, _f, _o, _r, why in SCENARIOS:
        assert any(doc in why for doc in ("000", "001", "002", "003", "004", "toolkit")), f"{sid} cites no document"


def test_scenarios_cover_every_rule_check_and_tree_step():
    book = default_rulebook()
    rules, steps = _covered()
    assert {r.id for r in book.rules} - rules == set(), "rules no scenario exercises"
    assert set(TREE_STEPS) - steps - {"Q2", "Q3"} == set()
    # Q2 and Q3 are questions: every scenario past Q1 asks Q2; reaching L3/L4 means Q3 was asked
    departures = {r.id for r in book.rules if r.relation != "as-written"}
    assert departures <= rules
    conflicts = {r.id for r in book.checks if r.kind == "conflict"}
    assert conflicts <= rules
