"""`hepagent report`, `hepagent compare` and `hepagent chains`: views of stored runs.

`python -m pytest_hepagent.report` runs `hepagent report`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from pytest_hepagent.options import click_option

if TYPE_CHECKING:
    from pytest_hepagent.matrix.comparison import RunComparison
    from pytest_hepagent.matrix.gate import Adjust, Undecided
    from pytest_hepagent.records import TrialRecord
    from pytest_hepagent.stats import Interval

__all__ = ["baseline_command", "chains_command", "compare_command", "report_command"]

_RUN = click.Path(path_type=Path)


def _isolated_records(path: Path | None, chained: list[TrialRecord]) -> list[TrialRecord] | None:
    """The trials of `--isolated` (a run folder or its results.jsonl); a run of one model against a chained run of
    one other model stands for it (a replay against its live model)."""
    if path is None:
        return None
    from dataclasses import replace

    from pytest_hepagent.records import latest_records, read_records

    results = path / "results.jsonl" if path.is_dir() else path
    if not results.is_file():
        raise click.BadParameter(
            f"{results}: no results.jsonl; give a run folder or its results.jsonl", param_hint="'--isolated'"
        )
    records = latest_records(read_records(results))
    mine, theirs = {r.model for r in chained if r.chain is not None}, {r.model for r in records}
    if len(mine) == len(theirs) == 1 and mine != theirs:
        (model,) = mine
        records = [replace(r, model=model) for r in records]
    return records


_ISOLATED = click.option(
    "--isolated",
    type=click.Path(path_type=Path),
    default=None,
    help="A run of the same models without --hep-chain (folder or results.jsonl): the steps' success in isolation",
)


def _run_steps(path: Path) -> tuple[str, ...] | None:
    """The steps a stored run was asked for (its summary's settings), or None when it has no readable summary."""
    from pytest_hepagent.records import RecordError, read_summary

    summary = path / "summary.json" if path.is_dir() else path.with_name("summary.json")
    try:
        steps = read_summary(summary).config.get("steps") if summary.is_file() else None
    except RecordError:
        return None
    return tuple(str(s) for s in steps) if isinstance(steps, list) and steps else None


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=None, help="Where to write (default: RUN_DIR)"
)
@click.option(
    "--baseline",
    type=_RUN,
    default=None,
    help="Also write compare.html: this run against that baseline (a run folder, results.jsonl, summary.json or a "
    "folder of runs, pooled)",
)
@_ISOLATED
def report_command(run_dir: Path, out: Path | None, baseline: Path | None, isolated: Path | None) -> None:
    """Render the HTML report of the stored run RUN_DIR (reports/<run-id>): index.html and a page per trial."""
    from pytest_hepagent.report.render import render_report

    comparison = _comparison(baseline, run_dir, "--baseline", "RUN_DIR") if baseline is not None else None
    try:
        from pytest_hepagent.records import read_run

        isolated_records = _isolated_records(isolated, read_run(run_dir)) if isolated is not None else None
        result = render_report(run_dir, out, comparison=comparison, isolated=isolated_records)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="'RUN_DIR'") from None
    click.echo(f"{result.index} ({result.trial_pages} trial pages, {result.seconds:.1f} s)")


def _comparison(
    run_a: Path,
    run_b: Path,
    where_a: str,
    where_b: str,
    *,
    models: tuple[str, str] | None = None,
    floor: float | None = None,
    detect_drop: float | None = None,
    interval: str | None = None,
    adjust: str | None = None,
    steps: tuple[str, ...] | None = None,
    policy: str | None = None,
) -> RunComparison:
    """RUN_B (`run_b`) against the baseline RUN_A (a run, or a folder of runs pooled); the defaults are the
    benchmark's."""
    from pytest_hepagent.matrix.baseline import load_baseline, load_run_cells
    from pytest_hepagent.matrix.comparison import compare_cells
    from pytest_hepagent.options import DEFAULTS

    pooled = load_baseline([run_a], where_a)
    baseline, current = list(pooled.cells), load_run_cells(run_b, where_b)
    if models is None:  # one model in each, of different names: those two (said so in the header)
        from pytest_hepagent.matrix.gate import paired_models

        models = paired_models(baseline, current)
    if models is not None:
        for model, cells, where in ((models[0], baseline, where_a), (models[1], current, where_b)):
            known = sorted({c.model for c in cells})
            if model not in known:
                raise click.BadParameter(
                    f"{where} has no trials of {model!r}; its models are {', '.join(known)}",
                    param_hint="'--model-a'" if where == where_a else "'--model-b'",
                )
    return compare_cells(
        baseline,
        current,
        baseline_name=pooled.describe() + (f" [{models[0]}]" if models else ""),
        current_name=str(run_b) + (f" [{models[1]}]" if models else ""),
        models=models,
        floor=floor,
        detect_drop=detect_drop if detect_drop is not None else DEFAULTS["detect_drop"],
        interval=cast("Interval", interval or DEFAULTS["interval"]),
        adjust=cast("Adjust", adjust or DEFAULTS["adjust"]),
        steps=steps if steps is not None else _run_steps(run_b),
        policy=cast("Undecided", policy or DEFAULTS["undecided"]),
    )


