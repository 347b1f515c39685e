"""What a test run left on the machine: sandbox cgroups and processes that outlived it.

    python .ci/leftovers.py snapshot FILE   # before the tests: what is already there
    python .ci/leftovers.py check FILE      # after: exit 1, naming each one, if anything new is left

New means absent from the snapshot: cgroup folders under .../hepagent/, processes running as a trial uid (root
harnesses run the code as one), and bubblewrap or setpriv processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_hepagent.sandbox.backends import TRIAL_UIDS as _FIRST_AND_COUNT
from pytest_hepagent.sandbox.cgroups import cgroup_parents

TRIAL_UIDS = range(_FIRST_AND_COUNT[0], _FIRST_AND_COUNT[0] + _FIRST_AND_COUNT[1])
SANDBOX_COMMANDS = {"bwrap", "setpriv"}


def cgroups() -> list[str]:
    return sorted(str(p) for parent in cgroup_parents() if parent.is_dir() for p in parent.iterdir() if p.is_dir())


def processes() -> dict[str, str]:
    """pid -> what it is, for every process of a trial uid or a sandbox command (keyed with its start time)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in (proc / "status").read_text().splitlines() if ":" in line)
            start = (proc / "stat").read_text().rsplit(")", 1)[1].split()[19]
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, IndexError, ValueError):  # ended while we looked
            continue
        uid = int(status.get("Uid", "0").split()[0])
        name = status.get("Name", "").strip()
        if uid in TRIAL_UIDS or name in SANDBOX_COMMANDS:
            found[f"{proc.name}@{start}"] = f"pid {proc.name} uid {uid}: {cmdline[:200]}"
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("snapshot", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, path = argv[0], Path(argv[1])
    now = {"cgroups": cgroups(), "processes": processes()}
    if mode == "snapshot":
        path.write_text(json.dumps(now))
        return 0
    before = json.loads(path.read_text())
    new_cgroups = sorted(set(now["cgroups"]) - set(before["cgroups"]))
    new_processes = [v for k, v in now["processes"].items() if k not in before["processes"]]
    for folder in new_cgroups:
        print(f"left behind: cgroup {folder}", file=sys.stderr)
    for process in new_processes:
        print(f"left behind: {process}", file=sys.stderr)
    if new_cgroups or new_processes:
        return 1
    print("no sandbox cgroup or process outlived the tests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
