"""The benchmark's matrix of model x step x trial: its settings, running its trials, and its cells.

    config.py       BenchmarkConfig: the run's settings, checked (from the options table, `options.py`)
    preflight.py    start-up checks that need the models (does the harness's prompt fit their window?)
    execute.py      one trial or chain from settings to record; the classifier is injected
    pool.py         trials run ahead of their items (--hep-concurrency); budget.py: --hep-max-usd
    cells.py        per model x step aggregates, reading a run's cells; table_one.py: the paper's Table I
    gate.py         the CI gate against a baseline and the exit status
    comparison.py   two runs side by side (hepagent compare); propagation.py: chains against isolated steps
    report_text.py  the terminal's tables

The re-exports load lazily: the plugin names the matrix without importing what it runs.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BenchmarkConfig": "config",
    "check_model": "config",
    "new_run_id": "config",
    "safe_name": "config",
    "ChainResult": "execute",
    "Classifier": "execute",
    "record_from_result": "execute",
    "run_benchmark_trial": "execute",
    "run_chain": "execute",
    "Budget": "budget",
    "Skipped": "pool",
    "TrialPool": "pool",
    "ChainCell": "cells",
    "cells_from_records": "cells",
    "chain_cells": "cells",
    "gate": "gate",
    "load_baseline_cells": "baseline",
    "run_exit_status": "gate",
    "run_summary": "cells",
    "TableOne": "table_one",
    "table_one": "table_one",
    "table_one_counts": "table_one",
}
__all__ = [
    "BenchmarkConfig",
    "Budget",
    "ChainCell",
    "ChainResult",
    "Classifier",
    "Skipped",
    "TableOne",
    "TrialPool",
    "cells_from_records",
    "chain_cells",
    "check_model",
    "gate",
    "load_baseline_cells",
    "new_run_id",
    "record_from_result",
    "run_benchmark_trial",
    "run_chain",
    "run_exit_status",
    "run_summary",
    "safe_name",
    "table_one",
    "table_one_counts",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"pytest_hepagent.matrix.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
