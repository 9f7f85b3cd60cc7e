"""What a file is, told by its bytes (never its name): an ordered chain of sources, the first that knows it wins.

A `.pdf` that is really a PNG is a picture, a `.txt` full of zero bytes is not text. The name only
refines what the bytes already said (which Office program wrote an old binary file; the language of
a code file). Anything no source knows gets a message that lists what can be attached.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.media.textfile import MAX_TEXT_FILE_BYTES, decode_text


class SourceKind(StrEnum):
    """The kinds of file that can be attached."""

    PICTURE = "picture"
    PDF = "pdf"
    OFFICE = "office"  # converted to PDF by LibreOffice
    TEXT = "text"
    VIDEO = "video"  # recognised, so the message is right; sending clips is a kind of its own


class UnsupportedFile(UserFacingError):
    """A file no source can read (or one that cannot be read at all)."""


SUPPORTED_HINT = _("You can attach pictures (PNG, JPEG, WebP, GIF, BMP, TIFF), PDF documents, Office and "
                   "OpenDocument files (pptx, ppt, docx, doc, xlsx, xls, odp, odt, ods, rtf), and text, "
                   "code, Markdown or CSV files.")

# The most each kind may weigh before it is read at all.
MAX_BYTES: dict[SourceKind, int] = {
    SourceKind.PICTURE: 50 * 2**20,
    SourceKind.PDF: 300 * 2**20,
    SourceKind.OFFICE: 100 * 2**20,
    SourceKind.TEXT: MAX_TEXT_FILE_BYTES,
    SourceKind.VIDEO: 200 * 2**20,
}
MAX_FILE_BYTES = max(MAX_BYTES.values())

_PICTURE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_SUFFIXES = {".doc": "doc", ".ppt": "ppt", ".xls": "xls", ".pps": "ppt", ".dot": "doc", ".pot": "ppt"}
_OOXML = (("ppt/", "pptx"), ("word/", "docx"), ("xl/", "xlsx"))
_ODF = {"application/vnd.oasis.opendocument.presentation": "odp", "application/vnd.oasis.opendocument.text": "odt",
        "application/vnd.oasis.opendocument.spreadsheet": "ods", "application/vnd.oasis.opendocument.graphics": "odg"}


@dataclass(frozen=True)
class Recognised:
    """What a file is: its kind and the format within it ("png", "pdf", "pptx", "doc", "python", …)."""

    kind: SourceKind
    format: str


def _picture(data: bytes, _name: str) -> Recognised | None:
    if data.startswith(_PICTURE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
        return Recognised(SourceKind.PICTURE, "image")
    return None


def _pdf(data: bytes, _name: str) -> Recognised | None:
    # The header may follow some junk; PDF readers look in the first kilobyte.
    return Recognised(SourceKind.PDF, "pdf") if b"%PDF-" in data[:1024] else None


def _office(data: bytes, name: str) -> Recognised | None:
    if data.startswith(_OLE):
        return Recognised(SourceKind.OFFICE, _OLE_SUFFIXES.get(PurePath(name).suffix.lower(), "doc"))
    if data.startswith(b"{\\rtf"):
        return Recognised(SourceKind.OFFICE, "rtf")
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            if "mimetype" in names:
                mime = archive.read("mimetype").decode("ascii", "replace").strip()
                return Recognised(SourceKind.OFFICE, _ODF[mime]) if mime in _ODF else None
            if "[Content_Types].xml" in names:
                for folder, fmt in _OOXML:
                    if any(n.startswith(folder) for n in names):
                        return Recognised(SourceKind.OFFICE, fmt)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError):
        return None
    return None


def _video(data: bytes, _name: str) -> Recognised | None:
    if data[4:8] == b"ftyp" or data.startswith(b"\x1a\x45\xdf\xa3") or (data[:4] == b"RIFF" and data[8:12] == b"AVI "):
        return Recognised(SourceKind.VIDEO, "video")
    return None


def _text(data: bytes, name: str) -> Recognised | None:
    return Recognised(SourceKind.TEXT, "text") if decode_text(data[:65536], name) is not None else None


# Order matters: binary signatures first, text (which accepts almost anything decodable) last.
SOURCES: tuple[Callable[[bytes, str], Recognised | None], ...] = (_pdf, _picture, _office, _video, _text)


def recognise(data: bytes, name: str) -> Recognised:
    """What `data` is; UnsupportedFile (listing what is supported) when no source knows it."""
    for source in SOURCES:
        found = source(data, name)
        if found is not None:
            return found
    what = _("a ZIP archive") if data.startswith(b"PK\x03\x04") else _("a kind of file the app cannot read")
    raise UnsupportedFile(_("'{name}' is {what}.").format(name=name, what=what), SUPPORTED_HINT)


def read_file(path: Path) -> tuple[bytes, Recognised]:
    """Read a file to attach and say what it is (a worker thread: it may be large).

    UnsupportedFile says exactly what is wrong: missing, a folder, empty, too big for its kind, or a
    kind the app cannot read (and what is supported).
    """
    name = path.name or str(path)
    try:
        if path.is_dir():
            raise UnsupportedFile(_("'{name}' is a folder, not a file.").format(name=name),
                                  _("Choose the files inside it."))
        size = path.stat().st_size
        if size == 0:
            raise UnsupportedFile(_("'{name}' is empty (0 bytes).").format(name=name),
                                  _("The file may still be being written, or its copy failed; try again."))
        if size > MAX_FILE_BYTES:
            raise UnsupportedFile(_("'{name}' is {mb:,.0f} MB; the limit is {limit:,} MB.").format(
                name=name, mb=size / 1e6, limit=MAX_FILE_BYTES // 2**20), _("Attach a smaller file."))
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UnsupportedFile(_("'{path}' does not exist (any more).").format(path=path),
                              _("Check the file's name and folder; it may have been moved or deleted.")) from None
    except OSError as exc:
        raise UnsupportedFile(_("Could not read '{name}': {error}").format(name=name, error=exc.strerror or exc),
                              _("Check that the file exists and you may read it.")) from exc
    found = recognise(data, name)
    limit = MAX_BYTES[found.kind]
    if len(data) > limit:
        raise UnsupportedFile(_("'{name}' is {mb:,.1f} MB; the limit for this kind of file is {limit:,} MB.").format(
            name=name, mb=len(data) / 1e6, limit=max(1, limit // 2**20)),
            _("Attach a smaller file, or only the part that matters."))
    return data, found
