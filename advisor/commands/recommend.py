"""``advisor recommend`` and ``advisor rules``.

The recommend command's question options are generated from the questions in ``rules.yaml``, so a
flag, a key in an answers file and an interactive prompt are three ways of giving the same answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from core.errors import UserError
from advisor.questionnaire.i18n import detect_lang, show_value, t
from advisor.questionnaire.rulebook import Question, default_rulebook
from core.yamlfile import read_yaml

BOOK = default_rulebook()
PRICE_FLAGS = {"cpu_hour_price": "cpu_core_hour_price", "gpu_hour_price": "gpu_hour_price",
               "api_price_in": "api_price_in", "api_price_out": "api_price_out", "output_tokens": "output_tokens"}


def _question_options(func):
    """Attach one click option per question (booleans as --x/--no-x), in reverse for click."""
    for q in reversed(list(BOOK.questions.values())):
        name = q.flag.lstrip("-")
        help_text = q.prompt["en"]
        if q.type == "choice":
            help_text += f" Aliases: {', '.join(k for k in q.aliases if k.isascii())}." if any(k.isascii() for k in q.aliases) else ""
        if q.default is not None:
            help_text += f" [default: {show_value(q.default, 'en')}]"
        if q.type == "bool":
            option = click.option(f"{q.flag}/--no-{name}", q.id, default=None, help=help_text)
        else:
            metavar = "|".join(q.choices) if q.type == "choice" else q.type.upper()
            option = click.option(q.flag, q.id, type=str, default=None, metavar=metavar, help=help_text)
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


def parse_params(items: tuple[str, ...], prices: dict[str, Any]) -> dict[str, float]:
    """--param NAME=VALUE and the price flags, as overrides of the rule book's parameters."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in BOOK.params:
            raise UserError(f"--param {item!r}: expected NAME=VALUE with NAME one of {', '.join(BOOK.params)}")
        out[name] = _number(f"--param {name}", value)
    for flag, param in PRICE_FLAGS.items():
        if prices.get(flag) is not None:
            out[param] = _number("--" + flag.replace("_", "-"), prices[flag])
    return out


def _number(where: str, raw: Any) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise UserError(f"{where}: expected a number, got {raw!r}") from None
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise UserError(f"{where}: expected a finite number >= 0, got {raw!r}")
    return value


def prompt_text(q: Question, lang: str) -> str:
    """The question, its choices listed once (in the user's language), and the default."""
    text = q.prompt[lang]
    if q.type == "choice":
        if lang == "zh":
            opts = " / ".join(f"{q.choice_label(c, 'zh')} {c}" for c in q.choices)
        else:
            opts = " / ".join(q.choice_label(c, "en") for c in q.choices)
        text += f" [{opts}]"
    elif q.type == "bool":
        text += " [是/否]" if lang == "zh" else " [y/n]"
    if q.default is not None:
        shown = q.choice_label(q.default, lang) if q.type == "choice" else show_value(q.default, lang)
        text += f"（默认：{shown}）" if lang == "zh" else f" (default: {shown})"
    elif q.optional:
        text += "（留空：无）" if lang == "zh" else " (empty: none)"
    return text


def make_asker(lang: str):
    def ask(q: Question) -> Any:
        text = prompt_text(q, lang)
        default = "" if q.default is None else (q.default if q.type == "choice" else show_value(q.default, "en"))
        while True:
            raw = click.prompt(text, default=default, show_default=False, type=str, prompt_suffix=" ")
            if raw == "" and q.default is None and not q.optional:
                click.echo("error: " + ("请给出一个回答" if lang == "zh" else "an answer is required"), err=True)
                continue
            try:
                return q.parse(raw, lang)
            except UserError as exc:
                click.echo(f"error: {exc.message}", err=True)
    return ask


@click.command()
@_question_options
@click.option("--answers", "answers_file", type=str, default=None, metavar="FILE",
              help="YAML/JSON file of answers (question id -> value); flags override it.")
@click.option("--measure", is_flag=True,
              help="Time the candidates on this machine at --seq-len: the int8 ONNX student (layer count bisected to "
                   "fit --latency-ms; exports cached) and the teacher (embedded, or --teacher URL), with p50/p95 and cost.")
@click.option("--teacher", default=None, metavar="SPEC",
              help="Your GPT: a local .gguf/HF directory or an OpenAI-compatible URL http(s)://HOST:PORT/v1. Used in the "
                   "printed config, and timed by --measure (default: the embedded SmolLM2-135M).")
