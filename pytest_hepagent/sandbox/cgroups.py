"""Per-execution cgroups (v1 `pids` and `memory` controllers, or v2) where the machine lets a root harness write them.

A cgroup caps the memory of all the execution's processes together (the rlimits cap each process), caps their
number, tells afterwards whether a fork was refused, and lists every process of an unconfined execution so all of
them can be killed. Inside the sandbox the code cannot reach it: there is no /sys.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cgroup", "cgroup_owner", "cgroup_parents", "create_cgroup", "is_foreign", "sweep_stale_cgroups"]

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class Cgroup:
    folders: tuple[Path, ...]

    def add(self, *pids: int) -> None:
        """Move these processes in (their future children are born in it)."""
        for f in self.folders:
            for pid in pids:
                with contextlib.suppress(OSError):  # a process that already ended
                    (f / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.folders:
            with contextlib.suppress(OSError):
                found |= {int(x) for x in (f / "cgroup.procs").read_text().split()}
        return found

    def hit_process_limit(self) -> bool:
        """Whether a fork was refused because the process cap was reached."""
        for f in self.folders:
            with contextlib.suppress(OSError, ValueError):
                events = dict(line.split() for line in (f / "pids.events").read_text().splitlines())
                if int(events.get("max", 0)) > 0:
                    return True
        return False

    def kill_all(self, timeout_s: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (new ones may appear while killing)."""
        deadline = time.monotonic() + timeout_s
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                self._kill(pid)
            time.sleep(0.01)

    def _kill(self, pid: int) -> None:
        """SIGKILL `pid` if it is still in this cgroup: a pidfd pins the process, so a pid that ended and was given
        to another process between the listing and the signal is not hit."""
        try:
            fd = os.pidfd_open(pid)
        except OSError as exc:
            if exc.errno == errno.ENOSYS:  # a kernel without pidfds: a plain kill, the listing is microseconds old
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            return  # otherwise it ended already
        try:
            if pid in self.pids():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    signal.pidfd_send_signal(fd, signal.SIGKILL)
        finally:
            os.close(fd)

    def remove(self) -> None:
        self.kill_all()
        for f in self.folders:
            for _ in range(50):
                try:
                    f.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.02)


def _v1(name: str, processes: int, memory_bytes: int) -> Cgroup | None:
    pids, memory = ROOT / "pids", ROOT / "memory"
    if not (pids / "cgroup.procs").is_file():
        return None
    folders = []
    try:
        folder = pids / "hepagent" / name
        folder.mkdir(parents=True)
        folders.append(folder)
        (folder / "pids.max").write_text(str(processes))
        if (memory / "cgroup.procs").is_file():
            mem = memory / "hepagent" / name
            mem.mkdir(parents=True)
            folders.append(mem)
            (mem / "memory.limit_in_bytes").write_text(str(memory_bytes))
    except OSError as exc:
        log.debug("cgroup v1 not usable: %s", exc)
        Cgroup(tuple(folders)).remove()
        return None
    return Cgroup(tuple(folders))


def _v2(name: str, processes: int, memory_bytes: int) -> Cgroup | None:
    if not (ROOT / "cgroup.controllers").is_file():
        return None
    folder = ROOT / "hepagent" / name
    try:
        folder.mkdir(parents=True)
        (folder / "pids.max").write_text(str(processes))
        (folder / "memory.max").write_text(str(memory_bytes))
    except OSError as exc:
        log.debug("cgroup v2 not usable: %s", exc)
        Cgroup((folder,)).remove() if folder.exists() else None
        return None
    return Cgroup((folder,))


def cgroup_parents() -> tuple[Path, ...]:
    """The folders that hold the harnesses' cgroups (v1: one per controller; v2: one)."""
    return (ROOT / "pids" / "hepagent", ROOT / "memory" / "hepagent", ROOT / "hepagent")


def cgroup_owner(name: str) -> int | None:
    """The pid of the harness that made cgroup `name` (`<pid>-<random>`); None for a name of another form."""
    pid = name.partition("-")[0]
    return int(pid) if pid.isdigit() and "-" in name else None


def _running(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def is_foreign(name: str) -> bool:
    """Cgroup `name` belongs to another harness that still runs (its trials are none of this process's business)."""
    owner = cgroup_owner(name)
    return owner is not None and owner != os.getpid() and _running(owner)


def sweep_stale_cgroups() -> list[Path]:
    """Kill what is left in the cgroups of harnesses that no longer run (killed with SIGKILL, they could not clean
    up: their sandboxed code may still be running), and remove those cgroups; remove empty ones of unknown owner.
    Returns the folders removed."""
    removed = []
    for parent in cgroup_parents():
        with contextlib.suppress(OSError):
            for folder in parent.iterdir():
                owner = cgroup_owner(folder.name)
                if not folder.is_dir() or (owner is not None and _running(owner)):
                    continue
                if owner is not None:
                    Cgroup((folder,)).remove()
                else:  # not named by this version: only an empty one is surely nobody's
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                if not folder.exists():
                    removed.append(folder)
    if removed:
        log.info("removed %d cgroup(s) left by harnesses that were killed", len(removed))
    return removed


def create_cgroup(processes: int, memory_bytes: int) -> Cgroup | None:
    """A fresh cgroup with these caps, or None where cgroups cannot be written. Named after this process, so that a
    later harness can tell the cgroups of a killed one: each call first sweeps those (a listing, when there are none).
    """
    sweep_stale_cgroups()
    name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    return _v1(name, processes, memory_bytes) or _v2(name, processes, memory_bytes)
