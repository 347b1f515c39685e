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
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from pytest_hepagent.agent.code import extract_code
from pytest_hepagent.agent.records import AgentRun, Attempt, CallRecord
from pytest_hepagent.errors import ConversationEnded, InfrastructureError
from pytest_hepagent.llm.gateway import Gateway
from pytest_hepagent.sandbox.runner import ExecutionResult
from pytest_hepagent.specs import SystemPrompts, TaskSpec

__all__ = ["Executor", "run_agent"]

Executor = Callable[[str, int], ExecutionResult]
"""Runs a script (code, iteration) and returns what happened."""

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
        self, run: AgentRun, gateway: Gateway, spec: TaskSpec, cassette: Path | None, accept_phrase: str
    ) -> None:
        self.run, self.gateway, self.spec = run, gateway, spec
        self.cassette, self.accept_phrase = cassette, accept_phrase

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
        completion = self.gateway.complete(model, messages, metadata={"hepagent": context})
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
            )
        )
        return completion.text


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
    session = _Session(run, gateway, spec, cassette, prompts.accept_phrase)
    start = time.monotonic()
    try:
        answer = session.call("supervisor", prompts.supervisor, user_prompt)
        run.worker_prompt = instructions = _worker_prompt(answer)
        run.call_record = _section(answer, "Call record")
        run.status = "max_iterations"
        for iteration in range(1, max_iterations + 1):
            code = extract_code(session.call("coder", prompts.coder, instructions))
            result = executor(code, iteration) if code else None
            run.attempts.append(Attempt(iteration, code, result))
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
    except ConversationEnded as exc:
        if any(a.execution is not None for a in run.attempts):  # caused by what the code or the agent produced
            run.status, run.error = "ended", str(exc)
        else:  # before any code ran, the conversation is the harness's prompts: not the model's failure
            run.status, run.error = "infrastructure_error", str(exc)
    except InfrastructureError as exc:
        run.status, run.error = "infrastructure_error", str(exc)
    run.ended_at = _now()
    run.duration_s = time.monotonic() - start
    return run
