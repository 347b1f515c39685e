"""The supervisor-coder loop of the paper (section IV.B, Fig. 1, appendix B.1).

1. The supervisor turns the user prompt into a worker prompt (and a call record).
2. The coder answers the worker prompt with a script, which the executor runs.
3. On an error, the supervisor (debugger prompt) gets the instructions, the code and the error and writes revised
   instructions, and the coder tries again, up to `max_iterations` attempts in all (no debugger call after the
   last one). After a successful execution the supervisor (reviewer prompt) accepts with the accept phrase or asks
   for a revision, which is another attempt if any is left.

With 3 iterations that is at most 7 API calls, as the paper counts them. A conversation that cannot go on because
of what it holds (a provider's content-policy refusal, a replay that diverged) ends the run there once code has run
(status `ended`): its outputs are judged as they are, so nothing the code prints can make its failure an
infrastructure error.

The trial's limits (`limits.py`) end the run with status `limit`, and so does a context window the conversation
outgrew: after the first answer the conversation holds the model's own text, so its length is the model's doing.
Only the first call, which holds nothing but the harness's prompt, overflowing is an infrastructure error (the run
checks that at start-up where litellm knows the model's window).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pytest_hepagent.agent.code import extract_code
from pytest_hepagent.agent.limits import LimitTracker, TrialLimits
from pytest_hepagent.agent.trajectory import AgentRun, Attempt, CallRecord
from pytest_hepagent.errors import (
    ContextWindowExceeded,
    ConversationEnded,
    InfrastructureError,
    LimitReached,
    ProviderRefused,
)
from pytest_hepagent.llm.gateway import Gateway
from pytest_hepagent.sandbox.runner import ExecutionResult
from pytest_hepagent.specs import SystemPrompts, TaskSpec

__all__ = ["Executor", "run_agent"]

Executor = Callable[[str, int, "float | None"], ExecutionResult]
"""Runs a script (code, iteration, seconds the trial has left or None) and returns what happened."""

_ERROR_CHARS = 4000


def _now() -> str:
    return datetime.now().isoformat(sep=" ")


def _section(text: str, title: str, stop: str | None = None) -> str:
    """The body of a `## title` section, or '' if there is none."""
    marker = text.find(f"## {title}")
    if marker < 0:
        return ""
    body = text[marker + len(title) + 3 :].lstrip(":").strip()
    if stop and (end := body.find(f"## {stop}")) >= 0:
        body = body[:end].strip()
    return body


def _worker_prompt(response: str) -> str:
    return _section(response, "Worker Prompt", "Call record") or response.strip()


def _execution_report(result: ExecutionResult | None) -> str:
    if result is None:
        return "The coder's answer contained no Python code."
    parts = [f"Failure: {result.reason}"]
    if result.stderr.strip():
        parts.append(f"stderr (end):\n{result.stderr[-_ERROR_CHARS:]}")
    if result.stdout.strip():
        parts.append(f"stdout (end):\n{result.stdout[-_ERROR_CHARS // 4 :]}")
    return "\n\n".join(parts)


class _Session:
    def __init__(
        self,
        run: AgentRun,
        gateway: Gateway,
        spec: TaskSpec,
        cassette: Path | None,
        accept_phrase: str,
        tracker: LimitTracker,
    ) -> None:
        self.run, self.gateway, self.spec = run, gateway, spec
        self.cassette, self.accept_phrase, self.tracker = cassette, accept_phrase, tracker

    def call(self, role: str, system: str, user: str) -> str:
        model = self.run.coder_model if role == "coder" else self.run.supervisor_model
        messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
        context = {
            "step": self.spec.step,
            "role": role,
            "call_index": len(self.run.calls),
            "accept_phrase": self.accept_phrase,
            "cassette": str(self.cassette) if self.cassette else None,
        }
        started = _now()
        self.tracker.check_time()
        completion = self.gateway.complete(
            model, messages, metadata={"hepagent": context}, role=role, deadline=self.tracker.deadline
        )
        self.tracker.waited(completion.waited_s)
        self.run.calls.append(
            CallRecord(
                index=len(self.run.calls) + 1,
                role=role,
                model=model,
                messages=messages,
                response=completion.text,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                latency_s=completion.latency_s,
                cost_usd=completion.cost_usd,
                attempts=completion.attempts,
                started_at=started,
                finish_reason=completion.finish_reason,
                max_output_tokens=completion.max_output_tokens,
            )
        )
        self.tracker.spent(completion.input_tokens + completion.output_tokens, completion.cost_usd)
        return completion.text

    def execute(self, executor: Executor, code: str, iteration: int) -> ExecutionResult:
        self.tracker.check_time()
        return executor(code, iteration, self.tracker.time_left())


def run_agent(
    spec: TaskSpec,
    prompts: SystemPrompts,
    gateway: Gateway,
    coder_model: str,
    executor: Executor,
    *,
    supervisor_model: str | None = None,
    max_iterations: int = 3,
    cassette: Path | None = None,
    limits: TrialLimits | None = None,
) -> AgentRun:
    """Run the loop for one step; infrastructure failures end it with status `infrastructure_error`."""
    user_prompt = spec.render_prompt()
    run = AgentRun(
        step=spec.step,
        supervisor_model=supervisor_model or coder_model,
        coder_model=coder_model,
        user_prompt=user_prompt,
        max_iterations=max_iterations,
        started_at=_now(),
    )
    tracker = LimitTracker(limits or TrialLimits())
    session = _Session(run, gateway, spec, cassette, prompts.accept_phrase, tracker)
    start = time.monotonic()
    try:
        answer = session.call("supervisor", prompts.supervisor, user_prompt)
        run.worker_prompt = instructions = _worker_prompt(answer)
        run.call_record = _section(answer, "Call record")
        run.status = "max_iterations"
        for iteration in range(1, max_iterations + 1):
            code = extract_code(session.call("coder", prompts.coder, instructions))
            result = session.execute(executor, code, iteration) if code else None
            run.attempts.append(Attempt(iteration, code, result))
            tracker.check_time()  # an execution the deadline cut short ends the trial here
            report = f"## Instructions\n{instructions}\n\n## Code\n```python\n{code}```\n\n"
            if result is not None and result.succeeded:
                review = session.call(
                    "reviewer",
                    prompts.reviewer,
                    f"## Task\n{user_prompt}\n\n{report}## Output\n{result.stdout[-_ERROR_CHARS:]}",
                )
                if prompts.accept_phrase.lower() in review.lower():
                    run.status = "success"
                    break
                instructions = _worker_prompt(review)
            elif iteration < max_iterations:
                answer = session.call("debugger", prompts.debugger, f"{report}## Error\n{_execution_report(result)}")
                instructions = _worker_prompt(answer)
    except LimitReached as exc:
        if run.calls or exc.kind != "time":
            run.status, run.error, run.limit = "limit", str(exc), exc.kind
        else:  # the provider never answered: nothing of the model's used the time
            run.status, run.error = "infrastructure_error", f"no answer before the trial's time limit: {exc}"
    except ContextWindowExceeded as exc:
        if run.calls:  # the conversation grew with the model's own answers until it no longer fit
            run.status, run.error, run.limit = "limit", f"context window exceeded: {exc}", "context"
        else:  # the harness's prompt alone: not the model's failure
            run.status, run.error = "infrastructure_error", f"the task's prompt alone does not fit: {exc}"
    except ConversationEnded as exc:
        code_ran = any(a.execution is not None for a in run.attempts)
        if code_ran or (isinstance(exc, ProviderRefused) and run.calls):  # what the model wrote, or its code did
            run.status, run.error = "ended", str(exc)
        else:  # the harness's prompt alone, or a replay whose order no agent could follow
            run.status, run.error = "infrastructure_error", str(exc)
    except InfrastructureError as exc:
        run.status, run.error = "infrastructure_error", str(exc)
    run.ended_at = _now()
    run.duration_s = time.monotonic() - start
    return run
