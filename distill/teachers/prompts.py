"""Prompt templates, k-shot examples and calibration for a classifying teacher.

A :class:`Prompt` turns a text into the model input that ends right before the label word; the
teacher then scores each label's verbalizer as the continuation. Two styles:

* ``completion``: plain text, e.g. ``"Review: <text>\\nSentiment:"`` and the label is scored as
  ``" positive"`` (leading space);
* ``chat``: a list of chat messages; the label is scored as the first words of the assistant turn.

Every prompt splits into a *shared prefix* (instructions + k-shot examples, identical for every
text; local teachers run it once and reuse its KV cache) and a per-text *suffix*.

Calibration (Zhao et al. 2021, "Calibrate Before Use"): the probabilities the teacher gives to
content-free inputs (``"N/A"``, ``""``, ``"[MASK]"``) -- or the mean over the unlabelled pool --
are divided out: ``p_cal ∝ p / p_ref``.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

import numpy as np

from core.errors import UserError
from distill.data.labelset import LabelSet

CONTENT_FREE = ("N/A", "", "[MASK]")
CALIBRATIONS = ("none", "content-free", "pool-mean")

# name -> (style, description). The texts are built in Prompt._render_*.
TEMPLATES: dict[str, tuple[str, str]] = {
    "field": ("completion", "'<Input>: text\\n<Output>:' -- e.g. 'Review: ...\\nSentiment:'"),
    "instruct": ("completion", "one instruction line listing the labels, then 'Input: text\\nOutput:'"),
    "described": ("completion", "instruction with each label's description, then 'Input: text\\nOutput:'"),
    "question": ("completion", "'Input: text\\nQuestion: is it a, b or c?\\nAnswer:'"),
    "chat": ("chat", "chat messages: system instruction, user text, assistant answers with the label"),
    "chat-described": ("chat", "as chat, with the label descriptions in the system message"),
    "options": ("completion", "the labels as lettered options A, B, C... with their descriptions; scores the letter"),
    "chat-options": ("chat", "as options, in chat messages; the assistant answers with the letter"),
}
DEFAULT_TEMPLATE = "field"
LANGUAGES = ("auto", "en", "zh")
OPTION_CODES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # single tokens in the usual BPE vocabularies

# The Chinese rendering of every template (``language="zh"``): field names, instructions and the
# answer cue in Chinese; no space before the answer (Chinese text has none).
_ZH = {"input": "文本", "output": "类别", "task": "文本的类别", "answer": "答案", "question": "问题"}


def detect_language(texts, sample: int = 200) -> str:
    """"zh" when at least 30% of the letters in a sample of the texts are CJK ideographs, else "en"."""
    cjk = other = 0
    for t in list(texts)[:sample]:
        for ch in str(t):
            if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
                cjk += 1
            elif ch.isalpha():
                other += 1
    return "zh" if cjk and cjk >= 0.3 * (cjk + other) else "en"


@dataclass(frozen=True)
class Shot:
    text: str
    label: str


@dataclass
class Prompt:
    labelset: LabelSet
    template: str = DEFAULT_TEMPLATE
    shots: tuple[Shot, ...] = ()
    max_chars: int = 2000  # texts are cut to this many characters (with "...")
    language: str = "en"  # en | zh (the Chinese rendering); "auto" is resolved from the data by the caller

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise UserError(f"unknown prompt template {self.template!r}; choose from {', '.join(TEMPLATES)}")
        if self.language not in ("en", "zh"):
            raise UserError(f"unknown prompt language {self.language!r}; choose from en, zh")
        hints = dict(self.labelset.prompt or {})
        if self.language == "zh":
            self.input_name = hints.get("input_zh", _ZH["input"])
            self.output_name = hints.get("output_zh", _ZH["output"])
        else:
            self.input_name = hints.get("input", "Text")
            self.output_name = hints.get("output", "Label")
        self.shots = tuple(self.shots)

    @property
    def zh(self) -> bool:
        return self.language == "zh"

    @property
    def uses_codes(self) -> bool:
        """options templates answer with a letter (up to 26 labels; beyond, with the label word)."""
        return self.template in ("options", "chat-options") and len(self.labelset) <= len(OPTION_CODES)

    def answers(self) -> list[str]:
        """What the teacher answers for each label: its letter (options templates) or its word."""
        if self.uses_codes:
            return list(OPTION_CODES[: len(self.labelset)])
        return [w.strip() for w in self.labelset.words]

    # ------------------------------------------------------------------------ properties
    @property
    def style(self) -> str:
        return TEMPLATES[self.template][0]

    @property
    def is_chat(self) -> bool:
        return self.style == "chat"

    def label_continuations(self) -> list[str]:
        """What follows the prompt for each label: ' word' (completion), 'word' (chat, or Chinese)."""
        if self.is_chat or self.zh:
            return self.answers()
        return [" " + a for a in self.answers()]

    def _options(self, sep: str = ", ", last: str = " or ") -> str:
        words = [w.strip() for w in self.labelset.words]
        if self.zh:
            sep, last = "、", "或"
        return sep.join(words[:-1]) + last + words[-1]

    def _option_list(self) -> str:
        """One line per label: 'A. word: description' (or '- word: description' past 26 labels)."""
        lines = []
        codes = self.answers() if self.uses_codes else None
        colon = "：" if self.zh else ": "
        for i, lab in enumerate(self.labelset.labels):
            head = f"{codes[i]}. " if codes else "- "
            d = f"{colon}{lab.description}" if lab.description else ""
            lines.append(f"{head}{lab.word.strip()}{d}")
        return "\n".join(lines)

    def _answer_rule(self) -> str:
        if self.zh:
            return "只回答选项的字母。" if self.uses_codes else "只回答一个类别。"
        return "Answer with the option's letter." if self.uses_codes else "Answer with one of the options."

    def _clip(self, text: str) -> str:
        text = " ".join(str(text).split())
        return text if len(text) <= self.max_chars else text[: self.max_chars] + "..."

    def _task(self) -> str:
        if self.zh:
            return (self.labelset.prompt or {}).get("task_zh") or _ZH["task"]
        return self.labelset.task or f"the {self.output_name.lower()} of the {self.input_name.lower()}"

    def _descriptions(self) -> str:
        lines = []
        for lab in self.labelset.labels:
            d = (f"：{lab.description}" if self.zh else f": {lab.description}") if lab.description else ""
            lines.append(f"- {lab.word.strip()}{d}")
        return "\n".join(lines)

    # ------------------------------------------------------------------------ completion style
    def _instructions(self) -> str:
        t = self.template
        if t in ("field", "question"):
            return ""
        if self.zh:
            if t == "instruct":
                return f"请判断{self._task()}：{self._options()}。\n\n"
            if t == "described":
                return f"请判断{self._task()}。类别：\n{self._descriptions()}\n\n"
            if t == "options":
                return f"请判断{self._task()}。选项：\n{self._option_list()}\n{self._answer_rule()}\n\n"
            raise AssertionError(t)
        if t == "options":
            return f"Classify {self._task()}. Options:\n{self._option_list()}\n{self._answer_rule()}\n\n"
        if t == "instruct":
            return f"Classify {self._task()} as {self._options()}.\n\n"
        if t == "described":
            return f"Classify {self._task()}. The labels are:\n{self._descriptions()}\n\n"
        raise AssertionError(t)

    def _block(self, text: str) -> str:
        """One example block without the answer (ends right before the label word)."""
        if self.zh:
            if self.template == "question":
                return f"{self.input_name}：{self._clip(text)}\n{_ZH['question']}：{self._task()}是{self._options()}？\n{_ZH['answer']}："
            if self.template == "options":
                return f"{self.input_name}：{self._clip(text)}\n{_ZH['answer']}："
            return f"{self.input_name}：{self._clip(text)}\n{self.output_name}："
        if self.template == "question":
            return f"{self.input_name}: {self._clip(text)}\nQuestion: What is {self._task()}: {self._options()}?\nAnswer:"
        if self.template == "options":
            return f"{self.input_name}: {self._clip(text)}\nAnswer:"
        return f"{self.input_name}: {self._clip(text)}\n{self.output_name}:"

    def prefix(self) -> str:
        """The shared part of every completion prompt (instructions + k-shot examples)."""
        if self.is_chat:
            raise ValueError("chat prompts have no text prefix; use messages()")
        out = self._instructions()
        answers = dict(zip(self.labelset.names, self.answers()))
        sep = "" if self.zh else " "
        for s in self.shots:
            out += self._block(s.text) + sep + answers[s.label] + "\n\n"
        return out

    def suffix(self, text: str) -> str:
        return self._block(text)

    def render(self, text: str) -> str:
        """The whole completion prompt for one text (ends right before ' <label>')."""
        return self.prefix() + self.suffix(text)

    # ------------------------------------------------------------------------ chat style
    def _system(self) -> str:
        if self.template == "chat-options":
            if self.zh:
                return f"你是一个文本分类器。请判断{self._task()}。选项：\n{self._option_list()}\n{self._answer_rule()}"
            return f"You are a text classifier. Decide {self._task()}. Options:\n{self._option_list()}\n{self._answer_rule()}"
        if self.zh:
            msg = f"你是一个文本分类器。请判断{self._task()}。只用一个词回答：{self._options()}。"
            if self.template == "chat-described":
                msg += "\n类别：\n" + self._descriptions()
            return msg
        msg = f"You are a text classifier. Decide {self._task()}. Answer with exactly one word: {self._options()}."
        if self.template == "chat-described":
            msg += "\nThe labels:\n" + self._descriptions()
        return msg

    def _user(self, text: str) -> str:
        if self.template == "chat-options":
            sep = "：" if self.zh else ": "
            return f"{self.input_name}{sep}{self._clip(text)}\n\n{self._answer_rule()}"
        if self.zh:
            return f"{self.input_name}：{self._clip(text)}\n\n只用一个词回答：{self._options()}。"
        return f"{self.input_name}: {self._clip(text)}\n\nAnswer with one word: {self._options()}."

    def messages(self, text: str) -> list[dict]:
        if not self.is_chat:
            return [{"role": "user", "content": self.render(text)}]
        words = dict(zip(self.labelset.names, self.answers()))
        msgs = [{"role": "system", "content": self._system()}]
        for s in self.shots:
            msgs.append({"role": "user", "content": self._user(s.text)})
            msgs.append({"role": "assistant", "content": words[s.label]})
        msgs.append({"role": "user", "content": self._user(text)})
        return msgs

    # ------------------------------------------------------------------------ identity
    def to_dict(self) -> dict:
        return {
            "template": self.template,
            "style": self.style,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "labels": self.labelset.names,
            "continuations": self.label_continuations(),
            "task": self._task(),
            "descriptions": [lab.description for lab in self.labelset.labels],
            "shots": [[s.text, s.label] for s in self.shots],
            "max_chars": self.max_chars,
            **({"language": self.language} if self.language != "en" else {}),
        }

    def example(self, text: str = "<text>") -> str:
        """A human-readable rendering (for logs and teacher.json)."""
        if self.is_chat:
            return "\n".join(f"[{m['role']}] {m['content']}" for m in self.messages(text)) + "\n[assistant] <label>"
        return self.render(text) + " <label>"

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class PairPrompt(Prompt):
    """The prompt of a sentence-pair task (``task: pairs``): every template, with the text block
    showing both texts of a pair (``core.pairs``), each under its own field name::

        Sentence 1: <text>
        Sentence 2: <text_pair>
        Label:

    A lone text (the content-free calibration inputs) is shown as both sentences."""

    def __post_init__(self) -> None:
        super().__post_init__()
        hints = dict(self.labelset.prompt or {})
        if self.language == "zh":
            self.input_name = hints.get("input_zh", _ZH_PAIR[0])
            self.pair_name = hints.get("input2_zh", _ZH_PAIR[1])
        else:
            self.input_name = hints.get("input", "Sentence 1")
            self.pair_name = hints.get("input2", "Sentence 2")

    def _clip(self, text: str) -> str:
        from core.pairs import split_pair

        a, b = split_pair(str(text))
        if not b:
            b = a
        sep = "：" if self.zh else ": "
        return f"{super()._clip(a)}\n{self.pair_name}{sep}{super()._clip(b)}"

    def _task(self) -> str:
        if self.zh:
            return (self.labelset.prompt or {}).get("task_zh") or "两个句子的关系"
        return self.labelset.task or "the relation between the two sentences"

    def to_dict(self) -> dict:
        return {**super().to_dict(), "pair_name": self.pair_name}


_ZH_PAIR = ("句子1", "句子2")


# A multi-label question travels through the teacher (and the label cache) as one string: the text,
# this separator, the label's name (``question_text``); the separator is removed from the texts.
QUESTION_SEP = "\x1e"
YES_NO = ("yes", "no")


def question_text(text: str, label: str) -> str:
    """The teacher's input for "does ``text`` express ``label``?" (cache key: text + label)."""
    return f"{str(text).replace(QUESTION_SEP, ' ')}{QUESTION_SEP}{label}"