@click.command("compare")
@click.argument("run_a", type=_RUN)
@click.argument("run_b", type=_RUN)
@click.option("--model-a", default=None, metavar="MODEL", help="Compare this model of RUN_A ...")
@click.option("--model-b", default=None, metavar="MODEL", help="... with this model of RUN_B, step by step")
@click_option("floor")
@click_option("steps", help="Compare only these steps (comma-separated; default: the steps RUN_B was run for)")
@click_option("detect-drop")
@click_option("undecided")
@click_option("adjust")
@click_option("interval")
@click.option("--html", type=click.Path(path_type=Path, dir_okay=False), default=None, help="Also write the page here")
def compare_command(
    run_a: Path,
    run_b: Path,
    model_a: str | None,
    model_b: str | None,
    floor: float | None,
    steps: tuple[str, ...],
    detect_drop: float,
    undecided: str,
    adjust: str,
    interval: str,
    html: Path | None,
) -> None:
    """Compare RUN_B with the baseline RUN_A (each a run folder, results.jsonl or summary.json; RUN_A may also be
    a folder of runs, pooled): per model and step the difference in success with its interval and exact p-values
    (Holm-adjusted), the difference stratified by step, the drop the trials detect and the trials a decision needs,
    and the gate's verdict. Ends with the gate's line and exits 1 when the gate would fail RUN_B against RUN_A (a
    cell REGRESSED or MISSING, UNDECIDED under --undecided fail, or a model's drop over its steps), 0 otherwise, 2
    on a usage or input error. Only RUN_B's steps (its summary's settings, or --steps) can be MISSING."""
    from pytest_hepagent.matrix.report_text import comparison_lines

    if (model_a is None) != (model_b is None):
        raise click.UsageError("--model-a and --model-b go together: give both models, or neither")
    if not 0 < detect_drop <= 1:
        raise click.BadParameter(
            f"a drop in success above 0 and at most 1, got {detect_drop:g}", param_hint="'--detect-drop'"
        )
    if floor is not None and not 0 <= floor <= 1:
        raise click.BadParameter(f"a success fraction between 0 and 1, got {floor:g}", param_hint="'--floor'")
    from pytest_hepagent.steps import STEP_NAMES

    for name in steps:
        if name not in STEP_NAMES:
            from pytest_hepagent.errors import did_you_mean

            raise click.BadParameter(
                f"unknown step {name!r}{did_you_mean(name, STEP_NAMES)}; the steps are {', '.join(STEP_NAMES)}",
                param_hint="'--steps'",
            )
    models = (model_a, model_b) if model_a is not None and model_b is not None else None
    comparison = _comparison(
        run_a,
        run_b,
        "RUN_A",
        "RUN_B",
        models=models,
        floor=floor,
        detect_drop=detect_drop,
        interval=interval,
        adjust=adjust,
        steps=steps or None,
        policy=undecided,
    )
    if html is not None:  # first: the gate's line is the last one printed
        from pytest_hepagent.report.compare_page import render_comparison

        try:
            click.echo(f"page: {render_comparison(comparison, html)}")
        except OSError as exc:
            raise click.BadParameter(f"cannot write {html}: {exc.strerror or exc}", param_hint="'--html'") from None
    for line in comparison_lines(comparison):
        click.echo(line)
    sys.exit(comparison.exit_status)


@click.command("chains")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@_ISOLATED
def chains_command(run_dir: Path, isolated: Path | None) -> None:
    """The error-propagation matrix of the chained run RUN_DIR (made with --hep-chain): per model and step, success
    in the chain against success in isolation, where the chains broke, and what independent steps would leave."""
    from pytest_hepagent.matrix.cells import chain_cells
    from pytest_hepagent.matrix.propagation import propagation
    from pytest_hepagent.matrix.report_text import chain_lines, propagation_lines
    from pytest_hepagent.records import read_run

    try:
        records = read_run(run_dir)
    except FileNotFoundError as exc:
        raise click.BadParameter(str(exc), param_hint="'RUN_DIR'") from None
    found = propagation(records, _isolated_records(isolated, records))
    if not found:
        raise click.BadParameter(f"{run_dir} holds no chained trial; run with --hep-chain", param_hint="'RUN_DIR'")
    for line in [*chain_lines(chain_cells(records)), *propagation_lines(found)]:
        click.echo(line)


@click.group("baseline")
def baseline_command() -> None:
    """Baseline folders: the accepted runs a gated run is compared with (--hep-baseline DIR pools them)."""


@baseline_command.command("add")
@click.argument("run", type=_RUN)
@click.argument("baseline_dir", type=click.Path(path_type=Path, file_okay=False))
def baseline_add(run: Path, baseline_dir: Path) -> None:
    """Append the accepted run RUN (a run folder) to the baseline folder BASELINE_DIR (made if needed): its
    records, summary and settings are copied into BASELINE_DIR/<run-id>/. Refused when the run would mix prompts,
    task specs, datasets or goldens with the runs already there, or is there already."""
    from pytest_hepagent.matrix.baseline import add_to_baseline, load_baseline
    from pytest_hepagent.matrix.report_text import baseline_lines

    target = add_to_baseline(run, baseline_dir)
    click.echo(f"added {run} as {target}")
    for line in baseline_lines(load_baseline([baseline_dir], "BASELINE_DIR")):
        click.echo(line)


@baseline_command.command("show")
@click.argument("baseline", type=_RUN, nargs=-1, required=True)
def baseline_show(baseline: tuple[Path, ...]) -> None:
    """Print the pooled cells of BASELINE (runs or folders of runs, as --hep-baseline takes them)."""
    from pytest_hepagent.matrix.baseline import load_baseline
    from pytest_hepagent.matrix.report_text import baseline_lines

    for line in baseline_lines(load_baseline(list(baseline), "BASELINE")):
        click.echo(line)
