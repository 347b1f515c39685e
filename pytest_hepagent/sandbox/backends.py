"""Sandbox backends: how one execution of generated code is started. The runner owns everything else.

- `bwrap` (the default on Linux): bubblewrap, the sandbox under Flatpak. New PID, mount, network, IPC, UTS and
  cgroup namespaces, `--new-session`, `--die-with-parent`, no capabilities, a fresh `/proc`, a minimal `/dev`, no
  `/sys`, a read-only root holding only the runtime view (`view.py`), the trial's work folder at `/trial` and a
  private `/tmp`, and a seccomp filter (no new user namespaces, no kernel keyring, no perf, bpf, userfaultfd or io_uring). Run by an ordinary user, bwrap also enters a user namespace and the code keeps that user's
  uid. Run by root, bwrap sets the namespaces up as root (so it can read a Python installed under `/root`), and
  the code is switched to an unprivileged uid of its own (`setpriv`) before it starts: root is exempt from the
  process limit, and a uid per trial keeps concurrent trials' process counts apart. `--json-status-fd` is the
  side channel: bwrap reports the code's exit status there only if it started the code, so a setup failure is
  told apart from anything the code prints or returns.
- `none`: no confinement, only the resource limits; only when asked for, with a warning, and recorded.

A container backend (Docker, Podman, Apptainer) for machines without user namespaces would be another subclass.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

from pytest_hepagent.errors import HepAgentError
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.sandbox.view import RuntimeView, runtime_view

__all__ = [
    "DEFAULT_SANDBOX",
    "SANDBOXES",
    "BwrapSandbox",
    "Job",
    "Sandbox",
    "SandboxUnavailable",
    "UnconfinedSandbox",
    "get_sandbox",
    "seccomp_program",
]

SANDBOXES = ("bwrap", "none")
DEFAULT_SANDBOX = "bwrap"
SUPPORT_INSIDE = "/opt/hepagent"
"""Where the harness's support files (the exception hook as `sitecustomize.py`) appear inside."""
WORK_INSIDE = "/trial"
TRIAL_UIDS = (2_000_000_000, 1_000_000)
"""Run by root, each trial's code runs as a uid drawn from [start, start + count): unused by any account."""


class SandboxUnavailable(HepAgentError):
    """The chosen sandbox cannot run on this machine; the message says why and what to do."""


@dataclass(frozen=True)
class Job:
    """One execution: what to run, in which work folder, with which parts read-only."""

    work: Path
    """The trial's work folder on the host (the only writable place the code gets)."""
    argv: tuple[str, ...]
    """The command; relative paths are relative to the work folder."""
    readonly: tuple[str, ...]
    """Entries of the work folder (inputs, the code, the helpers) that stay read-only."""
    support: Path
    """The harness's support folder (read-only inside)."""
    limits: Limits
    env: Mapping[str, str]
    """The environment (built by the runner for the work folder's path inside)."""
    uid: int | None = None
    """The uid the code runs as when the harness is root (the owner of the work folder's writable parts)."""
    extra_readonly: tuple[Path, ...] = ()
    """Host paths the code may read at their own path (e.g. TabPFN weights)."""
    status_fd: int | None = None
    block_fd: int | None = None
    pass_data: Callable[[bytes], int] | None = None
    """Hands `data` to the launcher as a descriptor (a memory file the runner passes on and closes); returns its
    number. Options passed this way do not show in the launcher's command line."""


class Sandbox(ABC):
    """Starts executions; tells what it is for records."""

    name: ClassVar[str]
    confined: ClassVar[bool]
    version = ""

    @abstractmethod
    def work_inside(self, work: Path) -> str:
        """The work folder's path as the code sees it."""

    def support_inside(self, support: Path) -> str:
        return str(support)

    @abstractmethod
    def command(self, job: Job) -> list[str]:
        """The argv that runs `job` (the runner starts it with `job.env` and the descriptors it passes)."""

    @abstractmethod
    def check(self) -> None:
        """Raise `SandboxUnavailable` with what to do when this backend cannot run here."""

    def trial_uid(self) -> int | None:
        """The uid a new trial's code runs as, when it differs from the harness's."""
        return None

    def describe(self) -> dict[str, Any]:
        """What every record carries about the sandbox."""
        return {"backend": self.name, "version": self.version, "confined": self.confined}


