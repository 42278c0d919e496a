"""Language choice (en / zh) and the interface strings that are not in the rules file."""

from __future__ import annotations

import os

STRINGS = {
    "en": {
        "recommendation": "Recommendation",
        "assumed_loud": "ASSUMED, not given: {items}. The verdict rests on these defaults; give them as flags (or answer interactively).",
        "path": "Path taken (002's tree, section 五, in its order)",
        "step": "002 {step}",
        "source": "source",
        "departures": "Conflicts with 002's tree (where the toolkit departs from it, and why)",
        "tree_says": "002 {step} says",
        "models": "Models to consider",
        "filtered": "filtered by",
        "est": "est. {ms} ms",
        "tradeoffs": "Trade-offs",
        "conflicts": "Conflicts in your answers",
        "notes": "Notes",
        "change": "What would change the answer",
        "change_line": "{cli} (now {frm}) -> {outcome}",
        "threshold": "threshold {param} = {value} {unit}: {source}",
        "overridden": "threshold {param} = {value} {unit} (set with --param; rules.yaml: {default})",
        "budget_line": "the GPT cost of your volume vs your budget (cost section)",
        "assumed": "Defaults taken for the notes, checks and costs (not asked)",
        "next": "Next",
        "none": "none",
        "yes": "yes",
        "no": "no",
        "unset": "none",
        "evidence_measured": "Evidence, measured on this machine ({cpu}, {cores} cores, load {load}; {secs} s):",
        "evidence_estimated": "Evidence: ESTIMATES, not measured on this machine (run with --measure). Sources: {src}.",
        "student_line": "student all-MiniLM-L6-v2 int8 ONNX, {layers} of 6 layers, {tokens} tokens, batch 1, 1 thread: p50 {p50} ms, p95 {p95} ms (cpu {cpu} ms) vs --latency-ms {budget}: {verdict}",
        "student_est": "student all-MiniLM-L6-v2 int8 ONNX, {layers} of 6 layers at {tokens} tokens: p50 ~{p50} ms (estimate; p95 needs --measure) vs --latency-ms {budget}: {verdict}",
        "student_pick": "-> {layers} of 6 layers is the largest count that fits (found by bisection over 1-6 layers)",
        "student_none": "-> no layer count fits; closest: 1 layer",
        "teacher_local": "teacher SmolLM2-135M (embedded, {threads} threads): scoring one text p50 {p50} ms, p95 {p95} ms vs --latency-ms {budget}: {verdict}; prefill {prefill} ms, decoding {tps} tokens/s",
        "teacher_est": "teacher SmolLM2-135M (embedded) scoring one text: ~{p50} ms (estimate) vs --latency-ms {budget}: {verdict}",
        "teacher_gen_est": "teacher: decoding speed (tokens/s) for a generation task is not estimated; --measure times it (the embedded 135M, or your server with --teacher URL)",
        "teacher_server": "your server {url} (model {model}): p50 {p50} ms, p95 {p95} ms per request of {tokens} output tokens, {tps} tokens/s, vs --latency-ms {budget}: {verdict}",
        "busy": "note: this machine is busy (load {load} on {cores} cores): wall-clock p50/p95 include waiting for a core and will be lower on a dedicated machine; the CPU time is the steadier figure (and the one the cost uses)",
        "fits": "fits",
        "misses": "MISSES the budget",
        "cost": "Cost per 1M texts, and per month at {volume} texts (--volume)",
        "cost_prices": "prices: CPU core-hour {cpu}, GPU-hour {gpu}, API {api_in} / {api_out} per 1M input / output tokens (override: --cpu-hour-price, --gpu-hour-price, --api-price-in, --api-price-out)",
        "cost_row": "{model} [{outcomes}]: {cost} per 1M texts, {month} per month{hours} ({how})",
        "core_hours": "; {h} CPU-core-hours per 1M",
        "gpu_hours": "; {h} GPU-hours per 1M",
        "toolkit": "toolkit default",
        "placeholders": "Placeholders",
        "as-written": "as written",
        "adds": "adds",
        "departs": "departs",
        "bench_source": "docs/benchmarks.md section 1 (measured on this project's 2-core VM, ~24-token SST-2 sentences), scaled linearly to your sequence length",
        "how_student_m": "measured: int8 ONNX, {layers} of 6 layers, CPU time per text at batch 1, 1 thread",
        "how_student_e": "estimate: int8 ONNX, {layers} of 6 layers, from {src}",
        "how_api": "price: {tin} input + {tout} output tokens per text at {pin} / {pout} per 1M tokens",
        "how_server": "measured: your server, {tps} tokens/s, one request at a time (batching concurrent requests on a GPU lowers this)",
        "how_local_m": "measured: {model} on this CPU; a lower bound: production LLMs are 50-500x larger",
        "how_local_e": "estimate: the embedded SmolLM2-135M scoring one text, from {src}; a lower bound: production LLMs are 50-500x larger",
    },
    "zh": {
        "recommendation": "推荐方案",
        "assumed_loud": "注意：以下取值未给出，采用了默认值：{items}。结论依赖这些默认值；请用参数给出（或以交互方式回答）。",
        "path": "决策路径（按 002 第五节决策树的顺序）",
        "step": "002 {step}",
        "source": "出处",
        "departures": "与 002 决策树的冲突（本工具偏离之处及原因）",
        "tree_says": "002 {step} 原文",
        "models": "可考虑的模型",
        "filtered": "筛选条件",
        "est": "估计 {ms} ms",
        "tradeoffs": "权衡",
        "conflicts": "回答中的冲突",
        "notes": "提示",
        "change": "哪些回答会改变结论",
        "change_line": "{cli}（当前 {frm}）→ {outcome}",
        "threshold": "阈值 {param} = {value} {unit}：{source}",
        "overridden": "阈值 {param} = {value} {unit}（由 --param 设置；rules.yaml 默认 {default}）",
        "budget_line": "你的数据量的 GPT 成本与预算的比较（见成本部分）",
        "assumed": "提示、检查与成本采用的默认值（未询问）",
        "next": "下一步",
        "none": "无",
        "yes": "是",
        "no": "否",
        "unset": "未设置",
        "evidence_measured": "实测证据（本机：{cpu}，{cores} 核，负载 {load}；用时 {secs} 秒）：",
        "evidence_estimated": "证据：以下为估计值，并非本机实测（加 --measure 实测）。来源：{src}。",
        "student_line": "学生模型 all-MiniLM-L6-v2 int8 ONNX，{layers} 层，{tokens} tokens，batch 1，单线程：p50 {p50} ms，p95 {p95} ms（CPU {cpu} ms），对比 --latency-ms {budget}：{verdict}",
        "student_est": "学生模型 all-MiniLM-L6-v2 int8 ONNX，{layers} 层，{tokens} tokens：p50 约 {p50} ms（估计；p95 需 --measure）对比 --latency-ms {budget}：{verdict}",
        "student_pick": "→ {layers} 层是满足预算的最大层数（在 1-6 层上二分查找）",
        "student_none": "→ 没有层数能满足预算；最接近的是 1 层",
        "teacher_local": "教师模型 SmolLM2-135M（内置，{threads} 线程）：对一条文本打分 p50 {p50} ms，p95 {p95} ms，对比 --latency-ms {budget}：{verdict}；预填充 {prefill} ms，解码 {tps} tokens/秒",
        "teacher_est": "教师模型 SmolLM2-135M（内置）对一条文本打分：约 {p50} ms（估计），对比 --latency-ms {budget}：{verdict}",
        "teacher_gen_est": "教师模型：生成任务的解码速度（tokens/秒）不做估计；--measure 会实测（内置 135M 模型，或用 --teacher URL 指定你的服务）",
        "teacher_server": "你的服务 {url}（模型 {model}）：每个请求（{tokens} 个输出 token）p50 {p50} ms，p95 {p95} ms，{tps} tokens/秒，对比 --latency-ms {budget}：{verdict}",
        "busy": "注意：本机负载较高（{cores} 核，负载 {load}）：墙钟 p50/p95 包含等待 CPU 核的时间，在专用机器上会更低；CPU 时间更稳定（成本也按它计算）",
        "fits": "满足",
        "misses": "超出预算",
        "cost": "每 100 万条文本的成本，以及按每月 {volume} 条（--volume）计算的月成本",
        "cost_prices": "价格：CPU 核时 {cpu}，GPU 时 {gpu}，API 每 100 万输入/输出 token {api_in} / {api_out}（可用 --cpu-hour-price、--gpu-hour-price、--api-price-in、--api-price-out 覆盖）",
        "cost_row": "{model} [{outcomes}]：每 100 万条 {cost}，每月 {month}{hours}（{how}）",
        "core_hours": "；每 100 万条 {h} CPU 核时",
        "gpu_hours": "；每 100 万条 {h} GPU 时",
        "toolkit": "工具默认",
        "placeholders": "占位符",
        "as-written": "原文",
        "adds": "补充",
        "departs": "偏离",
        "bench_source": "docs/benchmarks.md 第 1 节（本项目 2 核虚拟机实测，SST-2 句子约 24 tokens），按你的序列长度线性换算",
        "how_student_m": "实测：int8 ONNX，{layers} 层，batch 1 单线程下每条文本的 CPU 时间",
        "how_student_e": "估计：int8 ONNX，{layers} 层，来自 {src}",
        "how_api": "按价格计算：每条文本 {tin} 个输入 + {tout} 个输出 token，每 100 万 token {pin} / {pout}",
        "how_server": "实测：你的服务，{tps} tokens/秒，逐个请求（GPU 上并发批处理会更低）",
        "how_local_m": "实测：本机 CPU 上的 {model}；这是下限：生产用大模型大 50-500 倍",
        "how_local_e": "估计：内置 SmolLM2-135M 对一条文本打分，来自 {src}；这是下限：生产用大模型大 50-500 倍",
    },
}

COST_MODELS = {
    "en": {"student": "BERT student", "gpt-hosted-api": "GPT via hosted API", "gpt-your-server": "GPT on your server",
           "gpt-embedded-135M": "GPT self-hosted (embedded 135M on this CPU)"},
    "zh": {"student": "BERT 学生模型", "gpt-hosted-api": "GPT 托管 API", "gpt-your-server": "GPT（你的服务）",
           "gpt-embedded-135M": "GPT 自托管（本机 CPU 上的内置 135M 模型）"},
}


def detect_lang() -> str:
    """Follow the locale: zh when LC_ALL / LC_MESSAGES / LANG / LANGUAGE says Chinese, else en."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        value = os.environ.get(var, "")
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def t(lang: str, key: str, **kw) -> str:
    text = STRINGS.get(lang, STRINGS["en"])[key]
    return text.format(**kw) if kw else text


def show_value(value, lang: str) -> str:
    """An answer for humans: yes/no (是/否), integers without '.0', 'none' for unset."""
    if isinstance(value, bool):
        return t(lang, "yes" if value else "no")
    if value is None:
        return t(lang, "unset")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
