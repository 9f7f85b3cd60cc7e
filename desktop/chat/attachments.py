"""What a question carries, by kind: pictures, documents (pages chosen), text and code files.

Each kind knows the content parts it becomes for an endpoint (`parts`) and what it costs there
(`cost`), so the request builder only concatenates parts and every window shows the same figures.
Payload and thumbnail caches are keyed by the attachment's `revision`, so an edited picture is
encoded again. `load_file` turns any file into the right kind (recognised by its bytes, in
`media.sources`), `restore` brings one back from the history, and `prepare` (the one used by the chat
window, the quick-ask popup and capture) makes the preview and payload off the UI thread.

No Qt here; everything slow is meant for a worker thread.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.media.images import (
    EncodedImage,
    decode_picture,
    encode_for_model,
    estimate_image_tokens,
    fit_to_budget,
    lossless_png,
    open_image,
)
from desktop.media.sources import Recognised, SourceKind, read_file
from desktop.media.textfile import TextFile, estimate_text_tokens, read_text

if TYPE_CHECKING:
    from PIL import Image

    from desktop.media.annotations import Annotations
    from desktop.media.pdf import PdfDocument

log = logging.getLogger(__name__)


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Sending:
    """How attachments go to one endpoint: the image budget and format, and the endpoint's image limits."""

    token_budget: int
    image_format: str = "jpeg"
    max_side: int | None = None
    max_bytes: int | None = None
    send_clean: bool = False  # an annotated picture also goes without its drawings
    video: str = "frames"  # how the endpoint takes a clip (config.profiles.VideoRoute): video_url, input_video, frames
    max_images: int | None = None  # pictures per request, where the endpoint says

    @property
    def inline_video(self) -> bool:
        """Whether a clip goes as the MP4 itself (else as sampled frames)."""
        return self.video in ("video_url", "input_video")


@dataclass(frozen=True)
class Part:
    """One content part of a question: text, or an encoded image."""

    text: str | None = None
    image: EncodedImage | None = None
    video: bytes | None = None  # an MP4 clip, for endpoints that take video inline


@dataclass(frozen=True)
class Cost:
    """What an attachment adds to a request: tokens (images and text), and how many images."""

    tokens: int
    images: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.tokens + other.tokens, self.images + other.images)


class Attachment(ABC):
    """Something attached to a question. Subclasses are the kinds; `kind` is what the history stores."""

    kind: ClassVar[str]
    id: str
    name: str
    origin: str  # "screen", "file", "clipboard", "drop", "cli"
    width: int  # a picture's pixels; a document's first page in points; 0 for text
    height: int
    revision: int

    @abstractmethod
    def original_bytes(self) -> bytes:
        """The attachment as a file (what the history keeps)."""

    @abstractmethod
    def thumbnail(self, size: int) -> Image.Image:
        """A preview no larger than `size`×`size` (cached; compute it off the UI thread first)."""

    @abstractmethod
    def parts(self, sending: Sending) -> list[Part]:
        """The content parts it becomes in a request (CPU work: a worker thread)."""

    @abstractmethod
    def cost(self, sending: Sending) -> Cost:
        """What it costs at `sending` (cheap: estimated without encoding)."""

    @abstractmethod
    def describe(self) -> str:
        """A short label for chips and tooltips: kind and size in the user's words."""

    def meta(self) -> dict[str, Any]:
        """Kind-specific data the history keeps beside the file (a document's chosen pages, …)."""
        return {}


