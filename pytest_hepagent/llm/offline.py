"""Built-in offline models, reached through litellm as the custom provider `hepagent`.

- `hepagent/oracle`: answers every call as a perfect agent would: the supervisor forwards the task, the coder
  returns the step's reference script, the reviewer accepts. A harness self-check: it must pass every step.
- `hepagent/replay`: answers with the recorded responses of a cassette (`cassette.py`), call by call.

The agent passes what these models need in the call's metadata: `{"hepagent": {"step", "role", "call_index",
"cassette"}}`. Token counts come from the cassette when it has them, else litellm's token counter.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pytest_hepagent.analysis.scripts import script_text
from pytest_hepagent.llm.cassette import load_cassette

__all__ = ["OFFLINE_MODELS", "register"]

OFFLINE_MODELS = ("hepagent/oracle", "hepagent/replay")
_FATAL = "hepagent-fatal:"


def _oracle(role: str, step: str, user: str, accept_phrase: str) -> str:
    if role == "coder":
        return f"```python\n{script_text(step)}```\n"
    if role == "reviewer":
        return accept_phrase
    task = user.split("## Instructions\n", 1)[-1].split("\n\n## Code", 1)[0] if role == "debugger" else user
    return f"## Worker Prompt\n\n{task}\n\n## Call record:\n\nAsked the coder to implement step '{step}' as specified."


def _replay(context: dict[str, Any]) -> tuple[str, int, int]:
    path = context.get("cassette")
    if not path:
        raise RuntimeError(f"{_FATAL} hepagent/replay needs a cassette (--hep-replay or the trial's cassette)")
    cassette = load_cassette(Path(path))
    index, role = int(context["call_index"]), context["role"]
    if index >= len(cassette.calls):
        raise RuntimeError(
            f"{_FATAL} cassette {path} has {len(cassette.calls)} calls; the agent made call {index + 1} ({role})"
        )
    call = cassette.calls[index]
    if cassette.latency_s:
        time.sleep(cassette.latency_s)
    if call.role != role:
        raise RuntimeError(
            f"{_FATAL} cassette {path}: call {index + 1} is a {call.role} call but the agent made a "
            f"{role} call; the cassette does not belong to this agent loop"
        )
    return call.response, call.input_tokens, call.output_tokens


def _handler_class(litellm: Any) -> type:
    class HepAgentProvider(litellm.CustomLLM):  # type: ignore[misc]
        def completion(self, model: str, messages: list[dict[str, str]], *args: Any, **kwargs: Any) -> Any:
            model_response = kwargs["model_response"]
            params = kwargs.get("litellm_params") or {}
            context = (params.get("metadata") or {}).get("hepagent") or {}
            name = model.removeprefix("hepagent/")
            input_tokens = output_tokens = 0
            if name == "oracle":
                user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
                text = _oracle(
                    context.get("role", "coder"), context.get("step", ""), user, context.get("accept_phrase", "")
                )
            elif name == "replay":
                text, input_tokens, output_tokens = _replay(context)
            else:
                raise RuntimeError(f"{_FATAL} unknown offline model {model!r}; use one of {', '.join(OFFLINE_MODELS)}")
            input_tokens = input_tokens or litellm.token_counter(model="gpt-4o", messages=messages)
            output_tokens = output_tokens or litellm.token_counter(model="gpt-4o", text=text)
            model_response.choices[0].message.content = text
            model_response.model = model
            model_response.usage = litellm.Usage(
                prompt_tokens=input_tokens, completion_tokens=output_tokens, total_tokens=input_tokens + output_tokens
            )
            return model_response

    return HepAgentProvider


def register(litellm: Any) -> None:
    """Add the `hepagent` provider to litellm once."""
    entries = litellm.custom_provider_map or []
    if any(e.get("provider") == "hepagent" for e in entries):
        return
    litellm.custom_provider_map = [*entries, {"provider": "hepagent", "custom_handler": _handler_class(litellm)()}]
