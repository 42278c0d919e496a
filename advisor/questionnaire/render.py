"""Turn a recommendation or the rule book into JSON-ready dicts, terminal text, or Markdown."""

from __future__ import annotations

from advisor.questionnaire.engine import Recommendation
from advisor.questionnaire.i18n import COST_MODELS, show_value, t
from advisor.questionnaire.models import suggest
from advisor.questionnaire.next_steps import next_steps
from advisor.questionnaire.rulebook import TREE_002, TREE_STEPS, Rule, RuleBook, Source


def _src(source: Source, lang: str) -> dict:
    return {**source.to_dict(), "text": source.text(lang)}


def _rule_entry(rule: Rule, lang: str) -> dict:
    d = {"id": rule.id, "source": _src(rule.source, lang), "rationale": rule.rationale[lang]}
    if rule.also:
        d["also"] = [_src(s, lang) for s in rule.also]
    if rule.tree_step:
        d["tree"] = {"step": rule.tree_step, "relation": rule.relation}
    return d


def _departure_entry(rule: Rule, lang: str) -> dict:
    return {"id": rule.id, "kind": "departure", "relation": rule.relation, "tree_step": rule.tree_step,
            "tree_text": TREE_002[rule.tree_step], "rationale": rule.departure[lang],
            "source": _src(rule.departure_source, lang)}


def _change_entry(book: RuleBook, c: dict, lang: str) -> dict:
    d = dict(c)
    d["outcome_name"] = book.outcomes[c["outcome"]].name[lang]
    d["thresholds_text"] = [
        t(lang, "threshold", param=th["param"], value=show_value(th["value"], lang), unit=th["unit"],
          source=book.params[th["param"]].source.text(lang)) if th["value"] == book.params[th["param"]].value else
        t(lang, "overridden", param=th["param"], value=show_value(th["value"], lang), unit=th["unit"],
          default=show_value(book.params[th["param"]].value, lang))
        for th in c.get("thresholds", [])]
    if c["question"] in ("budget", "volume"):
        d["thresholds_text"].append(t(lang, "budget_line"))
    return d


def recommendation_to_dict(rec: Recommendation, lang: str = "en", inputs: dict | None = None,
                           evidence: dict | None = None) -> dict:
    from advisor.questionnaire.cost import cost_table

    book = rec.answers.book
    outcome = book.outcomes[rec.outcome]
    groups = suggest(rec, lang, evidence)
    models = [m["name"] for g in groups for m in g["models"]]
    assumed = rec.assumed
    return {
        "recommendation": rec.outcome,
        "name": outcome.name[lang],
        "title": outcome.title[lang],
        "lang": lang,
        "assumed": {k: v for k, v in assumed.items()},
        "assumed_flags": [book.questions[k].cli_value(v) for k, v in assumed.items()],
        "path": [_rule_entry(r, lang) for r in rec.path],
        "departures": [_departure_entry(r, lang) for r in rec.departures],
        "outcome_source": _src(outcome.source, lang),
        "models": models,
        "model_groups": groups,
        "tradeoffs": list(outcome.tradeoffs[lang]),
        "conflicts": [_departure_entry(r, lang) for r in rec.departures] + [_rule_entry(c, lang) for c in rec.conflicts],
        "notes": [_rule_entry(c, lang) for c in rec.notes],
        "what_would_change": [_change_entry(book, c, lang) for c in rec.what_would_change],
        "answers": {k: rec.answers.values[k] for k in rec.answers.used if k in rec.answers.values},
        "asked": rec.answers.asked,
        "assumed_defaults": {k: rec.answers.values[k] for k in rec.answers.defaulted + rec.answers.defaulted_checks},
        "params": rec.answers.params,
        "evidence": evidence,
        "cost": cost_table(rec, evidence, lang),
        "next": next_steps(rec, lang, inputs, evidence),
    }


def _flag_value(q, v, lang: str) -> str:
    if q.type == "bool":
        return f"{q.cli_value(v)}" if lang == "en" else f"{q.cli_value(v)}（{show_value(v, lang)}）"
    if q.type == "choice" and lang == "zh":
        return f"{q.flag} {v}（{q.choice_label(v, 'zh')}）"
    return f"{q.flag} {show_value(v, lang)}"


def _money(x: float) -> str:
    return f"{x:,.2f}" if x >= 0.01 or x == 0 else f"{x:.4f}"


