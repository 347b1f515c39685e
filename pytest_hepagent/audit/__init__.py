"""The hackability suite: hostile trajectories that must end as model failures and leave the host unchanged.

`hepagent audit` runs it on any machine; the project's tests run it in CI. See `suite.py` and `host.py`.
"""

from __future__ import annotations

from pytest_hepagent.audit.suite import CLASSES, Attack, AttackResult, load_attacks, run_attack, run_audit

__all__ = ["CLASSES", "Attack", "AttackResult", "load_attacks", "run_attack", "run_audit"]
