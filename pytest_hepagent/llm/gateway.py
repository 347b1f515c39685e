"""The one way the agent talks to models: litellm, with bounded calls, retries, a shared call limiter, token
counts and cost.

litellm is imported on first use (it costs seconds), with `LITELLM_LOCAL_MODEL_COST_MAP=True` unless the user set
it (it would fetch a price map from the network otherwise); warnings it raises on import are logged, never raised.
Any provider litellm supports works, including an OpenAI-compatible server through `api_base` (`openai/<name>`). The
built-in offline models `hepagent/...` (`offline.py`) are answered in-process without importing litellm, so
parallel workers do not each pay for it.

Every call is bounded: at most `max_output_tokens` (per role if set, never above what litellm's model map says
the model can write; litellm sends it as each provider expects, `max_tokens` or `max_completion_tokens`) and
`timeout_s` as a whole (a watch thread: the HTTP client's timeout is per read, and a byte a second never trips it),
cut shorter by the trial's deadline. An answer cut at the cap is kept with `finish_reason: length`. Concurrent
trials share a `CallLimiter` per model (`limiter.py`); time spent waiting for a slot, a rate-limit pause or a
backoff is reported (`Completion.waited_s`) and moves the deadline on. Answers are cleaned of lone surrogates, and
token counts a provider cannot have are counted here.

Rate limits, 5xx answers, dropped connections and malformed bodies are retried with exponential backoff, up to
`max_retries`; a timeout is retried at most `timeout_retries` times (a model too slow for the timeout stays too
slow); tenacity repeats the attempts. litellm's own `num_retries` is 0: these retries know the trial's deadline and
the shared limiter, and two layers would multiply the attempts. When the retries are spent, or for an error no retry can fix, the call raises `InfrastructureError`: never a model failure. What the
conversation holds is another matter: a context-window overflow raises `ContextWindowExceeded`, a refusal (content
policy, any other 400) `ProviderRefused`, and the trial's deadline passing `LimitReached`; the agent loop decides
whose they are (see `agent/loop.py`).
"""

from __future__ import annotations

import logging
import math
import os
import random
import re
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from pytest_hepagent.errors import (
    ContextWindowExceeded,
    ConversationEnded,
    HepAgentError,
    InfrastructureError,
    LimitReached,
    ProviderRefused,
)
from pytest_hepagent.llm.limiter import CallLimiter, ProviderStalled, limiter_for
from pytest_hepagent.llm.offline import is_offline
from pytest_hepagent.llm.pricing import override_price

if TYPE_CHECKING:
    import tenacity

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "Completion",
    "Gateway",
    "GatewaySettings",
    "context_window",
    "cost_usd",
    "load_litellm",
    "max_output_of",
]

log = logging.getLogger(__name__)

Message = Mapping[str, str]

DEFAULT_MAX_OUTPUT_TOKENS = 16_384
"""Room for a step's script and a reasoning model's thinking; a small local model's answer stops far earlier."""


@dataclass(frozen=True)
class GatewaySettings:
    temperature: float = 0.0
    timeout_s: float = 300.0
    """Per call (the trial's deadline may cut it shorter)."""
    max_retries: int = 4
    """Retries of rate limits, 5xx answers, dropped connections and malformed bodies."""
    timeout_retries: int = 1
    """Retries of a call that timed out."""
    backoff_s: float = 2.0
    """First wait; it doubles after each failed attempt (with jitter), up to `backoff_max_s`."""
    backoff_max_s: float = 60.0
    api_base: str | None = None
    """An OpenAI-compatible server (vLLM, llama.cpp, ...) for `openai/<name>` models."""
    max_output_tokens: int | None = DEFAULT_MAX_OUTPUT_TOKENS
    """Most tokens one answer may have (None: the provider's default)."""
    role_max_output_tokens: Mapping[str, int] = field(default_factory=dict)
    """Per-role caps (supervisor, coder, debugger, reviewer, judge) over `max_output_tokens`."""
    max_connections: int = 10
    """Calls in flight at once to one model from this process (concurrent trials share them)."""

    def output_cap(self, role: str | None) -> int | None:
        return self.role_max_output_tokens.get(role or "", self.max_output_tokens)