def _evidence_lines(d: dict, rec: Recommendation, lang: str) -> list[str]:
    from advisor.questionnaire.cost import GENERATIVE, STUDENT_P50_MS, TEACHER_P50_MS, scale, student_layers_estimate

    a = rec.answers
    budget = show_value(a.peek("latency_ms", 1000), lang)
    latency = a.peek("latency_ms", 1000)
    seq_len = int(a.peek("seq_len", 128))
    ev = d["evidence"]
    verdict = lambda ok: t(lang, "fits" if ok else "misses")  # noqa: E731
    if ev:
        m = ev["machine"]
        lines = [t(lang, "evidence_measured", cpu=m["cpu"], cores=m["cores"],
                   load=f"{m['load1']:.1f}" if m.get("load1") is not None else "?", secs=ev.get("seconds", "?"))]
        if m.get("load1") is not None and m.get("cores") and m["load1"] > m["cores"]:
            lines.append("  " + t(lang, "busy", load=f"{m['load1']:.1f}", cores=m["cores"]))
        st = ev["student"]
        for n, r in st["by_layers"].items():
            lines.append("  " + t(lang, "student_line", layers=n, tokens=r["tokens"], p50=r["p50_ms"], p95=r["p95_ms"],
                                  cpu=r["cpu_p50_ms"], budget=budget, verdict=verdict(r["fits"])))
        lines.append("    " + (t(lang, "student_pick", layers=st["chosen"]["layers"]) if st["chosen"] else t(lang, "student_none")))
        te = ev.get("teacher")
        if te and te["kind"] == "local":
            lines.append("  " + t(lang, "teacher_local", threads=te["threads"], p50=te["score_p50_ms"], p95=te["score_p95_ms"],
                                  budget=budget, verdict=verdict(te["score_p95_ms"] <= latency), prefill=te["prefill_ms"],
                                  tps=te["tokens_per_s"]))
        elif te:
            lines.append("  " + t(lang, "teacher_server", url=te["url"], model=te["model"], p50=te["p50_ms"], p95=te["p95_ms"],
                                  tokens=te["tokens_out"], tps=te["tokens_per_s"], budget=budget,
                                  verdict=verdict(te["p95_ms"] <= latency)))
        return lines
    lines = [t(lang, "evidence_estimated", src=t(lang, "bench_source"))]
    n, est = student_layers_estimate(latency, seq_len)
    shown = n or min(STUDENT_P50_MS)
    lines.append("  " + t(lang, "student_est", layers=shown, tokens=seq_len, p50=f"{est[shown]:.2f}", budget=budget,
                          verdict=verdict(n is not None)))
    te = scale(TEACHER_P50_MS, seq_len)
    if a.peek("task") in GENERATIVE:
        lines.append("  " + t(lang, "teacher_gen_est"))
    else:
        lines.append("  " + t(lang, "teacher_est", p50=f"{te:.0f}", budget=budget, verdict=verdict(te <= latency)))
    return lines


