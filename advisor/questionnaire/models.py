"""Model suggestions from the rule book's catalogue, filtered by the answers: the latency budget
(encoders by estimated or measured latency, decoders by size), the language, the deployment
(edge, hosted API allowed or not), privacy and the domain."""

from __future__ import annotations

from advisor.questionnaire.cost import STUDENT_P50_MS, scale

ROLES = {
    "bert": [("encoder", "encoder")],
    "gpt": [("decoder", "decoder")],
    "distill": [("teacher", "decoder"), ("student", "encoder")],
    "hybrid": [("bert_stage", "encoder"), ("gpt_stage", "decoder")],
    "encoder-decoder": [("encoder_decoder", "encoder-decoder")],
}
ROLE_NAMES = {
    "en": {"encoder": "encoders", "decoder": "decoders", "teacher": "teacher", "student": "student",
           "bert_stage": "BERT stage", "gpt_stage": "GPT stage", "encoder_decoder": "models"},
    "zh": {"encoder": "编码器", "decoder": "解码器", "teacher": "教师模型", "student": "学生模型",
           "bert_stage": "BERT 阶段", "gpt_stage": "GPT 阶段", "encoder_decoder": "模型"},
}
SMALL_DECODER_B = 1.0  # decoders up to this size (billions) are kept under a low-latency or edge constraint


def _lang_ok(m: dict, language: str) -> bool:
    return language in m.get("langs", ())


def base_encoder_ms(rec, evidence: dict | None) -> tuple[float, str]:
    """p50 of all-MiniLM-L6-v2 (6 layers, int8) at the user's sequence length: measured or estimated."""
    seq_len = int(rec.answers.peek("seq_len", 128))
    full = ((evidence or {}).get("student") or {}).get("by_layers", {}).get(6)
    if full:
        return full["p50_ms"], "measured"
    return scale(STUDENT_P50_MS[6], seq_len), "estimate"


def suggest(rec, lang: str = "en", evidence: dict | None = None) -> list[dict]:
    """[{role, title, models: [{name, note, est_ms, fits}], filters}] for the recommendation's outcome."""
    a, book = rec.answers, rec.answers.book
    language = a.peek("language", "english")
    deployment = a.peek("deployment", "gpu-server")
    latency = a.peek("latency_ms", 1000)
    privacy = bool(a.peek("privacy", False))
    domain = a.peek("domain", "general")
    strict = latency <= a.params["strict_latency_ms"] or deployment == "edge"
    base_ms, how = base_encoder_ms(rec, evidence)
    out = []
    for role, family in ROLES[rec.outcome]:
        models, filters, rejected = [], [], []
        for m in book.catalog.get(family, ()):
            if not _lang_ok(m, language):
                continue
            if m.get("domain") and m["domain"] != domain:
                continue
            entry = {"name": m["name"], "note": (m.get("note") or {}).get(lang, "")}
            if family == "encoder":
                est = base_ms * m["rel_cost"]
                entry["est_ms"] = round(est, 2)
                entry["fits"] = est <= latency
                if deployment == "edge" and not m.get("edge"):
                    continue
                if not entry["fits"]:
                    rejected.append(entry)
                    continue
            if family == "decoder":
                if m.get("hosted") and (privacy or deployment != "hosted-api"):
                    continue
                runs_in_production = role in ("decoder", "gpt_stage")
                if runs_in_production and strict and not m.get("hosted") and (m.get("params_b") or 0) > SMALL_DECODER_B:
                    continue
                if runs_in_production and deployment == "edge" and not m.get("edge"):
                    continue
                if role == "teacher" and m.get("edge") and not m.get("note"):
                    continue  # a teacher should be strong; tiny decoders only as the labelled demo teacher
            models.append(entry)
        if family == "decoder" and a.peek("reasoning", False):
            models.sort(key=lambda e: 0 if "DeepSeek" in e["name"] else 1)
        if family == "decoder" and role in ("teacher",):
            models.sort(key=lambda e: 1 if "SmolLM2" in e["name"] else 0)
        filters.append({"en": f"language {language}", "zh": f"语言 {book.questions['language'].choice_label(language, 'zh')}"}[lang])
        if family == "encoder":
            filters.append({"en": f"estimated p50 <= {latency:g} ms ({how}: all-MiniLM-L6-v2 {base_ms:.2f} ms x relative compute)",
                            "zh": f"估计 p50 <= {latency:g} ms（{'实测' if how == 'measured' else '估计'}：all-MiniLM-L6-v2 {base_ms:.2f} ms × 相对计算量）"}[lang])
        if family == "decoder" and strict and role in ("decoder", "gpt_stage"):
            filters.append({"en": f"at most {SMALL_DECODER_B:g}B parameters (low-latency or edge)",
                            "zh": f"不超过 {SMALL_DECODER_B:g}B 参数（低时延或端侧）"}[lang])
        if not models and rejected:
            best = min(rejected, key=lambda e: e["est_ms"])
            best = {**best, "note": {"en": "closest; does not fit the budget", "zh": "最接近；超出预算"}[lang]}
            models = [best]
        out.append({"role": role, "title": ROLE_NAMES[lang][role], "models": models, "filters": filters})
    return out
