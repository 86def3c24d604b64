"""Tests of wbcrepro.data.download against a local HTTP server (127.0.0.1, no network).

The server serves bytes from a dict, honours ``Range: bytes=N-`` with 206 responses (or ignores
it when told to), records every Range header it saw, and can cut the connection after N bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import socket
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from wbcrepro.data.datasets import Download, get_dataset
from wbcrepro.data.download import DownloadError, download_dataset, fetch_file, unpack_archive


class FileServer:
    """A threaded HTTP server on 127.0.0.1 serving ``files`` ({url path: bytes})."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.honour_range = True
        self.cut_after: int | None = None
        """Send the full Content-Length, then close the connection after this many bytes."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

            def do_GET(self) -> None:
                header = self.headers.get("Range")
                server.ranges.append(header)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                if header and server.honour_range:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                payload = body[start:]
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(payload)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(payload[: server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"


@pytest.fixture
def server() -> Iterator[FileServer]:
    srv = FileServer()
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(timeout=5)


def _payload(n: int = 300_000) -> bytes:
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again once the block ends


# --- fetch_file --------------------------------------------------------------------------------


def test_fetch_full_download_and_recorded_checksum(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/a.zip"] = data
    target = tmp_path / "dl" / "a.zip"
    got = fetch_file(server.url("/a.zip"), target, progress=False)
    assert got == target
    assert target.read_bytes() == data
    assert (tmp_path / "dl" / "a.zip.sha256").read_text() == f"{_sha(data)}  a.zip\n"
    assert not (tmp_path / "dl" / "a.zip.part").exists()
    assert server.ranges == [None]


def test_fetch_with_right_checksum(server: FileServer, tmp_path: Path) -> None:
    data = _payload(1000)
    server.files["/b.bin"] = data
    target = fetch_file(server.url("/b.bin"), tmp_path / "b.bin", _sha(data), progress=False)
    assert target.read_bytes() == data


def test_fetch_existing_target_is_not_downloaded_again(server: FileServer, tmp_path: Path) -> None:
    target = tmp_path / "c.bin"
    target.write_bytes(b"already here")
    assert fetch_file(server.url("/c.bin"), target, progress=False) == target
    assert server.ranges == []
    assert target.read_bytes() == b"already here"


def test_fetch_resumes_from_part_file(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/a.zip"] = data
    target = tmp_path / "a.zip"
    have = 123_457
    (tmp_path / "a.zip.part").write_bytes(data[:have])
    fetch_file(server.url("/a.zip"), target, _sha(data), progress=False)
    assert server.ranges == [f"bytes={have}-"]
    assert target.read_bytes() == data
    assert not (tmp_path / "a.zip.part").exists()


def test_fetch_server_ignoring_range_restarts_cleanly(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/a.zip"] = data
    server.honour_range = False
    target = tmp_path / "a.zip"
    (tmp_path / "a.zip.part").write_bytes(b"x" * 5000)  # stale bytes that must not survive
    fetch_file(server.url("/a.zip"), target, progress=False)
    assert server.ranges == ["bytes=5000-"]
    assert target.read_bytes() == data
    assert (tmp_path / "a.zip.sha256").read_text().startswith(_sha(data))


def test_fetch_checksum_mismatch_raises_and_removes_part(
    server: FileServer, tmp_path: Path
) -> None:
    data = _payload(5000)
    server.files["/a.zip"] = data
    wrong = "0" * 64
    target = tmp_path / "a.zip"
    with pytest.raises(DownloadError) as info:
        fetch_file(server.url("/a.zip"), target, wrong, progress=False)
    message = str(info.value)
    assert f"expected sha256 {wrong}" in message
    assert f"got {_sha(data)}" in message
    assert str(target) in message
    assert not (tmp_path / "a.zip.part").exists()
    assert not target.exists()


def test_fetch_offline_names_url_and_target(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/BCCD.zip"
    target = tmp_path / ".downloads" / "BCCD.zip"
    with pytest.raises(DownloadError) as info:
        fetch_file(url, target, progress=False)
    message = str(info.value)
    assert url in message
    assert f"save it as {target}" in message
    assert not target.exists()


def test_fetch_http_404_raises_download_error(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="404"):
        fetch_file(server.url("/missing.zip"), tmp_path / "missing.zip", progress=False)


def test_fetch_cut_connection_keeps_part_and_resumes(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/a.zip"] = data
    server.cut_after = 100_000
    target = tmp_path / "a.zip"
    with pytest.raises(DownloadError):
        fetch_file(server.url("/a.zip"), target, progress=False)
    assert not target.exists()
    assert (tmp_path / "a.zip.part").stat().st_size == 100_000
    server.cut_after = None
    fetch_file(server.url("/a.zip"), target, progress=False)
    assert server.ranges[-1] == "bytes=100000-"
    assert target.read_bytes() == data


def test_fetch_cut_connection_with_checksum_never_places_a_bad_file(
    server: FileServer, tmp_path: Path
) -> None:
    data = _payload()
    server.files["/a.zip"] = data
    server.cut_after = 100_000
    target = tmp_path / "a.zip"
    with pytest.raises(DownloadError):
        fetch_file(server.url("/a.zip"), target, _sha(data), progress=False)
    assert not target.exists()


def test_fetch_complete_part_file_is_finished(server: FileServer, tmp_path: Path) -> None:
    data = _payload(5000)
    server.files["/a.zip"] = data
    (tmp_path / "a.zip.part").write_bytes(data)
    target = fetch_file(server.url("/a.zip"), tmp_path / "a.zip", _sha(data), progress=False)
    assert target.read_bytes() == data


# --- unpack_archive ------------------------------------------------------------------------------


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, content in entries.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


GITHUB_ZIP = {
    "BCCD_Dataset-d272fb1/README.md": b"# BCCD\n",
    "BCCD_Dataset-d272fb1/BCCD/Annotations/BloodImage_00000.xml": b"<annotation/>",
    "BCCD_Dataset-d272fb1/BCCD/JPEGImages/BloodImage_00000.jpg": b"\xff\xd8fake",
}


def test_unpack_unwraps_github_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "bccd.zip"
    archive.write_bytes(_zip(GITHUB_ZIP))
    destination = tmp_path / "root" / "BCCD_Dataset"
    destination.parent.mkdir()
    assert unpack_archive(archive, destination) == destination
    assert (destination / "README.md").read_bytes() == b"# BCCD\n"
    assert (destination / "BCCD/Annotations/BloodImage_00000.xml").is_file()
    assert not (destination / "BCCD_Dataset-d272fb1").exists()
    assert sorted(p.name for p in destination.parent.iterdir()) == ["BCCD_Dataset"]  # no temp


def test_unpack_keeps_several_top_entries(tmp_path: Path) -> None:
    archive = tmp_path / "flat.zip"
    archive.write_bytes(_zip({"a/1.txt": b"1", "b.txt": b"2"}))
    destination = tmp_path / "out"
    unpack_archive(archive, destination)
    assert (destination / "a" / "1.txt").read_bytes() == b"1"
    assert (destination / "b.txt").read_bytes() == b"2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flat.zip", "out"]


def test_unpack_bad_zip_leaves_no_destination(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    archive.write_bytes(_zip(GITHUB_ZIP)[:100])
    destination = tmp_path / "BCCD_Dataset"
    with pytest.raises(DownloadError, match="not a valid zip"):
        unpack_archive(archive, destination)
    assert not destination.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.zip"]


def test_unpack_existing_destination_is_kept(tmp_path: Path) -> None:
    archive = tmp_path / "bccd.zip"
    archive.write_bytes(_zip(GITHUB_ZIP))
    destination = tmp_path / "BCCD_Dataset"
    destination.mkdir()
    (destination / "mine.txt").write_text("x")
    unpack_archive(archive, destination)
    assert [p.name for p in destination.iterdir()] == ["mine.txt"]


# --- download_dataset ----------------------------------------------------------------------------


def test_download_dataset_places_the_upstream_folder(server: FileServer, tmp_path: Path) -> None:
    blob = _zip(
        {
            "segmentation_WBC-fa9c016/Class Labels of Dataset 1.csv": b"image ID,class label\r\n",
            "segmentation_WBC-fa9c016/Dataset 1/001.bmp": b"BM",
        }
    )
    server.files["/zheng.zip"] = blob
    spec = dataclasses.replace(
        get_dataset("zheng2018"),
        downloads=(
            Download(server.url("/zheng.zip"), "zheng.zip", _sha(blob), "segmentation_WBC"),
        ),
    )
    root = tmp_path / "data"
    placed = download_dataset(spec, root, progress=False)
    assert placed == [root / "segmentation_WBC"]
    assert (root / "segmentation_WBC" / "Dataset 1" / "001.bmp").read_bytes() == b"BM"
    assert (root / ".downloads" / "zheng.zip").read_bytes() == blob
    assert spec.present(root)
    # a second call finds everything in place and fetches nothing
    seen = len(server.ranges)
    assert download_dataset(spec, root, progress=False) == placed
    assert len(server.ranges) == seen


def test_download_dataset_plain_file_goes_into_the_folder(
    server: FileServer, tmp_path: Path
) -> None:
    server.files["/labels.csv"] = b",Image,Category\r\n,0,NEUTROPHIL\r\n"
    spec = dataclasses.replace(
        get_dataset("bccd-cropped"), downloads=(Download(server.url("/labels.csv"), "labels.csv"),)
    )
    placed = download_dataset(spec, tmp_path, progress=False)
    assert placed == [tmp_path / "apple2373-BCCD" / "labels.csv"]
    assert placed[0].read_bytes().startswith(b",Image,Category")


def test_download_dataset_offline_says_where_to_put_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/bccd.zip"
    spec = dataclasses.replace(
        get_dataset("bccd"), downloads=(Download(url, "bccd.zip", None, "BCCD_Dataset"),)
    )
    with pytest.raises(DownloadError) as info:
        download_dataset(spec, tmp_path, progress=False)
    assert url in str(info.value)
    assert str(tmp_path / ".downloads" / "bccd.zip") in str(info.value)
    assert not (tmp_path / "BCCD_Dataset").exists()


def test_download_dataset_without_url_says_where_to_get_it(tmp_path: Path) -> None:
    spec = get_dataset("lisc")
    assert spec.downloads == ()
    with pytest.raises(DownloadError) as info:
        download_dataset(spec, tmp_path, progress=False)
    message = str(info.value)
    assert spec.source in message
    assert str(tmp_path / spec.folder) in message


def test_registered_downloads_are_pinned_github_archives() -> None:
    for name in ("bccd", "kaggle-bloodcells", "zheng2018", "bccd-cropped"):
        spec = get_dataset(name)
        assert spec.downloads, name
        for item in spec.downloads:
            assert item.url.startswith("https://github.com/"), item.url
            commit = item.url.rsplit("/", 1)[-1].removesuffix(".zip")
            assert re.fullmatch(r"[0-9a-f]{40}", commit), item.url  # a pinned commit, not a branch
            assert item.unpack_to
    assert get_dataset("bccd").downloads[1].unpack_to == "wbc-classification"
    assert get_dataset("kaggle-bloodcells").folder.startswith("wbc-classification")
