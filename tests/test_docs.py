"""README and docs/ stay true to the code.

Every `advisor ...` line in a shell block of README.md or docs/*.md is parsed by the real click
command tree (so a renamed or misspelt flag fails here), and the quick ones are run for real.
Generated docs (CLI reference, the rules table) must match what the code generates now.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from advisor.cli import cli
from advisor.docgen import advisor_doc, cli_reference, config_reference

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|shell|console)\n(.*?)```", re.S)
# Commands fast enough to run for real in the test suite (no model loading).
QUICK = ("advisor recommend", "advisor rules", "advisor --help", "advisor --version")


def doc_commands() -> list[tuple[str, str]]:
    found = []
    for path in DOC_FILES:
        for block in FENCE.findall(path.read_text(encoding="utf-8")):
            block = block.replace("\\\n", " ")
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("advisor "):
                    found.append((path.name, line))
    return found


COMMANDS = doc_commands()


def _strip_comment(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    for stop in ("|", "&&", ";", ">", "<"):
        if stop in tokens:
            tokens = tokens[: tokens.index(stop)]
    return tokens


def _parse(args: list[str]) -> None:
    """Resolve and parse through the click tree without invoking anything."""
    cmd: click.Command = cli
    ctx = cmd.make_context("advisor", list(args), resilient_parsing=False)
    while isinstance(cmd, click.Group):
        rest = [*ctx.protected_args, *ctx.args]
        if not rest:
            return
        name, sub, rest = cmd.resolve_command(ctx, rest)
        cmd = sub
        ctx = sub.make_context(name, rest, parent=ctx)


def test_docs_have_commands():
    assert len(COMMANDS) >= 10
    files = {f for f, _ in COMMANDS}
    assert "README.md" in files


@pytest.mark.parametrize("where, line", COMMANDS, ids=[f"{f}:{c[:60]}" for f, c in COMMANDS])
def test_doc_command_parses(where, line):
    args = _strip_comment(line)[1:]
    if "--help" in args or "--version" in args:
        return
    try:
        _parse(args)
    except click.BadParameter as exc:  # placeholder files in examples (my_texts.csv) are fine
        if "does not exist" not in str(exc):
            raise


@pytest.mark.parametrize("where, line", [c for c in COMMANDS if c[1].startswith(QUICK)],
                         ids=[f"{f}:{c[:60]}" for f, c in COMMANDS if c.startswith(QUICK)])
def test_quick_doc_commands_run(where, line, tmp_path):
    if "needs a terminal" in line:  # interactive; the questionnaire is driven through a pty in test_advisor
        return
    args = _strip_comment(line)
    proc = subprocess.run([sys.executable, "-m", "advisor.cli", *args[1:]], capture_output=True, text=True,
                          timeout=120, cwd=REPO, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, f"{where}: {line}\n{proc.stderr}"


def test_cli_reference_is_current():
    import difflib

    current, generated = (REPO / "docs" / "cli.md").read_text(encoding="utf-8"), cli_reference()
    diff = "".join(list(difflib.unified_diff(current.splitlines(True), generated.splitlines(True)))[:30])
    assert current == generated, f"docs/cli.md is stale: run `python -m advisor.docgen`\n{diff}"


def test_config_reference_is_current():
    current = (REPO / "docs" / "config.md").read_text(encoding="utf-8")
    assert current == config_reference(), "docs/config.md is stale: run `python -m advisor.docgen`"


def test_advisor_doc_is_current():
    current = (REPO / "docs" / "advisor.md").read_text(encoding="utf-8")
    assert current == advisor_doc(current), "docs/advisor.md is stale: run `python -m advisor.docgen`"


def _python_imports():
    """Every `from X import Y` line of a python block in README.md, docs/ and docs/dev/."""
    out = []
    for path in [*DOC_FILES, *sorted((REPO / "docs" / "dev").glob("*.md"))]:
        in_py = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_py = line.strip() == "```python"
                continue
            m = re.match(r"\s*from ([\w.]+) import ([\w, ]+)", line) if in_py else None
            if m:
                out.append((path.relative_to(REPO).as_posix(), m.group(1), m.group(2).strip()))
    return out


@pytest.mark.parametrize("where, module, names", _python_imports())
def test_python_imports_in_docs_resolve(where, module, names):
    """The Python API the docs show exists (modules move; the docs must follow)."""
    import importlib

    # `from runtime import Bundle`: the bundle's own copy of export/runtime.py, on a device
    mod = importlib.import_module("export.runtime" if module == "runtime" else module)
    for name in (n.strip() for n in names.split(",")):
        assert hasattr(mod, name) or importlib.util.find_spec(f"{module}.{name}"), f"{where}: {module}.{name}"
