"""The ``advisor`` console command: a click group whose subcommands front the whole pipeline.

Heavy libraries (torch, transformers, onnxruntime) are imported inside the commands that need
them, so ``advisor --help`` and ``advisor recommend`` start in a fraction of a second.
"""

from __future__ import annotations

import sys

import click

from advisor import __version__
from advisor.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="advisor")
def cli() -> None:
    """Choose between BERT and GPT, distil a GPT teacher into a BERT student, ship it as ONNX."""


def _register() -> None:
    from advisor.cli_recommend import recommend, rules
    from distill.cli import distill
    from export.cli import export, predict

    cli.add_command(recommend)
    cli.add_command(rules)
    cli.add_command(distill)
    cli.add_command(export)
    cli.add_command(predict)


_register()


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
        click.echo(f"error: {' '.join(msg.split())}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
