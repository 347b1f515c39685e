"""`hepagent` commands behind the Snakemake workflow: one analysis step, and the matrix's prepare/trial/merge jobs.

They work without Snakemake (each is one process that a scheduler, or a person, can start); `hepagent workflow`
runs the shipped Snakefile and is the only one that needs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from pytest_hepagent.cli_options import DATA_OPTION, SANDBOX_OPTION, dataset_of
from pytest_hepagent.llm.offline import ORACLE, REPLAY
from pytest_hepagent.options import click_option
from pytest_hepagent.records import (  # atomic: a killed job leaves no half file
    Outcome,
    read_record,
    write_json,
    write_record,
)
from pytest_hepagent.sandbox.trial_files import remove_tree

__all__ = ["bench_merge", "bench_prepare", "bench_trial", "step", "workflow"]

PREPARED = "prepared.json"
SNAKEFILE_PACKAGE = "pytest_hepagent.workflow_files"


@click.command("step")
@click.argument("step_name", metavar="STEP")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True, help="The analysis folder")
@DATA_OPTION
@click_option(
    "model", dest="model", multiple=False, default=None, help="An agent does the step (default: the reference code)"
)
@click_option("max-iterations")
@click.option("--cassette", type=click.Path(path_type=Path, dir_okay=False), default=None, help="For hepagent/replay")
@click_option("api-base")
@SANDBOX_OPTION
def step(
    step_name: str,
    out: Path,
    data: Path | None,
    model: str | None,
    max_iterations: int,
    cassette: Path | None,
    api_base: str | None,
    sandbox: str,
) -> None:
    """Run STEP of the analysis in OUT (earlier steps' outputs are read from OUT), by the reference or an agent.

    An agent works in OUT/trials/STEP on the inputs in OUT; when it passes, its outputs are copied into OUT for
    the next step. Its record goes to OUT/records/STEP.json. Exit 0 passed, 1 failed, 3 infrastructure error.
    """
    from pytest_hepagent.analysis.reference import run_step, step_by_name

    name = step_by_name(step_name).name
    dataset = dataset_of(data)
    out.mkdir(parents=True, exist_ok=True)
    if model is None:
        run = run_step(name, dataset, out)
        click.echo(f"{name}: reference outputs in {out} ({run.seconds[name]:.1f} s)")
        return
    from error_classifier import trial_classifier
    from pytest_hepagent.llm.gateway import GatewaySettings
    from pytest_hepagent.matrix.config import BenchmarkConfig
    from pytest_hepagent.matrix.execute import pass_on_outputs, run_benchmark_trial, run_hashes, step_hashes
    from pytest_hepagent.trial import TrialEnvironment

    env = TrialEnvironment.create(dataset, gateway=GatewaySettings(api_base=api_base), sandbox=sandbox)
    bench = BenchmarkConfig(
        models=(model,), steps=(name,), max_iterations=max_iterations, replay=cassette, api_base=api_base,
        report_dir=out.parent, run_id=out.name, sandbox=sandbox,
    ).check()  # fmt: skip
    folder = out / "trials" / name
    remove_tree(folder)  # a re-run of this rule starts afresh (the folder is an agent's: never follow its links)
    classifier = trial_classifier(solution_dir=env.solution_dir, gateway=env.gateway, api_base=api_base)
    result, record = run_benchmark_trial(
        bench, env, model, name, 1, step_hashes(run_hashes(env), name), folder=folder, inputs_dir=out,
        classifier=classifier,
    )  # fmt: skip
    write_record(out / "records" / f"{name}.json", record)
    click.echo(result.validation.summary() if result.validation else result.error)
    if result.outcome == "passed":
        pass_on_outputs(result, env, out)
    raise SystemExit({Outcome.PASSED: 0, Outcome.FAILED: 1}.get(result.outcome, 3))


@click.command("bench-prepare")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@DATA_OPTION
@SANDBOX_OPTION
def bench_prepare(run_dir: Path, data: Path | None, sandbox: str) -> None:
    """Prepare data, goldens and the sandbox once for a matrix run in RUN_DIR (before its trial jobs start)."""
    from pytest_hepagent.matrix.execute import run_hashes
    from pytest_hepagent.trial import TrialEnvironment

    env = TrialEnvironment.create(dataset_of(data), sandbox=sandbox)
    prepared = {
        "data_dir": str(env.dataset.root),
        "solution_dir": str(env.solution_dir),
        "golden_dir": str(env.golden_dir),
        "sandbox": sandbox,
        "hashes": run_hashes(env),
    }
    write_json(run_dir / PREPARED, prepared)
    click.echo(f"prepared {run_dir} (data {env.dataset.root}, goldens {env.solution_dir})")


def _prepared_environment(run_dir: Path, api_base: str | None) -> tuple[Any, dict[str, str]]:
    from pytest_hepagent.errors import ConfigError
    from pytest_hepagent.llm.gateway import GatewaySettings
    from pytest_hepagent.trial import TrialEnvironment

    try:
        given = json.loads((run_dir / PREPARED).read_text())
    except (OSError, ValueError):
        raise ConfigError(
            f"{run_dir / PREPARED}: missing or unreadable; run `hepagent bench-prepare {run_dir}` first"
        ) from None
    env = TrialEnvironment.prepared(
        given["data_dir"],
        given["solution_dir"],
        given["golden_dir"],
        GatewaySettings(api_base=api_base),
        given.get("sandbox", "bwrap"),
    )
    return env, dict(given["hashes"])


@click.command("bench-trial")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click_option("model", dest="model", multiple=False, default=None, required=True)
@click.option("--step", "step_name", required=True)
@click.option("--trial", type=int, required=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), required=True, help="Where the record goes")
@click_option("replay")
@click_option("judge-model")
@click_option("supervisor-model")
@click_option("max-iterations")
@click_option("api-base")
def bench_trial(
    run_dir: Path,
    model: str,
    step_name: str,
    trial: int,
    out: Path,
    replay: Path | None,
    judge_model: str | None,
    supervisor_model: str | None,
    max_iterations: int,
    api_base: str | None,
) -> None:
    """One trial of a matrix run in RUN_DIR; its record goes to OUT. A trial the run already holds (passed or
    failed, in RUN_DIR/results.jsonl) is not run again: its record is reused (resume)."""
    from error_classifier import trial_classifier
    from pytest_hepagent.matrix.config import BenchmarkConfig
    from pytest_hepagent.matrix.execute import run_benchmark_trial, step_hashes
    from pytest_hepagent.records import RESULTS, latest_records, read_records, trial_key

    key = trial_key(model, step_name, trial)
    results = run_dir / RESULTS
    done = [r for r in latest_records(read_records(results)) if r.key == key] if results.is_file() else []
    if done and done[0].judged:
        write_record(out, done[0])
        click.echo(f"{key}: already in {results} ({done[0].outcome}); not run again")
        return
    bench = BenchmarkConfig(
        models=(model,), steps=(step_name,), trials=trial, max_iterations=max_iterations, replay=replay,
        judge_model=judge_model, supervisor_model=supervisor_model, api_base=api_base,
        report_dir=run_dir.parent, run_id=run_dir.name,
    ).check()  # fmt: skip
    env, hashes = _prepared_environment(run_dir, api_base)
    if model == REPLAY and bench.cassette_for(step_name, trial) is None:
        raise click.UsageError(f"--replay: no cassette for {step_name} trial {trial} in {replay}")
    classifier = trial_classifier(
        solution_dir=env.solution_dir, judge_model=judge_model, gateway=env.gateway, api_base=api_base
    )
    result, record = run_benchmark_trial(
        bench, env, model, step_name, trial, step_hashes(hashes, step_name),
        worker=os.environ.get("SLURM_JOB_ID", ""), classifier=classifier,
    )  # fmt: skip
    write_record(out, record)
    click.echo(f"{key}: {result.outcome}" + (f" ({result.error})" if result.error else ""))


@click.command("bench-merge")
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.argument("records", nargs=-1, type=click.Path(path_type=Path, dir_okay=False, exists=True))
def bench_merge(run_dir: Path, records: tuple[Path, ...]) -> None:
    """Merge the jobs' RECORDS into RUN_DIR/results.jsonl (skipping trials it holds), write summary.json and the
    HTML report: the same run format as a pytest run."""
    from pytest_hepagent.matrix.cells import cells_from_records, run_summary
    from pytest_hepagent.matrix.config import BenchmarkConfig
    from pytest_hepagent.matrix.execute import summary_extra
    from pytest_hepagent.records import ResultsStore, latest_records
    from pytest_hepagent.report import render_report

    store = ResultsStore(run_dir)
    held = {r.key: r for r in latest_records(store.records())}
    added = 0
    for path in records:
        record = read_record(path)
        if record.key in held and held[record.key].judged:
            continue
        store.append(record)
        held[record.key] = record
        added += 1
    merged = latest_records(store.records())
    env, hashes = _prepared_environment(run_dir, None) if (run_dir / PREPARED).is_file() else (None, {})
    bench = BenchmarkConfig(
        models=tuple(sorted({r.model for r in merged})) or (ORACLE,),
        steps=tuple(dict.fromkeys(r.step for r in merged)) or ("root_inspection",),
        report_dir=run_dir.parent,
        run_id=run_dir.name,
    )
    extra = summary_extra(bench, env, hashes)
    store.write_summary(run_summary(run_dir.name, cells_from_records(merged), None, extra))
    report = render_report(run_dir)
    click.echo(f"{added} records added, {len(merged)} in {store.results_path}; report: {report.index}")


@click.command("workflow", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("target", default="all")
@click.option("--cores", default="all", show_default=True, help="Local cores for Snakemake")
@click.option("--configfile", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.pass_context
def workflow(ctx: click.Context, target: str, cores: str, configfile: Path | None) -> None:
    """Run the shipped Snakefile: TARGET `all` (the analysis DAG) or `matrix` (model x step x trial jobs).

    Extra arguments go to Snakemake (e.g. `--config out=results`, `--profile workflow/profiles/slurm`, `-n`).
    """
    import importlib.util
    from importlib.resources import files

    if importlib.util.find_spec("snakemake") is None:
        raise click.ClickException(
            "the workflow needs Snakemake, which is not installed: pip install 'pytest-hepagent[workflow]'"
        )
    snakefile = Path(str(files(SNAKEFILE_PACKAGE).joinpath("Snakefile")))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile), "--cores", cores, target]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    raise SystemExit(subprocess.call([*command, *ctx.args]))
