"""One benchmark trial, from settings to record: what the pytest plugin and the workflow's jobs both run.

Keeping it in one place is what makes a trial's record the same whether pytest, pytest-xdist or a Snakemake job on
a cluster ran it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.bench.config import BenchmarkConfig, safe_name
from pytest_hepagent.bench.records import chain_id, record_from_result
from pytest_hepagent.sandbox.trial_files import read_regular
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, TrialResult, run_trial

log = logging.getLogger(__name__)

__all__ = [
    "ChainResult",
    "harness_version",
    "pass_on_outputs",
    "run_benchmark_trial",
    "run_chain",
    "run_hashes",
    "step_hashes",
    "summary_extra",
    "trial_folder",
]


def run_hashes(env: TrialEnvironment) -> dict[str, str]:
    """Dataset, golden-manifest and per-step task-spec hashes (`task_spec:<step>`) of a run's environment."""
    from pytest_hepagent.golden.manifest import MANIFEST_NAME, sha256_file

    hashes = {"dataset": env.dataset.content_hash(), "golden": sha256_file(env.golden_dir / MANIFEST_NAME)}
    return hashes | {f"task_spec:{name}": sha256_file(spec.source) for name, spec in env.specs.items()}


def step_hashes(every: Mapping[str, str], step: str) -> dict[str, str]:
    """The hashes a trial record of `step` carries."""
    return {"dataset": every["dataset"], "golden": every["golden"], "task_spec": every[f"task_spec:{step}"]}


def harness_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-hepagent")
    except PackageNotFoundError:
        return "unknown"


def summary_extra(bench: BenchmarkConfig, env: TrialEnvironment | None, hashes: Mapping[str, str]) -> dict[str, Any]:
    """What `summary.json` says about the run besides its cells: settings, hashes, dataset, backend, version."""
    extra: dict[str, Any] = {
        "config": bench.describe(),
        "hashes": dict(hashes),
        "run_dir": str(bench.run_dir),
        "harness_version": harness_version(),
    }
    if env is not None:
        extra |= {"dataset": {"kind": env.dataset.kind, "path": str(env.dataset.root)}, "sb_backend": env.sb_backend}
    return extra


def trial_folder(run_dir: Path, model: str, step: str, trial: int) -> Path:
    """A new folder for the trial; a re-run (after an infrastructure error) gets `-retryN`."""
    folder = Path(run_dir) / "trials" / step / f"{safe_name(model)}-trial{trial}"
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"{safe_name(model)}-trial{trial}-retry{n}")
    return folder


def _classify(result: TrialResult, env: TrialEnvironment, bench: BenchmarkConfig) -> None:
    if result.outcome != "failed":
        return
    from error_classifier import classify_trial

    try:
        classification = classify_trial(
            result.trial_dir,
            result=result.to_dict(),
            solution_dir=env.solution_dir,
            judge_model=bench.judge_model,
            gateway=env.gateway,
            api_base=bench.api_base,
        )
    except Exception as exc:  # the trial's record matters more than its category: keep it, say why there is none
        log.exception("%s: the classifier failed", result.trial_dir)
        note = f"the classifier failed ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})"
        result.category = {"rule": None, "judge": None, "final": None, "note": note}
        return
    result.category = classification.to_dict() if classification else None


def run_benchmark_trial(
    bench: BenchmarkConfig,
    env: TrialEnvironment,
    model: str,
    step: str,
    trial: int,
    hashes: Mapping[str, str],
    *,
    folder: Path | None = None,
    inputs_dir: Path | None = None,
    limits: Any = None,
    trial_limits: TrialLimits | None = None,
    worker: str = "",
) -> tuple[TrialResult, dict[str, Any]]:
    """Run one trial as the benchmark settings say, classify a failure, and return it with its record."""
    cassette = bench.cassette_for(step, trial) if model == "hepagent/replay" else None
    record_to = None
    if bench.record is not None and not model.startswith("hepagent/"):
        record_to = bench.record / safe_name(model) / f"{step}-trial{trial}.yaml"
    request = TrialRequest(
        step,
        model,
        trial,
        supervisor_model=bench.supervisor_model,
        max_iterations=bench.max_iterations,
        cassette=cassette,
        record_to=record_to,
        limits=limits,
        inputs_dir=inputs_dir,
        trial_limits=trial_limits or bench.trial_limits,
    )
    result = run_trial(request, env, folder or trial_folder(bench.run_dir, model, step, trial))
    _classify(result, env, bench)
    return result, record_from_result(result, run_id=bench.run_id, hashes=dict(hashes), worker=worker)


@dataclass
class ChainResult:
    model: str
    trial: int
    results: list[TrialResult] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def broken_at(self) -> str | None:
        """The first step that did not pass (None when every step passed)."""
        return next((r.request.step for r in self.results if r.outcome != "passed"), None)

    @property
    def outcome(self) -> str:
        last = self.results[-1] if self.results else None
        if last is None or self.broken_at is None:
            return "passed" if last is not None else "error"
        return last.outcome  # failed, or error when the chain stopped on an infrastructure error


def pass_on_outputs(result: TrialResult, env: TrialEnvironment, folder: Path) -> None:
    """Copy a passed trial's outputs into `folder`, where the next steps read them as `solution/<path>`.

    Read from the trial's work folder without following links and capped at twice the golden's size: the outputs
    passed validation, but the folder is still the code's."""
    for rel in env.specs[result.request.step].output_paths:
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        cap = 2 * (env.solution_dir / rel).stat().st_size + (1 << 20)
        target.write_bytes(read_regular(result.work_dir, rel, cap))


def run_chain(
    bench: BenchmarkConfig,
    env: TrialEnvironment,
    model: str,
    trial: int,
    hashes_for: Callable[[str], Mapping[str, str]],
    steps: Sequence[str],
    *,
    limits: Any = None,
    trial_limits: TrialLimits | None = None,
    worker: str = "",
) -> ChainResult:
    """The steps in order, each on the outputs the agent itself wrote in the earlier steps; stops at the first
    step that does not pass (its successors would only consume wrong or missing files)."""
    chain_dir = trial_folder(bench.run_dir, model, "chain", trial)
    solution = chain_dir / "solution"  # the agent's own outputs so far, laid out as the reference's
    solution.mkdir(parents=True)
    chain = ChainResult(model, trial)
    for step in steps:
        result, record = run_benchmark_trial(
            bench,
            env,
            model,
            step,
            trial,
            hashes_for(step),
            folder=chain_dir / step,
            inputs_dir=solution,
            limits=limits,
            trial_limits=trial_limits,
            worker=worker,
        )
        chain.results.append(result)
        chain.records.append(record)
        if result.outcome != "passed":
            break
        pass_on_outputs(result, env, solution)
    broken = chain.broken_at
    for position, record in enumerate(chain.records, 1):
        record["chain"] = {
            "id": chain_id(model, trial),
            "position": position,
            "steps": list(steps),
            "broken_at": broken,
            "passed": broken is None and len(chain.results) == len(steps),
        }
    return chain
