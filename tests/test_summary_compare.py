"""The step-1 summary comparison: every structural difference named exactly, nothing else counted."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_hepagent.compare.result import OutputResult
from pytest_hepagent.compare.summary import MAX_DETAILS, compare_summaries, compare_summary_files
from pytest_hepagent.specs import OutputCheck

CHECK = OutputCheck("summary/root_summary.json", kind="root_summary")


def branch(name: str, kind: str = "float") -> dict[str, str]:
    return {"name": name, "type": kind}


REFERENCE: dict[str, Any] = {
    "files": [
        {
            "file": "data_A.GamGam.root",
            "trees": [{"name": "mini", "entries": 10, "branches": [branch("photon_n", "uint32_t"), branch("trigP")]}],
        },
        {"file": "mc.root", "trees": [{"name": "mini", "entries": 5, "branches": [branch("mcWeight")]}]},
    ]
}


def differences(generated: Any) -> list[str]:
    return list(compare_summaries(generated, REFERENCE, CHECK).details)


def test_the_same_structure_in_another_order_with_extra_keys_passes() -> None:
    generated = copy.deepcopy(REFERENCE)
    generated["files"].reverse()
    generated["files"][1]["trees"][0]["branches"].reverse()
    generated["files"][1]["size_bytes"] = 1234
    generated["note"] = "anything"
    assert compare_summaries(generated, REFERENCE, CHECK) == OutputResult(CHECK.path, "pass", total=2)


def test_each_difference_is_named_with_where_it_is() -> None:
    generated = copy.deepcopy(REFERENCE)
    data = generated["files"][0]["trees"][0]
    data["entries"] = 11
    data["branches"] = [branch("photon_n", "int32_t"), branch("extra")]
    generated["files"][1]["file"] = "other.root"
    result = compare_summaries(generated, REFERENCE, CHECK)
    assert result.path == "summary/root_summary.json"
    assert (result.status, result.message, result.total, result.mismatches) == (
        "structure",
        "6 structural differences",
        2,
        6,
    )
    assert list(result.details) == [
        "files: missing file 'mc.root'",
        "files: unexpected file 'other.root'",
        "data_A.GamGam.root:mini: entries 11 vs reference 10",
        "data_A.GamGam.root:mini: missing branch 'trigP'",
        "data_A.GamGam.root:mini: unexpected branch 'extra'",
        "data_A.GamGam.root:mini:photon_n: type 'int32_t' vs reference 'uint32_t'",
    ]


def test_missing_and_unexpected_trees() -> None:
    generated = copy.deepcopy(REFERENCE)
    generated["files"][1]["trees"] = [{"name": "other", "entries": 5, "branches": []}]
    assert differences(generated) == ["mc.root: missing tree 'mini'", "mc.root: unexpected tree 'other'"]


@pytest.mark.parametrize(
    ("generated", "expected"),
    [
        ([], ["top level: expected an object with 'files', got list", "files: expected a list, got NoneType"]),
        ({"files": {"a": 1}}, ["files: expected a list, got dict"]),
        (
            {"files": [1, {"name": "x"}]},
            ["files: entry without 'file': 1", "files: entry without 'file': {'name': 'x'}"],
        ),
    ],
)
def test_a_shape_that_is_no_summary_is_named(generated: Any, expected: list[str]) -> None:
    assert differences(generated)[: len(expected)] == expected


def test_a_tree_or_branches_of_the_wrong_shape_are_named() -> None:
    generated = copy.deepcopy(REFERENCE)
    generated["files"][0]["trees"] = "mini"
    generated["files"][1]["trees"][0]["branches"] = [{"type": "float"}]
    assert differences(generated) == [
        "data_A.GamGam.root: expected a list, got str",
        "data_A.GamGam.root: missing tree 'mini'",
        "mc.root:mini: entry without 'name': {'type': 'float'}",
        "mc.root:mini: missing branch 'mcWeight'",
    ]


def test_a_long_entry_is_cut_in_the_message() -> None:
    (line,) = differences({"files": [{"x": "y" * 200}]})[:1]
    assert line == "files: entry without 'file': " + str({"x": "y" * 200})[:60]


def test_at_most_max_details_differences_are_listed_then_a_count() -> None:
    generated = {"files": [{"file": f"f{i}.root", "trees": []} for i in range(MAX_DETAILS + 5)]}
    result = compare_summaries(generated, REFERENCE, CHECK)
    assert result.mismatches == MAX_DETAILS + 7  # 2 missing files and 25 unexpected
    assert len(result.details) == MAX_DETAILS + 1
    assert result.details[-1] == "... and 7 more differences"
    assert result.message == f"{MAX_DETAILS + 7} structural differences"


def test_exactly_max_details_differences_have_no_count_line() -> None:
    generated = {"files": [{"file": f"f{i}.root", "trees": []} for i in range(MAX_DETAILS - 2)]}
    result = compare_summaries(generated, REFERENCE, CHECK)
    assert result.mismatches == MAX_DETAILS
    assert len(result.details) == MAX_DETAILS and not result.details[-1].startswith("...")


def test_files_are_read_from_the_trial_folder(tmp_path: Path) -> None:
    reference = tmp_path / "golden.json"
    reference.write_text(json.dumps(REFERENCE))
    work = tmp_path / "work"
    (work / "summary").mkdir(parents=True)
    assert compare_summary_files(work, reference, CHECK) == OutputResult(
        CHECK.path, "missing", "summary/root_summary.json was not produced"
    )
    (work / CHECK.path).write_text(json.dumps(REFERENCE))
    assert compare_summary_files(work, reference, CHECK).status == "pass"
    (work / CHECK.path).write_text("{not json")
    broken = compare_summary_files(work, reference, CHECK)
    assert (broken.path, broken.status) == (CHECK.path, "unreadable") and CHECK.path in broken.message
    (work / CHECK.path).unlink()
    (work / CHECK.path).symlink_to(reference)  # a link out of the trial folder is not read
    linked = compare_summary_files(work, reference, CHECK)
    assert linked.status == "unreadable" and "link" in linked.message
