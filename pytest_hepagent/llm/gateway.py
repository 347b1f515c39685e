"""The one way the agent talks to models: litellm, with retries, timeouts, token counts and cost.

litellm is imported on first use (it costs seconds), with `LITELLM_LOCAL_MODEL_COST_MAP=True` unless the user set
it (it would fetch a price map from the network otherwise). Any provider litellm supports works, including an
OpenAI-compatible server through `api_base` (`openai/<name>`). The built-in offline models `hepagent/...`
(`offline.py`) are answered in-process without importing litellm, so parallel workers do not each pay for it.

Rate limits, 5xx answers, timeouts, dropped connections and malformed bodies are retried with exponential backoff
(litellm's own `num_retries` needs `tenacity`, which it does not install, so it is set to 0); when the retries are
spent, or for an error no retry can fix, the call raises `InfrastructureError`: never a model failure. A refusal of
what the conversation holds (a content-policy error, a context-window overflow, any other 400) raises
`ConversationEnded` instead: the agent loop decides whose it is (see `agent/loop.py`).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_hepagent.errors import ConversationEnded, HepAgentError, InfrastructureError
from pytest_hepagent.llm.pricing import override_price

__all__ = ["Completion", "Gateway", "GatewaySettings", "cost_usd"]

log = logging.getLogger(__name__)

Message = Mapping[str, str]


@dataclass(frozen=True)
class GatewaySettings:
    temperature: float = 0.0
    timeout_s: float = 600.0
    """Per call."""
    max_retries: int = 4
    backoff_s: float = 2.0
    """First wait; it doubles after each failed attempt (with jitter), up to `backoff_max_s`."""
    backoff_max_s: float = 60.0
    api_base: str | None = None
    """An OpenAI-compatible server (vLLM, llama.cpp, ...) for `openai/<name>` models."""


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    attempts: int


def _litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.drop_params = True  # e.g. OpenAI's o-series accept no temperature: send what the model supports
    return litellm


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Cost from litellm's price map, else from the paper's table, else 0 (offline models are free)."""
    if model.startswith("hepagent/"):
        return 0.0
    litellm = _litellm()
    try:
        prompt_cost, completion_cost = litellm.cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
        return float(prompt_cost + completion_cost)
    except Exception:  # noqa: BLE001 - litellm raises several types for an unmapped model
        price = override_price(model)
        if price is None:
            log.warning("no price known for %s; its cost is counted as 0", model)
            return 0.0
        return (input_tokens * price[0] + output_tokens * price[1]) / 1e6


def _retryable(litellm: Any, exc: Exception) -> bool:
    transient = (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return True
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    return isinstance(exc, litellm.APIError)  # e.g. a body that is not valid JSON


_REFUSALS = ("content_filter", "content_policy", "content management policy", "safety system")


def _refused(litellm: Any, exc: Exception) -> bool:
    """A content-policy refusal: what the conversation holds, which no retry changes (litellm maps most providers'
    to ContentPolicyViolationError; OpenAI-compatible servers answer 400 with a content-filter code)."""
    if isinstance(exc, litellm.ContentPolicyViolationError):
        return True
    text = " ".join(str(x) for x in (exc, getattr(exc, "body", ""), getattr(exc, "code", ""))).lower()
    return getattr(exc, "status_code", None) == 400 and any(marker in text for marker in _REFUSALS)


def _one_line(exc: Exception) -> str:
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(exc).__name__}: {first[:300]}"


class Gateway:
    """Completes chat messages with any model; see the module docstring."""

    def __init__(self, settings: GatewaySettings | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or GatewaySettings()
        self._sleep = sleep

    def complete(
        self,
        model: str,
        messages: Sequence[Message],
        metadata: Mapping[str, Any] | None = None,
        api_base: str | None = None,
    ) -> Completion:
        if model.startswith("hepagent/"):
            return self._complete_offline(model, messages, metadata or {})
        litellm = _litellm()
        settings = self.settings
        kwargs: dict[str, Any] = {
            "temperature": settings.temperature,
            "timeout": settings.timeout_s,
            "num_retries": 0,
            "metadata": dict(metadata or {}),
        }
        base = api_base or settings.api_base
        if base:
            kwargs["api_base"] = base
            kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "not-needed"))
        attempts, start = 0, time.monotonic()
        while True:
            attempts += 1
            call_start = time.monotonic()
            try:
                response = litellm.completion(model=model, messages=list(messages), **kwargs)
                text = response.choices[0].message.content
                if not isinstance(text, str):
                    raise litellm.APIError(
                        status_code=500, message="response has no text content", llm_provider="", model=model
                    )
                break
            except Exception as exc:
                if _refused(litellm, exc):
                    raise ConversationEnded(
                        f"{model}: the provider refused the conversation: {_one_line(exc)}"
                    ) from exc
                if isinstance(exc, litellm.ContextWindowExceededError) or getattr(exc, "status_code", None) == 400:
                    # What the conversation holds (its length, its content) is what the provider rejects.
                    raise ConversationEnded(
                        f"{model}: the provider rejected the conversation: {_one_line(exc)}"
                    ) from exc
                if not _retryable(litellm, exc) or attempts > settings.max_retries:
                    why = "retries exhausted" if attempts > settings.max_retries else "not retryable"
                    raise InfrastructureError(
                        f"{model}: call failed after {attempts} attempt(s), {why}: {_one_line(exc)}"
                    ) from exc
                wait = min(settings.backoff_max_s, settings.backoff_s * 2 ** (attempts - 1))
                wait *= random.uniform(0.5, 1.0)
                log.warning("%s: %s; retrying in %.2f s", model, _one_line(exc), wait)
                self._sleep(wait)
        usage = getattr(response, "usage", None)
        input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        output_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        if not input_tokens:
            input_tokens = int(litellm.token_counter(model=model, messages=list(messages)))
        if not output_tokens:
            output_tokens = int(litellm.token_counter(model=model, text=text))
        latency = time.monotonic() - call_start
        log.debug(
            "%s: %d in, %d out, %.2f s (%.2f s with retries)",
            model,
            input_tokens,
            output_tokens,
            latency,
            time.monotonic() - start,
        )
        return Completion(
            text, input_tokens, output_tokens, latency, cost_usd(model, input_tokens, output_tokens), attempts
        )

    def _complete_offline(self, model: str, messages: Sequence[Message], metadata: Mapping[str, Any]) -> Completion:
        from pytest_hepagent.llm.offline import OfflineError, ReplayDiverged, answer

        start = time.monotonic()
        try:
            text, input_tokens, output_tokens = answer(model, messages, metadata.get("hepagent") or {})
        except ReplayDiverged as exc:
            raise ConversationEnded(f"{model}: the replay diverged: {exc}") from exc
        except (OfflineError, HepAgentError, OSError) as exc:  # e.g. a missing or unreadable cassette: no retry helps
            raise InfrastructureError(
                f"{model}: call failed after 1 attempt(s), not retryable: {_one_line(exc)}"
            ) from exc
        return Completion(text, input_tokens, output_tokens, time.monotonic() - start, 0.0, 1)
