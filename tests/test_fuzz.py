"""Fuzzing the two ways a user hands us values: the pipeline config file and the command-line options.

Random (seeded) hostile values -- wrong types, NaN/inf, huge numbers and strings, deep nesting, YAML
aliases and tags -- must each end in a one-line error (exit 2 through the CLI), never a traceback,
and never touch what is already in the run directory. Runs in seconds (no model is loaded: every
case fails validation, which happens before any work).
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path

import click
import pytest
import yaml

from advisor.cli import cli, main
from core.errors import UserError
from core.numbers import Number, check_number
from advisor.pipeline.config import SCHEMA, load_config

SEED = 16
HOSTILE = [math.nan, math.inf, -math.inf, 1e308, -1e308, -1, 0, 2**70, -(2**70), 3.5, "abc", "", "   ", "1e-4",
           "nan", [], {}, [1, [2, [3]]], {"a": {"b": 1}}, True, False, None, "x" * 5000, ["a"] * 3000,
           "http://u:p@h/v1", "../../../../etc/passwd", "\x00", "ü" * 10, -0.0, 1e-320]
RAW_CASES = {
    "alias bomb": "".join([f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" if i else "a0: &a0 [lol]\n"
                           for i in range(10)]) + "labels: *a9\n",
    "alias": "run_dir: &r runs/x\nlabels: sst2\ndata: {path: *r}\n",
    "merge key": "base: &b {lr: 1}\ntraining:\n  <<: *b\n",
    "deep nesting": "labels: " + "[" * 2000 + "]" * 2000 + "\n",
    "python tag": "labels: !!python/object/apply:os.system ['echo pwned']\n",
    "binary": "\x00\x01\x02\xff",
    "not a mapping": "- a\n- b\n",
    "tabs": "labels:\n\t- a\n",
    "duplicate anchors": "a: &x 1\nb: &x 2\nlabels: *x\n",
    "huge number": "run_dir: r\nlabels: sst2\ndata: {path: d.csv}\ntraining: {epochs: 1" + "0" * 5000 + "}\n",
    "huge key": "k" * 100_000 + ": 1\n",
}


def _fields() -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for section, spec in SCHEMA.items():
        out.append((section, None))
        if isinstance(spec, dict):
            out += [(section, key) for key in spec]
    return out


def _one_line(msg: str) -> None:
    assert "\n" not in msg and len(msg) < 600, msg[:800]
    assert "Traceback" not in msg


@pytest.fixture
def workspace(tmp_path):
    data = tmp_path / "texts.csv"
    data.write_text("text,label\ngood movie,1\nbad movie,0\n", encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    keep = {"labels.jsonl": '{"text": "kept", "probs": {"a": 1, "b": 0}, "label": "a"}\n',
            "pipeline.json": '{"stages": {}}\n', "notes.txt": "precious\n"}
    for name, text in keep.items():
        (run / name).write_text(text, encoding="utf-8")
    return tmp_path, data, run, keep


def _unchanged(run: Path, keep: dict) -> None:
    assert sorted(p.name for p in run.iterdir()) == sorted(keep)
    for name, text in keep.items():
        assert (run / name).read_text(encoding="utf-8") == text


def test_config_schema_fuzz(workspace, capsys):
    tmp, data, run, keep = workspace
    rng = random.Random(SEED)
    fields = _fields()
    base = {"run_dir": str(run), "labels": "sst2", "data": {"path": str(data)}}
    cfg_path = tmp / "fuzz.yaml"
    refused = accepted = through_cli = 0
    for i in range(400):
        cfg = copy.deepcopy(base)
        for _ in range(rng.randint(1, 3)):
            section, key = rng.choice(fields)
            value = copy.deepcopy(rng.choice(HOSTILE))
            if rng.random() < 0.05:
                key = (key or "") + "_typo"
            if key is None:
                cfg[section] = value
            else:
                if not isinstance(cfg.get(section), dict):
                    cfg[section] = {}
                cfg[section][key] = value
        cfg_path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
        try:
            parsed = load_config(cfg_path)
        except UserError as exc:
            refused += 1
            _one_line(exc.message)
            assert exc.message.startswith(("config", "label", "unknown", "no label", "input file")), exc.message[:200]
            if through_cli < 40:  # the same through the command line: exit 2, one line, nothing written
                through_cli += 1
                with pytest.raises(SystemExit) as se:
                    main(["distill", "run", str(cfg_path), "--dry-run"])
                err = capsys.readouterr().err
                assert se.value.code == 2, err
                lines = err.strip().splitlines()
                assert len(lines) == 1 and lines[0].startswith("error: config") or "label" in lines[0], err[:500]
                _one_line(err.strip())
            _unchanged(run, keep)
            continue
        accepted += 1
        for section, spec in SCHEMA.items():  # whatever is accepted is clean: finite numbers only
            values = parsed[section].values() if isinstance(spec, dict) else [parsed[section]]
            for v in values:
                assert not (isinstance(v, float) and not math.isfinite(v)), (section, parsed[section])
    assert refused > 300 and accepted >= 1, (refused, accepted)


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_config_raw_yaml_fuzz(case, workspace, capsys):
    tmp, data, run, keep = workspace
    cfg = tmp / "raw.yaml"
    text = RAW_CASES[case]
    cfg.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    with pytest.raises(UserError) as ei:
        load_config(cfg)
    _one_line(ei.value.message)
    with pytest.raises(SystemExit) as se:
        main(["distill", "run", str(cfg), "--dry-run"])
    err = capsys.readouterr().err
    assert se.value.code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("error: "), err[:500]
    _unchanged(run, keep)


def test_oversized_config(workspace):
    tmp, *_ = workspace
    big = tmp / "big.yaml"
    big.write_text("labels: [" + "abcdefgh, " * 600_000 + "z]\n")
    with pytest.raises(UserError, match="the limit is"):
        load_config(big)


def _commands(tmp: Path, data: Path, run: Path) -> dict[tuple[str, ...], list[str]]:
    """Every command with numeric options, with its required arguments (never reached: the option
    value is refused while the command line is parsed)."""
    labels = run / "labels.jsonl"
    return {
        ("distill", "label"): ["--data", str(data), "--labels", "sst2", "--out", str(run)],
        ("distill", "train"): ["--labels", str(labels), "--out", str(run)],
        ("distill", "evaluate"): [str(run), "--gold", str(data)],
        ("distill", "run"): [str(tmp / "cfg.yaml")],
        ("export", "model"): [str(run / "student"), "--out", str(run / "bundle")],
        ("export", "verify"): [str(run / "bundle")],
        ("export", "bench"): [str(run / "bundle")],
        ("predict",): [str(run / "bundle"), "some text"],
        ("demo",): ["--run-dir", str(run)],
    }


def _numeric_options(path: tuple[str, ...]) -> list[click.Option]:
    ctx = click.Context(cli)
    cmd: click.Command = cli
    for name in path:
        cmd = cmd.get_command(ctx, name)
    return [p for p in cmd.params if isinstance(p, click.Option) and isinstance(p.type, Number)]


def _random_text(rng: random.Random) -> str:
    choices = [
        lambda: rng.choice(["nan", "NaN", "inf", "-inf", "+inf", "Infinity", "1e999", "-1e999", "1e-400"]),
        lambda: str(rng.randint(-(10**30), 10**30)),
        lambda: f"{rng.uniform(-1e6, 1e6):.3f}",
        lambda: rng.choice(["", " ", "abc", "0x10", "1,5", "½", "١", "--", "None", "true", "[]", "{}"]),
        lambda: "9" * rng.randint(20, 400),
        lambda: "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(1, 30))),
    ]
    return rng.choice(choices)()


def test_cli_numeric_options_fuzz(workspace, capsys):
    tmp, data, run, keep = workspace
    (tmp / "cfg.yaml").write_text(f"run_dir: {run}\nlabels: sst2\ndata: {{path: {data}}}\n")
    rng = random.Random(SEED)
    checked = 0
    for path, required in _commands(tmp, data, run).items():
        options = _numeric_options(path)
        assert options or path == ("distill", "evaluate") or path == ("export", "verify"), path
        for opt in options:
            flag = max(opt.opts, key=len)
            t: Number = opt.type
            values = ["nan", "inf", "-inf", "1e999", "abc", "", "99999999999999999999999"]
            values += [_random_text(rng) for _ in range(8)]
            for value in values:
                try:  # the expectation comes from the one shared check
                    check_number(value, flag, t.kind, t.lo, t.hi, t.open_)
                    continue  # a valid value would run the command: not what this test is for
                except UserError:
                    pass
                if value.startswith("-") and value not in ("-inf", "-1e999"):
                    args = [*path, *required, f"{flag}={value}"]
                else:
                    args = [*path, *required, flag, value]
                with pytest.raises(SystemExit) as se:
                    main(args)
                cap = capsys.readouterr()
                lines = [x for x in cap.err.splitlines() if x.strip()]
                assert se.value.code == 2, (args, cap.err[:500])
                assert len(lines) == 1 and lines[0].startswith(f"error: {flag}:"), (args, cap.err[:500])
                assert len(lines[0]) < 400 and "Traceback" not in cap.err and cap.out == ""
                _unchanged(run, keep)
                checked += 1
    assert checked > 150, checked


def test_cli_string_options_fuzz(workspace, capsys):
    """Random text for the label command's string options (label sets, formats, separators,
    templates, columns): a one-line error, exit 2, never a traceback, nothing written."""
    tmp, data, run, keep = workspace
    rng = random.Random(SEED + 1)
    opts = ["--labels", "--format", "--sep", "--template", "--candidates", "--text-column", "--label-column",
            "--split", "--shots-file", "--dev", "--teacher", "--server-model"]
    pool = ["", " ", ",", ",,", "a", "a,a", "a,b,A", "0=a,1=a", "x" * 3000, "../../etc/passwd", "/dev/zero",
            "-", "*", "\t", "none", "tab", "🙂,🙃", "a=b=c", "yaml.yaml", "http://", "http://:0/v1", "ftp://x",
            "sst2.json", "{", "[1,2]", "\\", "%s%s%n"]
    for i in range(120):
        args = ["distill", "label", "--data", str(tmp / f"missing{i}.csv"), "--out", str(run / "sub"),
                "--labels", "sst2"]
        for opt in rng.sample(opts, rng.randint(1, 3)):
            value = rng.choice(pool) if rng.random() < 0.7 else _random_text(rng)
            args += [f"{opt}={value}"]
        with pytest.raises(SystemExit) as se:
            main(args)
        cap = capsys.readouterr()
        lines = [x for x in cap.err.splitlines() if x.strip()]
        assert se.value.code == 2, (args, cap.err[:500])
        assert lines and lines[-1].startswith("error: ") and "Traceback" not in cap.err, (args, cap.err[:500])
        assert len([x for x in lines if x.startswith("error: ")]) == 1 and len(lines[-1]) < 600, (args, cap.err[:800])
        _unchanged(run, keep)
