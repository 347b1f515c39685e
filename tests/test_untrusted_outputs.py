"""The harness reads and cleans a trial's work folder as hostile: no link followed, every reader bounded."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from pytest_hepagent.compare import validate_step
from pytest_hepagent.sandbox.trial_files import (
    UnsafeFile,
    disk_usage,
    open_regular,
    remove_entries,
    remove_tree,
    write_regular,
)
from pytest_hepagent.sandbox.untrusted import UnreadableOutput, json_depth, read_json, read_npy, read_npy_header
from pytest_hepagent.specs import load_specs


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the work folder, with a file named like an output."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "boundaries.npy").write_bytes(b"must survive")
    return folder


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "work" / "arrays").mkdir(parents=True)
    return tmp_path / "work"


def test_links_fifos_folders_and_sockets_are_not_files(work: Path, outside: Path) -> None:
    (work / "arrays" / "link.npy").symlink_to(outside / "boundaries.npy")
    os.mkfifo(work / "arrays" / "fifo.npy")
    (work / "arrays" / "folder.npy").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(work / "arrays" / "sock.npy"))
        for name, what in (("link", "symbolic link"), ("fifo", "FIFO"), ("folder", "folder"), ("sock", "socket")):
            with pytest.raises(UnsafeFile, match=what):
                open_regular(work, f"arrays/{name}.npy", 1 << 20)


def test_a_linked_folder_on_the_way_is_not_followed(work: Path, outside: Path) -> None:
    (work / "summary").symlink_to(outside)
    with pytest.raises(UnsafeFile, match="summary is not a folder"):
        open_regular(work, "summary/boundaries.npy", 1 << 20)


def test_a_file_over_its_cap_is_refused_before_reading(work: Path) -> None:
    (work / "arrays" / "big.npy").write_bytes(b"x" * 1000)
    with pytest.raises(UnsafeFile, match="holds 1000 bytes, more than the 999"):
        open_regular(work, "arrays/big.npy", 999)
    with pytest.raises(ValueError, match="not a relative path"):
        open_regular(work, "../outside/boundaries.npy", 1000)


def test_removing_outputs_removes_links_not_what_they_point_at(work: Path, outside: Path) -> None:
    (work / "arrays").rmdir()
    (work / "arrays").symlink_to(outside)  # the code replaced its output folder by a link
    remove_entries(work, ["arrays/boundaries.npy"])
    assert (outside / "boundaries.npy").read_bytes() == b"must survive"
    assert not (work / "arrays").exists()
    (work / "summary").mkdir()
    (work / "summary" / "x.json").symlink_to(outside / "boundaries.npy")
    remove_entries(work, ["summary/x.json", "summary/missing.json"])
    assert not (work / "summary" / "x.json").is_symlink() and (outside / "boundaries.npy").exists()


def test_writing_through_a_planted_link_replaces_the_link(work: Path, outside: Path) -> None:
    (work / "generated_code").symlink_to(outside)
    write_regular(work, "generated_code/boundaries.npy", b"code")
    assert (outside / "boundaries.npy").read_bytes() == b"must survive"
    assert (work / "generated_code").is_dir() and not (work / "generated_code").is_symlink()
    assert (work / "generated_code" / "boundaries.npy").read_bytes() == b"code"


def _deep(folder: Path, depth: int = 1500) -> Path:
    """A chain of folders deeper than Python's recursion limit (shutil.rmtree and a recursive walk overflow)."""
    for _ in range(depth):
        folder = folder / "d"
        folder.mkdir(parents=True)
    (folder / "data").write_bytes(b"x" * 8192)
    return folder


def test_disk_use_of_a_deep_tree_is_measured_without_recursion(work: Path) -> None:
    _deep(work)
    usage = disk_usage(work)
    assert usage.complete and usage.entries == 1502 and usage.bytes >= 8192
    assert not disk_usage(work, max_entries=100).complete
    remove_tree(work)
    assert not work.exists()
    remove_tree(work / "never" / "made")  # nothing there: nothing to do


