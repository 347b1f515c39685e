"""Bounded readers for the files a trial wrote: `.npy` arrays and JSON, opened through `trial_files`.

A hostile output must not be able to exhaust the harness. An array's header (at most `MAX_HEADER` bytes) is read
first; its dtype must be plain numbers (no pickled objects), its declared size must be on disk, and the caller
caps the number of elements, so the data read is never more than the caller allows. JSON is size-capped and its
nesting depth is measured on the raw text before it is parsed.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numpy.typing import NDArray

from pytest_hepagent.sandbox.trial_files import open_regular, read_regular

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "NpyHeader",
    "UnreadableOutput",
    "json_depth",
    "read_json",
    "read_npy",
    "read_npy_header",
]

MAX_FILE_BYTES = 8 << 30
"""No output file is opened beyond this size (the sandbox's file-size limit is far below)."""
MAX_HEADER = 10_000
"""numpy's own default bound on a header."""
MAX_JSON_BYTES = 4 << 20
"""The step-1 summary of the release is about 100 KiB; this leaves 40 times that."""
MAX_JSON_DEPTH = 64
_NUMERIC_KINDS = "biuf"


class UnreadableOutput(Exception):
    """An output cannot be read as what it must be; the message says why, in one line."""


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    fortran_order: bool
    offset: int
    """Where the data starts."""
    file_bytes: int

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def _header(f: BinaryIO, rel: str, file_bytes: int) -> NpyHeader:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f, max_header_size=MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f, max_header_size=MAX_HEADER)
        else:
            raise UnreadableOutput(f"{rel}: .npy format {version[0]}.{version[1]} is not a plain numeric array")
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise UnreadableOutput(f"{rel} is not a readable .npy file ({str(exc).splitlines()[0][:160]})") from None
    if dtype.hasobject or dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise UnreadableOutput(f"{rel}: dtype {dtype} is not plain real numbers (pickled or structured data)")
    header = NpyHeader(tuple(int(n) for n in shape), dtype, bool(fortran), f.tell(), file_bytes)
    if any(n < 0 for n in header.shape):
        raise UnreadableOutput(f"{rel}: its header declares a negative shape {header.shape}")
    if header.size * dtype.itemsize > file_bytes - header.offset:
        raise UnreadableOutput(
            f"{rel}: its header declares shape {header.shape} ({header.size * dtype.itemsize} bytes of {dtype}) "
            f"but the file holds {max(file_bytes - header.offset, 0)} bytes of data"
        )
    return header


def read_npy_header(root: Path, rel: str) -> NpyHeader:
    """Shape and dtype of `root/rel` from its header alone, after checking the data is all there."""
    with open_regular(root, rel, MAX_FILE_BYTES) as f:
        return _header(f, rel, _size(f))


def _size(f: BinaryIO) -> int:
    return os.fstat(f.fileno()).st_size


def read_npy(root: Path, rel: str, max_elements: int) -> NDArray[np.float64]:
    """The array in `root/rel` as float64, if it holds at most `max_elements` plain numbers; else the error says
    why. `UnsafeFile`/`FileNotFoundError` for a path that is not a regular file, `UnreadableOutput` otherwise."""
    with open_regular(root, rel, MAX_FILE_BYTES) as f:
        header = _header(f, rel, _size(f))
        if header.size > max_elements:
            raise UnreadableOutput(f"{rel}: {header.size} elements, more than the {max_elements} this output may have")
        data = f.read(header.size * header.dtype.itemsize)
    flat = np.frombuffer(data, dtype=header.dtype, count=header.size)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C").astype(np.float64)


def json_depth(text: bytes) -> int:
    """The deepest nesting of `[`/`{` in JSON text, brackets inside strings not counted. One vectorized pass:
    no parser (no recursion) and no regular expression (an unterminated string makes one quadratic)."""
    raw = np.frombuffer(text, dtype=np.uint8)
    if raw.size == 0:
        return 0
    index = np.arange(raw.size, dtype=np.int32)
    backslash = raw == ord("\\")
    # A quote is escaped when an odd number of backslashes stands right before it.
    last_other = np.maximum.accumulate(np.where(backslash, -1, index))
    run_before = np.concatenate([np.zeros(1, np.int32), index[:-1] - last_other[:-1]])
    quote = (raw == ord('"')) & (run_before % 2 == 0)
    inside = (np.cumsum(quote, dtype=np.int32) - quote) % 2 == 1  # after an odd number of quotes: in a string
    steps = np.zeros(raw.size, dtype=np.int8)
    steps[((raw == ord("[")) | (raw == ord("{"))) & ~inside] = 1
    steps[((raw == ord("]")) | (raw == ord("}"))) & ~inside] = -1
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def read_json(root: Path, rel: str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in `root/rel`, size- and depth-checked before it is parsed."""
    data = read_regular(root, rel, max_bytes)
    depth = json_depth(data)
    if depth > max_depth:
        raise UnreadableOutput(f"{rel}: JSON nested {depth} levels deep, more than the {max_depth} allowed")
    try:
        return json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError) as exc:
        raise UnreadableOutput(f"{rel} is not valid JSON ({str(exc).splitlines()[0][:160]})") from None
