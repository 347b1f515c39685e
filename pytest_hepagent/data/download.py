"""Fetch the real 2020 GamGam release: resumable, size-checked, with a progress bar.

Each file is streamed into `<name>.part`; an interrupted transfer resumes with an HTTP Range request (a server
that ignores it restarts the file); the final size must equal the size the server announced before the file is
renamed into place, and a file that is already complete is not fetched again. Nothing already on disk is lost: a
failed download keeps its `.part` for the next attempt.
"""

from __future__ import annotations

import http.client
import logging
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hepagent.data.schema import BASE_URL, SAMPLES, Sample
from pytest_hepagent.errors import DataError

__all__ = ["DownloadResult", "download", "download_file"]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    skipped: bool
    """True when the file was already complete on disk."""
    resumed_from: int = 0


def _remote_size(url: str, timeout: float) -> int | None:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            return int(length) if length is not None else None
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise DataError(f"{url}: not found (HTTP 404); check --base-url (the release is at {BASE_URL})") from None
        return None  # some servers refuse HEAD; the GET tells the size instead


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> tuple[int, int]:
    """Append the rest of `url` to `part`; returns (resumed_from, expected_total)."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416:  # nothing left to send: the part file is already whole
            return offset, offset
        raise
    with response:
        if offset and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise DataError(
                    f"{url}: server answered the resume request with a bad Content-Range "
                    f"{response.headers.get('Content-Range')!r}; delete {part} and retry"
                )
            total = int(match.group(3)) if match.group(3) != "*" else -1
            mode = "ab"
        else:  # a fresh download, or a server that ignores Range: start over
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else -1
            mode = "wb"
        bar = _progress_bar(part.name.removesuffix(".part"), total, offset, progress)
        try:
            with part.open(mode) as out:
                while block := response.read(CHUNK):
                    out.write(block)
                    bar.update(len(block))
        finally:
            bar.close()
    return offset, total


def _progress_bar(name: str, total: int, initial: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total if total >= 0 else None,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        disable=not enabled,
        leave=True,
    )


def download_file(
    url: str, target: Path, *, timeout: float = 60.0, retries: int = 3, progress: bool = True
) -> DownloadResult:
    """Download one file to `target`, resuming `target.part` and retrying dropped connections."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remote = _remote_size(url, timeout)
    if target.is_file() and remote is not None and target.stat().st_size == remote:
        return DownloadResult(target, remote, skipped=True)
    part = target.with_name(target.name + ".part")
    first_offset = part.stat().st_size if part.exists() else 0
    for attempt in range(retries + 1):
        try:
            _, total = _transfer(url, part, timeout, progress)
        except (OSError, http.client.HTTPException) as exc:  # URLError, resets, timeouts, short reads
            if isinstance(exc, urllib.error.HTTPError) and exc.code < 500:
                raise DataError(f"{url}: HTTP {exc.code} {exc.reason}; check --base-url") from None
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise DataError(
                    f"{url}: download failed after {retries + 1} attempts ({exc}); {have} bytes kept in "
                    f"{part}; run `hepagent download` again to resume"
                ) from None
            log.warning("%s: %s; resuming (attempt %d of %d)", url, exc, attempt + 2, retries + 1)
            time.sleep(min(2.0**attempt, 30.0) * 0.1)
            continue
        expected = remote if remote is not None else total
        have = part.stat().st_size
        if expected >= 0 and have < expected:
            if attempt == retries:
                raise DataError(
                    f"{url}: download stopped at {have} of {expected} bytes; {part} is kept, run "
                    f"`hepagent download` again to resume"
                )
            log.warning("%s: got %d of %d bytes; resuming", url, have, expected)
            continue
        if expected >= 0 and have != expected:
            raise DataError(f"{url}: got {have} bytes but the server announced {expected}; delete {part} and retry")
        part.replace(target)
        return DownloadResult(target, have, skipped=False, resumed_from=first_offset)
    raise AssertionError("unreachable")


def download(
    dest: Path,
    base_url: str = BASE_URL,
    samples: Iterable[Sample] = SAMPLES,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
) -> list[DownloadResult]:
    """Fetch the release's files into `dest` with its `Data/` and `MC/` layout."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    return [
        download_file(base + s.relpath, Path(dest) / s.relpath, timeout=timeout, retries=retries, progress=progress)
        for s in samples
    ]
