"""`hepagent download` against a real HTTP server on loopback that serves generated files."""

from __future__ import annotations

import http.server
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_hepagent.data import Dataset
from pytest_hepagent.data.download import download, download_file, file_checksum, read_checksums
from pytest_hepagent.data.schema import SAMPLES
from pytest_hepagent.errors import DataError


@dataclass
class Behaviour:
    """How the server misbehaves: cut the first N responses short, ignore Range, log requests."""

    truncate_first: int = 0
    ignore_range: bool = False
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)


def _handler(root: Path, behaviour: Behaviour) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _file(self) -> Path | None:
            path = root / self.path.lstrip("/").split("?")[0]
            return path if path.is_file() else None

        def do_HEAD(self) -> None:
            behaviour.requests.append(("HEAD", self.path, None))
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()

        def do_GET(self) -> None:
            rng = self.headers.get("Range")
            behaviour.requests.append(("GET", self.path, rng))
            path = self._file()
            if path is None:
                self.send_error(404)
                return
            data = path.read_bytes()
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if match and not behaviour.ignore_range:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if behaviour.truncate_first > 0:
                behaviour.truncate_first -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server(small_dataset: Dataset) -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(small_dataset.root, behaviour))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", behaviour
    httpd.shutdown()
    httpd.server_close()


def test_downloads_the_release_layout(server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path) -> None:
    url, _ = server
    results = download(tmp_path, url, progress=False)
    assert [r.path for r in results] == [tmp_path / s.relpath for s in SAMPLES]
    assert Dataset(tmp_path).content_hash() == small_dataset.content_hash()
    assert not list(tmp_path.rglob("*.part"))
    again = download(tmp_path, url, progress=False)
    assert all(r.skipped for r in again)


