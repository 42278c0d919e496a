"""``advisor recommend`` and ``advisor rules``.

The recommend command's options are generated from the questions in ``rules.yaml``, so a flag, a
key in an answers file and an interactive prompt are three ways of giving the same answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from advisor.errors import UserError
from advisor.yamlfile import read_yaml
from advisor.i18n import detect_lang, t
from advisor.rulebook import Question, default_rulebook

BOOK = default_rulebook()


def _param_name(question: Question) -> str:
    return question.id


def _question_options(func):
    """Attach one click option per question (booleans as --x/--no-x), in reverse for click."""
    for q in reversed(list(BOOK.questions.values())):
        name = q.flag.lstrip("-")
        help_text = q.prompt["en"]
        if q.type == "bool":
            option = click.option(f"{q.flag}/--no-{name}", _param_name(q), default=None, help=help_text)
        else:
            metavar = "|".join(q.choices) if q.type == "choice" else q.type.upper()
            option = click.option(q.flag, _param_name(q), type=str, default=None, metavar=metavar, help=help_text)
        func = option(func)
    return func


def load_answers_file(path: str) -> dict[str, Any]:
    """A YAML or JSON mapping from question id (or flag name) to answer."""
    data = read_yaml(path, "answers file")
    if not isinstance(data, dict):
        raise UserError(f"answers file {path} must hold a mapping of question -> answer")
    answers = {}
    for key, value in data.items():
        qid = str(key).lstrip("-").replace("-", "_")
        if qid not in BOOK.questions:
            raise UserError(f"answers file {path}: unknown question '{key}'; known: {', '.join(BOOK.questions)}")
        answers[qid] = value
    return answers


def _make_asker(lang: str):
    def ask(q: Question) -> Any:
        text = q.prompt[lang]
        while True:
            if q.type == "bool":
                return click.confirm(text, default=bool(q.default))
            if q.type == "choice":
                return click.prompt(text, type=click.Choice(q.choices, case_sensitive=False),
                                    default=q.default, show_choices=True)
            raw = click.prompt(text, default=q.default, type=str)
            try:
                return q.parse(raw)
            except UserError as exc:
                click.echo(f"error: {exc.message}", err=True)
    return ask


@click.command()
@_question_options
@click.option("--answers", "answers_file", type=str, default=None, metavar="FILE",
              help="YAML/JSON file of answers (question id -> value); flags override it.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Language of questions and explanations (default: follows the locale).")
@click.option("--interactive/--no-interactive", default=None,
              help="Ask for missing answers (default: only when stdin is a terminal).")
def recommend(answers_file: str | None, as_json: bool, lang: str | None, interactive: bool | None, **flags) -> None:
    """Recommend BERT, GPT, distillation, a hybrid, or an encoder-decoder, and explain why.

    Every step cites the seed document behind its rule. Missing answers are asked interactively
    (only those that matter on the path taken) when stdin is a terminal, else defaulted.
    """
    from advisor.engine import recommend as run
    from advisor.render import format_text, recommendation_to_dict

    lang = lang or detect_lang()
    given = load_answers_file(answers_file) if answers_file else {}
    given.update({k: v for k, v in flags.items() if v is not None})
    parsed = {k: BOOK.questions[k].parse(v) for k, v in given.items()}
    if interactive is None:
        interactive = sys.stdin.isatty() and not as_json
    rec = run(parsed, ask=_make_asker(lang) if interactive else None, book=BOOK)
    if as_json:
        click.echo(json.dumps(recommendation_to_dict(rec, lang), ensure_ascii=False, indent=2))
    else:
        click.echo(format_text(rec, lang))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole rule book as JSON.")
@click.option("--markdown", is_flag=True, help="Print a Mermaid diagram and a table of rules.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
def rules(as_json: bool, markdown: bool, lang: str | None) -> None:
    """List every decision rule with its condition, effect and seed-document source."""
    from advisor.render import rules_markdown, rules_to_dict

    lang = lang or detect_lang()
    if as_json:
        click.echo(json.dumps(rules_to_dict(BOOK), ensure_ascii=False, indent=2))
    elif markdown:
        click.echo(rules_markdown(BOOK, lang))
    else:
        for r in BOOK.rules:
            effect = r.outcome and f"-> {r.outcome}" or r.next and f"-> node {r.next}" or f"[{r.kind}]"
            click.echo(f"{r.id:24} {effect:18} {r.rationale[lang]}")
            click.echo(f"{'':24} {t(lang, 'source')}: {r.source.file}: {r.source.passage}")
