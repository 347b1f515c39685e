"""Built-in offline models, answered in-process by the gateway (no litellm, no network).

- `hepagent/oracle`: answers every call as a perfect agent would: the supervisor forwards the task, the coder
  returns the step's reference script, the reviewer accepts. A harness self-check: it must pass every step.
- `hepagent/replay`: answers with the recorded responses of a cassette (`cassette.py`), call by call.

The agent passes what these models need in the call's metadata: `{"hepagent": {"step", "role", "call_index",
"cassette", "accept_phrase"}}`. Token counts come from the cassette when it has them, else from `tokens.py`.
Importing litellm costs ~3 s of CPU per process, which an `-n 8` run of offline models would pay eight times.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_hepagent.errors import LimitReached

__all__ = ["OFFLINE_MODELS", "ORACLE", "REPLAY", "OfflineError", "ReplayDiverged", "answer", "is_offline"]

PREFIX = "hepagent/"
ORACLE = "hepagent/oracle"
REPLAY = "hepagent/replay"
OFFLINE_MODELS: dict[str, str] = {
    ORACLE: "answers as a perfect agent: the reference script, accepted (the harness's self-check)",
    REPLAY: "answers with a cassette's recorded responses, call by call",
}
"""The registry of the built-in models, with what each does (answered by `answer`)."""


def is_offline(model: str) -> bool:
    """A built-in model's name (`hepagent/...`, known or not): answered here, never sent to a provider."""
    return model.startswith(PREFIX)


class OfflineError(RuntimeError):
    """An offline model cannot answer (no cassette, cassette out of sync): no retry can help."""


class ReplayDiverged(OfflineError):
    """The agent asked for a call the cassette does not have next (the replayed code behaved otherwise)."""


def _oracle(role: str, step: str, user: str, accept_phrase: str) -> str:
    from pytest_hepagent.analysis.scripts import script_text

    if role == "coder":
        return f"```python\n{script_text(step)}```\n"
    if role == "reviewer":
        return accept_phrase
    task = user.split("## Instructions\n", 1)[-1].split("\n\n## Code", 1)[0] if role == "debugger" else user
    return f"## Worker Prompt\n\n{task}\n\n## Call record:\n\nAsked the coder to implement step '{step}' as specified."


def _replay(context: Mapping[str, Any]) -> tuple[str, int, int, str]:
    from pytest_hepagent.llm.cassette import load_cassette

    path = context.get("cassette")
    if not path:
        raise OfflineError("hepagent/replay needs a cassette (--hep-replay or the trial's cassette)")
    cassette = load_cassette(Path(path))
    if context.get("step") and cassette.step != context["step"]:
        raise OfflineError(f"cassette {path} is a trajectory of step {cassette.step}, not of {context['step']}")
    index, role = int(context["call_index"]), context["role"]
    if index >= len(cassette.calls):
        raise ReplayDiverged(
            f"cassette {path} has {len(cassette.calls)} calls; the agent made call {index + 1} ({role})"
        )
    call = cassette.calls[index]
    if cassette.latency_s:
        deadline = context.get("deadline")  # the trial's time limit: a replay waits no longer than a live call could
        if deadline is not None and time.monotonic() + cassette.latency_s > deadline:
            time.sleep(max(0.0, deadline - time.monotonic()))
            raise LimitReached("time", "the trial's time limit was reached during a call")
        time.sleep(cassette.latency_s)
    if call.role != role:
        raise ReplayDiverged(
            f"cassette {path}: call {index + 1} is a {call.role} call but the agent made a "
            f"{role} call; the cassette does not belong to this agent loop"
        )
    return call.response, call.input_tokens, call.output_tokens, call.finish_reason


def answer(model: str, messages: Sequence[Mapping[str, str]], context: Mapping[str, Any]) -> tuple[str, int, int, str]:
    """(text, input tokens, output tokens, finish reason) of offline `model` for `messages`; `OfflineError` when
    it cannot answer."""
    from pytest_hepagent.llm.tokens import count_message_tokens, count_text_tokens

    input_tokens = output_tokens = 0
    finish_reason = "stop"
    if model == ORACLE:
        user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        text = _oracle(context.get("role", "coder"), context.get("step", ""), user, context.get("accept_phrase", ""))
    elif model == REPLAY:
        text, input_tokens, output_tokens, finish_reason = _replay(context)
    else:
        raise OfflineError(f"unknown offline model {model!r}; use one of {', '.join(OFFLINE_MODELS)}")
    input_tokens = input_tokens or count_message_tokens(messages)
    return text, input_tokens, output_tokens or count_text_tokens(text), finish_reason
