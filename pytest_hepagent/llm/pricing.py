"""Prices per million tokens (USD) for models litellm's price map lacks: the paper's appendix C, October 2025."""

from __future__ import annotations

__all__ = ["PAPER_PRICES", "override_price"]

# (input, output) USD per 1M tokens, keyed by the model name without provider prefix; dated variants match by prefix.
PAPER_PRICES: dict[str, tuple[float, float]] = {
    "claude-3-5-haiku": (0.80, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-sonnet-4-5": (3.00, 15.00),
    "deepseek-r1": (0.28, 0.42),
    "gpt-5-codex": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5": (1.25, 10.00),
    "gpt-oss-120b": (0.00, 0.00),
    "gemini-2.0-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
    "grok-code-fast-1": (0.20, 1.50),
    "grok-3-mini": (0.30, 0.50),
    "grok-3": (3.00, 15.00),
    "llama-4-maverick": (0.50, 2.00),
    "llama-4-scout": (0.30, 1.00),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.00),
    "qwen3-235b": (0.50, 2.00),
    "qwen-3": (0.50, 2.00),
}


def override_price(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens from the shipped table, matching the longest name prefix."""
    name = model.lower().rsplit("/", 1)[-1]
    matches = [key for key in PAPER_PRICES if name == key or name.startswith((key + "-", key + "@"))]
    return PAPER_PRICES[max(matches, key=len)] if matches else None
