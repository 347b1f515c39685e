"""One benchmark trial, from settings to record: what the pytest plugin and the workflow's jobs both run.

Keeping it in one place is what makes a trial's record the same whether pytest, pytest-xdist or a Snakemake job on
a cluster ran it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.llm.offline import REPLAY, is_offline
from pytest_hepagent.matrix.config import BenchmarkConfig, safe_name
from pytest_hepagent.records import (
    CategoryVerdict,
    ChainLink,
    Outcome,
    Tokens,
    TrialRecord,
    chain_id,
    chain_trial_key,
    trial_key,
)
from pytest_hepagent.sandbox.trial_files import read_regular
from pytest_hepagent.trial import TrialEnvironment, TrialRequest, TrialResult, run_trial

log = logging.getLogger(__name__)

__all__ = [
    "ChainResult",
    "Classifier",
    "harness_version",
    "pass_on_outputs",
    "record_from_result",
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


def record_from_result(result: TrialResult, *, run_id: str, hashes: dict[str, str], worker: str = "") -> TrialRecord:
    """The trial's record, from what the trial did and the hashes of what it ran on."""
    request, agent = result.request, result.agent
    stats = agent.tokens if agent else None
    tokens = Tokens()
    if stats is not None:
        tokens = Tokens(
            user=stats.user_prompt,
            input=stats.total_input,
            output=stats.total_output,
            supervisor_to_coder=stats.supervisor_to_coder,
            coder_output=stats.coder_output,
            feedback_to_supervisor=stats.feedback_to_supervisor,
        )
    prompt = hashlib.sha256(agent.user_prompt.encode()).hexdigest() if agent else ""
    return TrialRecord(
        run_id=run_id,
        key=trial_key(request.model, request.step, request.trial),
        model=request.model,
        supervisor_model=request.supervisor_model or request.model,
        step=request.step,
        trial=request.trial,
        outcome=Outcome(result.outcome),
        error=result.error,
        status=agent.status if agent else "",
        limit=agent.limit if agent else "",
        truncated_calls=sum(c.finish_reason == "length" for c in agent.calls) if agent else 0,
        iterations=agent.iterations if agent else 0,
        max_iterations=request.max_iterations,
        api_calls=len(agent.calls) if agent else 0,
        tokens=tokens,
        agent_work=stats.agent_work if stats else 0.0,
        cost_usd=agent.cost_usd if agent else 0.0,
        duration_s=result.duration_s,
        started_at=result.started_at,
        validation=result.validation.summary() if result.validation else "",
        category=result.category or CategoryVerdict(),
        hashes={**hashes, "prompt": prompt},
        trial_dir=str(result.trial_dir),
        sandbox=result.sandbox,
        logs=result.files,
        worker=worker,
    )


Classifier = Callable[[Path, dict[str, Any]], CategoryVerdict | None]
"""Sorts a failed trial (its folder and transcript) into a category, or None when it did not fail as a model.
Injected by whoever runs trials (`error_classifier.trial_classifier`): the engine does not import the classifier."""


def _classify(result: TrialResult, classifier: Classifier | None) -> None:
    if result.outcome != Outcome.FAILED or classifier is None:
        return
    try:
        result.category = classifier(result.trial_dir, result.to_dict())
    except Exception as exc:  # the trial's record matters more than its category: keep it, say why there is none
        log.exception("%s: the classifier failed", result.trial_dir)
        note = f"the classifier failed ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]})"
        result.category = CategoryVerdict(note=note)


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
    classifier: Classifier | None = None,
) -> tuple[TrialResult, TrialRecord]:
    """Run one trial as the benchmark settings say, classify a failure with `classifier`, and return it with its
    record."""
    cassette = bench.cassette_for(step, trial) if model == REPLAY else None
    record_to = None
    if bench.record is not None and not is_offline(model):
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
    _classify(result, classifier)
    return result, record_from_result(result, run_id=bench.run_id, hashes=dict(hashes), worker=worker)


@dataclass
class ChainResult:
    model: str
    trial: int
    results: list[TrialResult] = field(default_factory=list)
    records: list[TrialRecord] = field(default_factory=list)

    @property
    def broken_at(self) -> str | None:
        """The first step that did not pass (None when every step passed)."""
        return next((r.request.step for r in self.results if r.outcome != Outcome.PASSED), None)

    @property
    def outcome(self) -> Outcome:
        last = self.results[-1] if self.results else None
        if last is None or self.broken_at is None:
            return Outcome.PASSED if last is not None else Outcome.ERROR
        return Outcome(last.outcome)  # failed, or error when the chain stopped on an infrastructure error


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
    classifier: Classifier | None = None,
) -> ChainResult:
    """The steps in order, each on the outputs the agent itself wrote in the earlier steps (the steps the chain
    does not run give the reference's); stops at the first step that does not pass (its successors would only
    consume wrong or missing files)."""
    chain_dir = trial_folder(bench.run_dir, model, "chain", trial)
    solution = chain_dir / "solution"  # the agent's own outputs so far, laid out as the reference's
    solution.mkdir(parents=True)
    for step, spec in env.specs.items():  # a chain of some steps reads the others' outputs from the reference
        if step not in steps:
            for rel in spec.output_paths:
                (solution / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(env.solution_dir / rel, solution / rel)
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
            classifier=classifier,
        )
        chain.results.append(result)
        chain.records.append(record)
        if result.outcome != Outcome.PASSED:
            break
        pass_on_outputs(result, env, solution)
    broken = chain.broken_at
    passed = broken is None and len(chain.results) == len(steps)
    chain.records = [
        replace(
            record,
            key=chain_trial_key(model, record.step, trial),
            chain=ChainLink(chain_id(model, trial), position, tuple(steps), broken, passed),
        )
        for position, record in enumerate(chain.records, 1)
    ]
    return chain
