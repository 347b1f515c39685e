"""Linux confinement of generated code, run in the child between fork and exec.

What the child gets, where the OS allows it (`probe()` tells which level this machine reaches):

- `namespaces` (root, or a user allowed to create user namespaces): a new network namespace (no interface is up,
  so every connection fails, loopback included); a private mount namespace in which every mount is read-only
  except the trial folder, the trial's inputs (`data/`, `solution/`) and code are read-only too, and the folders
  that hold golden outputs and the harness's caches are covered by empty inaccessible tmpfs mounts; then every
  capability is dropped (bounding set, ambient set, no_new_privs, root treated as an ordinary uid), so the code can
  neither undo those mounts nor override file permissions.
- `none` (no namespaces): the inputs are made read-only with file modes and the network is not cut; the runner
  records this level with every execution.

Resource limits (address space, CPU time, file size, open files, core dumps, processes) are set with setrlimit in
both cases; `cgroups.py` adds a process-count and memory cap where cgroups are writable.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ConfinePlan", "Limits", "confine", "probe"]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 0x20, 0x400, 0x800, 0x1000
MS_REC, MS_PRIVATE, MS_RELATIME, MS_STRICTATIME = 0x4000, 0x40000, 0x200000, 0x1000000
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 28, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED = 0x1, 0x2
_CAPSET = {"x86_64": 126, "aarch64": 91}
_MOUNT_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "relatime": MS_RELATIME,
    "strictatime": MS_STRICTATIME,
}
_VIRTUAL = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one execution."""

    wall_time_s: float = 600.0
    cpu_time_s: float = 1200.0
    memory_bytes: int = 6 << 30
    """Address-space limit (RLIMIT_AS) and, with cgroups, the memory cap."""
    file_bytes: int = 1 << 30
    """Largest file the code may write (RLIMIT_FSIZE)."""
    disk_bytes: int = 4 << 30
    """Most the trial folder may grow during one execution (checked while the code runs)."""
    processes: int = 64
    open_files: int = 1024
    output_bytes: int = 1 << 20
    """stdout and stderr are each kept up to this size (head and tail); the rest is counted and dropped."""


@dataclass(frozen=True)
class ConfinePlan:
    """What `confine` does in the child; built by the runner, executed after fork."""

    level: str
    """`namespaces` or `none`."""
    writable: str
    """The trial folder: the only writable place."""
    readonly: tuple[str, ...] = ()
    """Folders inside the trial folder that stay read-only (inputs, code)."""
    hidden: tuple[str, ...] = ()
    """Folders covered by an empty tmpfs (goldens, caches, other trials); the trial folder is re-attached at its
    own path if it lies inside one."""
    limits: Limits = field(default_factory=Limits)
    cgroup_procs: tuple[str, ...] = ()
    """`cgroup.procs` files the child joins before confining itself."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # the interpreter's own libc: no library search, no subprocess


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(
    libc: ctypes.CDLL, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    enc = [None if x is None else x.encode() for x in (source, target, fstype, data)]
    _check(libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) of every mount, shallowest first."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point = fields[4].replace("\\040", " ")
        flags = 0
        for option in fields[5].split(","):
            flags |= _MOUNT_OPTIONS.get(option, 0)
        out.append((point, flags))
    return sorted(out, key=lambda m: m[0].count("/"))


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _enter_namespaces(libc: ctypes.CDLL) -> None:
    if os.geteuid() == 0:
        _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
        return
    uid, gid = os.geteuid(), os.getegid()
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET), "unshare")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"0 {uid} 1")
    _write("/proc/self/gid_map", f"0 {gid} 1")


def _confine_mounts(libc: ctypes.CDLL, plan: ConfinePlan) -> None:
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    trial = os.open(plan.writable, os.O_PATH | os.O_DIRECTORY)  # reachable even once its parents are covered
    for point, flags in _mounts():
        if any(_inside(point, v) for v in _VIRTUAL):
            continue
        try:
            _mount(libc, None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            if point == "/":
                raise
    for path in plan.hidden:
        if Path(path).is_dir():
            # An ancestor of the trial folder stays traversable (its other contents are gone); others are closed.
            mode = "711" if _inside(plan.writable, path) else "000"
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size=64k,mode={mode}")
    Path(plan.writable).mkdir(parents=True, exist_ok=True)  # inside a covering tmpfs, the trial folder is made anew
    _mount(libc, f"/proc/self/fd/{trial}", plan.writable, None, MS_BIND | MS_REC)
    _mount(libc, None, plan.writable, None, MS_REMOUNT | MS_BIND)
    os.close(trial)
    for path in plan.readonly:
        _mount(libc, path, path, None, MS_BIND | MS_REC)
        _mount(libc, None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    libc.prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0)
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice: all empty
    number = _CAPSET.get(platform.machine())
    if number is not None:
        _check(libc.syscall(number, header, data), "capset")


def _set_limits(limits: Limits) -> None:
    cpu = max(1, int(limits.cpu_time_s))
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, limits.processes),
    ):
        resource.setrlimit(kind, (value, value))


def confine(plan: ConfinePlan) -> None:
    """Confine the calling process as `plan` says (call it in the child, before exec)."""
    for procs in plan.cgroup_procs:
        _write(procs, str(os.getpid()))
    if plan.level == "namespaces":
        libc = _libc()
        _enter_namespaces(libc)
        _confine_mounts(libc, plan)
        os.chdir(plan.writable)  # the working directory was entered before the mounts: re-enter it through them
        _set_limits(plan.limits)  # before dropping capabilities: raising hard limits needs none, lowering neither
        _drop_capabilities(libc)
    else:
        _set_limits(plan.limits)


def probe() -> str:
    """The confinement level this machine allows: try it in a throwaway launcher and see whether it works."""
    import subprocess
    import sys
    import tempfile

    from pytest_hepagent.sandbox.confine import plan_to_json

    if platform.system() != "Linux":
        return "none"
    with tempfile.TemporaryDirectory() as folder:
        plan = plan_to_json(ConfinePlan("namespaces", writable=folder))
        command = [sys.executable, "-m", "pytest_hepagent.sandbox.confine", plan, "--", "/bin/sh", "-c", "true"]
        done = subprocess.run(command, capture_output=True, check=False, timeout=60)
    return "namespaces" if done.returncode == 0 else "none"
