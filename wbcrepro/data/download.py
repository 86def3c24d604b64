"""Fetching a dataset's published files: resumable, atomic, checksummed, honest when offline.

A download goes to ``<data root>/.downloads/<file>.part`` and continues from there with an HTTP
Range request if interrupted; only a complete file (checksum verified where the publisher's is
known, else recorded beside it) is renamed into place. Archives are unpacked into a temporary
folder and renamed to the dataset's upstream folder name, so a half-unpacked tree never looks
complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tqdm.auto import tqdm

from wbcrepro.data.datasets import DatasetSpec, Download

CHUNK = 1 << 20
TIMEOUT_S = 30


class DownloadError(RuntimeError):
    """A file could not be fetched or verified; the message says where to put it by hand."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_file(url: str, target: Path, sha256: str | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` (resuming a ``.part`` file), verify it, rename atomically."""
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            resumed = have and response.status == 206
            expected = response.length  # bytes this response promises (None if unknown)
            start = have if resumed else 0
            written = _stream(
                response, part, "ab" if resumed else "wb", expected, start, target.name, progress
            )
        if expected is not None and written < expected:
            # http.client ends a cut connection with b"" instead of an error: keep the .part so
            # that the next call resumes instead of accepting a short file.
            raise DownloadError(
                f"download of {url} stopped after {start + written} of {start + expected} "
                f"bytes; run the same command again to resume ({part})"
            )
    except urllib.error.HTTPError as err:
        if err.code != 416 or not have:  # 416 after a Range: the .part is already complete
            raise DownloadError(
                f"could not download {url} (HTTP {err.code}). Fetch it by hand and save it as "
                f"{target}."
            ) from err
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        raise DownloadError(
            f"could not download {url} ({type(err).__name__}: {err}). Offline? Fetch it by hand "
            f"and save it as {target} (a partial download is kept at {part} and resumed)."
        ) from err
    got = sha256_of(part)
    if sha256 and got != sha256:
        part.unlink()
        raise DownloadError(
            f"checksum mismatch for {url}: expected sha256 {sha256}, got {got}. The partial file "
            f"was removed; download it again, or fetch it by hand and save it as {target}."
        )
    os.replace(part, target)
    target.with_name(target.name + ".sha256").write_text(f"{got}  {target.name}\n")
    return target


def _stream(
    response, part: Path, mode: str, expected: int | None, start: int, name: str, progress: bool
) -> int:
    """Copy ``response`` into ``part``; returns the number of bytes written."""
    written = 0
    total = (expected or 0) + start or None
    with (
        open(part, mode) as fh,
        tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=name, disable=not progress
        ) as bar,
    ):
        for block in iter(lambda: response.read(CHUNK), b""):
            fh.write(block)
            written += len(block)
            bar.update(len(block))
    return written


def unpack_archive(archive: Path, destination: Path) -> Path:
    """Unpack a zip into ``destination`` atomically; a single top folder (GitHub) is unwrapped."""
    if destination.exists():
        return destination
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{archive} is not a valid zip archive ({err}); delete it and retry"
        ) from err
    tmp = Path(tempfile.mkdtemp(dir=destination.parent, prefix=f".{destination.name}."))
    try:
        with bundle:
            bundle.extractall(tmp)
        entries = list(tmp.iterdir())
        inner = entries[0] if len(entries) == 1 and entries[0].is_dir() else tmp
        os.replace(inner, destination)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return destination


def download_dataset(spec: DatasetSpec, root: Path, progress: bool = True) -> list[Path]:
    """Fetch (and unpack) every published file of ``spec`` under the data root ``root``."""
    if not spec.downloads:
        raise DownloadError(
            f"dataset {spec.name!r} has no stable public download URL; get it from {spec.source} "
            f"and unpack it to {root / spec.folder}"
        )
    if not os.access(root if root.exists() else root.parent, os.W_OK):
        raise DownloadError(f"data root {root} is not writable; choose another with --root")
    placed = []
    for item in spec.downloads:
        placed.append(_place(item, spec, root, progress))
    return placed


def _place(item: Download, spec: DatasetSpec, root: Path, progress: bool) -> Path:
    if item.unpack_to:
        destination = root / item.unpack_to
        if destination.exists():
            return destination
        archive = fetch_file(item.url, root / ".downloads" / item.filename, item.sha256, progress)
        return unpack_archive(archive, destination)
    return fetch_file(item.url, root / spec.folder / item.filename, item.sha256, progress)