# -- pictures ------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class ImageAttachment(Attachment):
    """A picture: its pixels or original bytes, and where it came from."""

    kind: ClassVar[str] = "image"
    name: str
    width: int
    height: int
    origin: str
    data: bytes | None = None  # original encoded bytes (a file as read, or PNG of a capture)
    pixels: Image.Image | None = None  # decoded pixels, kept when the attachment came from a capture
    id: str = field(default_factory=_new_id)
    revision: int = 0
    # Where the picture was on screen when captured: (x, y, width, height) in Qt's global logical coordinates,
    # so the model's boxes can be drawn back over the live screen. None for files and pastes.
    screen_area: tuple[int, int, int, int] | None = None
    annotations: Annotations | None = None  # drawings, kept as data until sent (media/annotations.py)
    _renders: dict[tuple[str, int], Image.Image] = field(default_factory=dict, repr=False)
    _payloads: dict[tuple[Any, ...], EncodedImage] = field(default_factory=dict, repr=False)
    _thumbnails: dict[tuple[int, int], Image.Image] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, origin: str) -> ImageAttachment:
        """A picture from a file or the clipboard; raises ImageError for unreadable data."""
        image = open_image(data)
        return cls(name=name, width=image.width, height=image.height, origin=origin, data=data, pixels=image)

    @classmethod
    def from_pixels(cls, image: Image.Image, name: str, origin: str) -> ImageAttachment:
        """A picture from a screen capture (encoded lazily, off the hot path)."""
        return cls(name=name, width=image.width, height=image.height, origin=origin, pixels=image)

    def image(self) -> Image.Image:
        """The decoded pixels (decoding the original bytes on first use)."""
        with self._lock:
            if self.pixels is None:
                assert self.data is not None
                self.pixels = open_image(self.data)
            return self.pixels

    def original_bytes(self) -> bytes:
        """The picture as a file: the original bytes, or a lossless PNG of a capture."""
        with self._lock:
            if self.data is None:
                assert self.pixels is not None
                self.data = lossless_png(self.pixels)
            return self.data

    # -- annotations --------------------------------------------------------------------------------------
    def annotate(self, annotations: Annotations | None) -> None:
        """Replace the drawings (a new revision: previews and payloads are made again)."""
        self.annotations = None if annotations is None or annotations.empty else annotations
        self.revision += 1

    def burn_redactions(self) -> None:
        """Blur and pixelate into the kept pixels themselves (the unredacted original is dropped), leaving
        the other drawings as data."""
        annotations = self.annotations
        if annotations is None or not annotations.redacted:
            return
        from desktop.media.annotations import REDACTIONS, Annotations, render

        burned = render(self.image(), Annotations(shapes=annotations.shapes), only=REDACTIONS)
        with self._lock:
            self.pixels, self.data = burned, None
        self.annotate(annotations.without_redactions())

    def picture_size(self) -> tuple[int, int]:
        """The size of the picture that is sent, before the budget: the crop's, or the whole picture's."""
        crop = self.annotations.crop if self.annotations is not None else None
        if crop is None:
            return self.width, self.height
        return max(1, crop[2] - crop[0]), max(1, crop[3] - crop[1])

    def sent_image(self) -> Image.Image:
        """The picture with its drawings burned in and cropped (CPU work, cached per revision)."""
        annotations = self.annotations
        if annotations is None:
            return self.image()
        return self._rendered("marked", lambda picture: _render(picture, annotations))

    def clean_image(self) -> Image.Image:
        """The picture without its drawings, but with blur and pixelate burned in and the crop applied: what
        *Send the unmarked picture too* adds (the original never leaves the machine)."""
        annotations = self.annotations
        if annotations is None:
            return self.image()
        return self._rendered("clean", lambda picture: _render(picture, annotations, redactions_only=True))

    def _rendered(self, which: str, make: Callable[[Image.Image], Image.Image]) -> Image.Image:
        key = (which, self.revision)
        with self._lock:
            cached = self._renders.get(key)
        if cached is None:
            cached = make(self.image())
            with self._lock:
                self._renders = {key: cached, **{k: v for k, v in self._renders.items() if k[1] == self.revision}}
        return cached

    # -- what is shown and sent --------------------------------------------------------------------------------
    def thumbnail(self, size: int) -> Image.Image:
        """A preview of what is sent, no larger than `size`×`size` (cached per revision)."""
        key = (self.revision, size)
        with self._lock:
            cached = self._thumbnails.get(key)
        if cached is None:
            cached = self.sent_image().copy()
            cached.thumbnail((size, size))
            with self._lock:
                self._thumbnails[key] = cached
        return cached

    def payload(self, token_budget: int, fmt: str, max_side: int | None = None,
                max_bytes: int | None = None, *, clean: bool = False) -> EncodedImage:
        """The encoded, budget-sized picture to send (cached per revision, budget and format); `clean`: the
        unmarked one."""
        key = (self.revision, clean, token_budget, fmt, max_side, max_bytes)
        with self._lock:
            cached = self._payloads.get(key)
        if cached is None:
            picture = self.clean_image() if clean else self.sent_image()
            cached = encode_for_model(picture, token_budget, fmt=fmt, max_side=max_side, max_bytes=max_bytes)
            with self._lock:
                cached = self._payloads.setdefault(key, cached)
        return cached

    def marks_note(self) -> str:
        """The numbered marks as text for the model ("" without any)."""
        if self.annotations is None:
            return ""
        from desktop.media.annotations import marks_note

        return marks_note(self.annotations, (self.width, self.height))

    def _sends_clean(self, sending: Sending) -> bool:
        return sending.send_clean and self.annotations is not None

    def parts(self, sending: Sending) -> list[Part]:
        """The picture encoded for the endpoint; annotated: the unmarked one first when asked, the marked one, and
        the note listing its marks."""
        parts = []
        if self._sends_clean(sending):
            parts += [Part(text=_("The picture without my drawings:")),
                      Part(image=self.payload(sending.token_budget, sending.image_format, sending.max_side,
                                              sending.max_bytes, clean=True)),
                      Part(text=_("The same picture with my drawings:"))]
        parts.append(Part(image=self.payload(sending.token_budget, sending.image_format, sending.max_side,
                                             sending.max_bytes)))
        note = self.marks_note()
        if note:
            parts.append(Part(text=note))
        return parts

    def sent_size(self, sending: Sending) -> tuple[int, int]:
        """The pixel size the model gets at `sending`."""
        return fit_to_budget(*self.picture_size(), sending.token_budget, sending.max_side)

    def cost(self, sending: Sending) -> Cost:
        """Image tokens at the budget (twice with the unmarked picture), plus the marks' note."""
        tokens = estimate_image_tokens(*self.sent_size(sending))
        images = 2 if self._sends_clean(sending) else 1
        note = self.marks_note() if self.annotations is not None else ""
        return Cost(tokens * images + (estimate_text_tokens(note) if note else 0), images)

    def describe(self) -> str:
        """"Picture · 1920×1080", with its marks when annotated."""
        w, h = self.picture_size()
        if self.annotations is None:
            return _("Picture · {w}×{h}").format(w=w, h=h)
        return _("Picture · {w}×{h} · annotated").format(w=w, h=h)

    def sent_area(self) -> tuple[int, int, int, int] | None:
        """Where the picture that is sent (cropped, if it is) was on screen, in logical coordinates."""
        area = self.screen_area
        crop = self.annotations.crop if self.annotations is not None else None
        if area is None or crop is None:
            return area
        scale_x, scale_y = area[2] / max(1, self.width), area[3] / max(1, self.height)
        return (round(area[0] + crop[0] * scale_x), round(area[1] + crop[1] * scale_y),
                round((crop[2] - crop[0]) * scale_x), round((crop[3] - crop[1]) * scale_y))

    def meta(self) -> dict[str, Any]:
        """Where it was captured on screen, and its drawings (kept as data, editable again)."""
        meta: dict[str, Any] = {}
        if self.screen_area is not None:
            meta["screen_area"] = list(self.screen_area)
        if self.annotations is not None:
            meta["annotations"] = self.annotations.to_json()
        return meta


