"""A stage whose own check fails stops `advisor distill run` (exit 1), the later stages do not run,
and pipeline.json, summary.json and report.md say which stage failed and why (issue 16, finding 14)."""

from __future__ import annotations

import json

import pytest

import advisor.pipeline.run as P
from advisor.cli import main
from core.errors import CheckFailed


def _stage(name: str, body) -> P.Stage:
    return P.Stage(name, lambda cfg, run, echo: body(run), ("labels",), lambda cfg, run: [],
                   lambda cfg, run: [run / f"{name}.out"])


def _write(name):
    return lambda run: (run / f"{name}.out").write_text("ok")


def _fail_verification(run):
    (run / "bundle").mkdir(exist_ok=True)
    (run / "bundle" / "verification.json").write_text(json.dumps(
        {"passed": False, "summary": "int8 accuracy 80.0% vs fp32 80.8% (drop +0.80 pts, max 0.5)"}))
    (run / "verify.out").write_text("written before the check failed")
    raise CheckFailed("bundle verification did not pass: int8 accuracy 80.0% vs fp32 80.8% (drop +0.80 pts, max 0.5)")


@pytest.fixture
def fake_stages(monkeypatch):
    ran = []

    def tracked(name, body):
        def run(run_dir):
            ran.append(name)
            body(run_dir)
        return _stage(name, run)

    monkeypatch.setattr(P, "check_student", lambda cfg: None)  # these fake stages read no data
    monkeypatch.setattr(P, "STAGE_LIST", (tracked("export", _write("export")),
                                          tracked("verify", _fail_verification),
                                          tracked("bench", _write("bench"))))
    return ran


def test_failed_check_stops_the_run(tmp_path, fake_stages):
    run = tmp_path / "run"
    with pytest.raises(P.StageFailed) as exc:
        P.run_pipeline({"run_dir": str(run), "labels": "sst2"}, echo=lambda *_: None)
    assert exc.value.exit_code == 1 and exc.value.stage == "verify"
    assert "drop +0.80 pts" in exc.value.message
    assert fake_stages == ["export", "verify"]  # bench never ran
    stages = json.loads((run / "pipeline.json").read_text())["stages"]
    assert stages["export"]["status"] == "done"
    assert stages["verify"]["status"] == "failed" and stages["verify"]["exit_code"] == 1
    summary = json.loads((run / "summary.json").read_text())
    assert summary["failed_stage"]["stage"] == "verify"
    assert summary["checks"]["bundle_verification_passed"] is False
    assert "FAILED: stage `verify`" in (run / "report.md").read_text()
    assert (run / "verify.out").read_text() == "written before the check failed"  # nothing lost


def test_failed_check_exit_code_through_cli(tmp_path, fake_stages, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(f"run_dir: {tmp_path / 'run'}\nlabels: sst2\ndata:\n  path: {config}\n")
    with pytest.raises(SystemExit) as exc:
        main(["distill", "run", str(config)])
    err = capsys.readouterr().err
    assert exc.value.code == 1
    assert "error: stage verify failed: bundle verification did not pass" in err
    assert "Traceback" not in err
    # run again: the failed stage is not "up to date": it runs again (and fails again), export is skipped
    fake_stages.clear()
    with pytest.raises(SystemExit):
        main(["distill", "run", str(config)])
    assert fake_stages == ["verify"]