def test_resumes_a_partial_file_with_a_range_request(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    url, behaviour = server
    source = small_dataset.paths["data_A"]
    target = tmp_path / "data_A.GamGam.root"
    part = tmp_path / "data_A.GamGam.root.part"
    part.write_bytes(source.read_bytes()[:1000])
    result = download_file(url + "Data/data_A.GamGam.root", target, progress=False)
    assert result.resumed_from == 1000 and not result.skipped
    assert target.read_bytes() == source.read_bytes()
    assert ("GET", "/Data/data_A.GamGam.root", "bytes=1000-") in behaviour.requests


def test_a_server_that_ignores_range_restarts_the_file(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    url, behaviour = server
    behaviour.ignore_range = True
    source = small_dataset.paths["data_B"]
    (tmp_path / "data_B.GamGam.root.part").write_bytes(b"x" * 500)
    download_file(url + "Data/data_B.GamGam.root", tmp_path / "data_B.GamGam.root", progress=False)
    assert (tmp_path / "data_B.GamGam.root").read_bytes() == source.read_bytes()


def test_dropped_connections_resume_until_complete(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    url, behaviour = server
    behaviour.truncate_first = 2
    source = small_dataset.paths["signal_ggH"]
    download_file(url + "MC/" + source.name, tmp_path / source.name, progress=False, retries=3)
    assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    ranges = [r for method, _, r in behaviour.requests if method == "GET"]
    assert ranges[0] is None and all(r is not None and r.startswith("bytes=") for r in ranges[1:])
    assert len(ranges) == 3


def test_giving_up_keeps_the_part_and_says_how_to_resume(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    url, behaviour = server
    behaviour.truncate_first = 10
    source = small_dataset.paths["signal_ZH"]
    with pytest.raises(DataError, match=r"run `hepagent download` again to resume") as exc:
        download_file(url + "MC/" + source.name, tmp_path / source.name, progress=False, retries=1)
    assert "\n" not in str(exc.value)
    part = tmp_path / (source.name + ".part")
    assert 0 < part.stat().st_size < source.stat().st_size
    assert source.read_bytes().startswith(part.read_bytes())
    assert not (tmp_path / source.name).exists()


def test_a_wrong_base_url_is_a_clear_error(server: tuple[str, Behaviour], tmp_path: Path) -> None:
    url, _ = server
    with pytest.raises(DataError, match=r"not found \(HTTP 404\); check --base-url"):
        download(tmp_path, url + "nope/", progress=False)


def test_the_download_command_fetches_chosen_samples_and_exits_2_on_a_bad_one(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from pytest_hepagent.cli import cli
    from pytest_hepagent.data.schema import sample_by_name

    url, _ = server
    chosen = sample_by_name("data_A")
    run = CliRunner().invoke(cli, ["download", str(tmp_path), "--base-url", url, "--sample", "data_A"])
    assert run.exit_code == 0, run.output
    assert run.output == f"{tmp_path / chosen.relpath}: {(small_dataset.root / chosen.relpath).stat().st_size} bytes\n"
    assert (tmp_path / chosen.relpath).read_bytes() == (small_dataset.root / chosen.relpath).read_bytes()
    assert [p.name for p in tmp_path.rglob("*.root")] == [Path(chosen.relpath).name]  # only the chosen sample
    again = CliRunner().invoke(cli, ["download", str(tmp_path), "--base-url", url, "--sample", "data_A"])
    assert again.output == f"{tmp_path / chosen.relpath}: already complete\n"
    bad = subprocess.run(
        [sys.executable, "-m", "pytest_hepagent", "download", str(tmp_path), "--base-url", url, "--sample", "data_Z"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "data_Z" in bad.stderr and len(bad.stderr.splitlines()) == 1


def _checksum_list(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "checksums.txt"
    path.write_text("# the release's checksums\n" + "\n".join(lines) + "\n")
    return path


def test_files_are_checked_against_the_published_checksums(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    import hashlib
    import zlib

    url, _ = server
    a, b = small_dataset.paths["data_A"], small_dataset.paths["data_B"]
    adler = f"adler32:{zlib.adler32(a.read_bytes()):08x}"
    sha = hashlib.sha256(b.read_bytes()).hexdigest()
    listed = read_checksums(
        _checksum_list(tmp_path, [f"{adler}  Data/data_A.GamGam.root", f"{sha}  ./Data/data_B.GamGam.root"])
    )
    assert listed == {"Data/data_A.GamGam.root": adler, "Data/data_B.GamGam.root": f"sha256:{sha}"}
    chosen = [s for s in SAMPLES if s.relpath in listed]
    results = download(tmp_path / "out", url, chosen, progress=False, checksums=listed)
    assert [r.checksum for r in results] == [adler, f"sha256:{sha}"]
    assert file_checksum(results[0].path, "adler32") == adler
    again = download(tmp_path / "out", url, chosen, progress=False, checksums=listed)
    assert all(r.skipped for r in again)


def test_a_file_that_does_not_match_its_checksum_is_kept_aside_and_refused(
    server: tuple[str, Behaviour], small_dataset: Dataset, tmp_path: Path
) -> None:
    url, _ = server
    source = small_dataset.paths["data_C"]
    target = tmp_path / source.name
    wrong = "adler32:00000001"
    with pytest.raises(DataError) as exc:
        download_file(url + "Data/" + source.name, target, progress=False, checksum=wrong)
    message = str(exc.value)
    assert "\n" not in message and f"the release publishes {wrong}" in message and "download it again" in message
    assert not target.exists() and not target.with_name(target.name + ".part").exists()
    kept = target.with_name(target.name + ".corrupt")
    assert kept.read_bytes() == source.read_bytes()  # nothing is lost: the bytes stay for inspection
    target.write_bytes(source.read_bytes())  # a complete file of the right size but the wrong contents
    with pytest.raises(DataError, match=r"does not match the published checksum adler32:00000001; delete it"):
        download_file(url + "Data/" + source.name, target, progress=False, checksum=wrong)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("crc32:1234  Data/x.root", "not a checksum line ('crc32:1234  Data/x.root')"),
        ("adler32:xyz  Data/x.root", "not a checksum line"),
        ("just-a-path", "not a checksum line"),
    ],
)
def test_a_bad_checksum_list_is_a_one_line_error_naming_the_line(tmp_path: Path, line: str, problem: str) -> None:
    path = _checksum_list(tmp_path, [line])
    with pytest.raises(DataError) as exc:
        read_checksums(path)
    assert str(exc.value).startswith(f"{path}:2: {problem}") and "adler32, md5, sha256" in str(exc.value)