@click.option("--server-model", default=None, help="Model name on the --teacher server (default: its first model).")
@click.option("--data", "data_path", default=None, metavar="FILE", help="Your unlabelled texts, for the printed config.")
@click.option("--gold", "gold_path", default=None, metavar="FILE", help="Your gold file (text,label), for the printed steps.")
@click.option("--label-set", default=None, metavar="NAMES", help="Your label names 'a,b,c', for the printed steps.")
@click.option("--cpu-hour-price", default=None, type=str, metavar="PRICE", help="Price of one CPU core for an hour.")
@click.option("--gpu-hour-price", default=None, type=str, metavar="PRICE", help="Price of one GPU for an hour.")
@click.option("--api-price-in", default=None, type=str, metavar="PRICE", help="Hosted LLM price per 1M input tokens.")
@click.option("--api-price-out", default=None, type=str, metavar="PRICE", help="Hosted LLM price per 1M output tokens.")
@click.option("--output-tokens", default=None, type=str, metavar="N", help="Tokens a GPT generates per text (cost).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Override a threshold or price of rules.yaml (see `advisor rules`), e.g. --param strict_latency_ms=50.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None,
              help="Language of questions and explanations (default: follows the locale).")
@click.option("--interactive/--no-interactive", default=None,
              help="Ask for missing answers (default: only when stdin is a terminal).")
def recommend(answers_file, measure, teacher, server_model, data_path, gold_path, label_set, cpu_hour_price,
              gpu_hour_price, api_price_in, api_price_out, output_tokens, params, as_json, lang, interactive, **flags) -> None:
    """Recommend BERT, GPT, distillation, a hybrid, or an encoder-decoder, and explain why.

    The spine is document 002's decision tree, asked in its order; every step cites the document
    behind it, and every departure from 002's tree is shown as a conflict. Missing answers are
    asked interactively (only those on the path) when stdin is a terminal; otherwise defaults are
    taken and the verdict names them.
    """
    from advisor.questionnaire.engine import recommend as run
    from advisor.questionnaire.render import format_text, recommendation_to_dict

    lang = lang or detect_lang()
    given = load_answers_file(answers_file) if answers_file else {}
    given.update({k: v for k, v in flags.items() if v is not None})
    parsed = {k: BOOK.questions[k].parse(v, lang) for k, v in given.items()}
    overrides = parse_params(params, {"cpu_hour_price": cpu_hour_price, "gpu_hour_price": gpu_hour_price,
                                      "api_price_in": api_price_in, "api_price_out": api_price_out,
                                      "output_tokens": output_tokens})
    if interactive is None:
        interactive = sys.stdin.isatty() and not as_json
    rec = run(parsed, ask=make_asker(lang) if interactive else None, book=BOOK, params=overrides, lang=lang)
    inputs = {"data": data_path, "gold": gold_path, "label_set": label_set, "teacher": teacher, "server_model": server_model}
    evidence = None
    if measure:
        from advisor.questionnaire.measure import measure as run_measure

        evidence = run_measure(rec, teacher=teacher, server_model=server_model,
                               progress=lambda m: click.echo(f"[measure] {m}", err=True))
    if as_json:
        click.echo(json.dumps(recommendation_to_dict(rec, lang, inputs, evidence), ensure_ascii=False, indent=2))
    else:
        click.echo(format_text(rec, lang, inputs, evidence))


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole rule book as JSON.")
@click.option("--markdown", is_flag=True, help="Print 002's tree beside the implemented one, and every rule with its source.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None)
def rules(as_json: bool, markdown: bool, lang: str | None) -> None:
    """List every decision rule with its condition, effect and source."""
    from advisor.questionnaire.render import rules_markdown, rules_to_dict

    lang = lang or detect_lang()
    if as_json:
        click.echo(json.dumps(rules_to_dict(BOOK), ensure_ascii=False, indent=2))
    elif markdown:
        click.echo(rules_markdown(BOOK, lang))
    else:
        for r in BOOK.rules:
            effect = r.outcome and f"-> {r.outcome}" or r.next and f"-> node {r.next}" or f"[{r.kind}]"
            step = f"002 {r.tree_step} {r.relation}" if r.tree_step else ""
            click.echo(f"{r.id:22} {effect:18} {step:18} {r.rationale[lang]}")
            click.echo(f"{'':22} {t(lang, 'source')}: {r.source.text(lang)}")
        for k, p in BOOK.params.items():
            click.echo(f"param {k} = {p.value:g} {p.unit}: {p.source.text(lang)}")