def _render(picture: Image.Image, annotations: Annotations, *, redactions_only: bool = False) -> Image.Image:
    from desktop.media.annotations import REDACTIONS, render

    return render(picture, annotations, only=REDACTIONS if redactions_only else None)


# -- documents -----------------------------------------------------------------------------------------------
class PageMode(StrEnum):
    """How a document's pages are sent."""

    IMAGES = "images"  # each page as a picture: layout, charts and scans survive
    TEXT = "text"  # the text layer only: cheap, but blind to pictures
    BOTH = "both"  # each page's picture with its text beside it


RENDER_DPI = 200  # the sharpest a page is rendered; the budget usually asks for less
DEFAULT_MAX_PAGES = 20  # pages chosen when a longer document is attached (the page picker changes it)


def parse_pages(spec: str, page_count: int) -> tuple[int, ...]:
    """Page numbers as typed ("1-5, 8", "all", "none"; 1-based, in order, no repeats) → 0-based indexes.

    Raises:
        ValueError: with the reason in words (a page outside the document, a range the wrong way round).
    """
    text = spec.strip().lower()
    if text in ("", "none"):
        return ()
    if text == "all":
        return tuple(range(page_count))
    text = re.sub(r"\s*([-–])\s*", r"\1", text)  # "1 - 5" is one range
    chosen: list[int] = []
    for piece in re.split(r"[,;\s]+", text):
        if not piece:
            continue
        match = re.fullmatch(r"(\d+)(?:\s*[-–]\s*(\d+)?)?", piece)
        if match is None:
            raise ValueError(_("'{piece}' is not a page or a range (such as 3 or 1-5).").format(piece=piece))
        first = int(match.group(1))
        last = first if match.group(2) is None and "-" not in piece and "–" not in piece else int(
            match.group(2) or page_count)
        if first < 1 or last > page_count or first > last:
            raise ValueError(_("Pages {piece} are outside 1-{count}.").format(piece=piece, count=page_count))
        chosen.extend(index for index in range(first - 1, last) if index not in chosen)
    return tuple(chosen)


def format_pages(pages: Iterable[int]) -> str:
    """0-based indexes → "1-5, 8" (1-based ranges)."""
    numbers = sorted({p + 1 for p in pages})
    ranges: list[str] = []
    for number in numbers:
        if ranges and ranges[-1].split("-")[-1] == str(number - 1):
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{number}"
        else:
            ranges.append(str(number))
    return ", ".join(ranges)


