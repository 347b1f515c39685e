"""The published JSON Schemas of results.jsonl, summary.json and classifications.jsonl: generated from the record
classes, committed, and valid for what a real run writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from error_classifier.store import reclassify_run
from pytest_hepagent.records.schema import SCHEMA_DIR, json_schemas

FAILURES = Path(__file__).parents[1] / "pytest_hepagent/cassettes/failures"


def _schema(name: str) -> Any:
    schema = json.loads((SCHEMA_DIR / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schemas_are_the_generated_ones() -> None:
    generated = json_schemas()
    assert sorted(p.name for p in SCHEMA_DIR.glob("*.json")) == sorted(generated)
    for name, schema in generated.items():
        committed = json.loads((SCHEMA_DIR / name).read_text())
        assert committed == schema, f"{name} is stale: run `python -m pytest_hepagent.records.schema` and commit"


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory, hepagent_solution: Path) -> tuple[Path, Path]:
    """Two runs of the default benchmark: the oracle beside a failing replay, then the same against the first as
    baseline (so the summary holds gate verdicts), and a re-classification of the first."""
    root = tmp_path_factory.mktemp("schema-runs")
    cassettes = root / "c"
    cassettes.mkdir()
    (cassettes / "categorization-trial1.yaml").write_text((FAILURES / "semantic-2.yaml").read_text())
    (cassettes / "preprocessing-trial1.yaml").write_text((FAILURES / "file-not-found-1.yaml").read_text())
    common = [
        "--hep-model=hepagent/oracle",
        "--hep-model=hepagent/replay",
        f"--hep-replay={cassettes}",
        "--hep-steps=preprocessing,categorization",
    ]
    runs = []
    for baseline in ([], [f"--hep-baseline={root / 'first'}"]):
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *common, *baseline],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        (run,) = (root / "reports").iterdir()
        assert (run / "summary.json").is_file(), done.stdout[-2000:] + done.stderr[-2000:]
        runs.append(run.rename(root / ("first" if not baseline else "second")))
    reclassify_run(runs[0])
    return runs[0], runs[1]


def test_a_real_runs_files_are_valid(real_runs: tuple[Path, Path]) -> None:
    results, summary, classifications = (
        _schema("results.schema.json"),
        _schema("summary.schema.json"),
        _schema("classifications.schema.json"),
    )
    outcomes = set()
    for run in real_runs:
        lines = (run / "results.jsonl").read_text().splitlines()
        assert len(lines) == 4
        for line in lines:
            record = json.loads(line)
            results.validate(record)
            outcomes.add(record["outcome"])
        summary.validate(json.loads((run / "summary.json").read_text()))
    assert outcomes == {"passed", "failed"}
    assert json.loads((real_runs[1] / "summary.json").read_text())["gate"]  # the gate's verdicts were validated
    lines = (real_runs[0] / "classifications.jsonl").read_text().splitlines()
    assert len(lines) == 2
    for line in lines:
        classifications.validate(json.loads(line))


def test_the_schemas_refuse_what_the_readers_refuse(real_runs: tuple[Path, Path]) -> None:
    results = _schema("results.schema.json")
    record = json.loads((real_runs[0] / "results.jsonl").read_text().splitlines()[0])
    for change in ({"schema_version": 2}, {"outcome": "skipped"}, {"trial": "1"}, {"tokens": {"input": 1.5}}):
        with pytest.raises(jsonschema.ValidationError):
            results.validate(record | change)
    del record["model"]
    with pytest.raises(jsonschema.ValidationError, match="'model' is a required property"):
        results.validate(record)
