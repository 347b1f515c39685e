"""The sandbox's launcher: `python -m pytest_hepagent.sandbox.confine PLAN_JSON -- COMMAND...`.

A fresh single-threaded process confines itself as the plan says and then execs the command (same pid, so it stays
in its cgroup and session). Confining in a launcher rather than in a `preexec_fn` matters: after a fork in a
multithreaded harness (xdist workers, HTTP clients) only async-signal-safe work is safe in the child, and
confinement is not that.
"""

from __future__ import annotations

import json
import os
import sys

from pytest_hepagent.sandbox.isolation import ConfinePlan, Limits, confine


def plan_to_json(plan: ConfinePlan) -> str:
    data = {
        "level": plan.level,
        "writable": plan.writable,
        "readonly": list(plan.readonly),
        "hidden": list(plan.hidden),
        "cgroup_procs": list(plan.cgroup_procs),
        "limits": {k: getattr(plan.limits, k) for k in Limits.__dataclass_fields__},
    }
    return json.dumps(data)


def plan_from_json(text: str) -> ConfinePlan:
    data = json.loads(text)
    return ConfinePlan(
        data["level"],
        data["writable"],
        tuple(data["readonly"]),
        tuple(data["hidden"]),
        Limits(**data["limits"]),
        tuple(data["cgroup_procs"]),
    )


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: python -m pytest_hepagent.sandbox.confine PLAN_JSON -- COMMAND...\n")
        raise SystemExit(2)
    try:
        confine(plan_from_json(argv[1]))
    except OSError as exc:
        sys.stderr.write(f"hepagent sandbox: confinement failed: {exc}\n")
        raise SystemExit(125) from None
    os.execv(argv[3], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