class YesNoPrompt(Prompt):
    """The prompt of a multi-label task (``task: multilabel``): one yes/no question per label,
    the text first and the question after it, so every question about one text shares the text's
    tokens::

        Answer each question about the comment with yes or no.

        Comment: <text>
        Question: Does the comment express joy (happiness and pleasure)?
        Answer:

    The teacher scores `` yes`` / `` no`` (chat templates: ``yes`` / ``no`` as the assistant's first
    word); the input it is given is :func:`question_text`. Every template renders the same
    question (chat templates in chat messages); a text without a label (the shared-prefix probe)
    asks about the first label."""

    def answers(self) -> list[str]:
        return list(YES_NO) if not self.zh else ["是", "否"]

    def _split(self, text: str) -> tuple[str, object]:
        body, _, name = str(text).partition(QUESTION_SEP)
        names = self.labelset.names
        lab = self.labelset.labels[names.index(name)] if name in names else self.labelset.labels[0]
        return body, lab

    def _question(self, lab) -> str:
        d = f" ({lab.description})" if lab.description else ""
        if self.zh:
            return f"这段{self.input_name}是否表达了{lab.word.strip()}{d}？"
        return f"Does the {self.input_name.lower()} express {lab.word.strip()}{d}?"

    def _instructions(self) -> str:
        if self.zh:
            return f"请用是或否回答关于{self.input_name}的每个问题。\n\n"
        return f"Answer each question about the {self.input_name.lower()} with yes or no.\n\n"

    def _block(self, text: str) -> str:
        body, lab = self._split(text)
        if self.zh:
            return f"{self.input_name}：{self._clip(body)}\n{_ZH['question']}：{self._question(lab)}\n{_ZH['answer']}："
        return f"{self.input_name}: {self._clip(body)}\nQuestion: {self._question(lab)}\nAnswer:"

    def prefix(self) -> str:
        if self.is_chat:
            raise ValueError("chat prompts have no text prefix; use messages()")
        return self._instructions()  # shots are not used: a shot would be one label's answer

    def _system(self) -> str:
        return self._instructions().strip()

    def _user(self, text: str) -> str:
        body, lab = self._split(text)
        sep = "：" if self.zh else ": "
        return f"{self.input_name}{sep}{self._clip(body)}\n\n{self._question(lab)}"

    def messages(self, text: str) -> list[dict]:
        if not self.is_chat:
            return [{"role": "user", "content": self.render(text)}]
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": self._user(text)}]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "question": "yes/no per label", "shots": []}


