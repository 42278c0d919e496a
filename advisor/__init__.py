"""bert-or-gpt: choose between BERT and GPT, then distil the GPT into a BERT and ship it.

The ``advisor`` package holds the questionnaire and rule-based recommender, and the ``advisor``
console command that fronts the whole pipeline (``distill`` and ``export`` live in their own
packages).
"""

__version__ = "0.1.0"
