"""The bounded readers of a trial's outputs, value by value: every .npy header they accept or refuse, and JSON depth
measured without parsing."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_hepagent.sandbox.untrusted import (
    MAX_JSON_DEPTH,
    UnreadableOutput,
    json_depth,
    read_json,
    read_npy,
    read_npy_header,
)

# ---------------------------------------------------------------- JSON depth


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


TRICKY = st.text(alphabet='[]{}"\\ab', max_size=8)  # brackets, quotes and backslashes inside strings
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=12,
)


@given(JSON)
def test_json_depth_is_the_nesting_of_the_value(value: Any) -> None:
    assert json_depth(json.dumps(value).encode()) == depth(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"", 0),
        (b"1", 0),
        (b"[", 1),
        (b"[][[", 2),
        (b"[]", 1),
        (b"[[{}]]", 3),
        (b'["]]]"]', 1),
        (b'["\\"[[["]', 1),  # an escaped quote does not end the string
        (b'["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote after it
        (b'\\"[', 1),  # a quote escaped at the very start opens no string
        (b'\\\\"[', 0),  # two backslashes at the start: the quote opens a string
        (b'"[', 0),  # an unterminated string: what follows is inside it
        (b"[]]][", 1),  # more closing than opening: the deepest point is what counts
    ],
)
def test_json_depth_of_hand_made_texts(text: bytes, expected: int) -> None:
    assert json_depth(text) == expected


def test_read_json_refuses_what_is_too_deep_or_not_json(tmp_path: Path) -> None:
    (tmp_path / "deep.json").write_text("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    with pytest.raises(UnreadableOutput) as exc:
        read_json(tmp_path, "deep.json")
    assert str(exc.value) == f"deep.json: JSON nested {MAX_JSON_DEPTH + 1} levels deep, more than the 64 allowed"
    (tmp_path / "edge.json").write_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert depth(read_json(tmp_path, "edge.json")) == MAX_JSON_DEPTH
    (tmp_path / "bad.json").write_text('{"a": 1,\n}')
    with pytest.raises(UnreadableOutput) as exc:
        read_json(tmp_path, "bad.json")
    assert str(exc.value).startswith("bad.json is not valid JSON (Expecting property name enclosed in double quotes")
    (tmp_path / "latin.json").write_bytes(b'{"a": "\xff"}')  # not UTF-8: replaced, still read
    assert read_json(tmp_path, "latin.json") == {"a": "\ufffd"}
    assert read_json(tmp_path, "latin.json", max_depth=1) == {"a": "\ufffd"}
    with pytest.raises(UnreadableOutput, match="nested 1 levels deep, more than the 0 allowed"):
        read_json(tmp_path, "latin.json", max_depth=0)


# ---------------------------------------------------------------- .npy headers


def npy(path: Path, array: np.ndarray, version: tuple[int, int] = (1, 0)) -> Path:
    with path.open("wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=True)
    return path


def test_both_npy_versions_are_read_c_and_fortran_order(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    npy(tmp_path / "v1.npy", a)
    npy(tmp_path / "v2.npy", np.asfortranarray(a), version=(2, 0))
    header = read_npy_header(tmp_path, "v2.npy")
    assert (header.shape, header.dtype, header.fortran_order, header.size) == ((2, 3), np.dtype("float32"), True, 6)
    assert header.offset == 128 and header.file_bytes == 128 + 24
    assert read_npy_header(tmp_path, "v1.npy").fortran_order is False
    for name in ("v1.npy", "v2.npy"):
        got = read_npy(tmp_path, name, max_elements=6)
        assert got.dtype == np.float64 and (got == a).all()


def test_another_npy_version_is_refused(tmp_path: Path) -> None:
    data = bytearray(npy(tmp_path / "a.npy", np.zeros(2)).read_bytes())
    data[6:8] = bytes([3, 0])  # format 3.0 (a text-encoded header)
    (tmp_path / "a.npy").write_bytes(bytes(data))
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "a.npy", 10)
    assert str(exc.value) == "a.npy: .npy format 3.0 is not a plain numeric array"


def test_a_file_that_is_no_npy_names_the_reason(tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(b"not an array at all")
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "a.npy", 10)
    assert str(exc.value).startswith("a.npy is not a readable .npy file (the magic string is not correct")


def test_a_header_above_the_size_bound_is_refused(tmp_path: Path) -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), " + " " * 20_000 + "}\n"
    raw = b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + b"\0" * 8
    (tmp_path / "big.npy").write_bytes(raw)
    with pytest.raises(UnreadableOutput, match=r"big\.npy is not a readable \.npy file"):
        read_npy(tmp_path, "big.npy", 10)


@pytest.mark.parametrize(
    "array",
    [
        np.array([{"a": 1}], dtype=object),
        np.zeros(2, dtype=[("x", "<f8")]),
        np.array(["ab"]),
        np.zeros(2, dtype=np.complex128),
    ],
)
def test_only_plain_real_numbers_are_read(tmp_path: Path, array: np.ndarray) -> None:
    npy(tmp_path / "a.npy", array)
    with pytest.raises(UnreadableOutput, match=r"a.npy: dtype .* is not plain real numbers"):
        read_npy(tmp_path, "a.npy", 10)


def test_integers_and_booleans_are_read_as_floats(tmp_path: Path) -> None:
    npy(tmp_path / "i.npy", np.array([1, -2], dtype=np.int16))
    npy(tmp_path / "b.npy", np.array([True, False]))
    assert read_npy(tmp_path, "i.npy", 2).tolist() == [1.0, -2.0]
    assert read_npy(tmp_path, "b.npy", 2).tolist() == [1.0, 0.0]


def test_an_empty_array_is_read(tmp_path: Path) -> None:
    npy(tmp_path / "e.npy", np.zeros((0, 3)))
    assert read_npy(tmp_path, "e.npy", 0).shape == (0, 3)


def test_a_header_that_declares_more_data_than_the_file_holds(tmp_path: Path) -> None:
    data = npy(tmp_path / "a.npy", np.zeros(4)).read_bytes()
    (tmp_path / "a.npy").write_bytes(data[:-8])  # one float short
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "a.npy", 10)
    assert str(exc.value) == (
        "a.npy: its header declares shape (4,) (32 bytes of float64) but the file holds 24 bytes of data"
    )
    (tmp_path / "b.npy").write_bytes(data[:128])  # the header alone
    with pytest.raises(UnreadableOutput, match=r"\(32 bytes of float64\) but the file holds 0 bytes of data"):
        read_npy(tmp_path, "b.npy", 10)


def test_a_negative_shape_is_refused(tmp_path: Path) -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 2), }"
    header += " " * (128 - 10 - len(header) - 1) + "\n"
    (tmp_path / "n.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "n.npy", 10)
    assert str(exc.value) == "n.npy: its header declares a negative shape (-1, 2)"


def test_more_elements_than_allowed_are_not_read(tmp_path: Path) -> None:
    npy(tmp_path / "a.npy", np.zeros((3, 4)))
    assert read_npy(tmp_path, "a.npy", 12).shape == (3, 4)
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "a.npy", 11)
    assert str(exc.value) == "a.npy: 12 elements, more than the 11 this output may have"


def test_only_the_declared_data_is_read_whatever_follows_it(tmp_path: Path) -> None:
    import tracemalloc

    data = npy(tmp_path / "a.npy", np.arange(4.0)).read_bytes()
    (tmp_path / "a.npy").write_bytes(data + b"\0" * (64 << 20))  # 64 MiB of trailing bytes
    tracemalloc.start()
    try:
        assert read_npy(tmp_path, "a.npy", 4).tolist() == [0.0, 1.0, 2.0, 3.0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_long_reason_is_cut_to_one_short_line(tmp_path: Path) -> None:
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), '" + "y" * 400 + "': 1}"  # a long unknown key
    header += " " * (64 - (10 + len(header) + 1) % 64) + "\n"
    (tmp_path / "a.npy").write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    with pytest.raises(UnreadableOutput) as exc:
        read_npy(tmp_path, "a.npy", 10)
    message = str(exc.value)
    assert message.startswith("a.npy is not a readable .npy file (") and "\n" not in message
    assert len(message) == len("a.npy is not a readable .npy file ()") + 160
