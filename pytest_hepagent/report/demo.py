"""A generated run of any size (records, transcripts and logs), to preview and load-test the report.

Nothing here is a measurement: outcomes, tokens and costs are drawn from a seeded generator, and the run's
`config.json` says so (`"generated": true`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pytest_hepagent.matrix.config import safe_name
from pytest_hepagent.records import (
    RESULTS,
    Category,
    CategoryVerdict,
    Outcome,
    Tokens,
    TrialRecord,
    append_record,
    record_to_json,
    trial_key,
    write_transcript,
)
from pytest_hepagent.steps import STEP_NAMES

__all__ = ["write_generated_run"]

_CODE = """import argparse
import numpy as np
from utils import *

parser = argparse.ArgumentParser()
parser.add_argument("--input-files", nargs="+")
parser.add_argument("--output-files", nargs="+")
args = parser.parse_args()
signal = np.load(args.input_files[0])
bkgd = np.load(args.input_files[1])
print("loaded", signal.shape, bkgd.shape, "attempt {attempt}")
"""


def _transcript(rng: random.Random, record: dict[str, Any], calls: int, failed: bool) -> dict[str, Any]:
    roles = ["supervisor", "coder"] + [r for _ in range((calls - 3) // 2) for r in ("debugger", "coder")] + ["reviewer"]
    roles = roles[:calls]
    attempts = []
    for i in range(1, max(1, roles.count("coder")) + 1):
        last = i == roles.count("coder")
        exit_code = 1 if failed and last and rng.random() < 0.5 else 0
        attempts.append(
            {
                "iteration": i,
                "code": _CODE.format(attempt=i),
                "execution": {
                    "exit_code": exit_code,
                    "reason": "exit code 1: FileNotFoundError" if exit_code else "",
                    "stdout": f"loaded (44351, 8) (73826, 8) attempt {i}\n",
                    "stderr": "FileNotFoundError: [Errno 2] No such file or directory: 'arrays/x.npy'\n"
                    if exit_code
                    else "",
                    "duration_s": rng.uniform(0.2, 3.0),
                    "sandbox": "bwrap",
                },
            }
        )
    return {
        **record,
        "agent": {
            "user_prompt": f"Task for step {record['step']}.",
            "calls": [
                {
                    "index": n + 1,
                    "role": role,
                    "model": record["model"],
                    "messages": [
                        {"role": "system", "content": "You are the supervisor."},
                        {"role": "user", "content": "Do the step."},
                    ],
                    "response": f"Response {n + 1} of the {role}.",
                    "input_tokens": rng.randint(300, 3000),
                    "output_tokens": rng.randint(50, 1500),
                    "latency_s": rng.uniform(1, 30),
                    "cost_usd": rng.uniform(0, 0.02),
                }
                for n, role in enumerate(roles)
            ],
            "attempts": attempts,
        },
    }


def write_generated_run(
    run_dir: Path, models: int = 20, trials: int = 10, steps: tuple[str, ...] = STEP_NAMES, seed: int = 0
) -> Path:
    """Write a run of models x steps x trials generated records (with trial folders) into `run_dir`."""
    rng = random.Random(seed)
    run_dir = Path(run_dir)
    run_id = run_dir.name
    model_names = [f"provider{m % 4}/model-{m:02d}" for m in range(models)]
    skill = {m: rng.uniform(0.2, 0.95) for m in model_names}
    (run_dir / RESULTS).unlink(missing_ok=True)
    for model in model_names:
        for step in steps:
            for trial in range(1, trials + 1):
                roll = rng.random()
                outcome = Outcome.PASSED if roll < skill[model] else (Outcome.ERROR if roll > 0.98 else Outcome.FAILED)
                calls = rng.choice([3, 3, 5, 7]) if outcome is not Outcome.ERROR else 1
                trial_dir = run_dir / "trials" / step / f"{safe_name(model)}-trial{trial}"
                category = CategoryVerdict()
                if outcome is Outcome.FAILED:
                    rule = rng.choice(list(Category))
                    judge = rule if rng.random() < 0.85 else rng.choice(list(Category))
                    category = CategoryVerdict(
                        rule=rule,
                        judge=judge,
                        final=judge,
                        disagree=judge != rule,
                        decided_by="judge",
                        rule_id="generated",
                        evidence=("generated record",),
                        judge_model="generated/judge",
                        judge_responses=(f"***{judge}***",),
                    )
                tokens_in, tokens_out = rng.randint(2000, 20000), rng.randint(500, 8000)
                record = TrialRecord(
                    run_id=run_id,
                    key=trial_key(model, step, trial),
                    model=model,
                    supervisor_model=model,
                    step=step,
                    trial=trial,
                    outcome=outcome,
                    error="InfrastructureError: generated" if outcome is Outcome.ERROR else "",
                    iterations=(calls - 1) // 2,
                    max_iterations=3,
                    api_calls=calls,
                    tokens=Tokens(user=500, input=tokens_in, output=tokens_out),
                    agent_work=(tokens_in + tokens_out - 500) / 500,
                    cost_usd=round(rng.uniform(0.001, 0.2), 6),
                    duration_s=rng.uniform(5, 300),
                    started_at="2026-11-26T12:00:00+00:00",
                    validation="Step: FAIL" if outcome is Outcome.FAILED else "",
                    category=category,
                    hashes={"dataset": "0" * 64, "golden": "1" * 64, "task_spec": "2" * 64, "prompt": "3" * 64},
                    trial_dir=str(trial_dir),
                    sandbox={"backend": "bwrap", "version": "0.8.0", "confined": True},
                    logs={"transcript": str(trial_dir / "logs" / "transcript.json")},
                )
                (trial_dir / "logs").mkdir(parents=True, exist_ok=True)
                transcript = _transcript(rng, record_to_json(record), calls, outcome is Outcome.FAILED)
                write_transcript(trial_dir / "logs" / "transcript.json", transcript)
                (trial_dir / "logs" / "validation.log").write_text(f"== Validation ({step}) ==\n{outcome.upper()}\n")
                append_record(run_dir / RESULTS, record)
    config = {"run_id": run_id, "generated": True, "models": model_names, "steps": list(steps), "trials": trials}
    (run_dir / "config.json").write_text(json.dumps(config, indent=1) + "\n")
    return run_dir
