"""PDF pages as pictures and text for the model (PDFium through pypdfium2).

PDFium is not thread-safe, not even for different documents, so every call into it holds one
module-wide lock; a `PdfDocument` may then be used from any worker thread. Opening reads only the
file's structure (no page is loaded), so a 5,000-page file opens as fast as a short one.
"""

from __future__ import annotations

import atexit
import logging
import re
import threading
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any

from desktop.errors import UserFacingError
from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# One lock for every PDFium call in the process (reentrant: a method may call another).
_PDFIUM = threading.RLock()

MAX_RENDER_SIDE = 8192
"""No side of a rendering is longer than this many pixels, whatever the page's size."""
MAX_RENDER_PIXELS = 40 * 2**20
"""Nor has a rendering more pixels than this (about 120 MB as RGB), so a huge page never takes gigabytes."""

_HEADER_WINDOW = 1024  # the %PDF- header may follow some junk, as readers have always allowed
_EOF_WINDOW = 1024  # and the %%EOF marker must be within this many bytes of the end
_HINT_DAMAGED = _("Download or copy the file again; if it still fails, open it in a PDF viewer and save a new copy.")


class PdfError(UserFacingError):
    """A PDF that cannot be read: damaged, incomplete, not a PDF at all, or without pages."""


class PdfPasswordRequired(PdfError):
    """An encrypted PDF; `wrong_password` is True when a password was given and did not open it."""

    def __init__(self, message: str, hint: str = "", *, wrong_password: bool, detail: str = "") -> None:
        super().__init__(message, hint, detail=detail)
        self.wrong_password = wrong_password


def _has_header(data: bytes) -> bool:
    return b"%PDF-" in data[:_HEADER_WINDOW]


def _looks_complete(data: bytes) -> bool:
    """Whether the file ends as a written PDF does: %%EOF near its end (trailing padding ignored)."""
    return b"%%EOF" in data.rstrip(b"\x00 \t\r\n")[-_EOF_WINDOW:]


def _open_error(code: int, data: bytes, name: str, password: str | None) -> PdfError:
    """The error for PDFium's load failure `code`, in the user's words."""
    import pypdfium2.raw as pdfium_c

    detail = f"PDFium error {code}"
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return PdfPasswordRequired(
                _("The password for '{name}' is not right.").format(name=name),
                _("Check the password (capital letters count) and try again."),
                wrong_password=True, detail=detail)
        return PdfPasswordRequired(
            _("'{name}' is protected with a password.").format(name=name),
            _("Enter the document's password to open it."), wrong_password=False, detail=detail)
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return PdfError(_("'{name}' uses a kind of protection the app cannot open.").format(name=name),
                        _("Open it in the program it came with and save or print it as an unprotected PDF."),
                        detail=detail)
    if not _has_header(data):
        return PdfError(_("'{name}' is not a PDF document.").format(name=name),
                        _("It may have the wrong extension. Open it in the program that made it and export it "
                          "as PDF."), detail=detail)
    return PdfError(_("'{name}' is damaged or incomplete.").format(name=name), _HINT_DAMAGED, detail=detail)


def _tidy(text: str) -> str:
    """PDFium's page text with tidy whitespace: one space between words, at most one empty line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # PDFium marks soft hyphens and unknown glyphs with control characters; they mean nothing to a reader.
    text = re.sub(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]", "", text)
    lines = [re.sub(r"[^\S\n]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _close_document(document: Any, data: bytes) -> None:
    """Close a PDFium document (and its form environment) under the lock, from any thread or the GC;
    `data`, which PDFium reads from, is kept alive until then."""
    with _PDFIUM:
        document.close()
    del data


def clamp_render_size(width: int, height: int) -> tuple[int, int]:
    """`width`×`height` shrunk, aspect kept, to MAX_RENDER_SIDE and MAX_RENDER_PIXELS; at least 1×1."""
    width, height = max(1, int(width)), max(1, int(height))
    scale = min(1.0, MAX_RENDER_SIDE / max(width, height), (MAX_RENDER_PIXELS / (width * height)) ** 0.5)
    if scale < 1.0:
        width, height = max(1, int(width * scale)), max(1, int(height * scale))
    return width, height


_LIVE: weakref.WeakSet[PdfDocument] = weakref.WeakSet()
_exit_hook: list[bool] = []


def _close_all_at_exit() -> None:
    """Close what is still open before pypdfium2's own exit handler would complain about it on stderr."""
    for document in list(_LIVE):
        document.close()


def _hook_exit_once() -> None:
    """Registered after pypdfium2 is imported, so it runs before pypdfium2's handler (atexit runs in reverse)."""
    if not _exit_hook:
        atexit.register(_close_all_at_exit)
        _exit_hook.append(True)


