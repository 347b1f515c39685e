"""The records module's reader and writer, file by file: versions, one-line errors, and what each returns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_hepagent.records import (
    CLASSIFICATIONS,
    Category,
    CategoryVerdict,
    Cell,
    ClassificationLine,
    Outcome,
    RecordError,
    RunSummary,
    TrialRecord,
    Verdict,
    append_record,
    current_categories,
    read_classifications,
    read_jsonl,
    read_record,
    read_records,
    read_summary,
    read_transcript,
    record_from_json,
    record_to_json,
    write_record,
    write_summary,
    write_transcript,
)


def trial(n: int, outcome: Outcome, final: Category | None = None) -> TrialRecord:
    return TrialRecord(
        "run", f"m|s|{n}", "m", "s", n, outcome, category=CategoryVerdict(rule=final, final=final, decided_by="rules")
    )


def test_a_record_is_stored_as_plain_json() -> None:
    record = trial(1, Outcome.FAILED, Category.SEMANTIC_ERROR)
    data = record_to_json(record)
    assert data["outcome"] == "failed" and type(data["outcome"]) is str
    assert data["category"]["final"] == "semantic error" and type(data["category"]["final"]) is str
    assert data["category"]["evidence"] == []  # a tuple becomes a list
    assert data["schema_version"] == 1 and data["chain"] is None
    assert record_from_json(data) == record


def test_a_record_from_a_report_names_where_it_came_from() -> None:
    with pytest.raises(RecordError) as info:
        record_from_json({"schema_version": 7}, "the report of test_x")
    assert str(info.value).startswith("the report of test_x: schema_version 7 is not one this harness reads")
    with pytest.raises(ValueError, match=r"^no schema_version: not a record of this harness$"):
        record_from_json({"key": "k"})
    with pytest.raises(RecordError, match=r"^record: schema_version 7 is not one"):  # no place given
        record_from_json({"schema_version": 7})


def test_one_record_per_file_round_trips_and_a_bad_one_names_its_file(tmp_path: Path) -> None:
    record = trial(2, Outcome.PASSED)
    path = tmp_path / "records" / "categorization.json"
    write_record(path, record)
    assert read_record(path) == record
    assert json.loads(path.read_text())["key"] == "m|s|2"
    path.write_text(json.dumps({"schema_version": 1, "key": "k"}))
    with pytest.raises(RecordError) as info:
        read_record(path)
    assert str(info.value) == (
        f"{path}: not a trial record (run_id: Field required); give a record a `hepagent bench-trial` wrote"
    )
    path.write_text("{not json")
    with pytest.raises(RecordError, match=r"not valid JSON \(.*\); the file is damaged, re-run or restore it$"):
        read_record(path)


def test_a_summary_round_trips_with_its_derived_numbers(tmp_path: Path) -> None:
    cell = Cell("m", "s", 3, 1, 1, 2.0, 1.5, 100, 0.25)
    verdict = Verdict("m", "s", "OK", 3, 4, 4, 4, 0.5, "no significant drop (p = 0.5)")
    summary = RunSummary("run", (cell,), (verdict,), hashes={"dataset": "0"}, dataset={"kind": "synthetic"})
    path = tmp_path / "summary.json"
    write_summary(path, summary)
    stored = json.loads(path.read_text())
    assert stored["total_cost_usd"] == 0.25 and stored["cells"][0]["total"] == 4
    assert stored["cells"][0]["fraction_errors_as_failures"] == 0.6
    assert read_summary(path) == summary


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([{"failed": -2}], "cells.0.failed is -2, below 0; the file is damaged"),
        ([{"passed": -3}], "cells.0.passed is -3, below 0; the file is damaged"),
        ([{"first_passed": 3}], "cells.0.first_passed is above passed; the file is damaged"),
        ([{"passed": 0}, {"passed": 10}], "cells.1 is a second cell of m s; the file is damaged"),
    ],
)
def test_a_summary_with_impossible_cells_is_refused(
    tmp_path: Path, changes: list[dict[str, int]], message: str
) -> None:
    """Counts below 0 or two cells of one model x step would give the gate wrong p-values (or none): a summary
    that no run wrote is refused with one line."""
    path = tmp_path / "summary.json"
    write_summary(path, RunSummary("run", (Cell("m", "s", 2, 1, 0, 0.0, 0.0, 0, 0.0),)))
    stored = json.loads(path.read_text())
    stored["cells"] = [stored["cells"][0] | change for change in changes]
    path.write_text(json.dumps(stored))
    with pytest.raises(RecordError) as info:
        read_summary(path)
    assert str(info.value) == f"{path}: {message}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "not a run summary (not a JSON object but list); give a summary.json that a run wrote"),
        ('{"run_id": "r", "cells": []}', "not a run summary (no schema_version: not a record of this harness)"),
        ('{"schema_version": 1, "cells": []}', "not a run summary (run_id: Field required)"),
        (
            '{"schema_version": 2, "run_id": "r", "cells": []}',
            "schema_version 2 is not one this harness reads (1 to 1)",
        ),
    ],
)
def test_a_summary_that_cannot_be_read_is_one_line_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "summary.json"
    path.write_text(content)
    with pytest.raises(RecordError) as info:
        read_summary(path)
    assert str(info.value).startswith(f"{path}: {message}") and "\n" not in str(info.value)


def test_a_transcript_carries_its_version_and_an_older_one_reads_as_version_1(tmp_path: Path) -> None:
    path = tmp_path / "transcript.json"
    write_transcript(path, {"step": "s", "agent": None})
    assert json.loads(path.read_text())["schema_version"] == 1
    assert read_transcript(path) == {"schema_version": 1, "step": "s", "agent": None}
    path.write_text('{"step": "s"}')  # written before transcripts were versioned
    assert read_transcript(path) == {"step": "s"}
    path.write_text('{"schema_version": 3, "step": "s"}')
    with pytest.raises(RecordError, match=r"transcript.json: schema_version 3 is not one this harness reads"):
        read_transcript(path)
    path.write_text("[1, 2]")
    with pytest.raises(
        RecordError, match=r"not a transcript \(a JSON object\); the file is damaged, re-run the trial$"
    ):
        read_transcript(path)


def test_the_current_category_is_the_latest_reclassification_of_a_failed_trial(tmp_path: Path) -> None:
    records = [trial(1, Outcome.FAILED, Category.OTHER), trial(2, Outcome.PASSED), trial(3, Outcome.FAILED)]
    assert read_classifications(tmp_path / CLASSIFICATIONS) == []
    assert current_categories(tmp_path, records) == {"m|s|1": records[0].category, "m|s|3": records[2].category}

    def line(key: str, final: Category) -> ClassificationLine:
        return ClassificationLine(key, "run", "2026-12-01T00:00:00+00:00", CategoryVerdict(final=final))

    append_record(tmp_path / CLASSIFICATIONS, line("m|s|1", Category.SEMANTIC_ERROR))
    append_record(tmp_path / CLASSIFICATIONS, line("m|s|1", Category.DUMMY_DATA_CREATED))
    append_record(tmp_path / CLASSIFICATIONS, line("m|s|2", Category.OTHER))  # a passed trial has no category
    assert len(read_classifications(tmp_path / CLASSIFICATIONS)) == 3
    current = current_categories(tmp_path, records)
    assert {k: v.final for k, v in current.items()} == {"m|s|1": Category.DUMMY_DATA_CREATED, "m|s|3": None}


def test_the_first_problem_is_named_by_its_place_in_the_record() -> None:
    data: dict[str, Any] = record_to_json(trial(1, Outcome.PASSED))
    data["category"] = {"evidence": ["a", 3]}
    with pytest.raises(ValueError, match=r"^category\.evidence\.1: Input should be a valid string$"):
        record_from_json(data)
    data["category"] = "semantic error"
    with pytest.raises(ValueError, match=r"^category: Input should be an object$"):
        record_from_json(data)


def test_values_json_cannot_hold_are_stored_as_text(tmp_path: Path) -> None:
    record = TrialRecord("run", "m|s|1", "m", "s", 1, Outcome.ERROR, sandbox={"root": Path("/sandbox/root")})
    assert record_to_json(record)["sandbox"] == {"root": "/sandbox/root"}
    path = tmp_path / "transcript.json"
    write_transcript(path, {"trial_dir": tmp_path / "t", "agent": {"calls": []}})
    text = path.read_text()
    assert text.startswith('{\n "schema_version": 1,\n "trial_dir": "') and text.endswith("}\n")  # indented by one
    assert read_transcript(path)["trial_dir"] == str(tmp_path / "t")


def test_a_byte_that_is_not_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    line = json.dumps(record_to_json(trial(1, Outcome.FAILED)) | {"error": "bad X"}).encode()
    path.write_bytes(line.replace(b"bad X", b"bad \xff") + b"\n")
    ((_, value),) = read_jsonl(path)
    assert value["error"] == "bad \ufffd"
    summary = tmp_path / "summary.json"
    summary.write_bytes(b'{"schema_version": 1, "run_id": "r\xff", "cells": []}')
    assert read_summary(summary).run_id == "r\ufffd"


def test_a_record_file_of_an_unknown_version_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record_to_json(trial(1, Outcome.PASSED)) | {"schema_version": 4}))
    with pytest.raises(RecordError) as info:
        read_record(path)
    assert str(info.value).startswith(f"{path}: schema_version 4 is not one this harness reads")


def test_a_lone_surrogate_anywhere_in_a_record_is_stored_and_read_back_replaced(tmp_path: Path) -> None:
    """Hostile text can carry lone surrogates (JSON escapes them; a strict reader refuses them): a record holding one
    must still be read, or its trial would drop out of the results."""
    record = TrialRecord(
        "run",
        "m|s|1",
        "m",
        "s",
        1,
        Outcome.FAILED,
        error="bad \udcff",
        category=CategoryVerdict(evidence=("raised \ud800 here",)),
        hashes={"name \udfff": "x"},
    )
    append_record(tmp_path / "results.jsonl", record)
    (back,) = read_records(tmp_path / "results.jsonl")
    assert (back.error, back.category.evidence, back.hashes) == (
        "bad \ufffd",
        ("raised \ufffd here",),
        {"name \ufffd": "x"},
    )
    assert record_from_json(record_to_json(record)) == back  # what xdist carries
    line = json.dumps(record_to_json(back) | {"error": "escaped \udcff"})  # as another writer would leave it
    assert "\\udcff" in line
    (tmp_path / "other.jsonl").write_text(line + "\n")
    (other,) = read_records(tmp_path / "other.jsonl")
    assert other.error == "escaped \ufffd"
    write_transcript(tmp_path / "t.json", {"stderr": "x \udcff"})
    assert read_transcript(tmp_path / "t.json")["stderr"] == "x \ufffd"