# ---------------------------------------------------------------------------- k-shot examples
def select_shots(texts: list[str], labels: list[str], labelset: LabelSet, k: int, seed: int = 0,
                 exclude: set[str] | None = None, max_chars: int = 300) -> tuple[Shot, ...]:
    """``k`` labelled examples, balanced per class (round-robin), shuffled with ``seed``.

    Short examples are preferred (they keep the shared prefix small): each class's candidates
    are drawn at random from its texts of at most ``max_chars`` characters.
    """
    if k <= 0:
        return ()
    exclude = exclude or set()
    rng = random.Random(seed)
    by_class: dict[str, list[str]] = {n: [] for n in labelset.names}
    for t, lab in zip(texts, labels):
        if t in exclude:
            continue
        by_class[labelset.normalize(lab)].append(t)
    for name, pool in by_class.items():
        short = [t for t in pool if len(t) <= max_chars] or pool
        rng.shuffle(short)
        by_class[name] = short
    present = [n for n in labelset.names if by_class[n]]
    if not present:
        raise UserError("the shots file has no usable labelled examples")
    shots: list[Shot] = []
    i = 0
    while len(shots) < k and any(by_class[n] for n in present):
        name = present[i % len(present)]
        if by_class[name]:
            shots.append(Shot(by_class[name].pop(), name))
        i += 1
    rng.shuffle(shots)
    return tuple(shots)


