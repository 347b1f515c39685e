"""The records every stage passes on and stores, typed and versioned, with their one reader and writer.

    Outcome, Category                      the words: how a trial ended, the paper's seven error categories
    TrialRecord (+ Tokens, CategoryVerdict, ChainLink)   a line of results.jsonl
    ClassificationLine                     a line of classifications.jsonl (a re-classification)
    RunSummary (+ Cell, Verdict)           summary.json
    read_* / write_* / append_*            the only code that parses or writes them (`store.py`)

The JSON Schemas of `results.jsonl` and `summary.json` are in `schemas/`, generated from these classes
(`python -m pytest_hepagent.records.schemas`), for tools that read runs without this package.
"""

from __future__ import annotations

from pytest_hepagent.records.store import (
    CLASSIFICATIONS,
    RESULTS,
    SUMMARY,
    RecordError,
    ResultsStore,
    append_jsonl,
    append_record,
    current_categories,
    latest_records,
    read_classifications,
    read_jsonl,
    read_record,
    read_records,
    read_run,
    read_summary,
    read_transcript,
    record_from_json,
    record_to_json,
    write_json,
    write_record,
    write_summary,
    write_transcript,
)
from pytest_hepagent.records.summary import PASS_K, Cell, RunSummary, SuccessRate, Verdict
from pytest_hepagent.records.trial import (
    CategoryVerdict,
    ChainLink,
    ClassificationLine,
    Tokens,
    TrialRecord,
    chain_id,
    chain_trial_key,
    trial_key,
)
from pytest_hepagent.records.vocabulary import Category, Outcome

__all__ = [
    "CLASSIFICATIONS",
    "PASS_K",
    "RESULTS",
    "SUMMARY",
    "Category",
    "CategoryVerdict",
    "Cell",
    "ChainLink",
    "ClassificationLine",
    "Outcome",
    "RecordError",
    "ResultsStore",
    "RunSummary",
    "SuccessRate",
    "Tokens",
    "TrialRecord",
    "Verdict",
    "append_jsonl",
    "append_record",
    "chain_id",
    "chain_trial_key",
    "current_categories",
    "latest_records",
    "read_classifications",
    "read_jsonl",
    "read_record",
    "read_records",
    "read_run",
    "read_summary",
    "read_transcript",
    "record_from_json",
    "record_to_json",
    "trial_key",
    "write_json",
    "write_record",
    "write_summary",
    "write_transcript",
]
