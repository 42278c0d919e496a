"""Turn a recommendation or the rule book into JSON-ready dicts, terminal text, or Markdown."""

from __future__ import annotations

from advisor.engine import Recommendation
from advisor.i18n import t
from advisor.next_steps import next_steps
from advisor.rulebook import Rule, RuleBook


def _rule_entry(rule: Rule, lang: str) -> dict:
    return {"id": rule.id, "source": rule.source.to_dict(), "rationale": rule.rationale[lang]}


def recommendation_to_dict(rec: Recommendation, lang: str = "en") -> dict:
    book = rec.answers.book
    outcome = book.outcomes[rec.outcome]
    models = list(outcome.models)
    for check in rec.checks:
        models += [m for m in check.models if m not in models]
    return {
        "recommendation": rec.outcome,
        "title": outcome.title[lang],
        "lang": lang,
        "path": [_rule_entry(r, lang) for r in rec.path],
        "outcome_source": outcome.source.to_dict(),
        "models": models,
        "tradeoffs": list(outcome.tradeoffs[lang]),
        "conflicts": [_rule_entry(c, lang) for c in rec.conflicts],
        "notes": [_rule_entry(c, lang) for c in rec.notes],
        "what_would_change": rec.what_would_change,
        "answers": {k: rec.answers.values[k] for k in rec.answers.used},
        "asked": rec.answers.asked,
        "assumed_defaults": {k: rec.answers.values[k] for k in rec.answers.defaulted},
        "next": next_steps(rec),
    }


def format_text(rec: Recommendation, lang: str = "en") -> str:
    d = recommendation_to_dict(rec, lang)
    lines = [f"{t(lang, 'recommendation')}: {d['recommendation']} - {d['title']}", "", f"{t(lang, 'path')}:"]
    for i, step in enumerate(d["path"], 1):
        src = step["source"]
        lines.append(f"  {i}. [{step['id']}] {step['rationale']}")
        lines.append(f"     {t(lang, 'source')}: {src['file']}: \"{src['passage']}\"")
    lines += ["", f"{t(lang, 'models')}: " + "; ".join(d["models"]), "", f"{t(lang, 'tradeoffs')}:"]
    lines += [f"  - {x}" for x in d["tradeoffs"]]
    for key, entries in (("conflicts", d["conflicts"]), ("notes", d["notes"])):
        if entries:
            lines += ["", f"{t(lang, key)}:"]
            for c in entries:
                lines.append(f"  ! [{c['id']}] {c['rationale']}" if key == "conflicts" else f"  - [{c['id']}] {c['rationale']}")
                lines.append(f"     {t(lang, 'source')}: {c['source']['file']}: \"{c['source']['passage']}\"")
    lines += ["", f"{t(lang, 'change')}:"]
    if d["what_would_change"]:
        lines += ["  - " + t(lang, "change_line", flag=c["flag"], to=c["to"], frm=c["from"], outcome=c["outcome"])
                  for c in d["what_would_change"]]
    else:
        lines.append(f"  {t(lang, 'none')}")
    if d["assumed_defaults"]:
        lines += ["", f"{t(lang, 'assumed')}: " + ", ".join(f"{k}={v}" for k, v in d["assumed_defaults"].items())]
    lines += ["", f"{t(lang, 'next')}:"] + [f"  $ {cmd}" for cmd in d["next"]["commands"]]
    if d["next"].get("config"):
        lines += ["", d["next"]["config_intro"][lang], ""] + ["    " + x for x in d["next"]["config"].splitlines()]
    return "\n".join(lines)


def rules_to_dict(book: RuleBook) -> dict:
    def entry(r: Rule) -> dict:
        d = {"id": r.id, "kind": r.kind, "node": r.node, "when": r.when, "source": r.source.to_dict(),
             "rationale": r.rationale}
        if r.outcome:
            d["outcome"] = r.outcome
        if r.next:
            d["next"] = r.next
        if r.set:
            d["set"] = r.set
        return d

    return {
        "params": book.params,
        "rules": [entry(r) for r in book.rules],
        "outcomes": {k: {"title": o.title, "models": list(o.models), "source": o.source.to_dict()}
                     for k, o in book.outcomes.items()},
        "questions": [{"id": q.id, "flag": q.flag, "type": q.type, "choices": list(q.choices),
                       "default": q.default, "prompt": q.prompt} for q in book.questions.values()],
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


def rules_markdown(book: RuleBook, lang: str = "en") -> str:
    """A Mermaid flowchart of the tree and a table of every rule with its source."""
    lines = ["```mermaid", "flowchart TD"]
    for node, rules in book.nodes.items():
        for r in rules:
            target = f"OUT_{r.outcome.replace('-', '_')}([{r.outcome}])" if r.outcome else f"N_{r.next}[{r.next}]"
            label = _cond_text(r.when).replace('"', "'")
            lines.append(f'  N_{node}[{node}] -->|"{r.id}: {label}"| {target}')
    lines.append("```")
    lines += ["", "| id | node | condition | effect | rationale | source (seed file: passage) |",
              "|---|---|---|---|---|---|"]
    for r in book.rules:
        effect = (f"outcome **{r.outcome}**" if r.outcome else f"next: {r.next}" if r.next else r.kind)
        passage = r.source.passage.replace("|", "\\|")
        gloss = f" ({r.source.passage_en})" if r.source.passage_en and lang == "en" else ""
        lines.append(f"| `{r.id}` | {r.node or 'check'} | `{_cond_text(r.when)}` | {effect} | "
                     f"{r.rationale[lang]} | `{r.source.file}`: {passage}{gloss} |")
    params = ", ".join(f"`{k}` = {v}" for k, v in book.params.items())
    lines += ["", f"Thresholds (`params` in `advisor/rules.yaml`): {params}."]
    return "\n".join(lines)
