"""Attachment files stored once by content: `<root>/<sha[:2]>/<sha256>.<ext>`.

A file is written to a temporary name and renamed into place, so a crash never leaves half a
picture under a real name; the same bytes twice are one file. Which files are still used is the
database's business (the `blobs` table); this module only writes, reads and removes files.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# (first bytes, offset, MIME type, file extension); anything else is kept as .bin.
_SIGNATURES: tuple[tuple[bytes, int, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"GIF8", 0, "image/gif", "gif"),
    (b"WEBP", 8, "image/webp", "webp"),
    (b"BM", 0, "image/bmp", "bmp"),
    (b"II*\x00", 0, "image/tiff", "tif"),
    (b"MM\x00*", 0, "image/tiff", "tif"),
    (b"%PDF", 0, "application/pdf", "pdf"),
    (b"ftyp", 4, "video/mp4", "mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/webm", "webm"),
)
_TEMP_PREFIX = ".incoming-"


def sniff(data: bytes) -> tuple[str, str]:
    """The MIME type and file extension the bytes show (`application/octet-stream`, `bin` if unknown)."""
    for magic, offset, mime, ext in _SIGNATURES:
        if data[offset:offset + len(magic)] == magic:
            return mime, ext
    return "application/octet-stream", "bin"


@dataclass(frozen=True)
class Blob:
    """One stored file's identity."""

    sha256: str
    size: int
    ext: str


class BlobFiles:
    """The folder of content-addressed files."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str, ext: str) -> Path:
        """Where the file with this content lives."""
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    @staticmethod
    def identify(data: bytes) -> Blob:
        """The blob these bytes would be."""
        return Blob(hashlib.sha256(data).hexdigest(), len(data), sniff(data)[1])

    def write(self, data: bytes) -> tuple[Blob, bool]:
        """Store the bytes (once); returns the blob and whether a file was created.

        Raises:
            OSError: the file could not be written (ENOSPC on a full disk); no partial file is left.
        """
        blob = self.identify(data)
        target = self.path(blob.sha256, blob.ext)
        with contextlib.suppress(OSError):
            if target.stat().st_size == blob.size:
                return blob, False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())  # the database row naming this file may be committed next
            Path(temp).replace(target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        return blob, True

    def read(self, sha256: str, ext: str) -> bytes:
        """The stored bytes (raises OSError if the file is gone)."""
        return self.path(sha256, ext).read_bytes()

    def remove(self, sha256: str, ext: str) -> None:
        """Delete the file (and its folder once empty); a missing file is not an error."""
        path = self.path(sha256, ext)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()

    def stored(self) -> Iterator[tuple[str, Path]]:
        """Every file in the folder as (sha256 or "" for a left-over temporary file, path)."""
        if not self.root.is_dir():
            return
        for shard in self.root.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.iterdir():
                if path.name.startswith(_TEMP_PREFIX):
                    yield "", path
                else:
                    yield path.name.split(".", 1)[0], path
