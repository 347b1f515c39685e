"""Token counts for offline models: tiktoken's `o200k_base` (gpt-4o), without importing litellm.

The encoding is read from the copy litellm ships (found without importing litellm), so it works offline. Chat
messages cost their role and content plus 3 tokens each, and 3 for the reply's priming (OpenAI's recipe, which
litellm follows). litellm's own counter agrees on short texts; on longer ones its Rust codec drifts from tiktoken
by a token or so per thousand.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["count_message_tokens", "count_text_tokens"]

_TOKENS_PER_MESSAGE = 3
_REPLY_PRIMING = 3


@cache
def _encoding() -> Any:
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.origin and "TIKTOKEN_CACHE_DIR" not in os.environ:
        bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
        if bundled.is_dir():
            os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)
    import tiktoken

    return tiktoken.get_encoding("o200k_base")


def count_text_tokens(text: str) -> int:
    return len(_encoding().encode(text, disallowed_special=()))


def count_message_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    total = _REPLY_PRIMING
    for message in messages:
        total += _TOKENS_PER_MESSAGE + sum(count_text_tokens(str(v)) for v in message.values())
    return total
