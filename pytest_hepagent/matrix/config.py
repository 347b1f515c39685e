"""The benchmark's settings, checked before anything runs (engine side: no pytest here)."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_hepagent.agent.limits import TrialLimits
from pytest_hepagent.errors import ConfigError, HepAgentError, did_you_mean
from pytest_hepagent.llm.cassette import cassettes_by_step
from pytest_hepagent.llm.gateway import GatewaySettings
from pytest_hepagent.llm.offline import OFFLINE_MODELS, REPLAY, is_offline
from pytest_hepagent.options import DEFAULTS
from pytest_hepagent.sandbox.backends import SANDBOXES
from pytest_hepagent.stats import Interval
from pytest_hepagent.steps import STEP_NAMES

if TYPE_CHECKING:
    from pytest_hepagent.matrix.baseline import Baseline
    from pytest_hepagent.matrix.gate import Adjust, Undecided
    from pytest_hepagent.matrix.rounds import RoundPlan

__all__ = ["BenchmarkConfig", "check_model", "new_run_id", "safe_name"]


def safe_name(text: str) -> str:
    """A name usable in paths, test ids and marker names."""
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def new_run_id() -> str:
    return f"{datetime.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def check_model(model: str) -> None:
    """Known to litellm (its price map or a provider prefix) or one of the offline models."""
    if is_offline(model):
        if model not in OFFLINE_MODELS:
            raise ConfigError(
                f"--hep-model: unknown offline model {model!r}{did_you_mean(model, OFFLINE_MODELS)}; "
                f"offline models are {', '.join(OFFLINE_MODELS)}"
            )
        return
    from pytest_hepagent.llm.gateway import load_litellm

    litellm = load_litellm()
    provider = model.split("/", 1)[0] if "/" in model else ""
    if model in litellm.model_cost or provider in set(litellm.provider_list):
        return
    known = list(litellm.model_cost)
    raise ConfigError(
        f"--hep-model: unknown model {model!r}{did_you_mean(model, known)}; use a litellm model name "
        f"(e.g. openai/o3, anthropic/..., or openai/<name> with --hep-api-base for a local server)"
    )


@dataclass(frozen=True)
class BenchmarkConfig:
    models: tuple[str, ...] = DEFAULTS["models"]
    supervisor_model: str | None = None
    steps: tuple[str, ...] = ()
    """The steps to run; empty: every step (or, replaying a folder, every step it holds cassettes of)."""
    trials: int | None = None
    """Trials per model and step; None: 1 (or, replaying a folder, as many as it holds cassettes of the step)."""
    max_iterations: int = DEFAULTS["max_iterations"]
    judge_model: str | None = None
    data: Path | None = None
    report_dir: Path = DEFAULTS["report_dir"]
    baselines: tuple[Path, ...] = ()
    """The runs to gate against (pooled); none: no gate."""
    floor: float | None = None
    detect_drop: float = DEFAULTS["detect_drop"]
    """The gate's margin: a cell is OK when a drop this large is ruled out."""
    max_trials: int = DEFAULTS["max_trials"]
    """With a baseline, the most trials a cell gets (undecided cells get more in rounds)."""
    round_trials: int = DEFAULTS["round_trials"]
    """With a baseline, later rounds fill undecided cells up to the next multiple of this."""
    undecided: Undecided = DEFAULTS["undecided"]
    """fail or pass: what an undecided cell does to the exit status."""
    adjust: Adjust = DEFAULTS["adjust"]
    """bonferroni or none: how the gate corrects for testing many cells."""
    interval: Interval = DEFAULTS["interval"]
    """wilson or clopper-pearson: the 95% interval of the tables, the report and the floor's test."""
    max_usd: float | None = None
    record: Path | None = None
    replay: Path | None = None
    resume: str | None = None
    chain: bool = False
    """Chained end-to-end runs (`--hep-chain`) instead of independent steps."""
    api_base: str | None = None
    sandbox: str = DEFAULTS["sandbox"]
    """Where generated code runs: `bwrap`, or `none` (unconfined, only when asked for)."""
    max_output_tokens: int | None = DEFAULTS["max_output_tokens"]
    """Most tokens one answer may have (None: the provider's default)."""
    call_timeout_s: float = DEFAULTS["call_timeout_s"]
    """Per call; a call that times out is retried once."""
    token_limit: int | None = None
    """Per trial: input plus output tokens of all its calls."""
    cost_limit: float | None = None
    """Per trial, in USD."""
    time_limit: float | None = DEFAULTS["time_limit"]
    """Per trial: wall time in seconds."""
    concurrency: int = DEFAULTS["concurrency"]
    """Trials run at once in each pytest process."""
    max_connections: int = DEFAULTS["max_connections"]
    """Calls in flight at once to one model from each process."""
    run_id: str = field(default_factory=new_run_id)
    replays: Mapping[str, tuple[Path, ...]] = field(default_factory=dict, compare=False)
    """`--hep-replay`'s cassettes by step (filled by `check`)."""
    baseline: Baseline | None = field(default=None, compare=False)
    """The pooled baseline of `baselines` (loaded by `check`)."""

    @property
    def run_dir(self) -> Path:
        return self.report_dir / self.run_id

    @property
    def trial_limits(self) -> TrialLimits:
        return TrialLimits(self.token_limit, self.cost_limit, self.time_limit)

    def gateway_settings(self) -> GatewaySettings:
        return GatewaySettings(
            timeout_s=self.call_timeout_s,
            api_base=self.api_base,
            max_output_tokens=self.max_output_tokens,
            max_connections=self.max_connections,
        )

    def cassette_for(self, step: str, trial: int) -> Path | None:
        """The cassette a replay trial uses: the step's cassettes in name order, one per trial, starting over when
        `--hep-trials` asks for more trials than there are cassettes (a single file replays every trial)."""
        cassettes = self.replays.get(step, ())
        return cassettes[(trial - 1) % len(cassettes)] if cassettes and trial > 0 else None

    def first_trials(self, step: str) -> int:
        """Trials of `step` in the first round: `--hep-trials`, else a replayed folder's cassettes of the step, else
        one round's (`--hep-round-trials`) when gating in rounds, else 1."""
        if self.trials is not None:
            return self.trials
        if self.replay is not None and self.replay.is_dir():
            return len(self.replays.get(step, ()))
        return self.round_trials if self.baselines and not self.chain else 1

    def plan(self, step: str) -> RoundPlan | None:
        """The rounds of a gated run's cells of `step`; None when the run has one look (no baseline, a chained run,
        or --hep-max-trials no larger than the first round)."""
        from pytest_hepagent.matrix.rounds import RoundPlan

        first = self.first_trials(step)
        if not self.baselines or self.chain or self.max_trials <= first:
            return None
        return RoundPlan(first, self.max_trials, self.round_trials)

    def trials_for(self, step: str) -> int:
        """Every trial `step` may get: the first round's, or with rounds up to --hep-max-trials."""
        plan = self.plan(step)
        return plan.max_trials if plan is not None else self.first_trials(step)

    @property
    def chain_trials(self) -> int:
        """Chained runs per model: each needs a trial of every step."""
        return min(self.first_trials(step) for step in self.steps) if self.steps else 0

    def _replays(self, steps: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, tuple[Path, ...]]]:
        """The steps to run and the cassettes of each, checked against `--hep-replay`."""
        assert self.replay is not None
        if not self.replay.exists():
            raise ConfigError(f"--hep-replay: {self.replay} does not exist; give a cassette file or folder")
        try:
            found = cassettes_by_step(self.replay)
        except HepAgentError as exc:
            raise ConfigError(f"--hep-replay: {exc}") from None
        held = ", ".join(f"{s} ({len(p)})" for s, p in found.items()) or "no cassette at all"
        if not steps:
            steps = tuple(s for s in STEP_NAMES if s in found)
        for step in steps:
            if step not in found:
                raise ConfigError(
                    f"--hep-replay {self.replay}: no cassette of step {step!r} (it holds {held}); record one, or "
                    f"choose steps with --hep-steps"
                )
        if not steps:
            raise ConfigError(f"--hep-replay {self.replay}: no cassette (*.yaml) of any step there")
        return steps, {s: found[s] for s in steps}

    def check(self) -> BenchmarkConfig:
        """The settings checked, with the steps, trials and replayed cassettes resolved; `ConfigError` says what to
        fix (in one line)."""
        names = list(STEP_NAMES)
        for step in self.steps:
            if step not in names:
                raise ConfigError(
                    f"--hep-steps: unknown step {step!r}{did_you_mean(step, names)}; steps are {', '.join(names)}"
                )
        if self.sandbox not in SANDBOXES:
            raise ConfigError(
                f"--hep-sandbox: unknown sandbox {self.sandbox!r}{did_you_mean(self.sandbox, SANDBOXES)}; choose one "
                f"of {', '.join(SANDBOXES)}"
            )
        for model in (*self.models, *(m for m in (self.supervisor_model, self.judge_model) if m)):
            check_model(model)
        if self.judge_model and is_offline(self.judge_model):
            raise ConfigError(
                f"--hep-judge-model: {self.judge_model} cannot judge a live run; use a litellm model (e.g. "
                f"openai/gpt-oss-120b), or replay judge cassettes with `python -m error_classifier reports/<run-id>`"
            )
        if self.trials is not None and self.trials < 1:
            raise ConfigError(f"--hep-trials: must be at least 1, got {self.trials}")
        if self.max_iterations < 1:
            raise ConfigError(f"--hep-max-iterations: must be at least 1, got {self.max_iterations}")
        if self.max_usd is not None and not 0 <= self.max_usd < math.inf:
            raise ConfigError(f"--hep-max-usd: a finite amount of USD >= 0, got {self.max_usd}")
        if self.floor is not None and not 0 <= self.floor <= 1:
            raise ConfigError(f"--hep-floor: a success fraction between 0 and 1, got {self.floor}")
        if not 0 < self.detect_drop <= 1:
            raise ConfigError(f"--hep-detect-drop: a drop in success above 0 and at most 1, got {self.detect_drop:g}")
        from pytest_hepagent.sequential.boundaries import MOST_TRIALS

        for flag, count in (("--hep-max-trials", self.max_trials), ("--hep-trials", self.trials or 0)):
            if self.baselines and count > MOST_TRIALS:
                raise ConfigError(
                    f"{flag}: {count:,} trials per cell is more than the {MOST_TRIALS:,} the gate's exact tests take; "
                    f"give at most {MOST_TRIALS:,}"
                )
        if self.trials is not None and self.baselines and not self.chain and self.max_trials < self.trials:
            raise ConfigError(
                f"--hep-max-trials: {self.max_trials} is below --hep-trials {self.trials}, the first round; give at "
                f"least {self.trials} (equal: one look, no rounds)"
            )
        for option, value in (
            ("--hep-max-output-tokens", self.max_output_tokens),
            ("--hep-call-timeout", self.call_timeout_s),
            ("--hep-token-limit", self.token_limit),
            ("--hep-cost-limit", self.cost_limit),
            ("--hep-time-limit", self.time_limit),
            ("--hep-concurrency", self.concurrency),
            ("--hep-max-connections", self.max_connections),
        ):
            if value is not None and not 0 < value < math.inf:
                raise ConfigError(f"{option}: a positive number, got {value:g}; give a larger one (or none)")
        steps: tuple[str, ...] = self.steps or STEP_NAMES
        replays: dict[str, tuple[Path, ...]] = {}
        if self.replay is not None:
            if REPLAY not in self.models:
                raise ConfigError("--hep-replay: cassettes are replayed by --hep-model=hepagent/replay; add it")
            steps, replays = self._replays(self.steps)
        elif REPLAY in self.models:
            raise ConfigError("--hep-model=hepagent/replay needs --hep-replay FILE_OR_FOLDER with the cassettes")
        if self.record is not None and all(is_offline(m) for m in self.models):
            raise ConfigError("--hep-record: recording needs a live model; the offline models are already recorded")
        baseline = self._baseline() if self.baselines else None
        if self.resume is not None and not (self.report_dir / self.resume / "results.jsonl").is_file():
            raise ConfigError(
                f"--hep-resume: no run {self.resume!r} in {self.report_dir} (no results.jsonl there); "
                f"give the run id of an earlier run"
            )
        checked = replace(self, steps=steps, replays=replays, baseline=baseline)
        from pytest_hepagent.matrix.preflight import check_context_windows

        check_context_windows(checked)
        return checked

    def _baseline(self) -> Baseline:
        """The pooled baseline, holding at least one of the run's models (one model against one other is a pair)."""
        from pytest_hepagent.matrix.baseline import load_baseline
        from pytest_hepagent.matrix.gate import model_pair

        baseline = load_baseline([Path(p) for p in self.baselines])
        held = sorted({c.model for c in baseline.cells})
        if not set(held) & set(self.models) and model_pair(held, self.models) is None:
            raise ConfigError(
                f"--hep-baseline: {baseline.describe()} holds {', '.join(held)}, none of this run's models "
                f"({', '.join(self.models)}); give a baseline of the models the run runs"
            )
        return baseline

    def describe(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "supervisor_model": self.supervisor_model,
            "steps": list(self.steps),
            "trials": self.trials,
            "trials_by_step": {step: self.trials_for(step) for step in self.steps},
            "max_iterations": self.max_iterations,
            "judge_model": self.judge_model,
            "max_usd": self.max_usd,
            "baseline": [str(p) for p in self.baselines] or None,
            "baseline_runs": [str(p) for p in self.baseline.runs] if self.baseline else None,
            "floor": self.floor,
            "detect_drop": self.detect_drop,
            "max_trials": self.max_trials,
            "round_trials": self.round_trials,
            "undecided": self.undecided,
            "adjust": self.adjust,
            "interval": self.interval,
            "chain": self.chain,
            "sandbox": self.sandbox,
            "max_output_tokens": self.max_output_tokens,
            "call_timeout_s": self.call_timeout_s,
            "limits": self.trial_limits.describe(),
            "concurrency": self.concurrency,
            "max_connections": self.max_connections,
        }