@dataclass(eq=False)
class DocumentAttachment(Attachment):
    """A document as PDF pages (an Office file converted), the pages chosen and how they are sent.

    The history keeps the PDF once with the page choice; pages are rendered again when needed, never
    stored as pictures. `source_format` is what the user attached ("pdf", "pptx", …).
    """

    kind: ClassVar[str] = "document"
    name: str
    origin: str
    pdf: bytes
    page_count: int
    pages: tuple[int, ...] = ()
    mode: PageMode = PageMode.IMAGES
    source_format: str = "pdf"
    page_budget: int | None = None  # tokens per page, when lower than the window's image budget
    width: int = 0
    height: int = 0
    id: str = field(default_factory=_new_id)
    revision: int = 0
    _document: PdfDocument | None = field(default=None, repr=False)
    _sizes: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)
    _fitted: dict[tuple[float, float, int, int | None], tuple[int, int]] = field(default_factory=dict, repr=False)
    _texts: dict[int, str] = field(default_factory=dict, repr=False)
    _thumbnails: dict[tuple[int, int], Image.Image] = field(default_factory=dict, repr=False)
    _payloads: dict[tuple[Any, ...], EncodedImage] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_pdf(cls, pdf: bytes, name: str, origin: str, *, source_format: str = "pdf",
                 password: str | None = None) -> DocumentAttachment:
        """A document from PDF bytes (PdfError / PdfPasswordRequired say what is wrong). A file opened with
        a password is kept without it, so it opens again (from the history) without asking."""
        from desktop.media.pdf import PdfDocument

        document = PdfDocument.open(pdf, name, password)
        if password:
            pdf = document.unlocked_bytes()
            document.close()
            document = PdfDocument.open(pdf, name)
        count = document.page_count
        width, height = document.page_size(0)
        attachment = cls(name=name, origin=origin, pdf=pdf, page_count=count,
                         pages=tuple(range(min(count, DEFAULT_MAX_PAGES))), source_format=source_format,
                         width=round(width), height=round(height))
        attachment._document = document
        return attachment

    def document(self) -> PdfDocument:
        """The open PDF (opened on first use)."""
        from desktop.media.pdf import PdfDocument

        with self._lock:
            if self._document is None:
                self._document = PdfDocument.open(self.pdf, self.name)
            return self._document

    def original_bytes(self) -> bytes:
        """The PDF (an Office file is kept in the form the model read: its pages)."""
        return self.pdf

    def page_size(self, index: int) -> tuple[float, float]:
        """A page's size in points."""
        with self._lock:
            size = self._sizes.get(index)
            if size is None:
                size = self._sizes[index] = self.document().page_size(index)
            return size

    def page_pixels(self, index: int, sending: Sending) -> tuple[int, int]:
        """The pixel size a page is rendered and sent at: as sharp as RENDER_DPI allows, within the budget.
        Pages of one size share the answer (a 5,000-page document is costed in milliseconds)."""
        w_pt, h_pt = self.page_size(index)
        budget = min(sending.token_budget, self.page_budget or sending.token_budget)
        key = (w_pt, h_pt, budget, sending.max_side)
        fitted = self._fitted.get(key)
        if fitted is None:
            width = max(1, round(w_pt / 72 * RENDER_DPI))
            height = max(1, round(h_pt / 72 * RENDER_DPI))
            fitted = self._fitted[key] = fit_to_budget(width, height, budget, sending.max_side)
        return fitted

    def page_thumbnail(self, index: int, size: int) -> Image.Image:
        """A page's preview no larger than `size`×`size` (cached)."""
        key = (index, size)
        with self._lock:
            cached = self._thumbnails.get(key)
        if cached is None:
            cached = self.document().thumbnail(index, size)
            with self._lock:
                self._thumbnails[key] = cached
        return cached

    def thumbnail(self, size: int) -> Image.Image:
        """The first chosen page's preview (the first page if none is chosen)."""
        return self.page_thumbnail(self.pages[0] if self.pages else 0, size)

    def page_text(self, index: int) -> str:
        """A page's text layer ("" for a scanned page)."""
        with self._lock:
            text = self._texts.get(index)
            if text is None:
                text = self._texts[index] = self.document().text(index)
            return text

    def page_payload(self, index: int, sending: Sending) -> EncodedImage:
        """A page rendered at its sent size and encoded losslessly (text stays crisp); cached."""
        width, height = self.page_pixels(index, sending)
        key = (self.revision, index, width, height, sending.max_bytes)
        with self._lock:
            cached = self._payloads.get(key)
        if cached is None:
            picture = self.document().render(index, width, height)
            cached = encode_for_model(picture, estimate_image_tokens(width, height), fmt="png",
                                      max_side=sending.max_side, max_bytes=sending.max_bytes)
            with self._lock:
                cached = self._payloads.setdefault(key, cached)
        return cached

    def variant(self) -> DocumentAttachment:
        """A copy to try other page choices on, sharing the open PDF and the previews made so far."""
        copy = DocumentAttachment(name=self.name, origin=self.origin, pdf=self.pdf, page_count=self.page_count,
                                  pages=self.pages, mode=self.mode, source_format=self.source_format,
                                  page_budget=self.page_budget, width=self.width, height=self.height, id=self.id)
        copy._document, copy._sizes, copy._texts, copy._fitted = self.document(), self._sizes, self._texts, self._fitted
        copy._thumbnails, copy._lock = self._thumbnails, self._lock
        return copy

    def choose(self, pages: Iterable[int], mode: PageMode | None = None, page_budget: int | None = None) -> None:
        """Change the page choice (a new revision: previews and costs follow)."""
        self.pages = tuple(pages)
        if mode is not None:
            self.mode = mode
        self.page_budget = page_budget
        self.revision += 1

    def parts(self, sending: Sending) -> list[Part]:
        """A line naming the document and its pages, then each page as chosen (picture, text or both)."""
        shown = format_pages(self.pages)
        if self.mode is PageMode.TEXT:
            texts = [_("Page {n}:").format(n=p + 1) + "\n" + (self.page_text(p) or _("(no text on this page)"))
                     for p in self.pages]
            head = _("Document '{name}', the text of pages {pages} of {count}:").format(
                name=self.name, pages=shown, count=self.page_count)
            return [Part(text="\n\n".join([head, *texts]))]
        parts = [Part(text=_("Document '{name}', pages {pages} of {count}:").format(
            name=self.name, pages=shown, count=self.page_count))]
        for page in self.pages:
            parts.append(Part(image=self.page_payload(page, sending)))
            if self.mode is PageMode.BOTH:
                text = self.page_text(page)
                if text:
                    parts.append(Part(text=_("Text of page {n}:").format(n=page + 1) + "\n" + text))
        return parts

    def page_cost(self, index: int, sending: Sending) -> Cost:
        """What one chosen page costs in the current mode (text tokens counted once read)."""
        tokens, images = 0, 0
        if self.mode is not PageMode.TEXT:
            tokens, images = estimate_image_tokens(*self.page_pixels(index, sending)), 1
        if self.mode is not PageMode.IMAGES:
            with self._lock:
                text = self._texts.get(index)
            tokens += estimate_text_tokens(text) if text is not None else 400
        return Cost(tokens, images)

    def cost(self, sending: Sending) -> Cost:
        """Every chosen page's cost."""
        total = Cost(0, 0)
        for page in self.pages:
            total += self.page_cost(page, sending)
        return total

    def describe(self) -> str:
        """"PDF · 3 of 12 pages as pictures"."""
        label = self.source_format.upper()
        how = {PageMode.IMAGES: _("as pictures"), PageMode.TEXT: _("as text"),
               PageMode.BOTH: _("as pictures and text")}[self.mode]
        return _("{format} · {chosen} of {count} pages {how}").format(
            format=label, chosen=len(self.pages), count=self.page_count, how=how)

    def meta(self) -> dict[str, Any]:
        """The page choice and where the PDF came from."""
        return {"pages": list(self.pages), "mode": self.mode.value, "page_count": self.page_count,
                "source_format": self.source_format, "page_budget": self.page_budget}