def _prlimit(limits: Limits) -> list[str]:
    return ["prlimit", *(f"--{name}={value}" for name, value in limits.rlimits().items()), "--"]


def _require(tool: str, package: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise SandboxUnavailable(
            f"--hep-sandbox: `{tool}` is not installed (package {package}); install it, or run unconfined with "
            f"--hep-sandbox=none"
        )
    return found


class UnconfinedSandbox(Sandbox):
    """No confinement: the code sees the machine as the harness's user. Resource limits still apply."""

    name = "none"
    confined = False

    def work_inside(self, work: Path) -> str:
        return str(work)

    def command(self, job: Job) -> list[str]:
        return [*_prlimit(job.limits), *job.argv]

    def check(self) -> None:
        _require("prlimit", "util-linux")


_CLONE_NEWUSER = 0x10000000
_BLOCKED_SYSCALLS = (
    "add_key",
    "keyctl",
    "request_key",
    "perf_event_open",
    "bpf",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)
"""Kernel interfaces no analysis needs and that are not namespaced (the keyring) or wide attack surface."""


@cache
def seccomp_program() -> bytes:
    """The seccomp filter the code runs under (compiled BPF, built with libseccomp): no new user namespaces (a root
    harness's sandbox has none of its own, so bwrap's --disable-userns cannot apply), `clone3` refused with ENOSYS
    so the C library falls back to `clone`, whose flags a filter can read, and `_BLOCKED_SYSCALLS` refused."""
    import errno
    import tempfile

    import pyseccomp as seccomp

    program = seccomp.SyscallFilter(seccomp.ALLOW)
    newuser = seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_NEWUSER, _CLONE_NEWUSER)
    for call in ("unshare", "clone"):
        program.add_rule(seccomp.ERRNO(errno.EPERM), call, newuser)
    program.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    for call in _BLOCKED_SYSCALLS:
        program.add_rule(seccomp.ERRNO(errno.EPERM), call)
    with tempfile.TemporaryFile() as out:
        program.export_bpf(out)
        out.seek(0)
        return out.read()


def _ancestors(paths: Sequence[str]) -> list[str]:
    """Every proper ancestor folder of `paths`, shallowest first (bwrap as root would create them mode 0700)."""
    found: set[str] = set()
    for path in paths:
        for parent in PurePosixPath(path).parents:
            if str(parent) != "/":
                found.add(str(parent))
    return sorted(found, key=lambda p: (p.count("/"), p))


