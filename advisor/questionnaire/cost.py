"""Cost and latency figures for each outcome: estimates (with where they come from) or, with
``advisor recommend --measure``, the figures measured on this machine (advisor/questionnaire/measure.py).

Prices and token counts are parameters of the rule book (``params`` in rules.yaml, each with its
source), overridable with --cpu-hour-price, --gpu-hour-price, --api-price-in/--api-price-out and
--output-tokens. The derived fact ``over_budget`` (002 六.2: a large volume on a limited budget)
compares the hosted-API cost of the monthly volume with the user's budget.
"""

from __future__ import annotations

from typing import Any

# docs/benchmarks.md, section 1 (the demo run on this project's 2-core VM, quiet machine): int8
# ONNX student (all-MiniLM-L6-v2 cut to N layers) p50 at batch 1 on one thread, SST-2 sentences
# (about 24 tokens), and the embedded SmolLM2-135M teacher scoring one text (cached prompt prefix).
BENCH_SOURCE = "docs/benchmarks.md section 1 (measured on this project's 2-core VM, ~24-token SST-2 sentences), scaled linearly to your sequence length"
BENCH_TOKENS = 24
STUDENT_P50_MS = {6: 2.36, 5: 1.97, 4: 1.66, 3: 1.30, 2: 0.94}
TEACHER_P50_MS = 107.3

GENERATIVE = ("generation", "dialogue", "summarization", "translation", "reasoning")


def output_tokens(answers, params: dict) -> float:
    if "output_tokens" in params:
        return params["output_tokens"]
    task = answers.peek("task")
    return params["output_tokens_generation"] if task in GENERATIVE else params["output_tokens_label"]


def api_cost_per_text(answers, params: dict) -> float:
    """Hosted-API price of one text: (input + prompt) tokens x input price + output tokens x output price."""
    tokens_in = answers.peek("seq_len", 128) + params["prompt_tokens"]
    return (tokens_in * params["api_price_in"] + output_tokens(answers, params) * params["api_price_out"]) / 1e6


def derived(key: str, answers) -> Any:
    if key == "over_budget":
        budget = answers.get("budget")
        if budget is None:
            return False
        volume = answers.get("volume")
        answers.get("seq_len")  # asked (or defaulted) before the cost is computed from it
        return volume * api_cost_per_text(answers, answers.params) > budget
    raise KeyError(key)


def scale(ms: float, seq_len: int) -> float:
    return ms * max(seq_len, 1) / BENCH_TOKENS


def student_layers_estimate(latency_ms: float, seq_len: int) -> tuple[int | None, dict[int, float]]:
    """(largest layer count whose estimated p50 fits the budget or None, estimates per layer count)."""
    est = {n: scale(ms, seq_len) for n, ms in STUDENT_P50_MS.items()}
    fits = [n for n, ms in est.items() if ms <= latency_ms]
    return (max(fits) if fits else None), est


def cost_table(rec, evidence: dict | None, lang: str = "en") -> dict:
    """Cost per 1M texts for each outcome's serving model, and per month at the user's volume.

    ``evidence``: the result of advisor.questionnaire.measure.measure (None: estimates from docs/benchmarks.md)."""
    from advisor.questionnaire.i18n import t

    a = rec.answers
    p = a.params
    src = t(lang, "bench_source")
    seq_len = int(a.peek("seq_len", 128))
    volume = a.peek("volume", 1_000_000)
    rows = []
    measured = bool(evidence)
    # student (bert / distill / the BERT stage of hybrid)
    if measured and evidence.get("student", {}).get("chosen"):
        s = evidence["student"]["chosen"]
        student_ms, how = s["cpu_p50_ms"], t(lang, "how_student_m", layers=s["layers"])
    else:
        layers, est = student_layers_estimate(a.peek("latency_ms", 1000), seq_len)
        n = layers or min(est)
        student_ms, how = est[n], t(lang, "how_student_e", layers=n, src=src)
    core_h = student_ms / 1000 * 1e6 / 3600
    rows.append({"model": "student", "outcomes": ["bert", "distill", "hybrid"], "cpu_core_hours": core_h,
                 "cost": core_h * p["cpu_core_hour_price"], "how": how, "measured": measured})
    # GPT via a hosted API
    per_text = api_cost_per_text(a, p)
    rows.append({"model": "gpt-hosted-api", "outcomes": ["gpt", "hybrid"], "cost": per_text * 1e6,
                 "tokens_in": seq_len + p["prompt_tokens"], "tokens_out": output_tokens(a, p),
                 "how": t(lang, "how_api", tin=f"{seq_len + p['prompt_tokens']:g}", tout=f"{output_tokens(a, p):g}",
                          pin=f"{p['api_price_in']:g}", pout=f"{p['api_price_out']:g}"), "measured": False})
    # GPT self-hosted: the user's server (GPU-hours from measured tokens/s) or the embedded teacher on this CPU
    te = (evidence or {}).get("teacher")
    if te and te.get("kind") == "server" and te.get("tokens_per_s"):
        sec = te["p50_ms"] / 1000 * max(1.0, output_tokens(a, p) / max(te["tokens_out"], 1))
        gpu_h = sec * 1e6 / 3600
        rows.append({"model": "gpt-your-server", "outcomes": ["gpt", "hybrid", "distill"], "gpu_hours": gpu_h,
                     "cost": gpu_h * p["gpu_hour_price"],
                     "how": t(lang, "how_server", tps=f"{te['tokens_per_s']:.1f}"), "measured": True})
    elif te and te.get("kind") == "local":
        sec = te["score_p50_ms"] / 1000 if a.peek("task") not in GENERATIVE else (
            te["prefill_ms"] / 1000 + output_tokens(a, p) / max(te["tokens_per_s"], 1e-9))
        core_h = sec * te.get("threads", 1) * 1e6 / 3600
        rows.append({"model": "gpt-embedded-135M", "outcomes": ["gpt", "distill"], "cpu_core_hours": core_h,
                     "cost": core_h * p["cpu_core_hour_price"],
                     "how": t(lang, "how_local_m", model=te["model"]), "measured": True})
    elif a.peek("task") not in GENERATIVE:  # decoding speed is only known when measured
        sec = scale(TEACHER_P50_MS, seq_len) / 1000
        core_h = sec * 1e6 / 3600
        rows.append({"model": "gpt-embedded-135M", "outcomes": ["gpt", "distill"], "cpu_core_hours": core_h,
                     "cost": core_h * p["cpu_core_hour_price"],
                     "how": t(lang, "how_local_e", src=src), "measured": False})
    for r in rows:
        r["per_month"] = r["cost"] * volume / 1e6
    return {"rows": rows, "volume": volume, "measured": measured,
            "prices": {k: p[k] for k in ("cpu_core_hour_price", "gpu_hour_price", "api_price_in", "api_price_out")}}
