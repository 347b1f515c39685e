"""JSON Schemas of the stored records, for tools that read runs without this package.

They are generated from the record classes and committed in `schemas/`; a test fails when they drift apart.
Regenerate after changing a record: `python -m pytest_hepagent.records.schema`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pytest_hepagent.records.summary import SUMMARY_VERSION, RunSummary
from pytest_hepagent.records.trial import CLASSIFICATION_VERSION, RECORD_VERSION, ClassificationLine, TrialRecord

__all__ = ["SCHEMA_DIR", "json_schemas"]

SCHEMA_DIR = Path(__file__).with_name("schemas")

_NUMBER = {"type": "number"}
_PAIR = {"type": "array", "items": _NUMBER, "minItems": 2, "maxItems": 2}
_BY_K: dict[str, Any] = {"type": "object", "additionalProperties": _NUMBER}
_DERIVED = {
    # Stored beside the fields for readers without the classes (`Cell.to_json`, `RunSummary.to_json`).
    "Cell": {
        "total": {"type": "integer", "description": "passed + failed: the judged trials"},
        "started": {"type": "integer", "description": "passed + failed + errors"},
        "fraction": _NUMBER | {"description": "passed / total (0 when total is 0)"},
        "binomial_error": _NUMBER | {"description": "sqrt(p (1 - p) / total), the paper's error"},
        "wilson_95": _PAIR,
        "clopper_pearson_95": _PAIR | {"description": "the exact 95% interval"},
        "rule_of_three_95": {
            "anyOf": [_PAIR, {"type": "null"}],
            "description": "at 0/n [0, 3/n], at n/n [1 - 3/n, 1]; null in between",
        },
        "pass_at_k": _BY_K | {"description": "unbiased pass@k by k, for k <= total"},
        "pass_hat_k": _BY_K | {"description": "unbiased pass^k by k, for k <= total"},
        "first_attempt_fraction": _NUMBER | {"description": "first_passed / total"},
        "self_correction": {
            "type": "object",
            "properties": {"difference": _NUMBER, "wilson_95": _PAIR},
            "description": "(passed - first_passed) / total: what the later attempts rescued",
        },
        "cost_per_success_usd": {"anyOf": [_NUMBER, {"type": "null"}], "description": "cost_usd / passed"},
        "fraction_errors_as_failures": _NUMBER | {"description": "passed / started"},
        "wilson_95_errors_as_failures": _PAIR,
    },
    "RunSummary": {"total_cost_usd": _NUMBER},
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema (draft 2020-12) of one line of results.jsonl, of summary.json, and of one line of
    classifications.jsonl."""
    from pydantic import TypeAdapter

    out = {}
    for name, kind, newest, title in (
        ("results.schema.json", TrialRecord, RECORD_VERSION, "One line of results.jsonl: a trial record"),
        ("summary.schema.json", RunSummary, SUMMARY_VERSION, "summary.json: a run's cells, gate verdicts, settings"),
        ("classifications.schema.json", ClassificationLine, CLASSIFICATION_VERSION, "A line of classifications.jsonl"),
    ):
        schema = TypeAdapter(kind).json_schema(mode="serialization")
        for definition in [schema, *schema.get("$defs", {}).values()]:
            if definition.get("title") in _DERIVED:
                definition["properties"] |= _DERIVED[definition["title"]]
        # The readers refuse versions they do not know: so does the schema.
        schema["properties"]["schema_version"] = {"type": "integer", "minimum": 1, "maximum": newest}
        schema["required"] = sorted({*schema.get("required", []), "schema_version"})
        out[name] = {"$schema": "https://json-schema.org/draft/2020-12/schema"} | schema | {"title": title}
    return out


def main() -> int:
    for name, schema in json_schemas().items():
        path = SCHEMA_DIR / name
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