def load_shots(path, labelset: LabelSet, k: int, seed: int = 0, text_column=None, label_column=None,
               exclude: set[str] | None = None, text_pair_column: str | None = None) -> tuple[Shot, ...]:
    """k balanced shots from a labelled file (any format ``distill.data.reader.load_texts`` reads);
    with ``text_pair_column`` each shot is a sentence pair (task pairs), shown as the pool's pairs."""
    from distill.data.reader import load_texts

    ds = load_texts(path, text_column=text_column, label_column=label_column, labelset=labelset,
                    text_pair_column=text_pair_column)
    if ds.gold is None:
        raise UserError(f"shots file {path} has no label column (pass --label-column or use a 'label' column)")
    return select_shots(ds.texts, ds.gold, labelset, k, seed=seed, exclude=exclude)


# ---------------------------------------------------------------------------- calibration
@dataclass
class Calibrator:
    """``p_cal ∝ p / ref``; ``ref`` from content-free inputs or the pool mean (None: identity)."""

    method: str = "none"
    ref: np.ndarray | None = None
    inputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.method not in CALIBRATIONS:
            raise UserError(f"unknown calibration {self.method!r}; choose from {', '.join(CALIBRATIONS)}")

    def apply(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        if self.method == "none" or self.ref is None:
            return probs
        w = probs / np.clip(self.ref, 1e-12, None)
        s = w.sum(axis=-1, keepdims=True)
        return np.where(s > 0, w / np.where(s > 0, s, 1), probs)

    def to_dict(self) -> dict:
        return {"method": self.method, "reference": None if self.ref is None else [float(x) for x in self.ref],
                "inputs": list(self.inputs)}

    @classmethod
    def content_free(cls, score_fn, inputs=CONTENT_FREE) -> "Calibrator":
        """``score_fn(texts) -> (n, k) raw probabilities``; the reference is their mean."""
        p = np.asarray(score_fn(list(inputs)), dtype=np.float64)
        ref = p.mean(axis=0)
        return cls("content-free", ref / ref.sum(), list(inputs))

    @classmethod
    def pool_mean(cls, probs: np.ndarray) -> "Calibrator":
        p = np.asarray(probs, dtype=np.float64)
        ref = p.mean(axis=0)
        return cls("pool-mean", ref / ref.sum(), [f"<mean of {len(p)} pool texts>"])


SPAN_TEMPLATE = "spans"


@dataclass
class SpanPrompt:
    """The entity (``task: ner``) teacher's prompt: a chat asking for every entity of the text, one
    JSON object per line, ``{"type": ..., "text": ...}`` with ``text`` copied verbatim from the input
    and ``type`` one of the label set's names (the types are listed with their descriptions). The
    answer is generated (temperature 0) and read by :func:`parse_span_answer`; English or Chinese."""

    labelset: LabelSet
    language: str = "en"
    max_chars: int = 2000
    template: str = SPAN_TEMPLATE
    shots: tuple = ()

    def __post_init__(self) -> None:
        if self.language not in ("en", "zh"):
            raise UserError(f"unknown prompt language {self.language!r}; choose from en, zh")
        self.shots = tuple(self.shots)

    @property
    def is_chat(self) -> bool:
        return True

    @property
    def zh(self) -> bool:
        return self.language == "zh"

    def _types(self) -> str:
        return "\n".join(f"- {lab.name}" + (f": {lab.description}" if lab.description else "")
                         for lab in self.labelset.labels)

    def _system(self) -> str:
        if self.zh:
            return ("你是命名实体识别标注员。找出文本中的每个命名实体（专有名称，不是普通名词、代词或描述），每行输出一个 "
                    'JSON 对象：{"type": 类型, "text": 原文中的实体}。类型只能是：\n' + self._types()
                    + "\ntext 必须逐字复制原文。很多文本没有实体，没有时输出 none。不要输出其他内容。")
        task = f" ({self.labelset.task})" if self.labelset.task else ""
        return ("You are a named-entity annotator" + task + ". List every named entity in the text (a proper "
                "name, not a common noun, a pronoun or a description such as 'the soldier'), one JSON object "
                'per line: {"type": TYPE, "text": MENTION}. TYPE is one of:\n' + self._types()
                + "\nMENTION is copied exactly from the text. Many texts have no entity: then answer none. "
                  "Answer nothing else.")

    def _clip(self, text: str) -> str:
        text = str(text)
        return text if len(text) <= self.max_chars else text[: self.max_chars] + "..."

    def messages(self, text: str) -> list[dict]:
        user = ("文本：" if self.zh else "Text: ") + self._clip(text)
        return [{"role": "system", "content": self._system()}, {"role": "user", "content": user}]

    def render(self, text: str) -> str:
        """A completion-style rendering, for backends without a chat template."""
        return self._system() + "\n\n" + self.messages(text)[1]["content"] + "\n\n" + ("实体：\n" if self.zh else
                                                                                     "Entities:\n")

    def to_dict(self) -> dict:
        return {"template": self.template, "style": "chat", "task": "ner", "labels": self.labelset.names,
                "descriptions": [lab.description for lab in self.labelset.labels], "max_chars": self.max_chars,
                "system": self._system(), **({"language": self.language} if self.language != "en" else {})}

    def example(self, text: str = "<text>") -> str:
        return "\n".join(f"[{m['role']}] {m['content']}" for m in self.messages(text)) + "\n[assistant] <entities>"

    @property
    def hash(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class BinaryCalibrator(Calibrator):
    """Calibration of independent per-label yes/no probabilities (``task: multilabel``): for each
    label, ``[P(yes), P(no)]`` is divided by that label's reference ``[r, 1 - r]`` and renormalised
    (Zhao et al. 2021 applied per question): ``p_cal = (p/r) / (p/r + (1-p)/(1-r))``. ``ref`` holds
    one reference P(yes) per label (content-free inputs or the pool mean); None: identity."""

    def apply(self, probs: np.ndarray) -> np.ndarray:
        probs = np.asarray(probs, dtype=np.float64)
        if self.method == "none" or self.ref is None:
            return probs
        r = np.clip(np.asarray(self.ref, dtype=np.float64), 1e-6, 1 - 1e-6)
        yes = probs / r
        no = (1.0 - probs) / (1.0 - r)
        return yes / np.clip(yes + no, 1e-300, None)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "per_label": True}

    @classmethod
    def fitted(cls, method: str, yes_probs: np.ndarray, inputs) -> "BinaryCalibrator":
        """The reference of each label: the mean P(yes) over ``yes_probs`` (n, k)."""
        p = np.asarray(yes_probs, dtype=np.float64)
        return cls(method, p.mean(axis=0), list(inputs))
