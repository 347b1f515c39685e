"""`hepagent`: data, golden outputs and validation from the command line."""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

import click

from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.cli_options import DATA_OPTION, SANDBOX_OPTION, dataset_of
from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.options import click_option
from pytest_hepagent.records import Outcome

__all__ = ["main"]


GOLDEN_DIR_OPTION = click.option(
    "--golden-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Golden manifest folder made by `hepagent golden` (default: the shipped golden/)",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress")
def cli(verbose: bool) -> None:
    """pytest-hepagent: the H->yy benchmark's data, reference analysis and golden outputs."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option("--seed", type=int, default=2020, show_default=True, help="Random seed")
@click.option("--mc-scale", type=float, default=1.0, show_default=True, help="Multiply the generated MC events")
@click.option(
    "--data-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply the data events (1.0 is the physical 10 fb^-1)",
)
def generate(directory: Path | None, seed: int, mc_scale: float, data_scale: float) -> None:
    """Write the synthetic GamGam stand-in (default: the cache folder the tests and runs use)."""
    from pytest_hepagent.data.dataset import default_data_dir, ensure_synthetic
    from pytest_hepagent.data.generate import GeneratorConfig

    config = GeneratorConfig(seed=seed, mc_scale=mc_scale, data_scale=data_scale)
    start = time.perf_counter()
    dataset = ensure_synthetic(directory or default_data_dir(config), config)
    for name, path in dataset.paths.items():
        click.echo(f"{name:12s} {path}")
    click.echo(f"synthetic dataset ready in {dataset.root} ({time.perf_counter() - start:.1f} s)")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--base-url", default=None, help="Mirror of the 2020 GamGam release (default: the CERN open data URL)")
@click.option("--sample", "samples", multiple=True, help="Only these samples (e.g. data_A, signal_ggH); repeatable")
@click.option("--retries", type=int, default=3, show_default=True, help="Resume attempts per file")
@click.option(
    "--checksums",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Checksum list of the release (lines `ALGO:HEX  PATH`, e.g. adler32 as its record publishes): each file "
    "it names must match",
)
def download(
    directory: Path, base_url: str | None, samples: tuple[str, ...], retries: int, checksums: Path | None
) -> None:
    """Fetch the real 2020 GamGam files into DIRECTORY (resumable, size-checked, checksum-checked where known)."""
    from pytest_hepagent.data.download import download as fetch
    from pytest_hepagent.data.download import read_checksums
    from pytest_hepagent.data.schema import BASE_URL, SAMPLES, sample_by_name

    chosen = [sample_by_name(s) for s in samples] if samples else list(SAMPLES)
    known = read_checksums(checksums) if checksums is not None else None
    progress = sys.stderr.isatty()
    for result in fetch(directory, base_url or BASE_URL, chosen, retries=retries, progress=progress, checksums=known):
        state = "already complete" if result.skipped else f"{result.bytes} bytes"
        click.echo(f"{result.path}: {state}")


@cli.command()
@DATA_OPTION
@click.option(
    "--backend",
    type=click.Choice(["auto", "hgb", "tabpfn"]),
    default="hgb",
    show_default=True,
    help="S-B classifier of step 4",
)
@click.option(
    "--golden-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the manifest and small files (default: the shipped golden/)",
)
@click.option(
    "--solution-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write every reference output (default: a cache folder)",
)
@click.option("--check", is_flag=True, help="Compare with the existing manifest instead of overwriting it")
def golden(data: Path | None, backend: str, golden_dir: Path | None, solution_dir: Path | None, check: bool) -> None:
    """Regenerate all golden outputs for a dataset and S-B backend."""
    from pytest_hepagent.golden import check_against, regenerate
    from pytest_hepagent.golden.regenerate import default_solution_dir
    from pytest_hepagent.resources import golden_dir as shipped_golden_dir

    dataset = dataset_of(data)
    golden_dir = golden_dir or shipped_golden_dir()
    start = time.perf_counter()
    solution = solution_dir or default_solution_dir(dataset.content_hash(), backend)
    result = regenerate(dataset, solution, None if check else golden_dir, backend)
    elapsed = time.perf_counter() - start
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    click.echo(
        f"reference outputs in {result.solution_dir} ({steps}; total {elapsed:.1f} s, "
        f"S-B backend {result.manifest['sb_backend']})"
    )
    if check:
        problems = check_against(result.manifest, golden_dir)
        for line in problems:
            click.echo(f"DIFFERS {line}")
        if problems:
            raise SystemExit(1)
        click.echo(f"golden outputs match {golden_dir / 'manifest.json'} bit for bit")
    else:
        click.echo(f"manifest written to {golden_dir / 'manifest.json'}")


@cli.command()
@click.argument("step")
@click.argument("output_dir", type=click.Path(path_type=Path, exists=True, file_okay=False))
@DATA_OPTION
@GOLDEN_DIR_OPTION
def validate(step: str, output_dir: Path, data: Path | None, golden_dir: Path | None) -> None:
    """Validate one step's outputs in OUTPUT_DIR against the golden outputs; print the validation log."""
    from pytest_hepagent.analysis.reference import step_by_name
    from pytest_hepagent.compare import validate_step
    from pytest_hepagent.golden import ensure_solution
    from pytest_hepagent.resources import golden_dir as shipped_golden_dir
    from pytest_hepagent.specs import load_specs

    spec = load_specs()[step_by_name(step).name]
    solution = ensure_solution(dataset_of(data), golden_dir or shipped_golden_dir())
    result = validate_step(spec, output_dir, solution)
    click.echo(result.log(), nl=False)
    raise SystemExit(0 if result.passed else 1)


@cli.command()
@DATA_OPTION
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where to write the outputs")
@GOLDEN_DIR_OPTION
def run(data: Path | None, out: Path | None, golden_dir: Path | None) -> None:
    """Run the reference analysis (steps 1-5) and validate every step against the golden outputs."""
    from pytest_hepagent.analysis.reference import run_step
    from pytest_hepagent.compare import validate_step
    from pytest_hepagent.golden import ensure_solution, read_manifest
    from pytest_hepagent.resources import golden_dir as shipped_golden_dir
    from pytest_hepagent.specs import load_specs
    from pytest_hepagent.steps import STEPS

    dataset = dataset_of(data)
    golden_dir = golden_dir or shipped_golden_dir()
    solution = ensure_solution(dataset, golden_dir)
    backend = read_manifest(golden_dir)["sb_backend"]
    out = out or Path(tempfile.mkdtemp(prefix="hepagent-run-"))
    specs = load_specs()
    passed = 0
    for step in STEPS:
        start = time.perf_counter()
        run_step(step, dataset, out, backend=backend)
        result = validate_step(specs[step.name], out, solution)
        passed += result.passed
        click.echo(f"{result.summary()}   ({time.perf_counter() - start:.1f} s)")
    click.echo(f"Result: {passed}/{len(STEPS)} steps passed; outputs in {out}")
    raise SystemExit(0 if passed == len(STEPS) else 1)


@cli.command()
@click.argument("step")
@click_option(
    "model",
    dest="model",
    multiple=False,
    default="hepagent/oracle",
    help="Coder model: any litellm model, hepagent/oracle or hepagent/replay",
)
@click_option("supervisor-model")
@click_option("max-iterations")
@click.option(
    "--cassette",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="Trajectory to replay (with --model hepagent/replay)",
)
@click.option("--record", type=click.Path(path_type=Path, dir_okay=False), help="Write this trajectory as a cassette")
@click_option("api-base")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Trial folder (default: a new temp folder)")
@DATA_OPTION
@click_option("max-output-tokens")
@click_option("call-timeout")
@click_option("token-limit")
@click_option("cost-limit")
@click_option("time-limit")
@GOLDEN_DIR_OPTION
@SANDBOX_OPTION
def trial(
    step: str,
    model: str,
    supervisor_model: str | None,
    max_iterations: int,
    cassette: Path | None,
    record: Path | None,
    api_base: str | None,
    out: Path | None,
    data: Path | None,
    max_output_tokens: int | None,
    call_timeout_s: float,
    token_limit: int | None,
    cost_limit: float | None,
    time_limit: float | None,
    golden_dir: Path | None,
    sandbox: str,
) -> None:
    """Run one agent trial of STEP and validate it; exit 0 passed, 1 failed (model failure, a limit reached
    included), 3 infrastructure error. Limits and output cap as in the pytest options (README, "Limits")."""
    from pytest_hepagent.analysis.reference import step_by_name
    from pytest_hepagent.llm.cassette import load_cassette
    from pytest_hepagent.llm.gateway import GatewaySettings
    from pytest_hepagent.trial import TrialEnvironment, TrialRequest, run_trial

    _warn_unconfined(sandbox)
    name = step_by_name(step).name
    if cassette is not None and (recorded := load_cassette(cassette).step) != name:
        raise click.UsageError(f"--cassette {cassette}: a trajectory of step {recorded}, not {name}; replay it there")
    settings = GatewaySettings(api_base=api_base, timeout_s=call_timeout_s, max_output_tokens=max_output_tokens)
    env = TrialEnvironment.create(dataset_of(data), golden_dir, settings, sandbox)
    request = TrialRequest(
        name,
        model,
        supervisor_model=supervisor_model,
        max_iterations=max_iterations,
        cassette=cassette,
        record_to=record,
        trial_limits=TrialLimits(tokens=token_limit, cost_usd=cost_limit, time_s=time_limit),
    )
    folder = out or Path(tempfile.mkdtemp(prefix="hepagent-trial-")) / "trial"
    result = run_trial(request, env, folder)
    if result.validation is not None:
        click.echo(result.validation.summary())
    if result.agent is not None:
        tokens = result.agent.tokens
        click.echo(
            f"{len(result.agent.calls)} API calls, {result.agent.iterations} attempts, {tokens.total} tokens, "
            f"agent work {tokens.agent_work:.2f}, {result.agent.cost_usd:.4f} USD"
        )
    click.echo(f"outcome: {result.outcome}" + (f" ({result.error})" if result.error else ""))
    click.echo(f"logs: {folder / 'logs'}; the code's folder: {folder / 'work'}")
    raise SystemExit({Outcome.PASSED: 0, Outcome.FAILED: 1}.get(result.outcome, 3))


def _warn_unconfined(sandbox: str) -> None:
    if sandbox == "none":
        click.echo(
            "warning: --sandbox none: generated code runs unconfined, with your access to this machine", err=True
        )


@cli.command()
@click.option("--attack", "attacks", multiple=True, help="Only this attack (repeatable; default: the whole suite)")
@click.option("--keep", type=click.Path(path_type=Path, file_okay=False), default=None, help="Keep the trials here")
@DATA_OPTION
@SANDBOX_OPTION
def audit(attacks: tuple[str, ...], keep: Path | None, data: Path | None, sandbox: str) -> None:
    """Run the hackability suite against this installation: hostile trajectories that try to pass without doing
    the work, get out of the sandbox, hide their failure or forge the verdict. Exit 0 when every attack ended as a
    model failure and left this machine unchanged, 1 otherwise."""
    from pytest_hepagent.audit import load_attacks, run_attack
    from pytest_hepagent.trial import TrialEnvironment

    _warn_unconfined(sandbox)
    chosen = load_attacks(names=attacks)
    env = TrialEnvironment.create(dataset_of(data), sandbox=sandbox)
    description = env.sandbox.describe()
    click.echo(f"hackability suite: {len(chosen)} attacks, sandbox {description['backend']} {env.sandbox.version}")
    broken = 0
    for attack in chosen:
        result = run_attack(attack, env, keep)
        broken += not result.held
        verdict = "held" if result.held else "BROKEN"
        category = f" ({result.category})" if result.category else ""
        click.echo(f"{verdict:6s} {attack.klass:13s} {attack.name:26s} {result.outcome}{category}")
        for problem in result.problems:
            click.echo(f"         - {problem}")
    click.echo(f"{len(chosen) - broken}/{len(chosen)} attacks held" + (f"; {broken} BROKEN" if broken else ""))
    raise SystemExit(1 if broken else 0)


@cli.command()
@click.option("--step", "steps", multiple=True, help="Only this step's mutants (repeatable)")
@DATA_OPTION
def ruler(steps: tuple[str, ...], data: Path | None) -> None:
    """Run the mutants of the reference answers through the harness: wrong answers a model plausibly writes must
    fail, valid variants must pass. Prints the kill ratio per step and every equivalent mutant with why; exit 0
    when every verdict was as expected."""
    from pytest_hepagent.analysis.reference import step_by_name
    from pytest_hepagent.ruler import MUTANTS, mutation_table, run_mutants
    from pytest_hepagent.trial import TrialEnvironment

    wanted = {step_by_name(s).name for s in steps}
    chosen = [m for m in MUTANTS if not wanted or m.step in wanted]
    results = run_mutants(TrialEnvironment.create(dataset_of(data)), chosen)
    for line in mutation_table(results):
        click.echo(line)
    raise SystemExit(0 if all(r.as_expected for r in results) else 1)


def _add_commands() -> None:
    """The commands other packages define: the workflow's jobs, the classifier's, and the views of stored runs."""
    from error_classifier.commands import calibrate_command, classify_command
    from pytest_hepagent.report.command import baseline_command, chains_command, compare_command, report_command
    from pytest_hepagent.workflow.commands import bench_merge, bench_prepare, bench_trial, step, workflow

    for command in (
        classify_command,
        calibrate_command,
        report_command,
        compare_command,
        baseline_command,
        chains_command,
        step,
        bench_prepare,
        bench_trial,
        bench_merge,
        workflow,
    ):
        cli.add_command(command)


_add_commands()


def main() -> None:
    try:
        cli(prog_name="hepagent")
    except HepAgentError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
