"""The rule book: parameters, questions, outcomes, decision nodes, checks and the model catalogue,
loaded from ``rules.yaml``.

The file is data; this module turns it into typed objects and validates it up front (unknown
keys, dangling ``next`` nodes, conditions on unknown keys, unknown outcomes or parameters, rules
without a source), so a broken rules file fails at load time, not halfway through a questionnaire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.yamlfile import read_yaml

RULES_FILE = Path(__file__).with_name("rules.yaml")
LANGS = ("en", "zh")
FACT_KEYS = ("serving", "icl", "outcome")   # set by rules on the path
DERIVED_KEYS = ("over_budget",)            # computed from answers (advisor/questionnaire/cost.py)
TREE_STEPS = ("Q1", "L1", "Q2", "L2", "Q3", "L3", "L4")
RELATIONS = ("as-written", "adds", "departs")

# 002, section 五, as written (the steps the rules refer to).
TREE_002 = {
    "Q1": "是否需要部署高并发、低延迟的工业级服务？",
    "L1": "├─ 是 → 优先选BERT（如ALBERT-xxlarge、DeBERTa） │ （或尝试模型压缩的BERT变体）",
    "Q2": "└─ 否 └─ 是否依赖上下文学习或复杂推理？",
    "L2": "├─ 是 → 使用大参数GPT模型（如Llama 3、DeepSeek）",
    "Q3": "└─ 否 └─ 是否为生成导向任务？",
    "L3": "├─ 是 → GPT类模型（如ChatGLM、Falcon）",
    "L4": "└─ 否（如仅需分类） → 微调BERT更优",
}

_MSG = {
    "required": {"en": "{where}: a value is required", "zh": "{where}：必须给出一个值"},
    "choice": {"en": "{where}: unknown value '{raw}'; choose one of: {choices}",
               "zh": "{where}：未知的取值“{raw}”；可选：{choices}"},
    "bool": {"en": "{where}: expected yes or no, got '{raw}'", "zh": "{where}：应回答 是 或 否，收到“{raw}”"},
    "number": {"en": "{where}: expected a number, got '{raw}'", "zh": "{where}：应为数字，收到“{raw}”"},
    "finite": {"en": "{where}: expected a finite number, got '{raw}'", "zh": "{where}：应为有限的数字，收到“{raw}”"},
    "whole": {"en": "{where}: expected a whole number, got '{raw}'", "zh": "{where}：应为整数，收到“{raw}”"},
    "min": {"en": "{where}: must be at least {min}, got {raw}", "zh": "{where}：不能小于 {min}，收到 {raw}"},
}
YES = ("y", "yes", "true", "1", "on", "是", "是的", "对", "要", "需要", "有")
NO = ("n", "no", "false", "0", "off", "否", "不", "不是", "不要", "不需要", "没有", "无")


def msg(key: str, lang: str = "en", **kw) -> str:
    return _MSG[key].get(lang, _MSG[key]["en"]).format(**kw)


@dataclass(frozen=True)
class Source:
    """A seed passage (file + passage, quoted word for word) or, for the toolkit's own defaults,
    an external reference (``toolkit=True``, ``ref``)."""

    file: str = ""
    passage: str = ""
    passage_en: str = ""
    toolkit: bool = False
    ref: str = ""

    def to_dict(self) -> dict:
        if self.toolkit:
            return {"toolkit": True, "ref": self.ref}
        return {"file": self.file, "passage": self.passage, "passage_en": self.passage_en}

    def text(self, lang: str = "en") -> str:
        if self.toolkit:
            return ("工具默认（文档未涉及）：" if lang == "zh" else "toolkit default (not in the documents): ") + self.ref
        return f"{self.file}: \"{self.passage}\""


@dataclass(frozen=True)
class Param:
    id: str
    value: float
    unit: str
    meaning: dict[str, str]
    source: Source


@dataclass(frozen=True)
class Question:
    id: str
    type: str  # choice | bool | int | float
    flag: str
    prompt: dict[str, str]
    default: Any = None
    choices: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    min: float | None = None
    step: float = 1
    optional: bool = False

    def choice_label(self, choice: str, lang: str) -> str:
        return self.labels.get(lang, {}).get(choice, choice)

    def parse(self, raw: Any, lang: str = "en") -> Any:
        """Turn a raw answer (flag value, file value, typed text) into a valid value or raise."""
        where = f"{self.flag} / {self.id}"
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.optional:
                return None
            raise UserError(msg("required", lang, where=where))
        if isinstance(raw, str) and self.optional and raw.strip().lower() in ("none", "no", "-", "无", "没有"):
            return None
        if self.type == "choice":
            text = str(raw).strip().lower().replace("_", "-")
            value = self.aliases.get(text, self.aliases.get(text.replace(" ", ""), text))
            if value not in self.choices:
                shown = ", ".join(self.choices if lang == "en" else
                                  (f"{c}（{self.choice_label(c, lang)}）" for c in self.choices))
                raise UserError(msg("choice", lang, where=where, raw=raw, choices=shown))
            return value
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in YES:
                return True
            if text in NO:
                return False
            raise UserError(msg("bool", lang, where=where, raw=raw))
        if isinstance(raw, bool):
            raise UserError(msg("number", lang, where=where, raw=raw))
        try:
            value = float(str(raw).replace(",", "").replace("_", "")) if isinstance(raw, str) else float(raw)
        except (TypeError, ValueError):
            raise UserError(msg("number", lang, where=where, raw=raw)) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(msg("finite", lang, where=where, raw=raw))
        if self.type == "int":
            if value != int(value):
                raise UserError(msg("whole", lang, where=where, raw=raw))
            value = int(value)
        if self.min is not None and value < self.min:
            raise UserError(msg("min", lang, where=where, raw=raw, min=f"{self.min:g}"))
        return value

    def cli_value(self, value: Any) -> str:
        """The value as the command line takes it: `--rag` / `--no-rag`, `--labeled 2000` (not 2000.0)."""
        if self.type == "bool":
            return self.flag if value else f"--no-{self.flag.lstrip('-')}"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return f"{self.flag} {value}"


@dataclass(frozen=True)
class Rule:
    id: str
    when: Any
    rationale: dict[str, str]
    source: Source
    node: str | None = None  # decision node; None for checks
    outcome: str | None = None
    next: str | None = None
    set: dict[str, str] = field(default_factory=dict)
    kind: str = "decision"  # decision | conflict | note
    tree_step: str | None = None
    relation: str = "as-written"
    departure: dict[str, str] = field(default_factory=dict)
    departure_source: Source | None = None
    also: tuple[Source, ...] = ()


@dataclass(frozen=True)
class Outcome:
    id: str
    title: dict[str, str]
    name: dict[str, str]
    tradeoffs: dict[str, tuple[str, ...]]
    source: Source


@dataclass(frozen=True)
class RuleBook:
    params: dict[str, Param]
    questions: dict[str, Question]
    outcomes: dict[str, Outcome]
    nodes: dict[str, tuple[Rule, ...]]
    checks: tuple[Rule, ...]
    catalog: dict[str, tuple[dict, ...]]
    task_groups: dict[str, tuple[str, ...]]
    path: Path

    @property
    def rules(self) -> list[Rule]:
        return [r for rules in self.nodes.values() for r in rules] + list(self.checks)

    @property
    def param_values(self) -> dict[str, float]:
        return {k: p.value for k, p in self.params.items()}

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _source(d: Any, where: str) -> Source:
    if not isinstance(d, dict):
        raise UserError(f"rules file: {where} needs a source (file and passage, or toolkit and ref)")
    if d.get("toolkit"):
        if not d.get("ref"):
            raise UserError(f"rules file: {where}: a toolkit-default source needs a ref (its external source)")
        return Source(toolkit=True, ref=str(d["ref"]))
    if not d.get("file") or not d.get("passage"):
        raise UserError(f"rules file: {where} needs a source with file and passage")
    return Source(file=d["file"], passage=d["passage"], passage_en=d.get("passage_en", ""))


def _condition_keys(cond: Any, where: str) -> tuple[set[str], set[str]]:
    """(keys, $params) a condition reads; raises on a malformed condition."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise UserError(f"rules file: {where}: a condition is a mapping with exactly one key, got {cond!r}")
    (key, value), = cond.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise UserError(f"rules file: {where}: '{key}' needs a non-empty list")
        keys, params = set(), set()
        for c in value:
            k, p = _condition_keys(c, where)
            keys |= k
            params |= p
        return keys, params
    if key == "not":
        return _condition_keys(value, where)
    if key == "always":
        return set(), set()
    params = set()
    if isinstance(value, dict):
        bad = set(value) - {"in", "lt", "lte", "gt", "gte"}
        if bad or len(value) != 1:
            raise UserError(f"rules file: {where}: bad comparison {value!r}")
        (_op, target), = value.items()
        if isinstance(target, str) and target.startswith("$"):
            params.add(target[1:])
    return {key}, params


