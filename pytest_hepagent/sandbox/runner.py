"""Run generated code confined, with limits, a scrubbed environment and bounded output capture."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.sandbox.cgroups import Cgroup, create_cgroup
from pytest_hepagent.sandbox.confine import plan_to_json
from pytest_hepagent.sandbox.isolation import ConfinePlan, Limits, probe

__all__ = ["DEFAULT_LIMITS", "ExecutionResult", "isolation_level", "run_confined"]

# Variables generated code may see; everything else (API keys, tokens, credentials) is dropped.
_PASSED_THROUGH = (
    "LANG",
    "LC_ALL",
    "TZ",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "TABPFN_MODEL_CACHE_DIR",
    "HEPAGENT_TABPFN_MODEL",
)
_POLL_S = 0.05
_DISK_CHECK_S = 0.5


@dataclass(frozen=True)
class ExecutionResult:
    command: tuple[str, ...]
    exit_code: int | None
    """The process's exit status; negative for a signal; None if it never started."""
    stdout: str
    stderr: str
    stdout_bytes: int
    """Bytes the code wrote to stdout (only `Limits.output_bytes` of them are kept)."""
    stderr_bytes: int
    duration_s: float
    reason: str
    """Empty when the code ran to a zero exit; otherwise why it failed, in one line."""
    isolation: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Capture(threading.Thread):
    """Drain a pipe, keeping its first and last `limit / 2` bytes and counting the rest."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__(daemon=True)
        self.stream, self.half = stream, max(1, limit // 2)
        self.head = bytearray()
        self.tail: deque[bytes] = deque()
        self.tail_size = 0
        self.total = 0

    def run(self) -> None:
        while block := self.stream.read(65536):
            self.total += len(block)
            room = self.half - len(self.head)
            if room > 0:
                self.head += block[:room]
                block = block[room:]
            if block:
                self.tail.append(block)
                self.tail_size += len(block)
                while self.tail_size - len(self.tail[0]) >= self.half:
                    self.tail_size -= len(self.tail.popleft())

    def text(self) -> str:
        tail = b"".join(self.tail)[-self.half :]
        dropped = self.total - len(self.head) - len(tail)
        middle = f"\n[... {dropped} bytes of output dropped ...]\n".encode() if dropped > 0 else b""
        return (bytes(self.head) + middle + tail).decode("utf-8", errors="replace")


@cache
def isolation_level() -> str:
    """`namespaces` where this machine lets the sandbox confine code, else `none` (probed once per process)."""
    return probe()


def _threads() -> int:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _environment(trial: Path, extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(trial),
        "TMPDIR": str(trial / "tmp"),
        "PYTHONPATH": str(trial),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        # Parallel trials share the cores: oversubscribed, spinning OpenMP threads of concurrent trials slow each
        # other by orders of magnitude (seen: 4 s -> 425 s), so each trial gets its share of the cores, and idle
        # threads sleep instead of spinning when anything else on the machine competes (seen: 4 s -> 139 s).
        "OMP_NUM_THREADS": str(_threads()),
        "OMP_WAIT_POLICY": "PASSIVE",
        "OPENBLAS_NUM_THREADS": str(_threads()),
    }
    return env | dict(extra)


def _disk_usage(folder: Path, skip: Sequence[Path]) -> int:
    total = 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if Path(root, d) not in skip]
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_blocks * 512
    return total


def _kill(proc: subprocess.Popen[bytes], cgroup: Cgroup | None) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if cgroup is not None:
        cgroup.kill_all()


DEFAULT_LIMITS = Limits()


def run_confined(
    trial: Path,
    argv: Sequence[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    readonly: Sequence[Path] = (),
    hidden: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
) -> ExecutionResult:
    """Run `argv` in the trial folder under `limits`, with `readonly` inputs and `hidden` folders out of reach."""
    trial = Path(trial).resolve()
    (trial / "tmp").mkdir(exist_ok=True)
    if not Path(argv[0]).is_absolute():
        raise InfrastructureError(f"sandbox: the command must start with an absolute path, got {argv[0]!r}")
    level = isolation_level()
    cgroup = create_cgroup(limits.processes, limits.memory_bytes)
    if level == "none":
        for folder in readonly:  # the best this level can do: file modes
            for path in [folder, *folder.rglob("*")]:
                path.chmod(0o555 if path.is_dir() else 0o444)
    plan = ConfinePlan(
        level,
        str(trial),
        tuple(str(p) for p in readonly),
        tuple(str(p) for p in hidden),
        limits,
        cgroup.procs_files if cgroup else (),
    )
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_hepagent.sandbox.confine", plan_to_json(plan), "--", *argv],
            cwd=trial,
            env=_environment(trial, env or {}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        if cgroup is not None:
            cgroup.remove()
        raise InfrastructureError(f"sandbox could not start {argv[0]}: {exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Capture(proc.stdout, limits.output_bytes), _Capture(proc.stderr, limits.output_bytes)
    out.start()
    err.start()
    reason, next_disk_check = "", start
    while proc.poll() is None:
        now = time.monotonic()
        if now - start > limits.wall_time_s:
            reason = f"timed out after {limits.wall_time_s:g} s (wall time); the process group was killed"
        elif now >= next_disk_check:
            next_disk_check = now + _DISK_CHECK_S
            if _disk_usage(trial, readonly) > limits.disk_bytes:
                reason = f"wrote more than {limits.disk_bytes} bytes into the trial folder; killed"
        if reason:
            _kill(proc, cgroup)
            break
        time.sleep(_POLL_S)
    proc.wait()
    _kill(proc, cgroup)  # whatever the code left behind dies with it
    if cgroup is not None:
        if cgroup.hit_process_limit():
            reason = reason or "hit the process limit"
            reason += f" (the cap of {limits.processes} processes refused forks)"
        cgroup.remove()
    out.join(5)
    err.join(5)
    proc.stdout.close()
    proc.stderr.close()
    duration = time.monotonic() - start
    code = proc.returncode
    if code == 125 and err.text().startswith("hepagent sandbox: confinement failed"):
        raise InfrastructureError(err.text().strip().splitlines()[0])
    if not reason and code is not None and code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": " (memory or process limit?)", "SIGXCPU": " (CPU time limit)"}.get(name, "")
        reason = f"killed by {name}{hint}"
    elif not reason and code:
        last = next((line for line in reversed(err.text().splitlines()) if line.strip()), "")
        reason = f"exit code {code}" + (f": {last.strip()[:200]}" if last else "")
    return ExecutionResult(tuple(argv), code, out.text(), err.text(), out.total, err.total, duration, reason, level)
