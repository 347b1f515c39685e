"""What one agent run did: every call, every attempt, and the paper's token statistics."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_hepagent.sandbox.runner import ExecutionResult

__all__ = ["AgentRun", "Attempt", "CallRecord", "TokenStats"]


@dataclass(frozen=True)
class CallRecord:
    index: int
    role: str
    """supervisor (initial), coder, debugger (after a failed execution) or reviewer (after a successful one)."""
    model: str
    messages: tuple[dict[str, str], ...]
    response: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    attempts: int
    started_at: str
    finish_reason: str = "stop"
    """`length` when the answer was cut at the output cap."""
    max_output_tokens: int | None = None
    """The output cap the call was sent with (None: the provider's default)."""


@dataclass(frozen=True)
class Attempt:
    iteration: int
    code: str
    execution: ExecutionResult | None
    """None when the coder returned no code block."""


@dataclass(frozen=True)
class TokenStats:
    """The counts of the paper's appendix B.1 summary."""

    user_prompt: int
    """Input tokens of the initial supervisor call."""
    supervisor_to_coder: int
    coder_output: int
    feedback_to_supervisor: int
    total_input: int
    total_output: int

    @property
    def total(self) -> int:
        return self.total_input + self.total_output

    @property
    def agent_work(self) -> float:
        """(total - user) / user, the paper's measure of autonomous work."""
        return (self.total - self.user_prompt) / self.user_prompt if self.user_prompt else 0.0

    @staticmethod
    def of(calls: list[CallRecord]) -> TokenStats:
        def total(attr: str, roles: tuple[str, ...]) -> int:
            return sum(getattr(c, attr) for c in calls if c.role in roles)

        return TokenStats(
            user_prompt=next((c.input_tokens for c in calls if c.role == "supervisor"), 0),
            supervisor_to_coder=total("input_tokens", ("coder",)),
            coder_output=total("output_tokens", ("coder",)),
            feedback_to_supervisor=total("input_tokens", ("debugger", "reviewer")),
            total_input=sum(c.input_tokens for c in calls),
            total_output=sum(c.output_tokens for c in calls),
        )


@dataclass
class AgentRun:
    """One trajectory of the supervisor-coder loop."""

    step: str
    supervisor_model: str
    coder_model: str
    user_prompt: str
    max_iterations: int
    started_at: str
    status: str = "running"
    """success (the reviewer accepted), max_iterations (no accepted attempt), ended (the conversation could not go
    on after code ran: a refusal or a diverged replay), limit (a per-trial limit or the model's context window was
    reached: `limit` says which) or infrastructure_error."""
    limit: str = ""
    """With status `limit`: tokens, cost, time or context."""
    calls: list[CallRecord] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    worker_prompt: str = ""
    call_record: str = ""
    error: str = ""
    ended_at: str = ""
    duration_s: float = 0.0

    @property
    def tokens(self) -> TokenStats:
        return TokenStats.of(self.calls)

    @property
    def cost_usd(self) -> float:
        return sum(c.cost_usd for c in self.calls)

    @property
    def iterations(self) -> int:
        return len(self.attempts)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tokens"] = asdict(self.tokens) | {"total": self.tokens.total, "agent_work": self.tokens.agent_work}
        out["cost_usd"] = self.cost_usd
        out["api_calls"] = len(self.calls)
        return out