def _rule(d: dict, node: str | None, where: str) -> Rule:
    allowed = {"id", "when", "outcome", "next", "set", "rationale", "source", "kind", "tree", "departure", "also"}
    extra = set(d) - allowed
    if extra:
        raise UserError(f"rules file: {where}: unknown keys {sorted(extra)}")
    if "when" not in d or "id" not in d:
        raise UserError(f"rules file: {where}: a rule needs an id and a condition (when)")
    for lang in LANGS:
        if lang not in (d.get("rationale") or {}):
            raise UserError(f"rules file: {where}: rationale needs '{lang}'")
    tree = d.get("tree") or {}
    dep = d.get("departure") or {}
    dep_source = _source(dep.get("source"), f"{where} departure") if dep else None
    return Rule(
        id=d["id"], when=d["when"], rationale=d["rationale"], source=_source(d.get("source"), where),
        node=node, outcome=d.get("outcome"), next=d.get("next"), set=d.get("set", {}),
        kind=d.get("kind", "decision"), tree_step=tree.get("step"), relation=tree.get("relation", "as-written"),
        departure={k: v for k, v in dep.items() if k in LANGS}, departure_source=dep_source,
        also=tuple(_source(s, f"{where} also") for s in d.get("also", ())),
    )


def load_rulebook(path: str | Path | None = None) -> RuleBook:
    path = Path(path) if path else RULES_FILE
    data = read_yaml(path, "rules file")
    if not isinstance(data, dict):
        raise UserError(f"rules file {path}: expected a mapping at the top level")
    try:
        params = {}
        for pid, p in (data.get("params") or {}).items():
            params[pid] = Param(id=pid, value=float(p["value"]), unit=p.get("unit", ""), meaning=p.get("meaning", {}),
                                source=_source(p.get("source"), f"param {pid}"))
        questions = {}
        for q in data.get("questions", []):
            aliases = {str(k).lower(): v for k, v in (q.get("aliases") or {}).items()}
            for names in (q.get("labels") or {}).values():  # the shown labels are accepted as answers too
                for choice, label in names.items():
                    aliases.setdefault(str(label).lower(), choice)
            questions[q["id"]] = Question(
                id=q["id"], type=q["type"], flag=q["flag"], prompt=q["prompt"], default=q.get("default"),
                choices=tuple(q.get("choices", ())), aliases=aliases,
                labels=q.get("labels", {}), min=q.get("min"), step=q.get("step", 1), optional=bool(q.get("optional")),
            )
        outcomes = {
            oid: Outcome(id=oid, title=o["title"], name=o.get("name", {"en": oid, "zh": oid}),
                         tradeoffs={k: tuple(v) for k, v in o["tradeoffs"].items()},
                         source=_source(o.get("source"), f"outcome {oid}"))
            for oid, o in data.get("outcomes", {}).items()
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"rules file {path}: malformed entry ({type(exc).__name__}: {exc})") from None
    nodes = {name: tuple(_rule(r, name, f"rule {r.get('id')}") for r in rules)
             for name, rules in data.get("nodes", {}).items()}
    checks = tuple(_rule(r, None, f"check {r.get('id')}") for r in data.get("checks", []))
    catalog = {fam: tuple(models) for fam, models in (data.get("catalog") or {}).items()}
    groups = {k: tuple(v) for k, v in (data.get("task_groups") or {}).items()}
    book = RuleBook(params=params, questions=questions, outcomes=outcomes, nodes=nodes, checks=checks,
                    catalog=catalog, task_groups=groups, path=path)
    _validate(book)
    return book


