"""The harness's only ways into a trial's work folder, which generated code controls and may have booby-trapped.

Every path is walked one component at a time from a descriptor of the work folder, with `O_NOFOLLOW`: a symbolic
link anywhere on the way is an error, never followed, so a link planted by the code cannot point the harness at a
golden file, a site-packages `.pth` or anything else outside. Files must be regular files (not FIFOs, devices or
folders) and are size-checked on the open descriptor before anything is read. Removal deletes links themselves,
never what they point at; neither removal nor the disk-use walk recurses, however deep the code nested folders.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
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
    "remove_tree",
    "seal",
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


@contextlib.contextmanager
def _cleared_parent(root: Path, parts: Sequence[str], create: bool) -> Iterator[int | None]:
    """A descriptor of the folder holding `parts[-1]`, reached without following links. Whatever stands on the way
    and is not a folder (a planted link, a file) is removed; a missing folder is created when `create`, else None
    is yielded (nothing below it exists)."""
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
                if not create:
                    yield None
                    return
                os.mkdir(name, 0o755, dir_fd=fd)
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def write_regular(root: Path, rel: str, data: bytes, mode: int = 0o644) -> None:
    """Create or replace `root/rel` with `data`; folders on the way are created, and links there removed."""
    parts = _parts(rel)
    with _cleared_parent(root, parts, create=True) as fd:
        assert fd is not None
        with contextlib.suppress(FileNotFoundError):
            _remove(fd, parts[-1])
        out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            f.write(data)


def _remove(parent: int, name: str) -> None:
    """Remove the entry `name` itself: a link is unlinked (not followed), a folder removed with its contents."""
    info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=parent)
        return
    folder = _open_writable_dir(parent, name)
    try:
        _empty(folder)
    finally:
        os.close(folder)
    os.rmdir(name, dir_fd=parent)


def _open_writable_dir(parent: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except PermissionError:  # the code took its own folder's permissions away: it is the harness's uid's to restore
        os.chmod(name, 0o700, dir_fd=parent)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)


def _empty(folder: int) -> None:
    """Delete everything in `folder` without recursion (shutil.rmtree recurses: a tree 1,000 folders deep made by
    the code would overflow it) and without following links: each subfolder's entries are moved up into `folder`
    (a rename moves a whole subtree at once), then the emptied subfolder is removed, until nothing is left."""
    spare = itertools.count()
    while True:
        with os.scandir(folder) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        if not entries:
            return
        for name, is_dir in entries:
            if not is_dir:
                os.unlink(name, dir_fd=folder)
                continue
            child = _open_writable_dir(folder, name)
            try:
                with os.scandir(child) as it:
                    inner = [e.name for e in it]
                for entry in inner:
                    while True:
                        target = f".hepagent-removed-{next(spare)}"
                        try:
                            os.stat(target, dir_fd=folder, follow_symlinks=False)
                        except FileNotFoundError:
                            break
                    os.rename(entry, target, src_dir_fd=child, dst_dir_fd=folder)
            finally:
                os.close(child)
            os.rmdir(name, dir_fd=folder)


def remove_tree(path: Path) -> None:
    """Delete a trial folder (or anything the code made) that may be deep, full of links or locked down."""
    path = Path(path)
    try:
        parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        with contextlib.suppress(FileNotFoundError):
            _remove(parent, path.name)
    finally:
        os.close(parent)


def remove_entries(root: Path, rels: Sequence[str]) -> None:
    """Remove each of `rels` under `root` if present. A link on the way is removed instead of being followed."""
    for rel in rels:
        parts = _parts(rel)
        with _cleared_parent(root, parts, create=False) as parent:
            if parent is not None:
                with contextlib.suppress(FileNotFoundError):
                    _remove(parent, parts[-1])


def seal(root: Path) -> None:
    """Close the code's folder to every other user once the code is done: whatever modes it set inside (world
    writable folders, set-uid files), nobody but its owner and root can reach them; the harness still reads it."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        os.fchmod(fd, 0o700)
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
