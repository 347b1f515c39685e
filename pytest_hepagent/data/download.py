"""Fetch the real 2020 GamGam release: resumable, size- and checksum-checked, with a progress bar.

Each file is streamed (httpx) into `<name>.part`; an interrupted transfer resumes with an HTTP Range request (a
server that ignores it restarts the file); dropped connections, timeouts and 5xx answers are retried with backoff
(tenacity). The final size must equal the size the server announced, and where the file's checksum is known (a
checksum list such as the one the release's record publishes: `--checksums FILE`) the file must match it, before it
is renamed into place. A file already complete is not fetched again. Nothing already on disk is lost: a failed
download keeps its `.part` for the next attempt, and a file that does not match its checksum is kept as
`<name>.corrupt` beside it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_hepagent.data.schema import BASE_URL, SAMPLES, Sample
from pytest_hepagent.errors import DataError

__all__ = ["DownloadResult", "download", "download_file", "file_checksum", "read_checksums"]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
"""Bytes read at a time when computing a checksum."""
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
ALGORITHMS = ("adler32", "md5", "sha256")
"""Checksum kinds understood: adler32 is what the CERN Open Data portal lists for its files."""


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    skipped: bool
    """True when the file was already complete on disk."""
    resumed_from: int = 0
    checksum: str = ""
    """The `algo:hex` the file was checked against ('' when none is known)."""


class _Incomplete(Exception):
    """The transfer ended early (a dropped connection, a short body): resume it."""


def file_checksum(path: Path, algorithm: str) -> str:
    """`algo:hex` of the file's contents."""
    if algorithm == "adler32":
        value = 1
        with Path(path).open("rb") as f:
            while block := f.read(CHUNK):
                value = zlib.adler32(block, value)
        return f"adler32:{value:08x}"
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return f"{algorithm}:{digest.hexdigest()}"


def read_checksums(path: Path) -> dict[str, str]:
    """A checksum list: lines `ALGO:HEX  RELPATH` (or `sha256sum`'s `HEX  RELPATH`), by path in the release
    (`Data/data_A.GamGam.root`). A line that is neither is a one-line error naming it."""
    found = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        value = parts[0].lower() if len(parts) == 2 else ""
        if ":" not in value and re.fullmatch(r"[0-9a-f]{64}", value):
            value = f"sha256:{value}"
        algorithm, _, digest = value.partition(":")
        if algorithm not in ALGORITHMS or not re.fullmatch(r"[0-9a-f]+", digest):
            raise DataError(
                f"{path}:{number}: not a checksum line ({line.strip()[:80]!r}); write `ALGO:HEX  PATH` with ALGO one "
                f"of {', '.join(ALGORITHMS)}"
            )
        found[parts[1].removeprefix("./")] = value
    return found


def _client(timeout: float) -> Any:
    import httpx

    return httpx.Client(timeout=timeout, follow_redirects=True)


def _remote_size(client: Any, url: str) -> int | None:
    response = client.head(url)
    if response.status_code == 404:
        raise DataError(f"{url}: not found (HTTP 404); check --base-url (the release is at {BASE_URL})")
    length = response.headers.get("Content-Length")
    return int(length) if response.is_success and length is not None else None  # some servers refuse HEAD


def _transfer(client: Any, url: str, part: Path, progress: bool) -> int:
    """Append the rest of `url` to `part`; returns the total size the server announced (-1: unknown)."""
    import httpx

    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 416:  # nothing left to send: the part file is already whole
                return offset
            if response.status_code >= 500:
                raise _Incomplete(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                raise DataError(f"{url}: HTTP {response.status_code} {response.reason_phrase}; check --base-url")
            if offset and response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    raise DataError(
                        f"{url}: server answered the resume request with a bad Content-Range "
                        f"{response.headers.get('Content-Range')!r}; delete {part} and retry"
                    )
                total, mode = (int(match.group(3)) if match.group(3) != "*" else -1), "ab"
            else:  # a fresh download, or a server that ignores Range: start over
                length = response.headers.get("Content-Length")
                offset, total, mode = 0, (int(length) if length is not None else -1), "wb"
            bar = _progress_bar(part.name.removesuffix(".part"), total, offset, progress)
            try:
                with part.open(mode) as out:
                    for block in response.iter_raw():  # as it arrives: a cut transfer keeps every byte
                        out.write(block)
                        bar.update(len(block))
            finally:
                bar.close()
    except (httpx.TransportError, OSError) as exc:  # resets, timeouts, short bodies
        raise _Incomplete(str(exc) or type(exc).__name__) from None
    return total


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


def _check(url: str, path: Path, checksum: str) -> None:
    """Raise DataError (keeping the file as `.corrupt`) when `path` does not match the published checksum."""
    if not checksum:
        return
    got = file_checksum(path, checksum.partition(":")[0])
    if got != checksum:
        kept = path.with_name(path.name.removesuffix(".part") + ".corrupt")
        path.replace(kept)
        raise DataError(
            f"{url}: the file's checksum is {got}, the release publishes {checksum}; kept as {kept}, download it "
            f"again (delete {kept} once done)"
        )


def download_file(
    url: str,
    target: Path,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
    checksum: str = "",
    wait_s: float = 0.1,
) -> DownloadResult:
    """Download one file to `target`, resuming `target.part` and retrying dropped connections; check it against
    `checksum` (`algo:hex`) when one is known."""
    import tenacity

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    first_offset = part.stat().st_size if part.exists() else 0
    with _client(timeout) as client:
        remote = _remote_size(client, url)
        if target.is_file() and remote is not None and target.stat().st_size == remote:
            if checksum and file_checksum(target, checksum.partition(":")[0]) != checksum:
                raise DataError(f"{target}: does not match the published checksum {checksum}; delete it and retry")
            return DownloadResult(target, remote, skipped=True, checksum=checksum)

        def attempt() -> int:
            total = _transfer(client, url, part, progress)
            expected = remote if remote is not None else total
            have = part.stat().st_size
            if expected >= 0 and have < expected:
                raise _Incomplete(f"got {have} of {expected} bytes")
            if expected >= 0 and have != expected:
                raise DataError(f"{url}: got {have} bytes but the server announced {expected}; delete {part} and retry")
            return have

        def say(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: %s; resuming (attempt %d of %d)", url, error, state.attempt_number + 1, retries + 1)

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Incomplete),
            stop=tenacity.stop_after_attempt(retries + 1),
            wait=tenacity.wait_exponential(multiplier=wait_s, max=30 * wait_s),
            before_sleep=say,
            reraise=True,
        )
        try:
            have = retrying(attempt)
        except _Incomplete as exc:
            kept = part.stat().st_size if part.exists() else 0
            raise DataError(
                f"{url}: download failed after {retries + 1} attempts ({exc}); {kept} bytes kept in {part}; run "
                f"`hepagent download` again to resume"
            ) from None
    _check(url, part, checksum)
    part.replace(target)
    return DownloadResult(target, have, skipped=False, resumed_from=first_offset, checksum=checksum)


def download(
    dest: Path,
    base_url: str = BASE_URL,
    samples: Iterable[Sample] = SAMPLES,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
    checksums: Mapping[str, str] | None = None,
) -> list[DownloadResult]:
    """Fetch the release's files into `dest` with its `Data/` and `MC/` layout; `checksums` (by path in the
    release, `read_checksums`) checks the files it names."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    known = dict(checksums or {})
    return [
        download_file(
            base + s.relpath,
            Path(dest) / s.relpath,
            timeout=timeout,
            retries=retries,
            progress=progress,
            checksum=known.get(s.relpath, ""),
        )
        for s in samples
    ]
