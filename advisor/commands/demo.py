"""``advisor demo``: a sample recommendation, then the whole pipeline on SST-2 with the embedded
models (the data and the config: ``advisor/pipeline/demo.py``), then the summary."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from advisor.pipeline.demo import DEMO_ANSWERS, build_pool, demo_config, find_sst2
from core.limits import option_type as _num


@click.command()
@click.option("--run-dir", default="runs/demo", show_default=True, help="Where the demo writes everything.")
@click.option("--sample", type=_num("data.sample"), default=4000, show_default=True,
              help="SST-2 training sentences for the teacher to label (sized to finish in ~10 min on 2 cores).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Language of the recommendation.")
def demo(run_dir: str, sample: int, lang: str | None) -> None:
    """Run a sample recommendation, then the whole pipeline on SST-2 with the embedded models."""
    from advisor.questionnaire.engine import recommend
    from advisor.questionnaire.i18n import detect_lang
    from advisor.questionnaire.render import recommendation_to_dict
    from advisor.pipeline.run import StageFailed, run_pipeline
    from advisor.pipeline.config import parse_config
    from advisor.pipeline.summary import summary_table

    start = time.perf_counter()
    lang = lang or detect_lang()
    rec = recommendation_to_dict(recommend(DEMO_ANSWERS), lang)
    click.secho("1/3 advisor recommend " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in DEMO_ANSWERS.items()),
                bold=True)
    click.echo(f"    -> {rec['recommendation']}: {rec['title']}")
    for step in rec["path"]:
        click.echo(f"       [{step['id']}] {step['source']['file']}: {step['source']['passage'][:60]}")

    train, dev, origin = find_sst2()
    run = Path(run_dir).resolve()
    pool = run / "pool.txt"
    n = build_pool(train, pool, sample)
    cfg = parse_config(demo_config(run, pool, dev), Path.cwd())
    click.secho(f"2/3 advisor distill run: SST-2 from {origin}, {n} sentences to label, 872 gold dev sentences",
                bold=True)
    failure = None
    try:
        run_pipeline(cfg, echo=click.echo)
    except StageFailed as exc:  # show what was measured, then fail: a failed check is never a green demo
        failure = exc

    data = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    click.secho("3/3 summary", bold=True)
    click.echo(summary_table(data))
    ratio = data["ratios"].get("teacher_over_onnx_int8_p50")
    if ratio:
        click.echo(f"\nteacher / int8 student latency (p50, batch 1): {ratio:.0f}x")
    verification = data.get("verification") or {}
    if verification.get("summary"):
        click.echo(f"\nbundle verification: {'PASSED' if verification.get('passed') else 'FAILED'}: "
                   f"{verification['summary']}")
    for name, ok in data["checks"].items():
        click.echo(f"  {'PASS' if ok else 'FAIL'}  {name}")
    click.echo(f"\nreport: {run / 'report.md'}   ({time.perf_counter() - start:.0f} s)")
    if failure is not None:
        raise failure
