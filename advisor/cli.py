"""The ``advisor`` console command: a click group whose subcommands front the whole pipeline.

Heavy libraries (torch, transformers, onnxruntime) are imported inside the commands that need
them, so ``advisor --help`` and ``advisor recommend`` start in a fraction of a second.
"""

from __future__ import annotations

import importlib
import sys

import click

from advisor import __version__
from core.errors import CheckFailed, UserError


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use ("module:attribute"), so the
    advisor's questionnaire never pays for importing torch or onnxruntime."""

    def __init__(self, *args, lazy: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attr = self.lazy[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup,
    lazy={
        "recommend": "advisor.commands.recommend:recommend",
        "rules": "advisor.commands.recommend:rules",
        "gold-labels": "advisor.commands.gold:gold_labels",
        "demo": "advisor.commands.demo:demo",
        "distill": "advisor.commands.distill:distill",
        "export": "advisor.commands.export:export",
        "predict": "advisor.commands.export:predict",
    },
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="advisor")
def cli() -> None:
    """Choose between BERT and GPT, distil a GPT teacher into a BERT student, ship it as ONNX."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="advisor", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:  # --help / --version
        sys.exit(exc.exit_code)
    except click.ClickException as exc:  # includes UsageError, BadParameter, UserError
        msg = exc.format_message() if not isinstance(exc, UserError) else exc.message
        msg = UserError(msg).message  # one line, bounded length (click's own messages too)
        click.echo(f"error: {msg}", err=True)
        sys.exit(exc.exit_code if isinstance(exc, CheckFailed) else 2)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