@dataclass(frozen=True)
class Completion:
    text: str
    input_tokens: int
    output_tokens: int
    latency_s: float
    cost_usd: float
    attempts: int
    finish_reason: str = "stop"
    """`length` when the answer was cut at the output cap."""
    max_output_tokens: int | None = None
    """The cap sent with the call."""
    waited_s: float = 0.0
    """Time spent waiting for a call slot, a provider's rate-limit pause or a retry's backoff: not the trial's
    working time (its time limit moves on by as much)."""

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


_import_lock = threading.Lock()


_WARM_UP = [{"role": "user", "content": "."}]


def load_litellm() -> Any:
    """litellm, imported once with the environment it needs offline and its import-time warnings kept out of the
    run (it is imported only when a real provider is used)."""
    with _import_lock:
        if "litellm" not in sys.modules:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            # A provider library's import-time notice (a deprecation, a pydantic remark) is not the run's business:
            # a warning filter set to "error" must not turn it into a failed call. (Filters are process-wide: the
            # plugin imports litellm once, in the main thread, before trials run concurrently.)
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                import litellm

                # litellm imports more modules on its first call (some warn as they load): make that first call
                # here, answered by litellm itself without any network, so no trial's thread pays for it.
                for mock in (".", "litellm.RateLimitError"):
                    with suppress(Exception):
                        litellm.completion(model="openai/warm-up", messages=_WARM_UP, mock_response=mock)
            for warning in seen:
                log.info("litellm import: %s: %s", warning.category.__name__, warning.message)
        import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True  # e.g. OpenAI's o-series accept no temperature: send what the model supports
        return litellm


@contextmanager
def _warnings_logged() -> Iterator[None]:
    """Warnings a provider library raises during a call (litellm imports provider modules lazily, some of which
    warn) are logged, whatever filters the caller set: an "error" filter must not fail the call.

    Warning filters are process-wide and `catch_warnings` is not thread-safe, so this applies in the main thread
    only; threads that run trials concurrently rely on the filter their runner sets around them (the plugin's)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    for warning in seen:
        log.info("during a call: %s: %s", warning.category.__name__, warning.message)


@cache
def _model_info(model: str) -> Mapping[str, Any]:
    """litellm's model map entry of `model` ({} when it does not know the model)."""
    if is_offline(model):
        return {}
    try:
        return dict(load_litellm().get_model_info(model))
    except Exception:  # noqa: BLE001 - litellm raises several types for an unmapped model
        return {}


