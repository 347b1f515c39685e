"""TrialRecord: one versioned JSON object per trial, the contract between runs, the gate and the report."""

from __future__ import annotations

import hashlib
from typing import Any

from pytest_hepagent.trial import TrialResult

__all__ = ["RECORD_VERSION", "chain_id", "record_from_result", "trial_key"]

RECORD_VERSION = 1
"""Bump when a field changes meaning or disappears; adding a field keeps the version."""


def trial_key(model: str, step: str, trial: int) -> str:
    """The identity of a trial in a run (what --hep-resume looks up)."""
    return f"{model}|{step}|{trial}"


def chain_id(model: str, trial: int) -> str:
    """The identity of a chained run of one model and trial (what --hep-resume looks up with --hep-chain)."""
    return f"{model}|chain|{trial}"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record_from_result(result: TrialResult, *, run_id: str, hashes: dict[str, str], worker: str = "") -> dict[str, Any]:
    request, agent = result.request, result.agent
    tokens = agent.tokens if agent else None
    return {
        "schema_version": RECORD_VERSION,
        "run_id": run_id,
        "key": trial_key(request.model, request.step, request.trial),
        "model": request.model,
        "supervisor_model": request.supervisor_model or request.model,
        "step": request.step,
        "trial": request.trial,
        "outcome": result.outcome,
        "error": result.error,
        "status": agent.status if agent else "",
        "limit": agent.limit if agent else "",
        "truncated_calls": sum(c.finish_reason == "length" for c in agent.calls) if agent else 0,
        "iterations": agent.iterations if agent else 0,
        "max_iterations": request.max_iterations,
        "api_calls": len(agent.calls) if agent else 0,
        "tokens": {
            "user": tokens.user_prompt if tokens else 0,
            "input": tokens.total_input if tokens else 0,
            "output": tokens.total_output if tokens else 0,
            "supervisor_to_coder": tokens.supervisor_to_coder if tokens else 0,
            "coder_output": tokens.coder_output if tokens else 0,
            "feedback_to_supervisor": tokens.feedback_to_supervisor if tokens else 0,
        },
        "agent_work": tokens.agent_work if tokens else 0.0,
        "cost_usd": agent.cost_usd if agent else 0.0,
        "duration_s": result.duration_s,
        "started_at": result.started_at,
        "validation": result.validation.summary() if result.validation else "",
        "category": result.category or {"rule": None, "judge": None, "final": None},
        "hashes": {**hashes, "prompt": _sha(agent.user_prompt) if agent else ""},
        "trial_dir": str(result.trial_dir),
        "sandbox": result.sandbox,
        "logs": result.files,
        "worker": worker,
    }
