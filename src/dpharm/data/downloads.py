"""Verified downloads: a file appears at its destination only whole and matching its sha256.

Bounded in size (MAX_DOWNLOAD_BYTES) and time (a whole-file deadline, besides the per-read
timeout), retried with backoff on network failures but not on a checksum mismatch, and written
through a temporary file beside the target, so an interrupted download leaves nothing that looks
finished. Every failure is a DownloadError.

Why by hand: urllib alone, with no new dependency. `pooch` verifies hashes too, but keeping the
size cap and the whole-file deadline would mean replacing its downloader, which is most of this
module.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from dpharm.io import file_mode

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download failed, was truncated, or its bytes do not match the pinned checksum."""


class ChecksumMismatch(DownloadError):
    """A whole file arrived, and its sha256 is not the pinned one (not worth retrying)."""


# The largest original file (CIFAR-10's archive) is 163 MB.
MAX_DOWNLOAD_BYTES = 512 * 2**20
DOWNLOAD_DEADLINE_S = 1800.0  # a whole file, however slowly its bytes trickle in
DOWNLOAD_ATTEMPTS = 3
RETRY_PAUSE_S = 2.0  # doubled after each failed attempt


def _copy_hashing(response, out: BinaryIO, limit: int, deadline: float) -> tuple[str, int]:
    """Copy the body to `out` in chunks; return its sha256 and length. `read1` returns whatever
    has arrived, so a trickling server meets the deadline instead of blocking a full chunk."""
    digest = hashlib.sha256()
    received = 0
    while chunk := response.read1(_CHUNK):
        received += len(chunk)
        if received > limit:
            raise DownloadError(f"more than {limit} bytes: not the expected file")
        if time.monotonic() > deadline:
            raise DownloadError(f"not complete by its deadline ({received} bytes so far)")
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), received


def _announced_length(response, url: str) -> int | None:
    announced = response.headers.get("Content-Length")
    if announced is None:
        return None
    try:
        length = int(announced)
    except ValueError:
        raise DownloadError(f"download of {url}: malformed Content-Length {announced!r}") from None
    if not 0 <= length <= MAX_DOWNLOAD_BYTES:
        raise DownloadError(f"download of {url}: announces {length} bytes (allowed: at most {MAX_DOWNLOAD_BYTES})")
    return length


def _download_once(url: str, target: Path, sha256: str, timeout: float, deadline: float) -> None:
    # The temporary file lives beside the target so that os.replace is an atomic rename.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            announced = _announced_length(response, url)
            try:
                actual, received = _copy_hashing(response, out, MAX_DOWNLOAD_BYTES, time.monotonic() + deadline)
            except DownloadError as err:
                raise DownloadError(f"download of {url}: {err}") from None
        # http.client returns a short body without complaint when the peer closes early.
        if announced is not None and received != announced:
            raise DownloadError(f"truncated download of {url}: expected {announced} bytes, received {received}")
        if actual != sha256.lower():
            raise ChecksumMismatch(f"sha256 mismatch for {url}: expected {sha256.lower()}, got {actual}")
        os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
        raise DownloadError(f"download of {url} failed: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)


def download(
    url: str, destination: str | os.PathLike, sha256: str, timeout: float = 60, deadline: float = DOWNLOAD_DEADLINE_S
) -> None:
    """Fetch `url` to `destination`, which appears only if the bytes match `sha256`.

    `timeout` bounds each wait for the server, `deadline` the whole file; a body larger than
    MAX_DOWNLOAD_BYTES is abandoned. Network failures and truncated bodies are retried
    (DOWNLOAD_ATTEMPTS in all, RETRY_PAUSE_S apart, doubling); a checksum mismatch is not: the server sent
    a whole file, and it is the wrong one.
    """
    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            return _download_once(url, target, sha256, timeout, deadline)
        except ChecksumMismatch:
            raise
        except DownloadError:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise
            time.sleep(RETRY_PAUSE_S * 2 ** (attempt - 1))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