class PdfDocument:
    """An open PDF: page count and sizes, pages rendered to RGB pictures, the text layer, thread-safe."""

    def __init__(self, document: Any, data: bytes, name: str, page_count: int, password_protected: bool) -> None:
        """Wrap an open pypdfium2 document; use `PdfDocument.open`."""
        self._document = document
        self._data = data
        self.name = name
        self._page_count = page_count
        self.password_protected = password_protected
        """Whether the file needed the password it was opened with."""
        self._closer = weakref.finalize(self, _close_document, document, data)
        _LIVE.add(self)

    @classmethod
    def open(cls, data: bytes, name: str, password: str | None = None) -> PdfDocument:
        """Open a PDF from its bytes (no page is loaded); PdfError or PdfPasswordRequired says why not."""
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        _hook_exit_once()
        if not data:
            raise PdfError(_("'{name}' is empty (0 bytes).").format(name=name),
                           _("The file may still be being written, or its copy failed; try again."))
        encoded = (password + "\x00").encode("utf-8") if password else None
        with _PDFIUM:
            raw = pdfium_c.FPDF_LoadMemDocument64(data, len(data), encoded)
            if not raw:
                raise _open_error(pdfium_c.FPDF_GetLastError(), data, name, password)
            document = pdfium.PdfDocument(raw)
            try:
                document.init_forms()  # before the page count: form fields are drawn on the pages
                count = len(document)
                protected = password is not None and pdfium_c.FPDF_GetSecurityHandlerRevision(document) != -1
            except BaseException:
                document.close()
                raise
            problem: PdfError | None = None
            if count < 1:
                problem = PdfError(_("'{name}' has no pages.").format(name=name),
                                   _("The PDF holds no page to show. Export the document as PDF again."))
            elif not _looks_complete(data):
                # PDFium rebuilds what it can of a cut-off file; its last pages would be missing or blank.
                problem = PdfError(_("'{name}' is damaged or incomplete.").format(name=name), _HINT_DAMAGED,
                                   detail="no %%EOF marker at the end of the file")
            if problem is not None:
                document.close()
                raise problem
        log.debug("opened %r: %d pages, %d bytes", name, count, len(data))
        return cls(document, data, name, count, protected)

    # -- the document ------------------------------------------------------------------------------------------
    @property
    def page_count(self) -> int:
        """How many pages the document has (at least one)."""
        return self._page_count

    def _check(self, index: int) -> None:
        if not 0 <= index < self._page_count:
            raise IndexError(f"page {index} of {self._page_count}")

    def _require_open(self) -> None:
        """Raise ValueError once closed (called under the lock, so no other thread closes it meanwhile)."""
        if not self._closer.alive:
            raise ValueError("the document is closed")

    def page_size(self, index: int) -> tuple[float, float]:
        """Width and height of page `index` in points (1/72 in) as shown, its rotation applied."""
        self._check(index)
        import pypdfium2.raw as pdfium_c

        size = pdfium_c.FS_SIZEF()
        with _PDFIUM:
            self._require_open()
            ok = pdfium_c.FPDF_GetPageSizeByIndexF(self._document, index, size)
        if not ok:
            raise self._page_error(index, "FPDF_GetPageSizeByIndexF failed")
        return float(size.width), float(size.height)

    def _page_error(self, index: int, detail: str) -> PdfError:
        return PdfError(_("Page {page} of '{name}' is damaged and cannot be shown.").format(
            page=index + 1, name=self.name), _HINT_DAMAGED, detail=detail)

    def _load_page(self, index: int) -> Any:
        """The loaded page `index` (the caller holds the lock and closes it)."""
        import pypdfium2 as pdfium

        self._require_open()
        try:
            return self._document[index]
        except pdfium.PdfiumError as exc:
            raise self._page_error(index, str(exc)) from exc

    # -- pictures ----------------------------------------------------------------------------------------------
    def render(self, index: int, width: int, height: int) -> Image.Image:
        """Page `index` as an RGB picture of exactly width×height (shrunk, aspect kept, to the caps) on
        white, with its annotations and form fields drawn."""
        self._check(index)
        import pypdfium2 as pdfium
        import pypdfium2.raw as pdfium_c

        width, height = clamp_render_size(width, height)
        flags = pdfium_c.FPDF_ANNOT | pdfium_c.FPDF_REVERSE_BYTE_ORDER
        with _PDFIUM:
            page = self._load_page(index)
            try:
                bitmap = pdfium.PdfBitmap.new_native(width, height, pdfium_c.FPDFBitmap_BGR, rev_byteorder=True)
                try:
                    bitmap.fill_rect((255, 255, 255, 255), 0, 0, width, height)
                    # The page stretched over the whole bitmap, its own /Rotate applied (rotate 0 = as shown).
                    args = (bitmap, page, 0, 0, width, height, 0, flags)
                    pdfium_c.FPDF_RenderPageBitmap(*args)
                    if page.formenv:
                        pdfium_c.FPDF_FFLDraw(page.formenv, *args)
                    image: Image.Image = bitmap.to_pil()
                finally:
                    bitmap.close()
            finally:
                page.close()
        return image

    def thumbnail(self, index: int, size: int) -> Image.Image:
        """Page `index` as an RGB picture that fits in size×size, its aspect kept."""
        width, height = self.page_size(index)
        scale = size / max(width, height, 1e-6)
        return self.render(index, max(1, round(width * scale)), max(1, round(height * scale)))

    # -- text --------------------------------------------------------------------------------------------------
    def text(self, index: int) -> str:
        """The text layer of page `index`, whitespace tidied ("" for a scanned page)."""
        self._check(index)
        with _PDFIUM:
            page = self._load_page(index)
            try:
                textpage = page.get_textpage()
                try:
                    raw: str = textpage.get_text_bounded()
                finally:
                    textpage.close()
            finally:
                page.close()
        return _tidy(raw)

    # -- keeping it --------------------------------------------------------------------------------------------
    def unlocked_bytes(self) -> bytes:
        """The file saved without its security, so it can be opened again later without the password."""
        if not self.password_protected:
            return self._data
        import io

        import pypdfium2.raw as pdfium_c

        out = io.BytesIO()
        with _PDFIUM:
            self._require_open()
            self._document.save(out, flags=pdfium_c.FPDF_REMOVE_SECURITY)
        return out.getvalue()

    # -- closing -----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release the document (idempotent)."""
        self._closer()

    def __enter__(self) -> PdfDocument:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
