"""Running the benchmark in a child process and killing it mid-way, as a crash or a cancelled CI job would."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def kill_when_recorded(command: Sequence[str], cwd: Path, reports: Path, records: int, after_s: float = 1.0) -> Path:
    """Start `command` (a pytest run writing into `reports`) in a session of its own, kill the whole session
    `after_s` seconds after its results hold `records` lines, and return the run's folder."""
    proc = subprocess.Popen(
        list(command), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(reports.glob("*/results.jsonl")) if reports.exists() else []
        if found and found[0].read_text().count("\n") >= records:
            break
        time.sleep(0.2)
    time.sleep(after_s)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (run_dir,) = reports.iterdir()
    return run_dir