def max_output_of(model: str) -> int | None:
    """The most tokens `model` can write in one answer, when litellm's model map knows it."""
    value = _model_info(model).get("max_output_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def context_window(model: str) -> int | None:
    """The most input tokens `model` accepts, when litellm's model map knows it."""
    info = _model_info(model)
    value = info.get("max_input_tokens") or info.get("max_tokens")
    return int(value) if isinstance(value, int) and value > 0 else None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float:
    """Cost from litellm's price map, else from the paper's table, else 0 (offline models are free)."""
    if is_offline(model):
        return 0.0
    litellm = load_litellm()
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
_OVERFLOWS = (
    "context length",
    "context window",
    "context size",
    "context_length_exceeded",
    "maximum context",
    "exceed_context_size",
    "too many tokens",
    "prompt is too long",
)


def _error_text(exc: Exception) -> str:
    return " ".join(str(x) for x in (exc, getattr(exc, "body", ""), getattr(exc, "code", ""))).lower()


def _refused(litellm: Any, exc: Exception) -> bool:
    """A content-policy refusal: what the conversation holds, which no retry changes (litellm maps most providers'
    to ContentPolicyViolationError; OpenAI-compatible servers answer 400 with a content-filter code)."""
    if isinstance(exc, litellm.ContentPolicyViolationError):
        return True
    return getattr(exc, "status_code", None) == 400 and any(marker in _error_text(exc) for marker in _REFUSALS)


def _overflowed(litellm: Any, exc: Exception) -> bool:
    """The conversation no longer fits the model's window (litellm maps most providers' wordings; a few
    OpenAI-compatible servers answer a plain 400 that says so)."""
    if isinstance(exc, litellm.ContextWindowExceededError):
        return True
    return getattr(exc, "status_code", None) in (400, 413) and any(m in _error_text(exc) for m in _OVERFLOWS)


def _retry_after(exc: Exception) -> float | None:
    """The provider's `Retry-After` (seconds), when it sent one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or getattr(exc, "headers", None) or {}
    try:
        value = float(headers.get("retry-after") or headers.get("Retry-After") or "")
    except (TypeError, ValueError, AttributeError):
        return None
    return value if 0 <= value < 3600 else None


def _one_line(exc: Exception) -> str:
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return _clean(f"{type(exc).__name__}: {first[:300]}")  # a provider's message may hold lone surrogates


class CallTimedOut(Exception):
    """A call that went on past its timeout (a provider that sends its answer a byte at a time never trips the
    HTTP client's per-read timeout)."""


_GRACE_S = 0.5
"""The HTTP client's own timeout fires first when it can; the watch ends the call this much later."""


def _within(timeout: float, call: Callable[[], Any], limiter: CallLimiter) -> Any:
    """`call()`'s result, or `CallTimedOut` once `timeout` has passed; the caller holds one of `limiter`'s slots,
    which the call gives back when it ends. The call runs in a daemon thread; one that overruns is left behind
    with its slot: the provider still has that connection open, and `max_connections` counts it."""
    outcome: list[Any] = []
    done = threading.Event()
    ended = threading.Lock()  # taken by whichever comes first: the call's end or the watch giving up

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it is
            outcome.append((False, exc))
        finally:
            limiter.release(abandoned=not ended.acquire(blocking=False))
            done.set()

    threading.Thread(target=run, name="hepagent-call", daemon=True).start()
    if not done.wait(timeout + _GRACE_S) and ended.acquire(blocking=False):
        limiter.abandon()  # given up: the call keeps its slot until it ends
        raise CallTimedOut(f"no complete answer within {timeout:.0f} s")
    done.wait()  # ended (or ending just as the watch gave up)
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _text(litellm: Any, response: Any, model: str) -> str:
    """The answer's text, lone surrogates replaced (they cannot be written or sent again as UTF-8). An answer cut
    at the output cap before any visible text (a reasoning model that spent the cap thinking) is an empty one."""
    text = response.choices[0].message.content
    if text is None and _finish_reason(response) == "length":
        return ""
    if not isinstance(text, str):
        raise litellm.APIError(status_code=500, message="response has no text content", llm_provider="", model=model)
    return _clean(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(text: str) -> str:
    """`text` with each lone surrogate (a str holds no other kind) replaced by U+FFFD."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _finish_reason(response: Any) -> str:
    reason = str(getattr(response.choices[0], "finish_reason", "") or "stop")
    return "length" if reason in ("length", "max_tokens") else reason


class _TryAgain(Exception):
    """A failed attempt worth another one after `wait_s` seconds."""

    def __init__(self, error: Exception, wait_s: float) -> None:
        super().__init__(str(error))
        self.error, self.wait_s = error, wait_s


def _exception(state: tenacity.RetryCallState) -> Any:
    assert state.outcome is not None  # tenacity asks for the wait after a failed attempt
    return state.outcome.exception()


@dataclass
class _Call:
    """One call's attempts, for tenacity to repeat: each attempt either answers, raises what ends the call (a final
    error, the trial's deadline, retries spent) or raises `_TryAgain` with the backoff it needs."""

    model: str
    messages: list[Message]
    kwargs: dict[str, Any]
    settings: GatewaySettings
    limiter: CallLimiter
    deadline: float | None
    litellm: Any
    raise_final: Callable[[Any, Exception, str], None]
    attempts: int = 0
    timeouts: int = 0
    waited: float = 0.0
    """Time spent waiting for a slot or a backoff: it moves the trial's deadline on."""

    def attempt(self) -> tuple[Any, str, float]:
        """(response, text, when the call started)."""
        model, settings, deadline = self.model, self.settings, self.deadline
        self.attempts += 1
        timeout = settings.timeout_s
        if deadline is not None:
            left = deadline + self.waited - time.monotonic()
            if left <= 0:
                raise LimitReached("time", f"{model}: the trial's time limit was reached before this call")
            # whole seconds: litellm keys its cached HTTP client on the timeout, a new one per value
            timeout = min(timeout, float(math.ceil(left)))
        queued = time.monotonic()
        try:
            self.limiter.acquire()
            call_start = time.monotonic()
            self.waited += call_start - queued
            with _warnings_logged():
                call = partial(self.litellm.completion, model=model, messages=self.messages, **self.kwargs)
                response = _within(timeout, partial(call, timeout=timeout), self.limiter)
            text = _text(self.litellm, response, model)
        except ProviderStalled as exc:
            raise InfrastructureError(f"{model}: {exc}") from exc
        except Exception as exc:
            raise self._verdict(exc, timeout) from exc
        self.limiter.succeeded()
        return response, text, call_start

    def _verdict(self, exc: Exception, timeout: float) -> Exception:
        """What a failed attempt becomes: a final error, or `_TryAgain` with its backoff."""
        litellm, model, settings = self.litellm, self.model, self.settings
        self.raise_final(litellm, exc, model)
        if isinstance(exc, (litellm.Timeout, CallTimedOut)):
            if self.deadline is not None and time.monotonic() >= self.deadline + self.waited - 0.05:
                return LimitReached("time", f"{model}: the trial's time limit was reached during a call")
            self.timeouts += 1
            if self.timeouts > settings.timeout_retries:
                return InfrastructureError(
                    f"{model}: call timed out {self.timeouts} times (after {timeout:.0f} s each), not retried "
                    f"again: {_one_line(exc)}"
                )
        elif not _retryable(litellm, exc) or self.attempts - self.timeouts > settings.max_retries:
            why = "not retryable" if not _retryable(litellm, exc) else "retries exhausted"
            return InfrastructureError(
                f"{model}: call failed after {self.attempts} attempt(s), {why}: {_one_line(exc)}"
            )
        wait = min(settings.backoff_max_s, settings.backoff_s * 2 ** (self.attempts - 1))
        wait *= random.uniform(0.5, 1.0)
        if isinstance(exc, litellm.RateLimitError) or getattr(exc, "status_code", None) == 429:
            wait = max(wait, min(settings.backoff_max_s, _retry_after(exc) or 0.0))
            self.limiter.rate_limited(wait)
        return _TryAgain(exc, wait)

    def before_sleep(self, state: tenacity.RetryCallState) -> None:
        again = _exception(state)
        log.warning("%s: %s; retrying in %.2f s", self.model, _one_line(again.error), again.wait_s)
        self.waited += again.wait_s


class Gateway:
    """Completes chat messages with any model; see the module docstring."""

    def __init__(self, settings: GatewaySettings | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings or GatewaySettings()
        self._sleep = sleep

    def output_cap(self, model: str, role: str | None) -> int | None:
        """The `max_tokens` a call of `role` to `model` is sent with: the role's cap, never above the model's."""
        cap = self.settings.output_cap(role)
        most = max_output_of(model)
        return min(cap, most) if cap is not None and most is not None else cap

    def complete(
        self,
        model: str,
        messages: Sequence[Message],
        metadata: Mapping[str, Any] | None = None,
        api_base: str | None = None,
        *,
        role: str | None = None,
        deadline: float | None = None,
    ) -> Completion:
        """One answer of `model`. `role` picks the output cap; `deadline` (a `time.monotonic()` value) is when the
        trial's time is up: the call is cut there and raises `LimitReached`."""
        if is_offline(model):
            return self._complete_offline(model, messages, metadata or {}, deadline)
        litellm = load_litellm()
        settings = self.settings
        cap = self.output_cap(model, role)
        kwargs: dict[str, Any] = {
            "temperature": settings.temperature,
            "num_retries": 0,
            "metadata": dict(metadata or {}),
        }
        if cap is not None:
            kwargs["max_tokens"] = cap  # litellm sends max_completion_tokens where the provider wants that
        base = api_base or settings.api_base
        if base:
            kwargs["api_base"] = base
            kwargs.setdefault("api_key", os.environ.get("OPENAI_API_KEY", "not-needed"))
        import tenacity  # with litellm, only for live models

        limiter = limiter_for(model, base, settings.max_connections)
        call = _Call(model, list(messages), kwargs, settings, limiter, deadline, litellm, self._raise_final)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_TryAgain),
            wait=lambda state: _exception(state).wait_s,
            sleep=self._sleep,
            before_sleep=call.before_sleep,
            reraise=True,
        )
        start = time.monotonic()
        response, text, call_start = retrying(call.attempt)
        attempts, waited = call.attempts, call.waited
        usage = getattr(response, "usage", None)
        input_tokens = _count(getattr(usage, "prompt_tokens", 0))
        output_tokens = _count(getattr(usage, "completion_tokens", 0))
        # The provider's counts are believed when they can be true: counted here when missing, negative, or (for
        # the answer) above the cap it was sent with.
        if input_tokens <= 0:
            input_tokens = int(litellm.token_counter(model=model, messages=list(messages)))
        if output_tokens <= 0 or (cap is not None and output_tokens > cap):
            output_tokens = int(litellm.token_counter(model=model, text=text)) if text else 0
        latency = time.monotonic() - call_start
        finish = _finish_reason(response)
        log.debug(
            "%s: %d in, %d out (%s), %.2f s (%.2f s with retries)",
            model,
            input_tokens,
            output_tokens,
            finish,
            latency,
            time.monotonic() - start,
        )
        cost = cost_usd(model, input_tokens, output_tokens)
        return Completion(text, input_tokens, output_tokens, latency, cost, attempts, finish, cap, waited)

    @staticmethod
    def _raise_final(litellm: Any, exc: Exception, model: str) -> None:
        """Errors about what the conversation holds end it: no retry changes them."""
        if _refused(litellm, exc):
            raise ProviderRefused(f"{model}: the provider refused the conversation: {_one_line(exc)}") from exc
        if _overflowed(litellm, exc):
            raise ContextWindowExceeded(
                f"{model}: the conversation no longer fits the model's context window: {_one_line(exc)}"
            ) from exc
        if getattr(exc, "status_code", None) == 400:
            raise ProviderRefused(f"{model}: the provider rejected the conversation: {_one_line(exc)}") from exc

    def _complete_offline(
        self, model: str, messages: Sequence[Message], metadata: Mapping[str, Any], deadline: float | None
    ) -> Completion:
        from pytest_hepagent.llm.offline import OfflineError, ReplayDiverged, answer

        start = time.monotonic()
        context = dict(metadata.get("hepagent") or {})
        if deadline is not None:
            context["deadline"] = deadline
        try:
            text, input_tokens, output_tokens, finish_reason = answer(model, messages, context)
            text = _clean(text)
        except ReplayDiverged as exc:
            raise ConversationEnded(f"{model}: the replay diverged: {exc}") from exc
        except LimitReached:
            raise
        except (OfflineError, HepAgentError, OSError) as exc:  # e.g. a missing or unreadable cassette: no retry helps
            raise InfrastructureError(
                f"{model}: call failed after 1 attempt(s), not retryable: {_one_line(exc)}"
            ) from exc
        return Completion(text, input_tokens, output_tokens, time.monotonic() - start, 0.0, 1, finish_reason)