class BwrapSandbox(Sandbox):
    name = "bwrap"
    confined = True

    def __init__(self) -> None:
        self.as_root = os.geteuid() == 0
        self._issued: deque[int] = deque(maxlen=4096)
        self._uid_lock = threading.Lock()

    def work_inside(self, work: Path) -> str:
        return WORK_INSIDE

    def support_inside(self, support: Path) -> str:
        return SUPPORT_INSIDE

    def trial_uid(self) -> int | None:
        """A random uid of the range (two processes share none in practice), never one this process issued
        lately: concurrent trials of a process never share one."""
        if not self.as_root:
            return None
        with self._uid_lock:
            while (uid := TRIAL_UIDS[0] + secrets.randbelow(TRIAL_UIDS[1])) in self._issued:
                pass
            self._issued.append(uid)
            return uid

    @staticmethod
    @cache
    def _view_args(view: RuntimeView, extra: tuple[Path, ...]) -> tuple[str, ...]:
        """The mounts of the runtime view (the same for every execution of a process: built once)."""
        readonly = [*view.readonly, *(str(p) for p in extra if p.exists())]
        dests = [*readonly, *(link for _, link in view.symlinks), *(s.path for s in view.site_packages)]
        dests += [f"{s.path}/{e}" for s in view.site_packages for e in s.entries]
        args: list[str] = []
        for folder in _ancestors([*dests, SUPPORT_INSIDE, WORK_INSIDE]):
            args += ["--perms", "0755", "--dir", folder]
        for path in readonly:
            args += ["--ro-bind", path, path]
        for target, link in view.symlinks:
            args += ["--symlink", target, link]
        for site in view.site_packages:  # an empty folder, then only the allowed entries in it
            args += ["--perms", "0755", "--tmpfs", site.path]
            for entry in site.entries:
                args += ["--ro-bind", f"{site.path}/{entry}", f"{site.path}/{entry}"]
            args += ["--remount-ro", site.path]
        return tuple(args)

    def command(self, job: Job) -> list[str]:
        """bwrap with its options and its seccomp filter passed as data (`--args`, `--seccomp`): the sandbox's
        init shows up inside as `/proc/1/cmdline`, which would otherwise name the host's folders it binds."""
        limits = job.limits
        args = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.as_root:
            args += ["--unshare-user", "--disable-userns"]
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--cap-drop", "ALL"]
        if self.as_root:  # kept only for setpriv, which drops them with the uid switch
            args += [a for c in ("SETUID", "SETGID", "SETPCAP") for a in ("--cap-add", f"CAP_{c}")]
        # The private /tmp first: a runtime installed under /tmp (a CI job's venv) is bound on top of it.
        args += ["--proc", "/proc", "--dev", "/dev"]
        for tmp in ("/tmp", "/dev/shm"):
            args += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", tmp]
        args += self._view_args(runtime_view(), tuple(job.extra_readonly))
        args += ["--ro-bind", str(job.support), SUPPORT_INSIDE]
        args += ["--bind", str(job.work), WORK_INSIDE]
        for rel in job.readonly:
            inside = f"{WORK_INSIDE}/{rel}"
            args += ["--ro-bind", str(job.work / rel), inside]
        args += ["--chdir", WORK_INSIDE, "--remount-ro", "/"]
        if job.status_fd is not None:
            args += ["--json-status-fd", str(job.status_fd)]
        if job.block_fd is not None:
            args += ["--block-fd", str(job.block_fd)]
        if job.pass_data is not None:
            args += ["--seccomp", str(job.pass_data(seccomp_program()))]
            args = ["--args", str(job.pass_data(b"".join(a.encode() + b"\0" for a in args)))]
        command = ["bwrap", *args, "--"]
        if self.as_root:
            assert job.uid is not None, "a root harness runs the code as a trial uid"
            uid = str(job.uid)
            command += ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
            command += ["--inh-caps=-all", "--bounding-set=-all"]
        return [*command, *_prlimit(limits), *job.argv]

    def check(self) -> None:
        bwrap = _require("bwrap", "bubblewrap: apt-get install bubblewrap, dnf install bubblewrap")
        _require("prlimit", "util-linux")
        if self.as_root:
            _require("setpriv", "util-linux")
        try:
            seccomp_program()
        except (ImportError, OSError) as exc:
            raise SandboxUnavailable(
                f"--hep-sandbox=bwrap: no seccomp filter can be built ({exc}); install libseccomp (apt-get install "
                f"libseccomp2, dnf install libseccomp), or run unconfined with --hep-sandbox=none"
            ) from None
        done = subprocess.run([bwrap, "--version"], capture_output=True, text=True, check=False)
        self.version = done.stdout.strip().removeprefix("bubblewrap ").strip()

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"code_uid": "per trial" if self.as_root else os.getuid()}


_BACKENDS: dict[str, type[Sandbox]] = {"bwrap": BwrapSandbox, "none": UnconfinedSandbox}


@cache
def get_sandbox(name: str = DEFAULT_SANDBOX) -> Sandbox:
    """The named backend, checked on this machine (once per process): `SandboxUnavailable` says what to do."""
    if name not in _BACKENDS:
        from pytest_hepagent.errors import did_you_mean

        raise SandboxUnavailable(
            f"--hep-sandbox: unknown sandbox {name!r}{did_you_mean(name, SANDBOXES)}; choose one of "
            f"{', '.join(SANDBOXES)}"
        )
    if name == "bwrap" and not sys.platform.startswith("linux"):
        raise SandboxUnavailable(
            "--hep-sandbox=bwrap: bubblewrap runs on Linux only; run the benchmark on Linux, or unconfined with "
            "--hep-sandbox=none"
        )
    sandbox = _BACKENDS[name]()
    sandbox.check()
    return sandbox