def _validate(book: RuleBook) -> None:
    ids = [r.id for r in book.rules]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise UserError(f"rules file: duplicate rule ids {sorted(dupes)}")
    if "root" not in book.nodes:
        raise UserError("rules file: no 'root' node")
    known = set(book.questions) | set(FACT_KEYS) | set(DERIVED_KEYS)
    for r in book.rules:
        keys, params = _condition_keys(r.when, r.id)
        unknown = keys - known
        if unknown:
            raise UserError(f"rules file: {r.id} reads unknown keys {sorted(unknown)}")
        if params - set(book.params):
            raise UserError(f"rules file: {r.id} uses unknown parameters {sorted(params - set(book.params))}")
        if r.node is not None:
            if (r.outcome is None) == (r.next is None):
                raise UserError(f"rules file: {r.id} needs exactly one of outcome / next")
            if r.next is not None and r.next not in book.nodes:
                raise UserError(f"rules file: {r.id} points to unknown node '{r.next}'")
            if r.tree_step not in TREE_STEPS:
                raise UserError(f"rules file: {r.id} needs tree.step, one of {', '.join(TREE_STEPS)}")
            if r.relation not in RELATIONS:
                raise UserError(f"rules file: {r.id}: tree.relation must be one of {', '.join(RELATIONS)}")
            if r.relation != "as-written" and (set(r.departure) != set(LANGS) or r.departure_source is None):
                raise UserError(f"rules file: {r.id} {r.relation} 002's tree: it needs a departure (en, zh, source)")
        elif r.kind not in ("conflict", "note"):
            raise UserError(f"rules file: check {r.id} has kind '{r.kind}', expected conflict or note")
        if r.outcome is not None and r.outcome not in book.outcomes:
            raise UserError(f"rules file: {r.id} ends in unknown outcome '{r.outcome}'")
    for name, rules in book.nodes.items():
        if not rules or rules[-1].when != {"always": True}:
            raise UserError(f"rules file: node '{name}' must end with an `always: true` rule")


@lru_cache(maxsize=1)
def default_rulebook() -> RuleBook:
    return load_rulebook(RULES_FILE)
