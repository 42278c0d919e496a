"""The house's import rules (docs/dev/architecture.md), checked on the source.

Rooms, bottom to top: ``core`` < ``distill`` < ``export`` < ``advisor``. Layers, bottom to top:
plumbing (``core``), the stages (the questionnaire, labelling, training, evaluation, export), the
pipeline (``advisor.pipeline``), the commands (``advisor.commands``, ``advisor.cli``,
``advisor.docgen``). A module may import from its own layer and room or below, never above, and no
chain of imports may come back to where it started. Every import counts, also those inside
functions (they are how heavy libraries are deferred, not a way around the rules).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOMS = ("core", "distill", "export", "advisor")  # bottom to top
LAYERS = (  # bottom to top: (name, module prefixes)
    ("plumbing", ("core",)),
    ("stages", ("distill", "export", "advisor.questionnaire")),
    ("pipeline", ("advisor.pipeline",)),
    ("commands", ("advisor.commands", "advisor.cli", "advisor.docgen", "advisor")),
)
# inside distill, bottom to top: a module uses the ones below it, never one above. The measures
# (metrics, plots, the report's tables) and the student's parts (encoder I/O, losses, trainers) sit
# low because the teacher report, the classifier teacher and the task kinds use them; the task kinds
# (distill.tasks) sit above the teachers and below the jobs that ask them (labelling, training,
# evaluation); the evaluation job (which re-runs the teacher and loads the student) sits on top.
DISTILL_STAGES = ("distill.defaults", "distill.data", ("measures", ("distill.evaluation.metrics", "distill.evaluation.plots",
                  "distill.evaluation.report")),
                  ("student parts", ("distill.training.modeling", "distill.training.losses", "distill.training.trainer",
                                     "distill.training.trainer_distillation")),
                  "distill.teachers", "distill.tasks", "distill.labeling", "distill.training", "distill.active",
                  "distill.evaluation")


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for room in ROOMS for p in sorted((REPO / room).rglob("*.py"))}


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (anywhere in the file), resolved to known module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `from pkg import name`: the module is pkg (or pkg.name)
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, name, known) for name, path in mods.items()}


def _rank(name: str, order) -> int:
    best = None
    for i, entry in enumerate(order):
        prefixes = entry[1] if isinstance(entry, tuple) else (entry,)
        for p in prefixes:
            if name == p or name.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (i, len(p))
    return -1 if best is None else best[0]


def test_every_module_has_a_room_and_a_layer():
    for name in _modules():
        assert _rank(name, ROOMS) >= 0 and _rank(name, LAYERS) >= 0, name


def test_imports_point_down():
    upward = []
    for src, targets in _graph().items():
        for dst in targets:
            for order, what in ((ROOMS, "room"), (LAYERS, "layer")):
                if _rank(dst, order) > _rank(src, order):
                    upward.append(f"{src} -> {dst} ({what} above)")
            if src.startswith("distill.") and dst.startswith("distill."):
                if _rank(dst, DISTILL_STAGES) > _rank(src, DISTILL_STAGES) >= 0:
                    upward.append(f"{src} -> {dst} (a later distill stage)")
    assert not upward, "imports that point up:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_runtime_is_self_contained():
    """export/runtime.py is copied into every bundle and runs on devices without this project."""
    assert _graph()["export.runtime"] == set()


def test_library_code_has_no_click():
    """Only the commands layer parses command lines (core lends it the error and number types)."""
    offenders = []
    for name, path in _modules().items():
        if _rank(name, LAYERS) in (0, len(LAYERS) - 1):  # core: UserError is a click exception, Number a click type
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m == "click" or m.startswith("click.") for m in mods):
                    offenders.append(name)
    assert not offenders, f"click imported below the commands layer: {sorted(set(offenders))}"


@pytest.mark.parametrize("module", ["export.runtime", "advisor.cli"])
def test_light_imports(module):
    """The device runtime and the CLI's start import no torch, transformers or optimum."""
    code = (f"import sys, {module}; heavy = [m for m in ('torch', 'transformers', 'optimum') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"{module} imports {out.stdout.strip()}"


def test_the_rules_catch_a_violation(tmp_path, monkeypatch):
    """The checker itself: a core module importing distill is reported (so a pass means something)."""
    bad = REPO / "core" / "_arch_probe_tmp.py"
    bad.write_text("from distill.data.labelset import LabelSet\n", encoding="utf-8")
    try:
        with pytest.raises(AssertionError, match="core._arch_probe_tmp -> distill.data.labelset"):
            test_imports_point_down()
    finally:
        bad.unlink()
