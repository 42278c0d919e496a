"""The Python API (issue 11): each stage is a library call the commands and the pipeline share;
from Python, without click, it writes what the command writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advisor.cli import main


def _cli(args, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(args)
    out, err = capsys.readouterr()
    assert exc.value.code == 0, err[-2000:]
    return out


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.slow
def test_label_stage_from_python_and_from_the_cli(tmp_path, shared_data, capsys):
    """`advisor distill label` and distill.labeling.stage.label on the same texts: the same labels."""
    from distill.data.config import DataConfig
    from distill.labeling.config import TeacherConfig
    from distill.labeling.stage import label, labeling_lines

    data = tmp_path / "few.tsv"
    lines = (shared_data / "sst2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[:13]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")

    res = label(DataConfig(path=str(data), text_column="sentence", label_column="label"), "sst2",
                TeacherConfig(calibrate="content-free"), tmp_path / "py", progress=False, echo=lambda s: None)
    out = _cli(["distill", "label", "--data", str(data), "--text-column", "sentence", "--label-column", "label",
                "--labels", "sst2", "--calibrate", "content-free", "--out", str(tmp_path / "cli"), "--quiet"], capsys)

    py, cli = _rows(tmp_path / "py" / "labels.jsonl"), _rows(tmp_path / "cli" / "labels.jsonl")
    assert len(py) == 12 and py == cli
    for name in ("labelset.json",):
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    meta = [json.loads((tmp_path / d / "teacher.json").read_text()) for d in ("py", "cli")]
    assert meta[0]["prompt_hash"] == meta[1]["prompt_hash"] and meta[0]["calibration"] == meta[1]["calibration"]
    # the command prints what the library's lines say
    assert labeling_lines(res, tmp_path / "py")[0].replace(str(tmp_path / "py"), "OUT") == \
        out.splitlines()[0].replace(str(tmp_path / "cli"), "OUT")


def test_the_pipeline_builds_no_command_lines():
    """`advisor distill run` calls the library: its stages import no click command and no click."""
    import ast

    import advisor.pipeline.run as P

    src = Path(P.__file__).read_text(encoding="utf-8")
    names = {n.module for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom)}
    assert not any(m and (m.startswith("advisor.commands") or m == "click") for m in names), names
    assert all(callable(s.run) for s in P.STAGE_LIST)
