"""Walk the rule book's decision tree over a user's answers and explain the path taken.

Answers are looked up lazily: a question is asked (interactively) or defaulted (non-interactively)
only when a rule on the current path reads it, so only the questions that matter are asked. Every
default taken on the decision path is recorded, so the verdict can name the assumed values.

``what would change the answer`` is found by running the engine again: the other boolean, every
other choice, and for numbers a bisection over the answer's range (on the question's step) to the
exact value where the outcome flips, with the parameter(s) compared at that boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from core.errors import UserError
from advisor.questionnaire.rulebook import DERIVED_KEYS, FACT_KEYS, Question, Rule, RuleBook, default_rulebook

Ask = Callable[[Question], Any]


class Answers:
    """The answers known so far, plus facts set by rules; asks or defaults on first use."""

    def __init__(self, book: RuleBook, given: dict[str, Any] | None = None, ask: Ask | None = None,
                 params: dict[str, float] | None = None):
        self.book = book
        self.values: dict[str, Any] = dict(given or {})
        self.given = set(self.values)
        self.ask = ask
        self.params: dict[str, float] = {**book.param_values, **(params or {})}
        self.asked: list[str] = []
        self.defaulted: list[str] = []       # defaults taken while walking the tree (decisive)
        self.defaulted_checks: list[str] = []  # defaults taken by the checks after the outcome
        self.used: list[str] = []
        self.facts: dict[str, str] = {}
        self.phase = "walk"
        self.lang = "en"

    def get(self, key: str) -> Any:
        if key in FACT_KEYS:
            return self.facts.get(key)
        if key in DERIVED_KEYS:
            from advisor.questionnaire import cost

            return cost.derived(key, self)
        if key not in self.values:
            question = self.book.questions[key]
            if self.ask is not None:
                self.values[key] = question.parse(self.ask(question))
                self.asked.append(key)
            elif question.default is None and not question.optional:
                raise UserError(f"缺少回答“{key}”：请给出 {question.flag} 或 --answers FILE" if self.lang == "zh" else
                                f"missing answer '{key}': give {question.flag} or --answers FILE")
            else:
                self.values[key] = question.default
                (self.defaulted if self.phase == "walk" else self.defaulted_checks).append(key)
        if key not in self.used:
            self.used.append(key)
        return self.values[key]

    def peek(self, key: str, default: Any = None) -> Any:
        """A value without asking or recording it (for rendering and costing)."""
        if key in self.values:
            return self.values[key]
        q = self.book.questions.get(key)
        return q.default if q is not None and q.default is not None else default


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
    target = _resolve(target, answers.params)
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

    @property
    def departures(self) -> list[Rule]:
        """Rules on the path that add to or depart from 002's tree (shown as conflicts)."""
        return [r for r in self.path if r.relation != "as-written"]

    @property
    def assumed(self) -> dict[str, Any]:
        """Defaults taken on the decision path (decisive for this outcome), optional ones aside."""
        return {k: self.answers.values[k] for k in self.answers.defaulted
                if not self.answers.book.questions[k].optional}


def walk(book: RuleBook, answers: Answers) -> tuple[str, list[Rule], list[Rule]]:
    """Follow the tree from ``root`` to an outcome, then run every check; returns (outcome, path, checks)."""
    node, path = "root", []
    answers.phase = "walk"
    for _ in range(len(book.nodes) + 1):
        rule = next(r for r in book.nodes[node] if evaluate(r.when, answers))
        path.append(rule)
        answers.facts.update(rule.set)
        if rule.outcome is not None:
            answers.facts["outcome"] = rule.outcome
            answers.phase = "checks"
            checks = [c for c in book.checks if evaluate(c.when, answers)]
            return rule.outcome, path, checks
        node = rule.next
    raise UserError(f"rules file {book.path}: the tree has a cycle through node '{node}'")


def _outcome(book: RuleBook, values: dict, params: dict) -> str:
    return walk(book, Answers(book, values, params=params))[0]


