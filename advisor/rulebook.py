"""The rule book: questions, outcomes, decision nodes and checks loaded from ``rules.yaml``.

The file is data; this module turns it into typed objects and validates it up front (unknown
keys, dangling ``next`` nodes, conditions on unknown keys, unknown outcomes), so a broken rules
file fails at load time, not halfway through a questionnaire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any


from advisor.errors import UserError
from advisor.yamlfile import read_yaml

RULES_FILE = Path(__file__).with_name("rules.yaml")
LANGS = ("en", "zh")
FACT_KEYS = ("family", "serving", "outcome")


@dataclass(frozen=True)
class Source:
    file: str
    passage: str
    passage_en: str

    def to_dict(self) -> dict:
        return {"file": self.file, "passage": self.passage, "passage_en": self.passage_en}


@dataclass(frozen=True)
class Question:
    id: str
    type: str  # choice | bool | int | float
    flag: str
    prompt: dict[str, str]
    default: Any = None
    choices: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    min: float | None = None

    def parse(self, raw: Any) -> Any:
        """Turn a raw answer (flag value, file value, typed text) into a valid value or raise."""
        where = f"{self.flag} / {self.id}"
        if raw is None:
            raise UserError(f"{where}: a value is required")
        if self.type == "choice":
            value = str(raw).strip().lower().replace("_", "-")
            value = self.aliases.get(value, value)
            if value not in self.choices:
                raise UserError(f"{where}: unknown value '{raw}'; choose one of: {', '.join(self.choices)}")
            return value
        if self.type == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("y", "yes", "true", "1", "on", "是"):
                return True
            if text in ("n", "no", "false", "0", "off", "否"):
                return False
            raise UserError(f"{where}: expected yes or no, got '{raw}'")
        if isinstance(raw, bool):
            raise UserError(f"{where}: expected a number, got '{raw}'")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise UserError(f"{where}: expected a number, got '{raw}'") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise UserError(f"{where}: expected a finite number, got '{raw}'")
        if self.type == "int":
            if value != int(value):
                raise UserError(f"{where}: expected a whole number, got '{raw}'")
            value = int(value)
        if self.min is not None and value < self.min:
            raise UserError(f"{where}: must be at least {self.min:g}, got {raw}")
        return value


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
    models: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    id: str
    title: dict[str, str]
    models: tuple[str, ...]
    tradeoffs: dict[str, tuple[str, ...]]
    source: Source


@dataclass(frozen=True)
class RuleBook:
    params: dict[str, float]
    questions: dict[str, Question]
    outcomes: dict[str, Outcome]
    nodes: dict[str, tuple[Rule, ...]]
    checks: tuple[Rule, ...]
    path: Path

    @property
    def rules(self) -> list[Rule]:
        return [r for rules in self.nodes.values() for r in rules] + list(self.checks)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def _source(d: dict, where: str) -> Source:
    try:
        return Source(file=d["file"], passage=d["passage"], passage_en=d.get("passage_en", ""))
    except (KeyError, TypeError):
        raise UserError(f"rules file: {where} needs a source with file and passage") from None


def _condition_keys(cond: Any, where: str) -> set[str]:
    """Every key a condition reads; raises on a malformed condition."""
    if not isinstance(cond, dict) or len(cond) != 1:
        raise UserError(f"rules file: {where}: a condition is a mapping with exactly one key, got {cond!r}")
    (key, value), = cond.items()
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise UserError(f"rules file: {where}: '{key}' needs a non-empty list")
        return set().union(*(_condition_keys(c, where) for c in value))
    if key == "not":
        return _condition_keys(value, where)
    if key == "always":
        return set()
    if isinstance(value, dict):
        bad = set(value) - {"in", "lt", "lte", "gt", "gte"}
        if bad or len(value) != 1:
            raise UserError(f"rules file: {where}: bad comparison {value!r}")
    return {key}


def _rule(d: dict, node: str | None, where: str) -> Rule:
    allowed = {"id", "when", "outcome", "next", "set", "rationale", "source", "kind", "models"}
    extra = set(d) - allowed
    if extra:
        raise UserError(f"rules file: {where}: unknown keys {sorted(extra)}")
    for lang in LANGS:
        if lang not in d.get("rationale", {}):
            raise UserError(f"rules file: {where}: rationale needs '{lang}'")
    return Rule(
        id=d["id"], when=d["when"], rationale=d["rationale"], source=_source(d.get("source"), where),
        node=node, outcome=d.get("outcome"), next=d.get("next"), set=d.get("set", {}),
        kind=d.get("kind", "decision"), models=tuple(d.get("models", ())),
    )


def load_rulebook(path: str | Path | None = None) -> RuleBook:
    path = Path(path) if path else RULES_FILE
    data = read_yaml(path, "rules file")
    if not isinstance(data, dict):
        raise UserError(f"rules file {path}: expected a mapping at the top level")

    questions = {}
    for q in data.get("questions", []):
        questions[q["id"]] = Question(
            id=q["id"], type=q["type"], flag=q["flag"], prompt=q["prompt"], default=q.get("default"),
            choices=tuple(q.get("choices", ())), aliases=q.get("aliases", {}), min=q.get("min"),
        )
    outcomes = {
        oid: Outcome(id=oid, title=o["title"], models=tuple(o["models"]),
                     tradeoffs={k: tuple(v) for k, v in o["tradeoffs"].items()},
                     source=_source(o.get("source"), f"outcome {oid}"))
        for oid, o in data.get("outcomes", {}).items()
    }
    nodes = {name: tuple(_rule(r, name, f"rule {r.get('id')}") for r in rules)
             for name, rules in data.get("nodes", {}).items()}
    checks = tuple(_rule(r, None, f"check {r.get('id')}") for r in data.get("checks", []))
    book = RuleBook(params=data.get("params", {}), questions=questions, outcomes=outcomes,
                    nodes=nodes, checks=checks, path=path)
    _validate(book)
    return book


def _validate(book: RuleBook) -> None:
    ids = [r.id for r in book.rules]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise UserError(f"rules file: duplicate rule ids {sorted(dupes)}")
    if "root" not in book.nodes:
        raise UserError("rules file: no 'root' node")
    known = set(book.questions) | set(FACT_KEYS)
    for r in book.rules:
        unknown = _condition_keys(r.when, r.id) - known
        if unknown:
            raise UserError(f"rules file: {r.id} reads unknown keys {sorted(unknown)}")
        if r.node is not None:
            if (r.outcome is None) == (r.next is None):
                raise UserError(f"rules file: {r.id} needs exactly one of outcome / next")
            if r.next is not None and r.next not in book.nodes:
                raise UserError(f"rules file: {r.id} points to unknown node '{r.next}'")
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
