"""``pairs``: two texts -> one of k labels (sentence-pair classification: paraphrase, NLI).

A pair travels through the stages as one string, the two texts joined by ``core.pairs.PAIR_SEP``
(so the label cache's key, the pool's deduplication and the eval set hold both texts). What differs
from ``classification``: the reader takes a second text column (``data.text_pair_column``; a row
with one of the two texts missing is an error), the teacher's prompt shows both texts
(``distill.teachers.prompts.PairPrompt``), the student encodes ``[CLS] a [SEP] b`` (token type ids
0/1) and the bundle's runtime tokenises pairs (``export/runtime.py`` ``TASKS["pairs"]``). The head,
the loss, the checkpoint metric and the metrics are classification's.
"""

from __future__ import annotations

from core.errors import UserError
from distill.tasks.classification import ClassificationTask


class PairsTask(ClassificationTask):
    name = "pairs"
    about = "two texts (a sentence pair) -> one of k labels (paraphrase, NLI)"
    fields = ("text", "text_pair")
    runtime = "pairs"

    def read(self, data, labelset, *, limit=None):
        import dataclasses

        from distill.data.reader import pair_column_hint

        if not getattr(data, "text_pair_column", None):
            hint = pair_column_hint(labelset)  # the preset's (mrpc: "#2 String")
            if hint is None:
                raise UserError("task pairs needs the second text's column: set data.text_pair_column "
                                "(--text-pair-column)")
            data = dataclasses.replace(data, text_pair_column=hint)
        return data.load(labelset, limit=limit)

    def prompt(self, labelset, template, shots=(), language="auto"):
        from distill.teachers.prompts import PairPrompt

        return PairPrompt(labelset, template, shots=shots, language=language)

    def encode(self, tokenizer, texts, max_length):
        from core.pairs import is_pair, tokenizer_inputs

        texts = list(texts)
        lone = next((t for t in texts if not is_pair(t)), None)
        if lone is not None:
            raise UserError(f"task pairs: the text {lone[:60]!r} is not a sentence pair (were the labels made "
                            f"with task classification?)")
        enc = tokenizer(*tokenizer_inputs(texts), truncation=True, max_length=max_length)
        return {k: v for k, v in enc.items()}