def _grid(q: Question, v: float) -> float:
    return int(v) if q.type == "int" else (int(v) if float(v).is_integer() else v)


def _bisect(book: RuleBook, values: dict, params: dict, q: Question, inside: float, outside: float,
            base: str) -> float:
    """The value closest to ``inside`` (outcome ``base``) whose outcome differs, between inside and
    outside (which differs), on the question's step grid."""
    step = q.step or 1
    a, b = round(inside / step), round(outside / step)  # a: base outcome, b: other
    while abs(b - a) > 1:
        mid = (a + b) // 2
        if _outcome(book, {**values, q.id: _grid(q, mid * step)}, params) == base:
            a = mid
        else:
            b = mid
    return _grid(q, b * step)


def _params_for(book: RuleBook, key: str) -> list[str]:
    """Parameters the rules compare ``key`` with (the thresholds that can flip on this answer)."""
    found = []

    def scan(cond):
        (k, spec), = cond.items()
        if k in ("all", "any"):
            for c in spec:
                scan(c)
        elif k == "not":
            scan(spec)
        elif k == key and isinstance(spec, dict):
            (_op, target), = spec.items()
            if isinstance(target, str) and target.startswith("$") and target[1:] not in found:
                found.append(target[1:])

    for r in book.rules:
        if r.node is not None:
            scan(r.when)
    return found


def counterfactuals(book: RuleBook, answers: Answers, outcome: str) -> list[dict]:
    """For each answer the decision path used (the task aside), the nearest change that alters the outcome."""
    changes = []
    values, params = dict(answers.values), answers.params
    for key in answers.used:
        if key == "task" or key not in values or key not in answers.book.questions:
            continue
        q, current = book.questions[key], values[key]
        found: list[tuple[Any, str]] = []
        if q.type == "bool":
            alt = not current
            new = _outcome(book, {**values, key: alt}, params)
            if new != outcome:
                found.append((alt, new))
        elif q.type == "choice":
            for alt in q.choices:
                if alt != current:
                    new = _outcome(book, {**values, key: alt}, params)
                    if new != outcome:
                        found.append((alt, new))
                        break
        elif current is not None:
            step = q.step or 1
            lo = q.min if q.min is not None else 0
            hi = max(current * 1000, 10_000_000)
            for bound in (lo, hi):
                bound = _grid(q, round(bound / step) * step)
                if bound == current:
                    continue
                if _outcome(book, {**values, key: bound}, params) != outcome:
                    flip = _bisect(book, values, params, q, current, bound, outcome)
                    found.append((flip, _outcome(book, {**values, key: flip}, params)))
            found.sort(key=lambda f: abs(f[0] - current))
            found = found[:1]
        for alt, new in found:
            change = {"question": key, "flag": q.flag, "from": current, "to": alt, "outcome": new,
                      "cli": q.cli_value(alt)}
            if q.type in ("int", "float"):
                change["thresholds"] = [{"param": p, "value": params[p], "unit": book.params[p].unit}
                                        for p in _params_for(book, key)]
            changes.append(change)
    return changes


def recommend(given: dict[str, Any] | None = None, ask: Ask | None = None,
              book: RuleBook | None = None, params: dict[str, float] | None = None, lang: str = "en") -> Recommendation:
    """Run the questionnaire: ``given`` are parsed answers; ``ask`` prompts for missing ones;
    ``params`` override the rule book's thresholds and prices."""
    book = book or default_rulebook()
    answers = Answers(book, given, ask, params)
    answers.lang = lang
    answers.get("task")  # asked first: it decides which questions follow (and is required)
    outcome, path, checks = walk(book, answers)
    for key in ("seq_len", "volume"):  # the inputs of the cost section (asked, or defaulted and listed)
        answers.get(key)
    if answers.ask is not None and answers.values.get("task") == "classification":
        answers.get("multi_label")  # the shape of the printed config (task: multilabel), not a rule's input
    rec = Recommendation(outcome=outcome, path=path, checks=checks, answers=answers)
    rec.what_would_change = counterfactuals(book, answers, outcome)
    return rec
