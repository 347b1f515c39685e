"""Resource limits of one execution of generated code."""

from __future__ import annotations

import resource
from dataclasses import dataclass

__all__ = ["Limits"]


@dataclass(frozen=True)
class Limits:
    """What one execution may use. The sandbox sets the rlimits before the code starts; the runner enforces the
    wall time and the disk use while it runs."""

    wall_time_s: float = 600.0
    cpu_time_s: float = 1200.0
    memory_bytes: int = 6 << 30
    """Address-space limit (RLIMIT_AS) per process and, where cgroups can be written, the memory cap of them all."""
    file_bytes: int = 1 << 30
    """Largest file the code may write (RLIMIT_FSIZE)."""
    disk_bytes: int = 4 << 30
    """Most the trial folder may grow during one execution (checked while the code runs)."""
    processes: int = 64
    """Processes and threads (RLIMIT_NPROC for the sandbox's uid, and the cgroup's pids cap where there is one)."""
    open_files: int = 1024
    output_bytes: int = 1 << 20
    """stdout and stderr are each kept up to this size (head and tail); the rest is counted and dropped."""
    tmp_bytes: int = 256 << 20
    """Size of the sandbox's own /tmp and /dev/shm (memory-backed, gone when the execution ends)."""
    files: int = 100_000
    """Most files and folders the trial folder may hold (checked with the disk use)."""

    def rlimits(self) -> dict[str, int]:
        """`prlimit` options: the limits every process of the execution inherits, each no higher than the harness's
        own hard limit (a batch system's, or a test runner's): a process cannot raise it, and prlimit would refuse."""
        wanted = {
            "as": self.memory_bytes,
            "cpu": max(1, int(self.cpu_time_s)),
            "fsize": self.file_bytes,
            "nofile": self.open_files,
            "core": 0,
            "nproc": self.processes,
        }
        return {name: _within_hard_limit(name, value) for name, value in wanted.items()}


_RESOURCES = {
    "as": resource.RLIMIT_AS,
    "cpu": resource.RLIMIT_CPU,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "core": resource.RLIMIT_CORE,
    "nproc": resource.RLIMIT_NPROC,
}


def _within_hard_limit(name: str, value: int) -> int:
    hard = resource.getrlimit(_RESOURCES[name])[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)
