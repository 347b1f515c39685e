"""The harness's only ways into a trial's work folder, which generated code controls and may have booby-trapped.

Every path is walked one component at a time from a descriptor of the work folder, with `O_NOFOLLOW`: a symbolic
link anywhere on the way is an error, never followed, so a link planted by the code cannot point the harness at a
golden file, a site-packages `.pth` or anything else outside. Files must be regular files (not FIFOs, devices or
folders) and are size-checked on the open descriptor before anything is read. Removal deletes links themselves,
never what they point at, and the disk-use walk never recurses.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

__all__ = [
    "UnsafeFile",
    "Usage",
    "disk_usage",
    "open_regular",
    "read_regular",
    "remove_entries",
    "write_regular",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFile(Exception):
    """A path in the work folder cannot be used as a plain file; the message says why, in one line."""


def _parts(rel: str) -> list[str]:
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or PurePosixPath(rel).is_absolute():
        raise ValueError(f"{rel!r}: not a relative path inside the trial folder")
    return parts


def _open_dir(parent: int, name: str, where: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeFile(f"{where} is not a folder (a symbolic link or a file stands there)") from None
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(errno.ENOENT, f"{where} does not exist") from None
        raise


@contextlib.contextmanager
def _parent_dir(root: Path, parts: Sequence[str]) -> Iterator[int]:
    """A descriptor of the folder holding `parts[-1]`, reached without following links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for i, name in enumerate(parts[:-1]):
            child = _open_dir(fd, name, "/".join(parts[: i + 1]))
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(root: Path, rel: str, max_bytes: int) -> BinaryIO:
    """`root/rel` opened for reading if it is a regular file of at most `max_bytes`; else `UnsafeFile`.

    `FileNotFoundError` when it (or a folder on its way) does not exist.
    """
    parts = _parts(rel)
    with _parent_dir(root, parts) as parent:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=parent)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFile(f"{rel} is a symbolic link, not a file the code wrote") from None
            if exc.errno == errno.ENOENT:
                raise FileNotFoundError(errno.ENOENT, f"{rel} does not exist") from None
            if exc.errno == errno.ENXIO:  # a socket
                raise UnsafeFile(f"{rel} is a socket, not a regular file") from None
            raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise UnsafeFile(f"{rel} is {_kind(info.st_mode)}, not a regular file")
    if info.st_size > max_bytes:
        os.close(fd)
        raise UnsafeFile(f"{rel} holds {info.st_size} bytes, more than the {max_bytes} this output may have")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def read_regular(root: Path, rel: str, max_bytes: int) -> bytes:
    """The bytes of `root/rel` (see `open_regular`); at most `max_bytes` are read even if the file grows."""
    with open_regular(root, rel, max_bytes) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnsafeFile(f"{rel} grew past {max_bytes} bytes while it was read")
    return data


def write_regular(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    """Create or replace `root/rel` with `data`; folders on the way are created, and links there removed."""
    parts = _parts(rel)
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                    raise
                if exc.errno != errno.ENOENT:
                    _remove(fd, name)
                os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        with contextlib.suppress(FileNotFoundError):
            _remove(fd, parts[-1])
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(data)
    finally:
        os.close(fd)


def _remove(parent: int, name: str) -> None:
    """Remove the entry `name` itself: a link is unlinked (not followed), a folder removed with its contents."""
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(name, dir_fd=parent)  # descriptor-based: does not follow links inside
    else:
        os.unlink(name, dir_fd=parent)


def remove_entries(root: Path, rels: Sequence[str]) -> None:
    """Remove each of `rels` under `root` if present. A link on the way is removed instead of being followed."""
    for rel in rels:
        parts = _parts(rel)
        try:
            with _parent_dir(root, parts) as parent:
                _remove(parent, parts[-1])
        except FileNotFoundError:
            continue
        except UnsafeFile:
            _remove_first_non_folder(root, parts)


def _remove_first_non_folder(root: Path, parts: Sequence[str]) -> None:
    """Unlink the first entry on the way to `parts[-1]` that is not a real folder (the link that stood there)."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    os.unlink(name, dir_fd=fd)
                return
            os.close(fd)
            fd = child
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Usage:
    bytes: int
    """Allocated bytes (st_blocks, so sparse files count for what they occupy)."""
    entries: int
    complete: bool
    """False when the walk stopped at `max_entries`."""


def disk_usage(root: Path, skip: Sequence[str] = (), max_entries: int = 1_000_000) -> Usage:
    """What the folder occupies, walked with an explicit stack (no recursion, no links followed)."""
    total, entries = 0, 0
    stack = [str(root)]
    skipped = {str(Path(root) / s) for s in skip}
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    entries += 1
                    if entries > max_entries:
                        return Usage(total, entries, False)
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512
                    if stat.S_ISDIR(info.st_mode) and entry.path not in skipped:
                        stack.append(entry.path)
        except OSError:
            continue
    return Usage(total, entries, True)
