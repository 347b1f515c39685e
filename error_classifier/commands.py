"""`hepagent classify` and `hepagent calibrate` (also `python -m error_classifier [calibrate]`)."""

from __future__ import annotations

from pathlib import Path

import click

from pytest_hepagent.llm.offline import REPLAY
from pytest_hepagent.options import click_option

__all__ = ["calibrate_command", "classify_command"]


def _check_judge(model: str | None) -> None:
    if model is not None and model.startswith("hepagent/") and model != REPLAY:
        raise click.BadParameter(f"{model} cannot judge; use a real model or {REPLAY}", param_hint="'--judge-model'")


@click.command("classify")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click_option("judge-model")
@click.option(
    "--judge-cassettes",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help=f"With {REPLAY}: one <trial folder>.yaml of judge answers per trial",
)
@click_option("api-base")
def classify_command(
    run_dir: Path, judge_model: str | None, judge_cassettes: Path | None, api_base: str | None
) -> None:
    """Classify (again) every failed trial of the stored run RUN_DIR and print the paper's Table I.

    New verdicts are appended to RUN_DIR/classifications.jsonl; results.jsonl is not touched.
    """
    from error_classifier.store import reclassify_run
    from pytest_hepagent.matrix.table_one import table_one
    from pytest_hepagent.records import RESULTS, current_categories, read_run

    _check_judge(judge_model)
    if judge_model == REPLAY and judge_cassettes is None:
        raise click.UsageError(
            f"--judge-model {REPLAY} needs --judge-cassettes DIR (one <trial folder>.yaml per trial)"
        )
    if not (run_dir / RESULTS).is_file():
        raise click.BadParameter(f"{run_dir}: no {RESULTS}; give a run folder such as reports/<run-id>")
    before = current_categories(run_dir, read_run(run_dir))
    lines = reclassify_run(run_dir, judge_model=judge_model, api_base=api_base, judge_cassettes=judge_cassettes)
    changed = [x.key for x in lines if x.key not in before or before[x.key].final != x.category.final]
    disagree = [x.key for x in lines if x.category.disagree]
    click.echo(
        f"{len(lines)} failed trials classified ({len(changed)} changed, {len(disagree)} judge/rules disagreements)"
    )
    for key in disagree:
        click.echo(f"  disagreement: {key}")
    records = read_run(run_dir)
    click.echo("\n".join(table_one(records, current_categories(run_dir, records))))


@click.command("calibrate")
@click.option(
    "--cassettes",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    default=None,
    help="Labelled failure cassettes (default: the shipped ones)",
)
@click_option("judge-model", default=REPLAY, help=f"Judge model (default: {REPLAY} of --judge-cassettes)")
@click.option("--no-judge", is_flag=True, help="Calibrate the rules only")
@click.option(
    "--judge-cassettes",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Judge answers to replay (default: the shipped ones)",
)
@click.option(
    "--record-judge",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Save a live judge's answers as cassettes",
)
@click_option("api-base")
def calibrate_command(
    cassettes: Path | None,
    judge_model: str,
    no_judge: bool,
    judge_cassettes: Path | None,
    record_judge: Path | None,
    api_base: str | None,
) -> None:
    """Run the rules and the judge over the labelled failure cassettes and print their confusion matrices; exit 1
    when the rules get any case wrong."""
    from error_classifier.calibrate import JUDGE_CASSETTES, calibrate

    _check_judge(None if no_judge else judge_model)
    calibration = calibrate(
        cassettes,
        judge_model=None if no_judge else judge_model,
        judge_cassettes=judge_cassettes or JUDGE_CASSETTES,
        record_judge=record_judge,
        api_base=api_base,
    )
    click.echo(f"{len(calibration.cases)} labelled failure cassettes")
    click.echo("\n".join(calibration.report()))
    raise SystemExit(0 if calibration.accuracy("rules") == 1.0 else 1)
