"""Getting the script out of a coder's answer."""

from __future__ import annotations

import re

__all__ = ["extract_code"]

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def extract_code(response: str) -> str:
    """The longest fenced code block (```python ... ```), or the whole answer if it has no fence; may be ''."""
    blocks = _FENCE.findall(response)
    if blocks:
        return str(max(blocks, key=len)).strip() + "\n"
    return response.strip() + "\n" if response.strip() else ""
