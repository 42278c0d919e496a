"""``advisor distill ...``: label (teacher), train (student), evaluate, run (whole pipeline)."""

from __future__ import annotations

import click

from distill.cli_label import label
from distill.cli_run import run
from distill.cli_train import evaluate, train


@click.group()
def distill() -> None:
    """Distil a GPT teacher into a small BERT student."""


distill.add_command(label)
distill.add_command(train)
distill.add_command(evaluate)
distill.add_command(run)
