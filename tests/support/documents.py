"""Real documents made by the tests themselves: PDFs written by hand, encrypted PDFs, slide decks,
Word files and spreadsheets, each with content whose rendering and text the tests know in advance."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

RGB = tuple[int, int, int]
LINE_HEIGHT = 16.0  # points between the baselines of a page's text lines
FONT_SIZE = 12.0
MARGIN = 72.0  # the first line's left edge and its distance from the top of the page


@dataclass(frozen=True)
class PageSpec:
    """One page of `make_pdf`: its size in points, a filled rectangle and lines of Helvetica text.

    `rect` is (left, bottom, right, top) in the page's own coordinates (points, origin bottom left),
    as PDF draws it; `rotate` is the page's /Rotate (clockwise, as displayed).
    """

    width: float = 612.0
    height: float = 792.0
    rect: tuple[float, float, float, float] | None = (300.0, 100.0, 500.0, 300.0)
    colour: RGB = (220, 40, 40)
    lines: tuple[str, ...] = ()
    rotate: int = 0

    @property
    def shown_size(self) -> tuple[float, float]:
        """Width and height in points as a viewer shows the page (its rotation applied)."""
        return (self.height, self.width) if self.rotate % 180 else (self.width, self.height)

    def rect_in_pixels(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Where `rect` lands in a width×height rendering as shown: (left, top, right, bottom) pixels."""
        assert self.rect is not None
        x0, y0, x1, y1 = self.rect
        w, h = self.width, self.height
        # Each corner in shown points, top-left origin, for the page turned clockwise by `rotate`.
        corners = [(x, y) for x in (x0, x1) for y in (y0, y1)]
        turn = self.rotate % 360
        shown = [
            (x, h - y) if turn == 0 else
            (y, x) if turn == 90 else
            (w - x, y) if turn == 180 else
            (h - y, w - x)
            for x, y in corners
        ]
        sw, sh = self.shown_size
        xs = [x * width / sw for x, _ in shown]
        ys = [y * height / sh for _, y in shown]
        return min(xs), min(ys), max(xs), max(ys)

    def rect_centre_in_pixels(self, width: int, height: int) -> tuple[int, int]:
        """The middle pixel of `rect` in a width×height rendering."""
        left, top, right, bottom = self.rect_in_pixels(width, height)
        return int((left + right) / 2), int((top + bottom) / 2)


def _pdf_string(text: str) -> bytes:
    """A PDF literal string for Helvetica's standard encoding (ASCII here)."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return b"(" + escaped.encode("latin-1") + b")"


def _content(page: PageSpec) -> bytes:
    """The page's drawing: the filled rectangle, then the text lines from the top left."""
    out = []
    if page.rect is not None:
        x0, y0, x1, y1 = page.rect
        r, g, b = (c / 255 for c in page.colour)
        out.append(f"q {r:.4f} {g:.4f} {b:.4f} rg {x0:.2f} {y0:.2f} {x1 - x0:.2f} {y1 - y0:.2f} re f Q".encode())
    if page.lines:
        out.append(f"BT /F1 {FONT_SIZE:g} Tf 0 0 0 rg {LINE_HEIGHT:g} TL".encode())
        out.append(f"{MARGIN:g} {page.height - MARGIN:.2f} Td".encode())
        for i, line in enumerate(page.lines):
            out.append(_pdf_string(line) + (b" Tj" if i == 0 else b" '"))
        out.append(b"ET")
    return b"\n".join(out)


def make_pdf(pages: Sequence[PageSpec]) -> bytes:
    """A valid PDF written by hand (catalog, page tree, Helvetica, one content stream per page)."""
    objects: list[bytes] = []  # object n is objects[n - 1]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, page in enumerate(pages):
        rotate = f" /Rotate {page.rotate}" if page.rotate else ""
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {page.width:g} {page.height:g}]{rotate} "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode())
        stream = _content(page)
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def text_pages(count: int, lines_per_page: int = 20) -> list[PageSpec]:
    """`count` A4 pages, each with a coloured block and lines of prose naming the page."""
    colours = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (240, 200, 30)]
    return [PageSpec(width=595.0, height=842.0, rect=(330.0, 80.0, 520.0, 260.0), colour=colours[n % 4],
                     lines=tuple(f"Page {n + 1}, line {i + 1}: the quarterly figures rose in every region."
                                 for i in range(lines_per_page)))
            for n in range(count)]


def encrypt_pdf(data: bytes, password: str, algorithm: str = "AES-256") -> bytes:
    """`data` encrypted with `password` as both the user and owner password (pypdf)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password, algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    """The first `keep` of a file, as an interrupted download or copy leaves it."""
    return data[: int(len(data) * keep)]


def random_bytes(size: int = 4096, seed: int = 1) -> bytes:
    """Bytes that are no kind of document."""
    return random.Random(seed).randbytes(size)


@dataclass(frozen=True)
class SlideSpec:
    """One slide of `make_pptx`: a title and the colour of its background."""

    title: str
    colour: RGB
    body: tuple[str, ...] = field(default_factory=tuple)


def make_pptx(slides: Sequence[SlideSpec]) -> bytes:
    """A 16:9 deck; each slide a full-slide coloured background and a title text box (python-pptx)."""
    from pptx import Presentation
    from pptx.dml.color import RGBColor
    from pptx.util import Emu, Pt

    deck = Presentation()
    deck.slide_width, deck.slide_height = Emu(12192000), Emu(6858000)
    blank = deck.slide_layouts[6]
    for spec in slides:
        slide = deck.slides.add_slide(blank)
        fill = slide.background.fill
        fill.solid()
        fill.fore_color.rgb = RGBColor(*spec.colour)
        box = slide.shapes.add_textbox(Emu(600000), Emu(400000), Emu(10000000), Emu(1200000))
        frame = box.text_frame
        frame.text = spec.title
        frame.paragraphs[0].runs[0].font.size = Pt(40)
        for line in spec.body:
            paragraph = frame.add_paragraph()
            paragraph.text = line
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def make_docx(paragraphs: Sequence[str], heading: str | None = None) -> bytes:
    """A Word document with an optional heading and the given paragraphs (python-docx)."""
    from docx import Document

    document = Document()
    if heading is not None:
        document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_xlsx(rows: Sequence[Sequence[str | float]], sheet: str = "Figures") -> bytes:
    """A workbook with one sheet holding `rows` from A1 (xlsxwriter)."""
    import xlsxwriter

    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"in_memory": True})
    worksheet = workbook.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            worksheet.write(r, c, value)
    worksheet.set_column(0, max((len(row) for row in rows), default=1), 18)
    workbook.close()
    return out.getvalue()
