"""The ``data:`` and ``gold:`` sections: where the texts to label and the gold texts come from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.schema import setting
from distill.data.ner import NER_FORMATS

FORMATS = ("csv", "tsv", "jsonl", "txt", "dataset") + NER_FORMATS  # the last three: entity files (task: ner)


@dataclass
class DataConfig:
    """The pool the teacher labels (``--data`` and its options; ``data:`` in a config file)."""

    SECTION: ClassVar[str] = "data"
    path: str | None = setting(None, "Texts: .csv, .tsv, .jsonl, .txt or a datasets.save_to_disk folder.",
                               kind="path", flag="--data")
    text_column: str | None = setting(None, "Column with the text (default: text/sentence/... or the only column).",
                                      kind="str")
    text_pair_column: str | None = setting(None, "Column with the second text of a sentence pair (task: pairs).",
                                           kind="str")
    label_column: str | None = setting(None, "Gold label column, used only for evaluation ('none' to ignore).",
                                       kind="str")
    format: str | None = setting(None, "Input format when the suffix does not tell (task ner: conll = token<TAB>tag "
                                 "lines, cluener = CLUENER JSON with inclusive ends, spans = JSON lines with "
                                 "start/end/type spans).", kind="str", choices=FORMATS)
    sep: str | None = setting(None, "TEXT<sep>LABEL lines (e.g. --sep ';', --sep tab): the last separator splits off "
                              "the label. 'none': whole lines are texts. Default: such files are detected and refused.",
                              kind="str")
    split: str | None = setting(None, "Split of a datasets folder with several splits.", kind="str")
    limit: int | None = setting(None, "Label only the first N texts.", kind="int")
    sample: int | None = setting(None, "Label a random sample of N texts (with --seed).", kind="int")
    seed: int = setting(0, "Seed for --sample, the dev subset and the shots.")

    def load(self, labelset=None, *, limit: int | None = None):
        """The texts (``distill.data.reader.load_texts``); ``limit`` caps the rows read."""
        from distill.data.reader import load_texts

        return load_texts(self.path, text_column=self.text_column, label_column=self.label_column,
                          labelset=labelset, fmt=self.format, limit=limit or self.limit,
                          sample=None if limit else self.sample, seed=self.seed, split=self.split, sep=self.sep,
                          text_pair_column=self.text_pair_column)


@dataclass
class GoldConfig:
    """Gold-labelled texts: the teacher gate, the evaluation, the bundle's verification."""

    SECTION: ClassVar[str] = "gold"
    path: str | None = setting(None, "Labelled texts (gold) for the teacher gate and the evaluation.", kind="path",
                               flag="--gold")
    text_column: str | None = setting(None, "Text column of the gold file.", kind="str", flag="--gold-text-column")
    text_pair_column: str | None = setting(None, "Second text column of a sentence-pair gold file (task: pairs).",
                                           kind="str", flag="--gold-text-pair-column")
    label_column: str | None = setting(None, "Label column of the gold file (default: label).", kind="str",
                                       flag="--gold-label-column")
    limit: int | None = setting(None, "Use the first N gold texts only.", kind="int", flag="--gold-limit")
