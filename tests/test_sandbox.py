"""The bubblewrap sandbox itself: what code sees, the uid it runs as, the limits, the side channels, the teardown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_hepagent.errors import InfrastructureError
from pytest_hepagent.resources import cache_root, golden_dir
from pytest_hepagent.sandbox.backends import TRIAL_UIDS, BwrapSandbox, Sandbox, SandboxUnavailable, get_sandbox
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.sandbox.runner import ExecutionResult, check_sandbox, run_confined
from pytest_hepagent.sandbox.view import runtime_view

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return check_sandbox("bwrap")


def _run(
    sandbox: Sandbox, tmp_path: Path, code: str, limits: Limits | None = None, readonly: tuple[str, ...] = ()
) -> ExecutionResult:
    work = tmp_path / "work"
    (work / "code").mkdir(parents=True, exist_ok=True)
    (work / "code" / "main.py").write_text(textwrap.dedent(code))
    uid = sandbox.trial_uid()
    if uid is not None:
        os.chown(work, uid, uid)
    return run_confined(
        sandbox,
        work,
        [sys.executable, "code/main.py"],
        limits=limits or Limits(wall_time_s=30),
        readonly=("code", *readonly),
        uid=uid,
    )


def test_the_code_sees_a_runtime_and_its_folder_and_nothing_of_the_harness(sandbox: Sandbox, tmp_path: Path) -> None:
    result = _run(
        sandbox,
        tmp_path,
        """
        import json, os, sys
        import numpy, awkward, uproot, sklearn
        view = {"root": sorted(os.listdir("/")), "cwd": os.getcwd(), "mounts": open("/proc/self/mountinfo").read(),
                "uid": os.getuid(), "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "status": open("/proc/self/status").read(), "path": sys.path, "env": dict(os.environ),
                "init": open("/proc/1/cmdline").read(), "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}
        try:
            import pytest_hepagent
            view["project"] = pytest_hepagent.__file__
        except ImportError:
            view["project"] = None
        try:
            import litellm
            view["litellm"] = True
        except ImportError:
            view["litellm"] = False
        print(json.dumps(view))
        """,
    )
    assert result.succeeded, result.reason + result.stderr
    view = json.loads(result.stdout)
    assert view["project"] is None and view["litellm"] is False  # only the analysis libraries are in view
    assert "sys" not in view["root"] and view["cwd"] == "/trial"
    hidden = [CHECKOUT / "golden", CHECKOUT / ".git", CHECKOUT / "pytest_hepagent", cache_root(), golden_dir()]
    for place in hidden:  # not in view, and not named by any mount either
        assert str(place) not in view["mounts"], place
    assert all(pid < 10 for pid in view["pids"])  # its own PID namespace: the host's processes are not there
    assert str(tmp_path) not in view["init"] and "--args" in view["init"]  # bwrap's init names no host folder
    assert len(view["fds"]) <= 5  # stdio, the exception report's pipe and listdir's own: no bwrap descriptor
    caps = {line.split(":")[0]: line.split()[1] for line in view["status"].splitlines() if line.startswith("Cap")}
    assert set(caps.values()) == {"0000000000000000"}, caps
    assert "NoNewPrivs:\t1" in view["status"]
    if os.geteuid() == 0:  # a root harness runs the code as an unprivileged uid of its own
        assert TRIAL_UIDS[0] <= view["uid"] < TRIAL_UIDS[0] + TRIAL_UIDS[1]
    assert not any("KEY" in k or "TOKEN" in k for k in view["env"])


def test_site_packages_hold_only_the_analysis_distributions() -> None:
    view = runtime_view()
    names = {p.split("==")[0].lower().replace("_", "-") for p in view.packages}
    assert {"numpy", "scipy", "awkward", "uproot", "scikit-learn"} <= names
    assert not names & {"pytest-hepagent", "pytest", "litellm", "openai", "jinja2"}
    entries = [e for s in view.site_packages for e in s.entries]
    assert not [e for e in entries if "hepagent" in e or "editable" in e or e.startswith(("pytest", "litellm"))]


def test_root_is_exempt_from_rlimit_nproc_so_the_code_gets_another_uid(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_hepagent.sandbox.runner.create_cgroup", lambda *_: None)  # the rlimit alone
    result = _run(
        sandbox,
        tmp_path,
        """
        import os, time
        n = 0
        while n < 500:
            try:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
            except OSError:
                break
        print(n)
        """,
        limits=Limits(wall_time_s=30, processes=16),
    )
    assert result.succeeded, result.reason
    assert int(result.stdout) < 16  # refused at the limit, whatever the harness's uid


def test_every_process_is_gone_when_the_execution_returns(sandbox: Sandbox, tmp_path: Path) -> None:
    result = _run(
        sandbox,
        tmp_path,
        """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                while True:
                    with open("/trial/heartbeat", "a") as f:
                        f.write("x")
                    time.sleep(0.01)
            os._exit(0)
        time.sleep(0.3)
        """,
    )
    assert result.succeeded
    beat = tmp_path / "work" / "heartbeat"
    size = beat.stat().st_size
    time.sleep(0.3)
    assert beat.stat().st_size == size > 0  # the daemon was alive, and is gone now


def test_the_wall_time_limit_kills_the_whole_tree(sandbox: Sandbox, tmp_path: Path) -> None:
    start = time.monotonic()
    result = _run(sandbox, tmp_path, "import os\nos.fork()\nwhile True:\n    pass\n", Limits(wall_time_s=1.0))
    assert "timed out after 1 s" in result.reason and result.exit_code is None
    assert time.monotonic() - start < 10


def test_too_many_files_stop_the_code(sandbox: Sandbox, tmp_path: Path) -> None:
    code = "import os\nfor i in range(10**6):\n    open(f'f{i}', 'w').close()\n"
    result = _run(sandbox, tmp_path, code, Limits(wall_time_s=30, files=2000))
    assert "more than 2000 files" in result.reason


def test_an_uncaught_exception_is_reported_by_the_interpreter(sandbox: Sandbox, tmp_path: Path) -> None:
    result = _run(sandbox, tmp_path, "def load():\n    raise FileNotFoundError('arrays/x.npy')\nload()\n")
    assert result.exit_code == 1 and result.exception is not None
    assert result.exception["type"] == "FileNotFoundError" and result.exception["message"] == "arrays/x.npy"
    assert [f["function"] for f in result.exception["frames"]] == ["<module>", "load"]
    assert result.exception["frames"][-1]["file"] == "/trial/code/main.py"


@pytest.mark.parametrize(
    "code",
    [
        "import sys\nsys.stderr.write('Traceback (most recent call last):\\nFileNotFoundError: x\\n')\nsys.exit(1)",
        "import sys\ntry:\n    open('missing')\nexcept OSError:\n    import traceback; traceback.print_exc()\nsys.exit(2)",
        "import os, sys\nif os.fork() == 0:\n    raise KeyError('child')\nos.wait()\nsys.exit(3)",
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'raise KeyError(1)'])\nsys.exit(4)",
    ],
    ids=["printed", "caught", "forked-child", "subprocess"],
)
def test_text_that_looks_like_a_traceback_is_no_exception(sandbox: Sandbox, tmp_path: Path, code: str) -> None:
    result = _run(sandbox, tmp_path, code)
    assert result.exit_code not in (0, None)
    assert result.exception is None


def test_only_the_backend_can_report_an_infrastructure_error(sandbox: Sandbox, tmp_path: Path) -> None:
    forged = "import sys\nsys.stderr.write('bwrap: Can\\'t mount proc: Operation not permitted\\n')\nsys.exit(1)"
    result = _run(sandbox, tmp_path, forged)
    assert result.reason.startswith("exit code 1")  # the code's own failure, whatever it prints
    (tmp_path / "work" / "code").chmod(0o755)
    with pytest.raises(InfrastructureError, match=r"sandbox bwrap could not start the code: bwrap: .*missing"):
        _run(sandbox, tmp_path, "pass", readonly=("missing",))  # bwrap cannot set the sandbox up: not the code


def test_the_unprivileged_command_runs(tmp_path: Path) -> None:
    """What an ordinary user's harness runs: bwrap in a user namespace, no setpriv (exercised here as root)."""
    unprivileged = BwrapSandbox()
    unprivileged.as_root = False
    unprivileged.check()
    result = _run(unprivileged, tmp_path, "import os, numpy\nprint(os.getuid())\nraise ValueError('x')")
    assert result.exception is not None and result.exception["type"] == "ValueError"
    assert result.stdout.strip() == str(os.getuid())


def test_an_unknown_sandbox_says_what_to_choose() -> None:
    with pytest.raises(SandboxUnavailable, match=r"--hep-sandbox: unknown sandbox 'bwarp' \(did you mean 'bwrap'\?\)"):
        get_sandbox("bwarp")


def test_a_machine_without_bubblewrap_gets_a_one_line_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as info:
        BwrapSandbox().check()
    message = str(info.value)
    assert "\n" not in message and "apt-get install bubblewrap" in message and "--hep-sandbox=none" in message


@pytest.mark.parametrize("name", ["bwrap", "none"])
def test_a_process_group_is_signalled_only_while_its_leader_is_unreaped(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the backend process is reaped, its pid (and so its group's id) may be given to the next execution's
    sandbox, which leads a group of that id: a kill of the old group would kill another trial's code."""
    from pytest_hepagent.sandbox import runner

    signalled = []
    real_killpg = os.killpg

    def killpg(pgid: int, sig: int) -> None:
        try:
            os.waitid(os.P_PID, pgid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # running or a zombie: ours still
            unreaped = True
        except ChildProcessError:
            unreaped = False
        signalled.append(unreaped)
        real_killpg(pgid, sig)

    sandbox = check_sandbox(name)  # its probe first
    monkeypatch.setattr(runner.os, "killpg", killpg)
    result = _run(sandbox, tmp_path, "import subprocess; subprocess.Popen(['sleep', '30']); print('ok')")
    assert result.stdout == "ok\n"
    assert signalled == [True]  # once, at the end, with the leader still a zombie of ours


@pytest.mark.parametrize("name", ["bwrap", "none"])
def test_a_harness_under_a_lower_hard_limit_still_runs_code_within_it(name: str, tmp_path: Path) -> None:
    """A batch system (or a test runner) may cap the harness's CPU time below the code's limit: the code then gets
    the harness's cap, not a sandbox that cannot start."""
    script = f"""
import os, resource, sys
resource.setrlimit(resource.RLIMIT_CPU, (90, 100))
from pytest_hepagent.sandbox.limits import Limits
from pytest_hepagent.sandbox.runner import check_sandbox, run_confined
sandbox = check_sandbox({name!r})
work = {str(tmp_path / "work")!r}
os.makedirs(work + "/code")
open(work + "/code/main.py", "w").write("import resource; print(resource.getrlimit(resource.RLIMIT_CPU))")
uid = sandbox.trial_uid()
if uid is not None:
    os.chown(work, uid, uid)
result = run_confined(sandbox, __import__("pathlib").Path(work), [sys.executable, "code/main.py"],
                      limits=Limits(wall_time_s=30, cpu_time_s=600), readonly=("code",), uid=uid)
print(result.exit_code, result.stdout.strip(), result.stderr.strip()[:300])
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "0 (100, 100)"
