"""Errors a user can act on: each message is one line that names the file or option and the fix."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "ConfigError",
    "ContextWindowExceeded",
    "ConversationEnded",
    "DataError",
    "GoldenError",
    "HepAgentError",
    "InfrastructureError",
    "LimitReached",
    "SpecError",
    "did_you_mean",
]


class HepAgentError(Exception):
    """Base class of every error the harness raises on purpose."""


class ConfigError(HepAgentError):
    """A bad option or combination of the benchmark's settings; the plugin turns it into a pytest.UsageError."""


class DataError(HepAgentError):
    """An input ROOT file or data folder cannot be used as it is."""


class SpecError(HepAgentError):
    """A task spec file is invalid."""


class GoldenError(HepAgentError):
    """Golden outputs are missing or do not match their manifest."""


class InfrastructureError(HepAgentError):
    """The harness could not run a trial (API down, retries exhausted, sandbox failure): never a model failure."""


class ConversationEnded(HepAgentError):
    """The conversation cannot go on because of what it holds: a provider refused it (content policy), or a replayed
    trajectory no longer matches what the code did. Once code has run, the trial ends there and its outputs are
    judged as they are: what the code printed must not turn its failure into an infrastructure error."""


class LimitReached(HepAgentError):
    """A per-trial limit ended the trial: its tokens, its cost, its wall time, or the model's context window filled
    by the conversation. The agent used up what it was given: a model failure (category `other`, the limit named),
    never an infrastructure error."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        """tokens, cost, time or context."""


class ProviderRefused(ConversationEnded):
    """The provider refused the conversation (a content policy, a 400 about what it holds). Once the model has
    answered, the conversation holds its text: a model failure, like a conversation that outgrew the window."""


class ContextWindowExceeded(ProviderRefused):
    """The provider says the conversation no longer fits the model's context window."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean X?)' for the closest candidate, or '' when none is close."""
    import difflib  # only on an error

    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
