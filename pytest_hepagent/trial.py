"""One trial, end to end: lay out the folder, run the agent with confined execution, validate, keep every record.

    env = TrialEnvironment.create()                       # dataset, verified goldens, specs, prompts, gateway, sandbox
    result = run_trial(TrialRequest("categorization", "hepagent/oracle"), env, Path("reports/run1/trials/t1"))
    result.outcome                                        # passed | failed | error

`failed` is a model failure (the outputs do not match, or the trial reached one of its limits); `error` is an
infrastructure error (API down, retries spent, the sandbox could not start the code), which is not the model's fault
and is kept out of success rates.
The code runs in the trial's `work/` folder inside the sandbox; the logs go to `logs/`, beside it and out of reach.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.agent.log import comprehensive_log
from pytest_hepagent.agent.loop import run_agent
from pytest_hepagent.agent.trajectory import AgentRun
from pytest_hepagent.compare.validation import StepValidation, validate_step
from pytest_hepagent.data.dataset import Dataset, ensure_synthetic
from pytest_hepagent.errors import HepAgentError, InfrastructureError
from pytest_hepagent.golden import ensure_solution, read_manifest
from pytest_hepagent.llm.cassette import Cassette, CassetteCall, save_cassette
from pytest_hepagent.llm.gateway import Gateway, GatewaySettings
from pytest_hepagent.records import CategoryVerdict, Outcome, write_transcript
from pytest_hepagent.resources import golden_dir
from pytest_hepagent.sandbox.backends import DEFAULT_SANDBOX, Sandbox, get_sandbox
from pytest_hepagent.sandbox.layout import READONLY, TrialFolder, prepare_trial_dir
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.sandbox.runner import ExecutionResult, check_sandbox, run_confined
from pytest_hepagent.sandbox.trial_files import UnsafeFile, remove_entries, seal, write_regular
from pytest_hepagent.specs import SystemPrompts, TaskSpec, load_specs, load_system_prompts

__all__ = ["TrialEnvironment", "TrialRequest", "TrialResult", "run_trial"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialRequest:
    step: str
    model: str
    """The coder's model (and the supervisor's unless `supervisor_model` is given)."""
    trial: int = 1
    supervisor_model: str | None = None
    max_iterations: int = 3
    cassette: Path | None = None
    """For `hepagent/replay`: the trajectory to replay."""
    record_to: Path | None = None
    """Write this trial's trajectory as a cassette here."""
    limits: Limits | None = None
    """Overrides the default limits of one execution (the wall time comes from the step's spec unless given)."""
    trial_limits: TrialLimits = field(default_factory=TrialLimits)
    """What the whole trial may use: tokens, cost, wall time (`agent/limits.py`)."""
    inputs_dir: Path | None = None
    """Where the step's `solution/...` inputs come from (default: the golden outputs). A chained run points it at
    the earlier steps' own outputs; the outputs are still validated against the goldens."""


@dataclass(frozen=True)
class TrialEnvironment:
    """What every trial of a run shares."""

    dataset: Dataset
    solution_dir: Path
    golden_dir: Path
    specs: dict[str, TaskSpec]
    prompts: SystemPrompts
    gateway: Gateway
    sb_backend: str
    sandbox: Sandbox
    """Where generated code runs (`bwrap`, or `none` when asked for)."""
    share: int = 1
    """Trials that may run code at once on this machine (parallel workers times concurrent trials): each
    execution's thread pools get this share of the cores."""

    @staticmethod
    def create(
        dataset: Dataset | None = None,
        golden: Path | None = None,
        gateway: GatewaySettings | None = None,
        sandbox: str = DEFAULT_SANDBOX,
    ) -> TrialEnvironment:
        """The default environment: synthetic data (generated once), verified goldens, shipped specs and prompts,
        and the sandbox, checked on this machine (`SandboxUnavailable` says what to do when it cannot run)."""
        check_sandbox(sandbox)
        dataset = dataset or ensure_synthetic()
        golden = golden or golden_dir()
        return TrialEnvironment.prepared(dataset, ensure_solution(dataset, golden), golden, gateway, sandbox)

    @staticmethod
    def prepared(
        dataset: Dataset | Path | str,
        solution_dir: Path,
        golden: Path,
        gateway: GatewaySettings | None = None,
        sandbox: str = DEFAULT_SANDBOX,
    ) -> TrialEnvironment:
        """The environment over folders already checked (by `create` in another process): nothing is hashed."""
        return TrialEnvironment(
            dataset if isinstance(dataset, Dataset) else Dataset(Path(dataset)),
            Path(solution_dir),
            Path(golden),
            load_specs(),
            load_system_prompts(),
            Gateway(gateway),
            read_manifest(Path(golden))["sb_backend"],
            get_sandbox(sandbox),  # probed by whoever created the environment
        )


@dataclass
class TrialResult:
    request: TrialRequest
    trial_dir: Path
    outcome: Outcome
    """passed, failed (a model failure) or error (an infrastructure error)."""
    agent: AgentRun | None
    validation: StepValidation | None
    error: str = ""
    duration_s: float = 0.0
    started_at: str = ""
    """ISO 8601 UTC time the trial started (for timelines across workers)."""
    files: dict[str, str] = field(default_factory=dict)
    """Log files written, by kind: comprehensive, transcript, validation."""
    category: CategoryVerdict | None = None
    """A failed trial's error category, set by whoever classifies it (`matrix.execute.Classifier`)."""
    sandbox: dict[str, Any] = field(default_factory=dict)
    """The sandbox the trial's code ran in (backend, version, the code's uid)."""

    @property
    def work_dir(self) -> Path:
        """Where the code worked (and left its outputs)."""
        return TrialFolder(self.trial_dir).work

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.request.step,
            "model": self.request.model,
            "trial": self.request.trial,
            "supervisor_model": self.request.supervisor_model or self.request.model,
            "outcome": self.outcome,
            "error": self.error,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "trial_dir": str(self.trial_dir),
            "sandbox": self.sandbox,
            "agent": self.agent.to_dict() if self.agent else None,
            "validation": self.validation.to_dict() if self.validation else None,
            "files": self.files,
        }


