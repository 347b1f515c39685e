"""Installed inside the sandbox as `sitecustomize.py`: reports the exception that ends the code, as data.

Python imports `sitecustomize` at start-up; the sandbox puts this file first on the path. In the process the
harness started (the one given `HEPAGENT_EXCEPTION_FD`, which it removes from the environment so that children do
not inherit the role), it wraps `sys.excepthook`: when an exception reaches the top level, the interpreter calls
the hook, which writes one JSON line (type, message, frames) to that descriptor and then prints the usual
traceback. The rules classify a failure by this record only, so a traceback that the code merely prints is text,
never a cause.

Standalone on purpose (standard library only): the project cannot be imported inside the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from types import TracebackType
from typing import Any

__all__ = ["ENV_VAR", "MAX_FRAMES", "MAX_MESSAGE", "exception_record", "install"]

ENV_VAR = "HEPAGENT_EXCEPTION_FD"
MAX_FRAMES = 40
MAX_MESSAGE = 4000


def _type_name(kind: type[BaseException]) -> str:
    module = kind.__module__
    return kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"


def exception_record(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> dict[str, Any]:
    """The JSON-able record of an uncaught exception: what `traceback` would print, as fields."""
    try:
        message = str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not stop the report
        message = "<unprintable message>"
    frames = traceback.extract_tb(tb)[-MAX_FRAMES:]
    return {
        "type": _type_name(kind),
        "message": message[:MAX_MESSAGE],
        "frames": [
            {"file": f.filename, "line": f.lineno or 0, "function": f.name, "source": (f.line or "")[:300]}
            for f in frames
        ],
    }


def install() -> None:
    """Wrap `sys.excepthook` in this process if the harness asked for a report (see the module docstring)."""
    fd_text = os.environ.pop(ENV_VAR, None)
    if fd_text is None or not fd_text.isdigit():
        return
    fd, pid, original = int(fd_text), os.getpid(), sys.excepthook
    try:
        os.set_inheritable(fd, False)  # subprocesses do not get it; forked children are told apart by their pid
    except OSError:
        return

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if os.getpid() == pid:
            with contextlib.suppress(OSError, ValueError, TypeError):
                os.write(fd, (json.dumps(exception_record(kind, value, tb)) + "\n").encode())
        original(kind, value, tb)

    sys.excepthook = hook


if __name__ == "sitecustomize":  # imported by the interpreter inside the sandbox, not by the harness
    install()
