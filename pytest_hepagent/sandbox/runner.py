"""Run one execution of generated code in a sandbox: limits, a scrubbed environment, bounded output capture, the
side channels (the backend's status, the interpreter's exception report), and nothing left running afterwards.

Verdicts come only from what the code cannot forge: an infrastructure error is raised only when the backend's own
status says it never started the code; the code's exit status and output only ever describe a model failure.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import IO, Any

from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.sandbox import excepthook
from pytest_hepagent.sandbox.backends import Job, Sandbox, SandboxUnavailable, get_sandbox
from pytest_hepagent.sandbox.cgroups import Cgroup, create_cgroup
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.sandbox.trial_files import disk_usage
from pytest_hepagent.sandbox.untrusted import json_depth

__all__ = ["DEFAULT_LIMITS", "ExecutionResult", "StuckProcesses", "check_sandbox", "run_confined"]

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
_READABLE = ("TABPFN_MODEL_CACHE_DIR", "HEPAGENT_TABPFN_MODEL")
"""Of those, the paths the code must be able to read (the S-B helper's TabPFN weights)."""
_POLL_S = 0.02
_DISK_CHECK_S = 0.5
_START_TIMEOUT_S = 60.0
_TEARDOWN_TIMEOUT_S = 10.0
_EXCEPTION_BYTES = 256 << 10

DEFAULT_LIMITS = Limits()


class StuckProcesses(RuntimeError):
    """The execution's processes outlived SIGKILL: the trial cannot go on (a model failure, see `trial.py`)."""


@dataclass(frozen=True)
class ExecutionResult:
    command: tuple[str, ...]
    exit_code: int | None
    """The code's exit status (128 + N when a signal N ended it inside the sandbox; negative for a signal when
    unconfined); None if it was killed by the harness before it ended."""
    stdout: str
    stderr: str
    stdout_bytes: int
    """Bytes the code wrote to stdout (only `Limits.output_bytes` of them are kept)."""
    stderr_bytes: int
    duration_s: float
    reason: str
    """Empty when the code ran to a zero exit; otherwise why it failed, in one line."""
    sandbox: str
    """The backend that ran it (`bwrap`, or `none` when unconfined)."""
    exception: dict[str, Any] | None = None
    """The uncaught exception that ended the code, as the interpreter reported it (type, message, frames); None
    when the code did not end with one (a printed traceback is not one)."""

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


class _Drain(threading.Thread):
    """Read a side-channel pipe to its end, keeping at most `limit` bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        super().__init__(daemon=True)
        self.fd, self.limit, self.data = fd, limit, bytearray()

    def run(self) -> None:
        with contextlib.suppress(OSError):
            while block := os.read(self.fd, 65536):
                if len(self.data) < self.limit:
                    self.data += block[: self.limit - len(self.data)]


@cache
def support_dir() -> Path:
    """This process's support folder, shown read-only inside: the exception hook as `sitecustomize.py`."""
    folder = Path(tempfile.mkdtemp(prefix="hepagent-sandbox-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    shutil.copyfile(excepthook.__file__, folder / "sitecustomize.py")
    (folder / "sitecustomize.py").chmod(0o644)
    folder.chmod(0o755)  # the code's uid reads it
    return folder


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _environment(work: str, support: str, extra: Mapping[str, str], share: int) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSED_THROUGH if k in os.environ}
    cores = _cores()
    threads = max(1, cores // max(1, share))
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": work,
        "TMPDIR": f"{work}/tmp",
        # The support folder first, so that its sitecustomize is the one imported, not one the code wrote.
        "PYTHONPATH": os.pathsep.join([support, work]),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        # Parallel trials share the cores: oversubscribed, spinning OpenMP threads of concurrent trials slow each
        # other by orders of magnitude (seen: 4 s -> 425 s), so each trial gets its share of the cores.
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    if 1 < threads < cores:  # idle threads sleep when trials compete (seen: 4 s -> 139 s); alone, they spin
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    return env | dict(extra)


def _readable_extras() -> tuple[Path, ...]:
    return tuple(Path(os.environ[k]) for k in _READABLE if os.environ.get(k) and Path(os.environ[k]).exists())


def _read_started(fd: int, deadline: float) -> tuple[dict[str, Any], bytes]:
    """bwrap's first status document (`{"child-pid": N, "pid-namespace": M, ...}`), or {} when it ended (or hung)
    before starting the sandbox; and what was read after it."""
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return {}, data
        block = os.read(fd, 4096)
        if not block:
            return {}, data
        data += block
    line, _, rest = data.partition(b"\n")
    try:
        started = json.loads(line)
    except ValueError:
        return {}, data
    return (started if isinstance(started, dict) and isinstance(started.get("child-pid"), int) else {}), rest


def _namespace_pids(pid_ns: int) -> list[int]:
    """The host pids of every process in the PID namespace `pid_ns` (bwrap's sandbox)."""
    wanted, found = f"pid:[{pid_ns}]", []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str((entry / "ns" / "pid").readlink()) == wanted:
                    found.append(int(entry.name))
    return found


def _held_deleted_bytes(pids: Sequence[int], device: int) -> int:
    """What files on `device` occupy that the processes deleted but still hold open or mapped: the directory walk
    cannot see them, yet they fill the disk until the processes end."""
    held: dict[int, int] = {}
    for pid in pids:
        proc = Path(f"/proc/{pid}")
        links: list[Path] = []
        with contextlib.suppress(OSError):
            links += list((proc / "fd").iterdir())
        with contextlib.suppress(OSError):
            maps = (proc / "maps").read_text().splitlines()
            links += [proc / "map_files" / line.split()[0] for line in maps if line.endswith(" (deleted)")]
        for link in links:
            with contextlib.suppress(OSError):
                if str(link.readlink()).endswith(" (deleted)"):
                    info = link.stat()
                    if info.st_dev == device and stat.S_ISREG(info.st_mode):
                        held[info.st_ino] = info.st_blocks * 512
    return sum(held.values())


def _exit_code_reported(status: bytes) -> int | None:
    for line in status.splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            code = json.loads(line).get("exit-code")
            if isinstance(code, int):
                return code
    return None


def _text(value: object, limit: int) -> str:
    """A string from the side channel, made safe to write anywhere (no lone surrogates) and capped."""
    return str(value)[:limit].encode("utf-8", errors="replace").decode("utf-8")


def _exception(data: bytes) -> dict[str, Any] | None:
    """The hook's record, if well formed (the code can write to its own descriptor too: trust only the shape)."""
    if json_depth(data) > 4:
        return None
    try:
        record = json.loads(data.split(b"\n", 1)[0])
    except (ValueError, RecursionError):
        return None
    if not (
        isinstance(record, dict)
        and isinstance(record.get("type"), str)
        and isinstance(record.get("message"), str)
        and isinstance(record.get("frames"), list)
    ):
        return None
    frames = [
        {
            "file": _text(f.get("file", ""), 500),
            "line": int(f["line"]) if isinstance(f.get("line"), int) else 0,
            "function": _text(f.get("function", ""), 200),
            "source": _text(f.get("source", ""), 300),
        }
        for f in record["frames"][: excepthook.MAX_FRAMES]
        if isinstance(f, dict)
    ]
    return {
        "type": _text(record["type"], 200),
        "message": _text(record["message"], excepthook.MAX_MESSAGE),
        "frames": frames,
    }


def _wait_gone(pidfd: int | None, timeout: float) -> bool:
    """Wait until the sandbox's init has exited, which the kernel allows only once every process in its PID
    namespace is gone. True when it is gone (or there is nothing to wait for)."""
    if pidfd is None:
        return True
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def _signal_reason(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        return f"killed by signal {sig}"
    hint = {"SIGKILL": " (memory or process limit?)", "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}
    return f"killed by {name}{hint.get(name, '')}"


def _failure(code: int | None, confined: bool, stderr: str) -> str:
    if code is None or code == 0:
        return ""
    if code < 0:
        return _signal_reason(-code)
    if confined and code > 128:  # bwrap's init reports a signal N as 128 + N
        return _signal_reason(code - 128)
    last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
    return f"exit code {code}" + (f": {last.strip()[:200]}" if last else "")


def run_confined(
    sandbox: Sandbox,
    work: Path,
    argv: Sequence[str],
    *,
    limits: Limits = DEFAULT_LIMITS,
    readonly: Sequence[str] = (),
    uid: int | None = None,
    env: Mapping[str, str] | None = None,
    share: int = 1,
) -> ExecutionResult:
    """Run `argv` in the work folder `work` under `sandbox` and `limits`, with the `readonly` entries of the work
    folder kept read-only. `share` is how many executions may run at once on this machine (parallel workers times
    concurrent trials): the code's thread pools get that share of the cores. Raises `InfrastructureError` only
    when the sandbox could not start the code."""
    work = Path(work)
    if not Path(argv[0]).is_absolute():
        raise InfrastructureError(f"sandbox: the command must start with an absolute path, got {argv[0]!r}")
    support = support_dir()
    own: list[int] = []  # descriptors this call must close
    exc_r, exc_w = os.pipe()
    own += [exc_r, exc_w]
    status_r = status_w = block_r = block_w = None
    cgroup: Cgroup | None = None
    data_fds: list[int] = []

    def pass_data(data: bytes) -> int:
        fd = os.memfd_create("sandbox-data", os.MFD_CLOEXEC)
        own.append(fd)
        data_fds.append(fd)
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd

    if sandbox.confined:
        status_r, status_w = os.pipe()
        own += [status_r, status_w]
    if os.geteuid() == 0:  # a memory and process cap over the whole execution, where cgroups can be written
        cgroup = create_cgroup(limits.processes, limits.memory_bytes)
        if cgroup is not None and sandbox.confined:
            block_r, block_w = os.pipe()  # bwrap waits on it until the sandbox's init has joined the cgroup
            own += [block_r, block_w]
    code_env = _environment(sandbox.work_inside(work), sandbox.support_inside(support), env or {}, share)
    code_env[excepthook.ENV_VAR] = str(exc_w)
    job = Job(
        work,
        tuple(argv),
        tuple(readonly),
        support,
        limits,
        code_env,
        uid,
        _readable_extras(),
        status_w,
        block_r,
        pass_data,
    )
    argv = sandbox.command(job)
    passed = tuple(fd for fd in (exc_w, status_w, block_r, *data_fds) if fd is not None)
    start = time.monotonic()
    try:
        try:
            proc = subprocess.Popen(
                argv,
                cwd=work if not sandbox.confined else "/",
                env=code_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=passed,
                start_new_session=True,
                umask=0o022,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise InfrastructureError(f"sandbox {sandbox.name} could not start {argv[0]}: {exc}") from None
        for fd in passed:  # the children hold them now; our copies would keep the pipes open forever
            os.close(fd)
            own.remove(fd)
        return _supervise(proc, sandbox, job, cgroup, exc_r, status_r, block_w, start)
    finally:
        for fd in own:
            with contextlib.suppress(OSError):
                os.close(fd)
        if cgroup is not None:
            cgroup.remove()


def _supervise(
    proc: subprocess.Popen[bytes],
    sandbox: Sandbox,
    job: Job,
    cgroup: Cgroup | None,
    exc_r: int,
    status_r: int | None,
    block_w: int | None,
    start: float,
) -> ExecutionResult:
    limits = job.limits
    assert proc.stdout is not None and proc.stderr is not None
    out, err = _Capture(proc.stdout, limits.output_bytes), _Capture(proc.stderr, limits.output_bytes)
    exceptions = _Drain(exc_r, _EXCEPTION_BYTES)
    for thread in (out, err, exceptions):
        thread.start()
    pidfd: int | None = None
    pid_ns: int | None = None
    status = b""
    try:
        if status_r is not None:
            started, status = _read_started(status_r, start + _START_TIMEOUT_S)
            child = started.get("child-pid")
            if isinstance(started.get("pid-namespace"), int):
                pid_ns = started["pid-namespace"]
            if child is not None:
                with contextlib.suppress(OSError):
                    pidfd = os.pidfd_open(child)
                if cgroup is not None:
                    cgroup.add(proc.pid, child)
            if block_w is not None:
                with contextlib.suppress(OSError):
                    os.write(block_w, b"1")
        reason = _watch(proc, job, cgroup, pidfd, pid_ns)
        _kill_group(proc)  # unconfined: the code's processes left in its group; the group's id is still reserved
        proc.wait()
        if status_r is not None:
            status += _read_all(status_r)
        if pidfd is not None and not _wait_gone(pidfd, _TEARDOWN_TIMEOUT_S):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            if not _wait_gone(pidfd, 6 * _TEARDOWN_TIMEOUT_S):
                # Processes stuck in the kernel (I/O the code queued) outlive SIGKILL for a while. The code caused
                # it, so it is no infrastructure error (the trial ends as a model failure), and nothing the code
                # left is validated while a process of it may still write.
                raise StuckProcesses(f"the execution's processes did not end {7 * _TEARDOWN_TIMEOUT_S:g} s after it")
        if cgroup is not None:  # whatever the code left behind (unconfined, or escaped its group) dies with it
            cgroup.kill_all()
    finally:
        if pidfd is not None:
            os.close(pidfd)
        for thread in (out, err, exceptions):
            thread.join(5)
        proc.stdout.close()
        proc.stderr.close()
    duration = time.monotonic() - start
    stderr = err.text()
    code: int | None = proc.returncode
    if sandbox.confined:
        code = _exit_code_reported(status)
        if code is None and not reason:  # the backend never started the code: its own failure, not the model's
            first = next((line for line in stderr.splitlines() if line.strip()), f"exit status {proc.returncode}")
            raise InfrastructureError(f"sandbox {sandbox.name} could not start the code: {first.strip()[:300]}")
    if reason:
        code = None
    if cgroup is not None and cgroup.hit_process_limit():
        reason = reason or "hit the process limit"
        reason += f" (the cap of {limits.processes} processes refused forks)"
    reason = reason or _failure(code, sandbox.confined, stderr)
    exception = _exception(bytes(exceptions.data)) if code not in (0, None) else None
    return ExecutionResult(
        job.argv, code, out.text(), stderr, out.total, err.total, duration, reason, sandbox.name, exception
    )


def _read_all(fd: int) -> bytes:
    data = b""
    with contextlib.suppress(OSError):
        while select.select([fd], [], [], 1.0)[0] and (block := os.read(fd, 4096)):
            data += block
    return data


def _watch(
    proc: subprocess.Popen[bytes], job: Job, cgroup: Cgroup | None, pidfd: int | None, pid_ns: int | None
) -> str:
    """Wait until the code ends; kill it on the wall-time, disk or file-count limit and say which.

    Waits on a descriptor of the started process, so a quick execution is noticed at once, not at the next poll.
    The disk use counts the work folder and the deleted files the execution's processes still hold.
    """
    limits, start = job.limits, time.monotonic()
    reason, next_disk_check = "", start + _DISK_CHECK_S
    device = job.work.stat().st_dev
    with _process_fd(proc.pid) as ended:
        while not _ended(proc):
            now = time.monotonic()
            if now - start > limits.wall_time_s:
                reason = f"timed out after {limits.wall_time_s:g} s (wall time); every process was killed"
            elif now >= next_disk_check:
                usage = disk_usage(job.work, skip=job.readonly, max_entries=limits.files)
                pids = _namespace_pids(pid_ns) if pid_ns is not None else sorted(cgroup.pids()) if cgroup else []
                held = _held_deleted_bytes(pids, device)
                next_disk_check = time.monotonic() + _DISK_CHECK_S
                if not usage.complete:
                    reason = f"created more than {limits.files} files and folders in the trial folder; killed"
                elif usage.bytes + held > limits.disk_bytes:
                    reason = f"wrote more than {limits.disk_bytes} bytes into the trial folder; killed"
            if reason:
                if pidfd is not None:
                    with contextlib.suppress(OSError):
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                _kill(proc, cgroup)
                break
            wait = max(min(next_disk_check, start + limits.wall_time_s) - time.monotonic(), 0.001)
            if ended is None:
                time.sleep(min(wait, _POLL_S))
            else:
                select.select([ended], [], [], wait)
    return reason


@contextlib.contextmanager
def _process_fd(pid: int) -> Iterator[int | None]:
    """A pidfd of `pid` (readable once it exits), or None where the kernel has none."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _ended(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the backend process has ended, without reaping it: while it is a zombie its pid, and so the id of
    the process group it leads, cannot be given to another process, so signalling that group is still safe."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the backend's process group, only while its leader is not reaped: once it is, the pid may belong to
    another execution's sandbox (its bwrap starts a session, so it leads a group of that id) and must not be hit."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _kill(proc: subprocess.Popen[bytes], cgroup: Cgroup | None) -> None:
    _kill_group(proc)
    if cgroup is not None:
        cgroup.kill_all()


@cache
def check_sandbox(name: str) -> Sandbox:
    """The named sandbox, after starting Python in it once here: `SandboxUnavailable` says what to do."""
    sandbox = get_sandbox(name)
    with tempfile.TemporaryDirectory(prefix="hepagent-probe-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        uid = sandbox.trial_uid()
        if uid is not None:
            os.chown(work, uid, uid)
        Path(tmp).chmod(0o755)
        try:
            result = run_confined(
                sandbox, work, [sys.executable, "-c", "import numpy"], limits=Limits(wall_time_s=60), uid=uid
            )
        except InfrastructureError as exc:
            raise SandboxUnavailable(
                f"--hep-sandbox={name}: the sandbox cannot start here ({exc}); "
                + (
                    "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu "
                    "an AppArmor profile for bwrap), or run unconfined with --hep-sandbox=none"
                    if name == "bwrap"
                    else "check the installation"
                )
            ) from None
    if not result.succeeded:
        raise SandboxUnavailable(
            f"--hep-sandbox={name}: Python with numpy does not start inside the sandbox ({result.reason}); the "
            f"Python installation must be readable by the code's uid, or run unconfined with --hep-sandbox=none"
        )
    return sandbox