def format_text(rec: Recommendation, lang: str = "en", inputs: dict | None = None, evidence: dict | None = None) -> str:
    d = recommendation_to_dict(rec, lang, inputs, evidence)
    book = rec.answers.book
    sep = "：" if lang == "zh" else ": "
    head = f"{t(lang, 'recommendation')}{sep}{d['recommendation']} - {d['title']}" if lang == "en" else \
        f"{t(lang, 'recommendation')}{sep}{d['name']}（{d['recommendation']}）— {d['title']}"
    lines = [head]
    if d["assumed_flags"]:
        lines.append("!! " + t(lang, "assumed_loud", items=", ".join(d["assumed_flags"])))
    colon = "：" if lang == "zh" else ":"
    lines += ["", f"{t(lang, 'path')}{colon}"]
    for i, (step, rule) in enumerate(zip(d["path"], rec.path), 1):
        tag = t(lang, "step", step=rule.tree_step) + ("" if rule.relation == "as-written" else
                                                      ("，" if lang == "zh" else ", ") + t(lang, rule.relation))
        lines.append(f"  {i}. [{step['id']}] ({tag}) {step['rationale']}")
        lines.append(f"     {t(lang, 'source')}{colon} {step['source']['text']}")
    if d["departures"]:
        lines += ["", f"{t(lang, 'departures')}{colon}"]
        for dep in d["departures"]:
            lines.append(f"  ! [{dep['id']}] {t(lang, 'tree_says', step=dep['tree_step'])} \"{dep['tree_text']}\"{colon} {dep['rationale']}")
            lines.append(f"     {t(lang, 'source')}{colon} {dep['source']['text']}")
    for key, entries, mark in (("conflicts", [c for c in d["conflicts"] if c.get("kind") != "departure"], "!"),
                               ("notes", d["notes"], "-")):
        if entries:
            lines += ["", f"{t(lang, key)}{colon}"]
            for c in entries:
                lines.append(f"  {mark} [{c['id']}] {c['rationale']}")
                lines.append(f"     {t(lang, 'source')}{colon} {c['source']['text']}")
                for s in c.get("also", []):
                    lines.append(f"     {t(lang, 'source')}{colon} {s['text']}")
    lines += ["", f"{t(lang, 'models')}{colon}"]
    for g in d["model_groups"]:
        names = "; ".join(m["name"] + (f" ({m['note']})" if m.get("note") else "")
                          + (f" [{t(lang, 'est', ms=m['est_ms'])}]" if "est_ms" in m else "") for m in g["models"])
        lines.append(f"  {g['title']}{colon} {names or t(lang, 'none')}")
        lines.append(f"    ({t(lang, 'filtered')}{colon} {'; '.join(g['filters'])})")
    lines += ["", f"{t(lang, 'tradeoffs')}{colon}"] + [f"  - {x}" for x in d["tradeoffs"]]
    lines += [""] + _evidence_lines(d, rec, lang)
    cost = d["cost"]
    pr = cost["prices"]
    lines += ["", t(lang, "cost", volume=f"{cost['volume']:,}") + colon,
              "  " + t(lang, "cost_prices", cpu=pr["cpu_core_hour_price"], gpu=pr["gpu_hour_price"],
                       api_in=pr["api_price_in"], api_out=pr["api_price_out"])]
    for r in cost["rows"]:
        hours = (t(lang, "core_hours", h=f"{r['cpu_core_hours']:.2f}") if "cpu_core_hours" in r else
                 t(lang, "gpu_hours", h=f"{r['gpu_hours']:.2f}") if "gpu_hours" in r else "")
        outs = ", ".join(book.outcomes[o].name[lang] for o in r["outcomes"])
        lines.append("  - " + t(lang, "cost_row", model=COST_MODELS[lang][r["model"]], outcomes=outs, cost=_money(r["cost"]),
                                month=_money(r["per_month"]), hours=hours, how=r["how"]))
    lines += ["", f"{t(lang, 'change')}{colon}"]
    if d["what_would_change"]:
        for c in d["what_would_change"]:
            lines.append("  - " + t(lang, "change_line", cli=c["cli"], frm=show_value(c["from"], lang), outcome=c["outcome_name"]))
            for th in c["thresholds_text"]:
                lines.append(f"      {th}")
    else:
        lines.append(f"  {t(lang, 'none')}")
    extra = {k: v for k, v in d["assumed_defaults"].items() if k not in d["assumed"]}
    if extra:
        lines += ["", f"{t(lang, 'assumed')}{colon} " + ", ".join(_flag_value(book.questions[k], v, lang) for k, v in extra.items())]
    nx = d["next"]
    lines += ["", f"{t(lang, 'next')}{colon}"]
    for s in nx["steps"]:
        lines.append(f"  $ {s['run']}   # {s['comment']}" if s["kind"] == "command" else f"  # {s['text']}")
    if nx["placeholders_text"]:
        lines.append(f"  ({nx['placeholders_text']})")
    for f in nx["files"]:
        lines += ["", f["intro"], ""] + ["    " + x for x in f["content"].splitlines()]
    return "\n".join(lines)


def rules_to_dict(book: RuleBook) -> dict:
    def entry(r: Rule) -> dict:
        d = {"id": r.id, "kind": r.kind, "node": r.node, "when": r.when, "source": r.source.to_dict(),
             "rationale": r.rationale}
        if r.also:
            d["also"] = [s.to_dict() for s in r.also]
        if r.outcome:
            d["outcome"] = r.outcome
        if r.next:
            d["next"] = r.next
        if r.set:
            d["set"] = r.set
        if r.tree_step:
            d["tree"] = {"step": r.tree_step, "relation": r.relation}
        if r.departure_source is not None:
            d["departure"] = {**r.departure, "source": r.departure_source.to_dict()}
        return d

    return {
        "params": {k: {"value": p.value, "unit": p.unit, "meaning": p.meaning, "source": p.source.to_dict()}
                   for k, p in book.params.items()},
        "rules": [entry(r) for r in book.rules],
        "outcomes": {k: {"title": o.title, "name": o.name, "source": o.source.to_dict()} for k, o in book.outcomes.items()},
        "questions": [{"id": q.id, "flag": q.flag, "type": q.type, "choices": list(q.choices), "aliases": q.aliases,
                       "default": q.default, "prompt": q.prompt} for q in book.questions.values()],
        "tree_002": TREE_002,
    }


