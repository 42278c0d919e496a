"""`advisor distill label`: every bad input is one `error:` line and exit 2, and leaves nothing behind."""

import os
import sys

import pytest

from advisor.cli import main

sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))  # tests/: fault_proxy
from fault_proxy import free_port  # noqa: E402


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as ei:
        main(["distill", "label", *args])
    out, err = capsys.readouterr()
    return ei.value.code, out, err


@pytest.fixture
def good_csv(tmp_path):
    p = tmp_path / "good.csv"
    p.write_text("text,label\ngood movie,1\nbad movie,0\n", encoding="utf-8")
    return p


def _cases(tmp_path, good_csv):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("tr\xe8s bien\n".encode("latin-1"))
    dup = tmp_path / "dup.yaml"
    dup.write_text("labels: [yes, no, Yes]\n")
    port = free_port()
    return [
        (["--data", str(tmp_path / "missing.csv"), "--labels", "sst2"], "not found"),
        (["--data", str(empty), "--labels", "sst2"], "is empty"),
        (["--data", str(good_csv), "--labels", "sst2", "--text-column", "review"], "no text column 'review'"),
        (["--data", str(good_csv), "--labels", "sst2", "--label-column", "gold"], "no label column 'gold'"),
        (["--data", str(good_csv), "--labels", "positive"], "fewer than two labels"),
        (["--data", str(good_csv), "--labels", "a,b,A"], "duplicate label name"),
        (["--data", str(good_csv), "--labels", str(dup)], "duplicate label name"),
        (["--data", str(latin), "--labels", "a,b"], "not valid UTF-8"),
        (["--data", str(good_csv), "--labels", "sst2", "--teacher", f"http://127.0.0.1:{port}/v1", "--max-retries", "0"],
         "cannot reach server"),
        (["--data", str(good_csv), "--labels", "sst2", "--teacher", str(tmp_path / "nope.gguf")], "not found"),
        (["--data", str(good_csv), "--labels", "sst2", "--template", "fancy"], "unknown --template"),
        (["--data", str(good_csv), "--labels", "sst2", "--shots", "4"], "--shots needs --shots-file"),
        (["--data", str(good_csv), "--labels", "sst2", "--calibrate", "magic"], "magic"),
        (["--data", str(good_csv), "--labels", "a,b", "--label-column", "none", "--select-prompt"], "needs gold labels"),
        (["--data", str(good_csv), "--labels", "sst2", "--batch-size", "0"], "--batch-size"),
        (["--data", str(good_csv), "--labels", "neg,pos"], "not in the label set"),
    ]


def test_bad_inputs_exit_2_one_line_nothing_written(tmp_path, good_csv, capsys):
    for i, (args, needle) in enumerate(_cases(tmp_path, good_csv)):
        out_dir = tmp_path / f"run{i}"
        code, out, err = run_cli([*args, "--out", str(out_dir), "--quiet"], capsys)
        lines = [x for x in err.splitlines() if x.strip()]
        errors = [x for x in lines if x.startswith("error: ")]
        assert code == 2, (args, err)
        assert len(errors) == 1 and lines[-1] == errors[0], (args, err)  # one error line, last
        assert needle in errors[0], (needle, errors[0])
        assert "Traceback" not in err
        assert not out_dir.exists(), args  # validated before anything is written


def test_out_is_a_file(tmp_path, good_csv, capsys):
    f = tmp_path / "afile"
    f.write_text("x")
    code, _, err = run_cli(["--data", str(good_csv), "--labels", "sst2", "--out", str(f)], capsys)
    assert code == 2 and "not a directory" in err


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as ei:
        main(["distill", "label", "--help"])
    out = capsys.readouterr().out
    assert ei.value.code == 0
    for opt in ("--data", "--labels", "--out", "--teacher", "--text-column", "--label-column", "--limit", "--sample",
                "--seed", "--template", "--select-prompt", "--dev", "--shots", "--shots-file", "--calibrate",
                "--batch-size", "--server-model", "--api-key-env", "--concurrency", "--timeout", "--max-retries"):
        assert opt in out, opt
