"""Walk the rule book's decision tree over a user's answers and explain the path taken.

Answers are looked up lazily: a question is asked (interactively) or defaulted (non-interactively)
only when a rule on the current path reads it, so only the questions that matter are asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from advisor.errors import UserError
from advisor.rulebook import FACT_KEYS, Question, Rule, RuleBook, default_rulebook

Ask = Callable[[Question], Any]


class Answers:
    """The answers known so far, plus facts set by rules; asks or defaults on first use."""

    def __init__(self, book: RuleBook, given: dict[str, Any] | None = None, ask: Ask | None = None):
        self.book = book
        self.values: dict[str, Any] = dict(given or {})
        self.given = set(self.values)
        self.ask = ask
        self.asked: list[str] = []
        self.defaulted: list[str] = []
        self.used: list[str] = []
        self.facts: dict[str, str] = {}

    def get(self, key: str) -> Any:
        if key in FACT_KEYS:
            return self.facts.get(key)
        if key not in self.values:
            question = self.book.questions[key]
            if self.ask is not None:
                self.values[key] = question.parse(self.ask(question))
                self.asked.append(key)
            elif question.default is None:
                raise UserError(f"missing answer '{key}': give {question.flag} or --answers FILE")
            else:
                self.values[key] = question.default
                self.defaulted.append(key)
        if key not in self.used:
            self.used.append(key)
        return self.values[key]


def _resolve(value: Any, params: dict[str, float]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return params[value[1:]]
    return value


def evaluate(cond: dict, answers: Answers) -> bool:
    """Evaluate a condition left to right with short-circuiting (so unneeded questions stay unasked)."""
    (key, spec), = cond.items()
    if key == "always":
        return bool(spec)
    if key == "all":
        return all(evaluate(c, answers) for c in spec)
    if key == "any":
        return any(evaluate(c, answers) for c in spec)
    if key == "not":
        return not evaluate(spec, answers)
    value = answers.get(key)
    if not isinstance(spec, dict):
        return value == spec
    (op, target), = spec.items()
    target = _resolve(target, answers.book.params)
    if op == "in":
        return value in target
    if value is None:
        return False
    return {"lt": value < target, "lte": value <= target, "gt": value > target, "gte": value >= target}[op]


@dataclass
class Recommendation:
    outcome: str
    path: list[Rule]
    checks: list[Rule]
    answers: Answers
    what_would_change: list[dict] = field(default_factory=list)

    @property
    def conflicts(self) -> list[Rule]:
        return [c for c in self.checks if c.kind == "conflict"]

    @property
    def notes(self) -> list[Rule]:
        return [c for c in self.checks if c.kind == "note"]


def walk(book: RuleBook, answers: Answers) -> tuple[str, list[Rule], list[Rule]]:
    """Follow the tree from ``root`` to an outcome, then run every check; returns (outcome, path, checks)."""
    node, path = "root", []
    for _ in range(len(book.nodes) + 1):
        rule = next(r for r in book.nodes[node] if evaluate(r.when, answers))
        path.append(rule)
        answers.facts.update(rule.set)
        if rule.outcome is not None:
            answers.facts["outcome"] = rule.outcome
            checks = [c for c in book.checks if evaluate(c.when, answers)]
            return rule.outcome, path, checks
        node = rule.next
    raise UserError(f"rules file {book.path}: the tree has a cycle through node '{node}'")


def _alternatives(book: RuleBook, question: Question, current: Any) -> list[Any]:
    """Values worth trying for a counterfactual: other choices, the other boolean, or the values
    either side of each threshold the rules compare this number with."""
    if question.type == "bool":
        return [not current]
    if question.type == "choice":
        return [c for c in question.choices if c != current]
    thresholds = sorted({float(v) for v in book.params.values()})
    candidates = set()
    for t in thresholds:
        for v in (t / 2, t * 2):
            v = int(v) if question.type == "int" or float(v).is_integer() else v
            if question.min is None or v >= question.min:
                candidates.add(v)
    return sorted(c for c in candidates if c != current)


def counterfactuals(book: RuleBook, answers: Answers, outcome: str) -> list[dict]:
    """For each answer the path used (the task aside), the smallest change that alters the outcome."""
    changes = []
    for key in answers.used:
        if key == "task":
            continue
        question, current = book.questions[key], answers.values[key]
        alts = _alternatives(book, question, current)
        if question.type in ("int", "float"):  # nearest first
            alts.sort(key=lambda v: abs(v - current))
        for alt in alts:
            trial = Answers(book, {**answers.values, key: alt})
            new_outcome, _, _ = walk(book, trial)
            if new_outcome != outcome:
                changes.append({"question": key, "flag": question.flag, "from": current, "to": alt,
                                "outcome": new_outcome})
                break
    return changes


def recommend(given: dict[str, Any] | None = None, ask: Ask | None = None,
              book: RuleBook | None = None) -> Recommendation:
    """Run the questionnaire: ``given`` are parsed answers; ``ask`` prompts for missing ones."""
    book = book or default_rulebook()
    answers = Answers(book, given, ask)
    outcome, path, checks = walk(book, answers)
    rec = Recommendation(outcome=outcome, path=path, checks=checks, answers=answers)
    rec.what_would_change = counterfactuals(book, answers, outcome)
    return rec