def _cond_text(cond: dict) -> str:
    (key, spec), = cond.items()
    if key == "always":
        return "otherwise"
    if key in ("all", "any"):
        joiner = " and " if key == "all" else " or "
        return "(" + joiner.join(_cond_text(c) for c in spec) + ")"
    if key == "not":
        return f"not {_cond_text(spec)}"
    if isinstance(spec, dict):
        (op, value), = spec.items()
        symbol = {"in": "in", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
        value = "{" + ", ".join(value) + "}" if isinstance(value, list) else value
        return f"{key} {symbol} {value}"
    return f"{key} = {str(spec).lower() if isinstance(spec, bool) else spec}"


def _md_source(s: Source, lang: str) -> str:
    if s.toolkit:
        return f"**toolkit default** (not in the documents): {s.ref}".replace("|", "\\|")
    gloss = f" ({s.passage_en})" if s.passage_en and lang == "en" else ""
    return f"`{s.file}`: {s.passage.replace('|', chr(92) + '|')}{gloss}"


def tree_markdown(book: RuleBook) -> str:
    """002's tree (section 五) step by step, side by side with the rules that implement each step."""
    lines = ["| 002 step | 002 as written | implemented by (rule: condition -> effect) | relation |",
             "|---|---|---|---|"]
    question_nodes = {"Q1": "root", "Q2": "icl", "Q3": "generation"}
    for step in TREE_STEPS:
        rules = [r for r in book.rules if r.tree_step == step]
        node = question_nodes.get(step)
        cells = [f"node `{node}`: the first rule that holds fires"] if node else []
        cells += [f"`{r.id}`: `{_cond_text(r.when)}` -> " + (f"**{r.outcome}**" if r.outcome else f"node {r.next}")
                  for r in rules]
        impl = "<br>".join(cells)
        rel = "<br>".join(([""] if node else []) + [r.relation for r in rules])
        lines.append(f"| {step} | {TREE_002[step].replace('|', chr(92) + '|')} | {impl} | {rel} |")
    return "\n".join(lines)


def rules_markdown(book: RuleBook, lang: str = "en") -> str:
    """002's tree beside the implemented one, a Mermaid flowchart, the departures, the rule table
    with each rule's source, and the parameters with theirs."""
    lines = ["### 002's tree beside the implemented tree", "", tree_markdown(book), "",
             "### The implemented tree", "", "```mermaid", "flowchart TD"]
    for node, rules in book.nodes.items():
        for r in rules:
            target = f"OUT_{r.outcome.replace('-', '_')}([{r.outcome}])" if r.outcome else f"N_{r.next}[{r.next}]"
            label = _cond_text(r.when).replace('"', "'")
            lines.append(f'  N_{node}[{node}] -->|"{r.id}: {label}"| {target}')
    lines.append("```")
    lines += ["", "### Where the implementation adds to or departs from 002's tree", "",
              "Each of these is printed to the user as a conflict with 002's tree, with its reason and source.", "",
              "| rule | 002 step | relation | reason | source |", "|---|---|---|---|---|"]
    for r in book.rules:
        if r.relation != "as-written" and r.departure_source is not None:
            lines.append(f"| `{r.id}` | {r.tree_step} | {r.relation} | {r.departure[lang]} | {_md_source(r.departure_source, lang)} |")
    lines += ["", "### Every rule and its source", "",
              "| id | node | 002 step | condition | effect | rationale | source (seed file: passage) |",
              "|---|---|---|---|---|---|---|"]
    for r in book.rules:
        effect = (f"outcome **{r.outcome}**" if r.outcome else f"next: {r.next}" if r.next else r.kind)
        srcs = "<br>".join(_md_source(s, lang) for s in (r.source, *r.also))
        lines.append(f"| `{r.id}` | {r.node or 'check'} | {r.tree_step or ''} | `{_cond_text(r.when)}` | {effect} | "
                     f"{r.rationale[lang]} | {srcs} |")
    lines += ["", "### Parameters (numbers the documents do not give)", "",
              "| parameter | value | meaning | source |", "|---|---|---|---|"]
    for k, p in book.params.items():
        lines.append(f"| `{k}` | {p.value:g} {p.unit} | {p.meaning.get(lang, '')} | {_md_source(p.source, lang)} |")
    return "\n".join(lines)