def test_outputs_the_code_made_deep_links_or_locked_are_removed(work: Path, outside: Path) -> None:
    _deep(work / "arrays" / "boundaries.npy")  # an output path holding a tree 1,500 folders deep
    (work / "arrays" / "significances.npy").mkdir()
    (work / "arrays" / "significances.npy" / "to-outside").symlink_to(outside)
    (work / "arrays" / "significances.npy").chmod(0)
    remove_entries(work, ["arrays/boundaries.npy", "arrays/significances.npy"])
    assert not any((work / "arrays").iterdir()) and (outside / "boundaries.npy").exists()


def _header_only(path: Path, shape: tuple[int, ...], descr: str = "<f8") -> None:
    with path.open("wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
        f.write(bytes(64))


def test_an_npy_header_is_checked_against_the_file_before_any_allocation(work: Path) -> None:
    _header_only(work / "arrays" / "huge.npy", (2**40,))
    with pytest.raises(UnreadableOutput, match=r"declares shape \(1099511627776,\).*holds 64 bytes"):
        read_npy_header(work, "arrays/huge.npy")
    np.save(work / "arrays" / "ok.npy", np.arange(10.0))
    assert read_npy_header(work, "arrays/ok.npy").shape == (10,)
    with pytest.raises(UnreadableOutput, match="10 elements, more than the 5"):
        read_npy(work, "arrays/ok.npy", max_elements=5)
    np.testing.assert_array_equal(read_npy(work, "arrays/ok.npy", max_elements=10), np.arange(10.0))


def test_a_negative_shape_is_refused_before_the_data_is_read(work: Path) -> None:
    path = work / "arrays" / "neg.npy"
    _header_only(path, (-1,), "|u1")
    with path.open("r+b") as f:
        f.truncate(1 << 26)  # 64 MiB, sparse: a reader that trusts the shape reads it all
    with pytest.raises(UnreadableOutput, match=r"negative shape \(-1,\)"):
        read_npy(work, "arrays/neg.npy", max_elements=100)


def test_pickles_and_structured_arrays_are_not_numbers(work: Path) -> None:
    np.save(work / "arrays" / "obj.npy", np.array([{}], dtype=object), allow_pickle=True)
    np.save(work / "arrays" / "rec.npy", np.zeros(3, dtype=[("a", "f8")]))
    for name in ("obj", "rec"):
        with pytest.raises(UnreadableOutput, match="not plain real numbers"):
            read_npy(work, f"arrays/{name}.npy", 100)


def test_json_depth_is_measured_on_the_text(work: Path) -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[[["}]}') == 3  # brackets inside strings do not count
    (work / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(UnreadableOutput, match="nested 200000 levels deep"):
        read_json(work, "deep.json")


def test_any_failure_while_validating_an_output_is_that_trial_s_failure(
    work: Path, hepagent_solution: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_specs()["categorization"]
    _header_only(work / "arrays" / "boundaries.npy", (2**40,))

    def explode(*_: object) -> None:
        raise MemoryError("out of memory")

    monkeypatch.setattr("pytest_hepagent.compare.validation.compare_array_files", explode)
    result = validate_step(spec, work, hepagent_solution)
    assert not result.passed
    assert [o.status for o in result.outputs] == ["unreadable", "unreadable"]
    assert result.outputs[0].message == "arrays/boundaries.npy could not be validated (MemoryError: out of memory)"


def test_a_shape_mismatch_is_told_from_the_header_alone(work: Path, hepagent_solution: Path) -> None:
    spec = load_specs()["categorization"]
    _header_only(work / "arrays" / "boundaries.npy", (3,))
    np.save(work / "arrays" / "significances.npy", np.load(hepagent_solution / "arrays" / "significances.npy"))
    outputs = {o.path: o for o in validate_step(spec, work, hepagent_solution).outputs}
    assert outputs["arrays/boundaries.npy"].status == "shape"
    assert outputs["arrays/significances.npy"].status == "pass"
