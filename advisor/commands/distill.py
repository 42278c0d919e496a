"""``advisor distill ...``: label (teacher), train (student), evaluate, run (whole pipeline)."""

from __future__ import annotations

import click

from advisor.commands.label import label
from advisor.commands.run import run
from advisor.commands.train import evaluate, train


@click.group()
def distill() -> None:
    """Distil a GPT teacher into a small BERT student."""


distill.add_command(label)
distill.add_command(train)
distill.add_command(evaluate)
distill.add_command(run)