# -- text and code files ---------------------------------------------------------------------------------------
@dataclass(eq=False)
class TextAttachment(Attachment):
    """A text, code, Markdown or CSV file, sent inline (code fenced with its language)."""

    kind: ClassVar[str] = "text"
    name: str
    origin: str
    data: bytes
    file: TextFile
    width: int = 0
    height: int = 0
    id: str = field(default_factory=_new_id)
    revision: int = 0
    _thumbnails: dict[int, Image.Image] = field(default_factory=dict, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, origin: str) -> TextAttachment:
        """A text file (TextFileError says why it cannot be one)."""
        return cls(name=name, origin=origin, data=data, file=read_text(data, name))

    def original_bytes(self) -> bytes:
        """The file as read."""
        return self.data

    def thumbnail(self, size: int) -> Image.Image:
        """A little page showing the first lines."""
        cached = self._thumbnails.get(size)
        if cached is None:
            from PIL import Image, ImageDraw

            cached = Image.new("RGB", (size * 3 // 4, size), (255, 255, 255))
            draw = ImageDraw.Draw(cached)
            draw.rectangle((0, 0, cached.width - 1, cached.height - 1), outline=(190, 190, 190))
            step = max(6, size // 12)
            for row, line in enumerate(self.file.text.splitlines()[: max(1, size // step - 1)]):
                draw.text((4, 3 + row * step), line[:40], fill=(60, 60, 60), font_size=max(5, step - 2))
            self._thumbnails[size] = cached
        return cached

    def parts(self, sending: Sending) -> list[Part]:
        """The file's text, named and fenced."""
        return [Part(text=self.file.for_model(self.name))]

    def cost(self, sending: Sending) -> Cost:
        """Estimated text tokens."""
        return Cost(estimate_text_tokens(self.file.for_model(self.name)))

    def describe(self) -> str:
        """"Python · 120 lines"."""
        kind = self.file.language.capitalize() if self.file.language else _("Text")
        return _("{kind} · {lines:,} lines").format(kind=kind, lines=self.file.lines)

    def meta(self) -> dict[str, Any]:
        """The encoding it was read in."""
        return {"encoding": self.file.encoding}


# -- video clips -----------------------------------------------------------------------------------------------
DEFAULT_FRAMES = 8  # frames sent of a clip to an endpoint that takes no video
VIDEO_SAMPLING_FPS = 2  # what GLM-V's processor samples a video at, for the cost estimate
VIDEO_FRAME_BUDGET = 1000  # tokens a sampled video frame costs at most, for the cost estimate


class VideoNotSupported(UserFacingError):
    """This build cannot record or read video clips."""


def require_video() -> None:
    """Raise VideoNotSupported where PyAV (which records and reads clips) is not there: every installer bundles
    it, but an installation made without it (a distribution's package, a trimmed environment) can lack it."""
    try:
        import av  # noqa: F401 - only asked whether it is there
    except ImportError as exc:
        raise VideoNotSupported(_("Screen recordings and video clips need PyAV, which this installation lacks."),
                                _("Install it (pip install av) into the Python that runs GLM-V Desktop, or use "
                                  "one of the installers, which include it."), detail=str(exc)) from exc


@dataclass(eq=False)
class VideoAttachment(Attachment):
    """A screen recording or a video file (MP4): sent inline where the endpoint takes video, else as frames."""

    kind: ClassVar[str] = "video"
    name: str
    origin: str
    data: bytes
    duration: float
    fps: float
    width: int
    height: int
    frame_count: int = DEFAULT_FRAMES
    dropped: int = 0  # frames the recorder could not keep up with
    id: str = field(default_factory=_new_id)
    revision: int = 0
    screen_area: tuple[int, int, int, int] | None = None
    _thumbnails: dict[int, Image.Image] = field(default_factory=dict, repr=False)
    _frames: dict[int, list[tuple[float, Image.Image]]] = field(default_factory=dict, repr=False)
    _payloads: dict[tuple[Any, ...], list[EncodedImage]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes, name: str, origin: str, *, attachment_id: str | None = None,
                   frame_count: int = DEFAULT_FRAMES, dropped: int = 0) -> VideoAttachment:
        """A clip from its bytes (VideoError says why it is not one); decoding: a worker thread."""
        require_video()
        from desktop.media.video import probe

        info = probe(data)
        return cls(name=name, origin=origin, data=data, duration=info.duration, fps=info.fps, width=info.width,
                   height=info.height, frame_count=frame_count, dropped=dropped, id=attachment_id or _new_id())

    def original_bytes(self) -> bytes:
        """The MP4 file."""
        return self.data

    def thumbnail(self, size: int) -> Image.Image:
        """Four frames of the clip, two by two on a dark ground like a contact sheet, within `size`×`size`
        (cached): a single filmstrip row would be a sliver at chip size."""
        with self._lock:
            cached = self._thumbnails.get(size)
        if cached is None:
            from PIL import Image

            cell_w = max(1, (size - 6) // 2)
            cell_h = max(1, round(cell_w * self.height / max(1, self.width)))
            sheet = Image.new("RGB", (cell_w * 2 + 6, cell_h * 2 + 6), (32, 33, 36))
            for index, (_seconds, frame) in enumerate(self.frames(4)):
                small = frame.copy()
                small.thumbnail((cell_w, cell_h))
                sheet.paste(small, (2 + (index % 2) * (cell_w + 2), 2 + (index // 2) * (cell_h + 2)))
            sheet.thumbnail((size, size))
            cached = sheet
            with self._lock:
                self._thumbnails[size] = cached
        return cached

    def frames(self, count: int) -> list[tuple[float, Image.Image]]:
        """`count` frames spread over the clip, with their times in seconds (decoded once, cached)."""
        with self._lock:
            cached = self._frames.get(count)
        if cached is None:
            from desktop.media.video import sample_frames

            cached = sample_frames(self.data, count)
            with self._lock:
                self._frames[count] = cached
        return cached

    def _frame_count(self, sending: Sending) -> int:
        count = self.frame_count
        if sending.max_images is not None:
            count = min(count, sending.max_images)
        return max(1, min(count, max(1, round(self.duration * self.fps))))

    def parts(self, sending: Sending) -> list[Part]:
        """The clip as the endpoint takes it: inline MP4, or frames with their times."""
        head = _("Screen recording '{name}', {seconds:.1f} s:").format(name=self.name, seconds=self.duration)
        if sending.inline_video:
            return [Part(text=head), Part(video=self.data)]
        n = self._frame_count(sending)
        frames = self.frames(n)
        parts = [Part(text=_("{head} as {n} frames, each with its time.").format(head=head, n=n))]
        for (seconds, _frame), encoded in zip(frames, self._encoded_frames(n, sending), strict=True):
            parts.append(Part(text=_("At {seconds:.1f} s:").format(seconds=seconds)))
            parts.append(Part(image=encoded))
        return parts

    def _encoded_frames(self, n: int, sending: Sending) -> list[EncodedImage]:
        """The `n` frames encoded for `sending` (cached: every later question sends them again)."""
        key = (n, sending.token_budget, sending.image_format, sending.max_side, sending.max_bytes)
        with self._lock:
            cached = self._payloads.get(key)
        if cached is None:
            cached = [encode_for_model(frame, sending.token_budget, fmt=sending.image_format,
                                       max_side=sending.max_side, max_bytes=sending.max_bytes)
                      for _seconds, frame in self.frames(n)]
            with self._lock:
                cached = self._payloads.setdefault(key, cached)
        return cached

    def cost(self, sending: Sending) -> Cost:
        """Frames × their image tokens; inline, what GLM-V's processor makes of it (≈)."""
        if sending.inline_video:
            sampled = max(1, math.ceil(self.duration * VIDEO_SAMPLING_FPS / 2))  # two frames per temporal patch
            w, h = fit_to_budget(self.width, self.height, VIDEO_FRAME_BUDGET)
            return Cost(sampled * estimate_image_tokens(w, h), 0)
        n = self._frame_count(sending)
        return Cost(n * estimate_image_tokens(*fit_to_budget(self.width, self.height, sending.token_budget,
                                                             sending.max_side)), n)

    def describe(self) -> str:
        """"Video · 12.0 s · 1280×720"."""
        text = _("Video · {seconds:.1f} s · {w}×{h}").format(seconds=self.duration, w=self.width, h=self.height)
        if self.dropped:
            text += " · " + _("{n} frames dropped").format(n=self.dropped)
        return text

    def meta(self) -> dict[str, Any]:
        """How many frames go to endpoints without video, and where it was recorded."""
        meta: dict[str, Any] = {"frame_count": self.frame_count, "dropped": self.dropped}
        if self.screen_area is not None:
            meta["screen_area"] = list(self.screen_area)
        return meta


# -- making and restoring ------------------------------------------------------------------------------------
class OfficeNotAvailable(UserFacingError):
    """An Office file, and no LibreOffice to read it."""


@dataclass(frozen=True)
class Loading:
    """What loading a file may need: where LibreOffice keeps its private profile, a cancel switch, a
    progress callback, and the password of an encrypted PDF."""

    office_profile: Path | None = None
    cancel: threading.Event | None = None
    progress: Callable[[str], None] | None = None
    password: str | None = None


def load_file(path: Path, origin: str, loading: Loading | None = None) -> Attachment:
    """Any file as the attachment of its kind (worker thread). Raises a UserFacingError saying what is wrong:
    missing, a folder, empty, too big, damaged, encrypted (PdfPasswordRequired), LibreOffice missing, …"""
    data, found = read_file(path)
    return attachment_from(data, path.name or str(path), origin, found, loading)


def attachment_from(data: bytes, name: str, origin: str, found: Recognised,
                    loading: Loading | None = None) -> Attachment:
    """The attachment `data` makes, as recognised."""
    loading = loading or Loading()
    if found.kind is SourceKind.PICTURE:
        image = decode_picture(data, name)
        return ImageAttachment(name=name, width=image.width, height=image.height, origin=origin, data=data,
                               pixels=image)
    if found.kind is SourceKind.PDF:
        return DocumentAttachment.from_pdf(data, name, origin, password=loading.password)
    if found.kind is SourceKind.OFFICE:
        return _from_office(data, name, origin, found.format, loading)
    if found.kind is SourceKind.TEXT:
        return TextAttachment.from_bytes(data, name, origin)
    return VideoAttachment.from_bytes(data, name, origin)


def _from_office(data: bytes, name: str, origin: str, fmt: str, loading: Loading) -> DocumentAttachment:
    from desktop.media.office import convert_to_pdf, office_availability

    available = office_availability()
    if not available.available:
        raise OfficeNotAvailable(
            _("'{name}' is an Office document; reading it needs LibreOffice, which is not installed.").format(
                name=name), available.how_to_fix)
    if loading.office_profile is None:
        raise OfficeNotAvailable(_("Office documents cannot be read here."), _("Convert it to PDF and attach that."))
    stem = Path(name).stem or "document"
    pdf = convert_to_pdf(data, f"{stem}.{fmt}", profile_dir=loading.office_profile, cancel=loading.cancel,
                         on_progress=loading.progress)
    return DocumentAttachment.from_pdf(pdf, name, origin, source_format=fmt)


def restore(kind: str, data: bytes, *, name: str, origin: str, width: int, height: int, attachment_id: str,
            meta: dict[str, Any]) -> Attachment:
    """An attachment as the history (or an export) keeps it; unknown kinds come back as pictures."""
    if kind == DocumentAttachment.kind:
        count = int(meta.get("page_count") or 0)
        pages = tuple(int(p) for p in meta.get("pages", range(min(count, DEFAULT_MAX_PAGES))))
        budget = meta.get("page_budget")
        return DocumentAttachment(name=name, origin=origin, pdf=data, page_count=count, pages=pages,
                                  mode=PageMode(meta.get("mode", PageMode.IMAGES.value)),
                                  source_format=str(meta.get("source_format", "pdf")),
                                  page_budget=None if budget is None else int(budget), width=width, height=height,
                                  id=attachment_id)
    if kind == VideoAttachment.kind:
        video = VideoAttachment.from_bytes(data, name, origin, attachment_id=attachment_id,
                                           frame_count=int(meta.get("frame_count") or DEFAULT_FRAMES),
                                           dropped=int(meta.get("dropped") or 0))
        video.screen_area = _screen_area(meta)
        return video
    if kind == TextAttachment.kind:
        try:
            file = read_text(data, name)
        except UserFacingError:
            file = TextFile(text=data.decode("utf-8", "replace"), encoding="UTF-8", language="", fenced=False)
        return TextAttachment(name=name, origin=origin, data=data, file=file, id=attachment_id)
    annotations = None
    if meta.get("annotations"):
        from desktop.media.annotations import Annotations

        try:
            annotations = Annotations.from_json(meta["annotations"])
        except ValueError as exc:  # kept as a plain picture rather than lost
            log.warning("The drawings on '%s' could not be read back: %s", name, exc)
    return ImageAttachment(name=name, width=width, height=height, origin=origin, data=data, id=attachment_id,
                           screen_area=_screen_area(meta), annotations=annotations)


def _screen_area(meta: dict[str, Any]) -> tuple[int, int, int, int] | None:
    """Where a capture or a recording was on screen, as its `meta` keeps it (None for files and pastes)."""
    area = meta.get("screen_area")
    if isinstance(area, list) and len(area) == 4:
        return int(area[0]), int(area[1]), int(area[2]), int(area[3])
    return None


def prepare(attachment: Attachment, sending: Sending, preview_size: int) -> Attachment:
    """Make the preview and what is sent, so the UI thread never waits on them (a worker thread): the one
    preparation every window uses after a capture, a file, a paste or a drop. A document's pages are
    rendered later, as they are shown or sent."""
    attachment.thumbnail(preview_size)
    if isinstance(attachment, ImageAttachment):
        attachment.parts(sending)
    return attachment


# -- what fits in one request ------------------------------------------------------------------------------
def context_tokens(model: str) -> int | None:
    """The context length of a GLM-V model by its name (None when the name does not say)."""
    name = model.lower()
    if "4.6v" in name:
        return 131_072
    if "4.5v" in name or "4.1v" in name:
        return 65_536
    return None


@dataclass(frozen=True)
class Fit:
    """What a question's attachments add up to, against what the endpoint accepts in one request."""

    tokens: int
    images: int
    max_images: int | None
    max_tokens: int | None

    @property
    def too_many_images(self) -> bool:
        """More pictures than the endpoint takes in one request."""
        return self.max_images is not None and self.images > self.max_images

    @property
    def too_many_tokens(self) -> bool:
        """More tokens than the model's context holds (leaving room for the answer)."""
        return self.max_tokens is not None and self.tokens > self.max_tokens

    @property
    def fits(self) -> bool:
        """Whether it can be sent as it stands."""
        return not (self.too_many_images or self.too_many_tokens)

    def problem(self) -> UserFacingError | None:
        """What does not fit, in words, with what to do; None when it fits."""
        if self.too_many_images:
            return UserFacingError(
                _("The attachments hold {count} pictures; this endpoint takes at most {limit} in one request.").format(
                    count=self.images, limit=self.max_images),
                _("Choose fewer pages (click a document's chip), or send a document's pages as text."))
        if self.too_many_tokens:
            return UserFacingError(
                _("The attachments come to about {tokens:,} tokens; the model reads at most {limit:,}.").format(
                    tokens=self.tokens, limit=self.max_tokens),
                _("Choose fewer pages, lower the image budget, or send a document's pages as text."))
        return None


ANSWER_ROOM = 8_192  # tokens left for the answer when checking a question against the context


def fit(attachments: Iterable[Attachment], sending: Sending, *, max_images: int | None, model: str) -> Fit:
    """Add up what `attachments` cost at `sending`, against the endpoint's picture limit and the model's context."""
    total = Cost(0, 0)
    for attachment in attachments:
        total += attachment.cost(sending)
    context = context_tokens(model)
    return Fit(total.tokens, total.images, max_images, None if context is None else context - ANSWER_ROOM)