def _command(spec: TaskSpec) -> list[str]:
    return [
        sys.executable,
        f"generated_code/{spec.step}.py",
        "--input-files",
        *spec.inputs,
        "--output-files",
        *spec.output_paths,
    ]


def _executor(
    spec: TaskSpec, env: TrialEnvironment, folder: TrialFolder, limits: Limits, uid: int | None, ran: list[int]
) -> Any:
    """Runs each attempt's script; appends its iteration to `ran` once code has run in the folder."""
    work = folder.work

    def execute(code: str, iteration: int, time_left: float | None) -> ExecutionResult:
        # The folder is the code's: written and cleaned through trial_files only, never through a link it left.
        try:
            remove_entries(work, spec.output_paths)  # each attempt is judged on what it writes itself
            write_regular(work, f"generated_code/{spec.step}.py", code.encode())
            write_regular(work, f"generated_code/{spec.step}.attempt{iteration}.py", code.encode())
        except (OSError, UnsafeFile) as exc:  # an earlier attempt wrecked its folder: this attempt cannot run
            reason = f"the trial folder left by the previous attempt cannot be prepared ({exc})"
            return ExecutionResult(tuple(_command(spec)), None, "", "", 0, 0, 0.0, reason, env.sandbox.name)
        ran.append(iteration)
        bounded = limits
        if time_left is not None and time_left < limits.wall_time_s:  # the trial's deadline comes first
            bounded = replace(limits, wall_time_s=max(time_left, 0.0))
        return run_confined(
            env.sandbox,
            work,
            _command(spec),
            limits=bounded,
            readonly=READONLY,
            uid=uid,
            env={"HEPAGENT_SB_BACKEND": env.sb_backend},
            share=env.share,
        )

    return execute


def _write_logs(result: TrialResult, spec: TaskSpec) -> None:
    logs = TrialFolder(result.trial_dir).logs
    logs.mkdir(parents=True, exist_ok=True)
    if result.agent is not None:
        text = comprehensive_log(result.agent, " ".join(_command(spec)[1:]))
        (logs / "comprehensive.log").write_text(text, encoding="utf-8", errors="backslashreplace")  # model text
        result.files["comprehensive"] = str(logs / "comprehensive.log")
    if result.validation is not None:
        (logs / "validation.log").write_text(result.validation.log(), encoding="utf-8", errors="backslashreplace")
        result.files["validation"] = str(logs / "validation.log")
    result.files["transcript"] = str(logs / "transcript.json")
    write_transcript(logs / "transcript.json", result.to_dict())


def _record(run: AgentRun, path: Path) -> None:
    calls = tuple(CassetteCall(c.role, c.response, c.input_tokens, c.output_tokens, c.finish_reason) for c in run.calls)
    save_cassette(Cassette(run.step, calls, recorded_with=run.coder_model), path)


def run_trial(request: TrialRequest, env: TrialEnvironment, trial_dir: Path) -> TrialResult:
    """Run one trial in `trial_dir` (a new folder); never raises for model or infrastructure failures."""
    start = time.monotonic()
    spec = env.specs[request.step]
    limits = request.limits or Limits(wall_time_s=spec.timeout_s, cpu_time_s=2 * spec.timeout_s)
    trial_dir = Path(trial_dir).resolve()
    result = TrialResult(request, trial_dir, Outcome.ERROR, None, None, started_at=datetime.now(UTC).isoformat())
    uid = env.sandbox.trial_uid()
    result.sandbox = env.sandbox.describe() | ({"code_uid": uid} if uid is not None else {})
    ran: list[int] = []
    try:
        inputs = request.inputs_dir or env.solution_dir
        folder = prepare_trial_dir(trial_dir, spec, env.dataset, inputs, link=env.sandbox.confined, owner=uid)
        run = run_agent(
            spec,
            env.prompts,
            env.gateway,
            request.model,
            _executor(spec, env, folder, limits, uid, ran),
            supervisor_model=request.supervisor_model,
            max_iterations=request.max_iterations,
            cassette=request.cassette,
            limits=request.trial_limits,
        )
        result.agent = run
        seal(folder.work)  # no other user may change what the code left, or run what it made set-uid
        if run.status == "infrastructure_error":
            result.error = run.error
        else:
            result.error = run.error  # why a conversation ended early (a refusal, a diverged replay), if it did
            result.validation = validate_step(spec, folder.work, env.solution_dir)
            # A trial that reached a limit fails whatever it left: the outputs are shown, the limit decides.
            passed = result.validation.passed and run.status != "limit"
            result.outcome = Outcome.PASSED if passed else Outcome.FAILED
        if request.record_to is not None:
            _record(run, request.record_to)
    except (InfrastructureError, HepAgentError, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # every started trial ends with a record
        # Once code has run, what it left may be what broke the harness: a model failure, never a pass and never
        # an infrastructure error it could have forged. Before that, it is the harness's own fault.
        log.exception("%s: unexpected error in the harness", trial_dir)
        first = (str(exc).splitlines() or [""])[0][:300]
        result.outcome = Outcome.FAILED if ran else Outcome.ERROR
        result.error = f"the harness could not go on ({type(exc).__name__}: {first})"
    result.duration_s = time.monotonic() - start
    try:
        _write_logs(result, spec)
    except OSError as exc:  # the result itself is still returned
        log.error("%s: cannot write logs: %s", trial_dir, exc)
    return result
