"""PDF pages as pictures and text (real PDFium): sizes, exact renderings, the text layer, passwords,
damaged files named precisely, huge pages capped, many pages opened without loading any, threads."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pypdfium2.raw as pdfium_c
import pytest

from desktop.media.pdf import MAX_RENDER_PIXELS, MAX_RENDER_SIDE, PdfDocument, PdfError, PdfPasswordRequired
from tests.support.documents import PageSpec, encrypt_pdf, make_pdf, random_bytes, text_pages, truncated

RED, GREEN, BLUE = (220, 40, 40), (40, 160, 60), (40, 80, 220)
LETTER = PageSpec(width=612, height=792, rect=(300, 100, 500, 300), colour=RED,
                  lines=("Quarterly report", "Revenue rose by 12 percent.", "Costs (travel) fell."))
WIDE = PageSpec(width=842, height=595, rect=(50, 400, 250, 550), colour=GREEN, lines=("A landscape page",))
TURNED = PageSpec(width=612, height=792, rect=(72, 500, 272, 700), colour=BLUE, lines=("Turned page",), rotate=90)
HUGE = PageSpec(width=14400, height=14400, rect=(0, 0, 7200, 7200), colour=RED)  # 200 × 200 inches


@pytest.fixture
def document() -> Iterator[PdfDocument]:
    with PdfDocument.open(make_pdf([LETTER, WIDE, TURNED, HUGE]), "report.pdf") as opened:
        yield opened


@pytest.fixture
def loaded_pages(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every page PDFium loads from now on, by index (the real call, counted)."""
    loaded: list[int] = []
    real: Callable[..., Any] = pdfium_c.FPDF_LoadPage

    def counting(document: object, index: int) -> Any:
        loaded.append(index)
        return real(document, index)

    monkeypatch.setattr(pdfium_c, "FPDF_LoadPage", counting)
    return loaded


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 3) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


# -- pages -------------------------------------------------------------------------------------------------------
def test_page_count_and_sizes_in_points_as_shown(document: PdfDocument) -> None:
    assert document.page_count == 4
    assert document.page_size(0) == (612, 792)
    assert document.page_size(1) == (842, 595)
    assert document.page_size(2) == (792, 612)  # /Rotate 90: shown sideways
    assert document.page_size(3) == (14400, 14400)


def test_page_index_out_of_range_is_an_index_error(document: PdfDocument) -> None:
    with pytest.raises(IndexError):
        document.page_size(4)
    with pytest.raises(IndexError):
        document.render(-1, 10, 10)


@pytest.mark.parametrize(("index", "spec"), [(0, LETTER), (1, WIDE), (2, TURNED)])
def test_render_has_the_exact_size_and_the_rectangle_where_it_was_drawn(document: PdfDocument, index: int,
                                                                       spec: PageSpec) -> None:
    # GIVEN a page shown at 1.5 px per point
    width, height = (round(side * 1.5) for side in document.page_size(index))
    # WHEN it is rendered
    image = document.render(index, width, height)
    # THEN the picture is RGB of exactly that size, the rectangle's colour inside it, white just outside it
    assert image.mode == "RGB" and image.size == (width, height)
    left, top, right, bottom = spec.rect_in_pixels(width, height)
    assert close_to(image.getpixel(spec.rect_centre_in_pixels(width, height)), spec.colour)
    assert close_to(image.getpixel((int(left) + 2, int(top) + 2)), spec.colour)
    assert close_to(image.getpixel((int(right) - 2, int(bottom) - 2)), spec.colour)
    assert image.getpixel((int(left) - 3, int(top) - 3)) == (255, 255, 255)
    assert image.getpixel((int(right) + 3, int(bottom) + 3)) == (255, 255, 255)
    assert image.getpixel((width - 1, height - 1)) == (255, 255, 255)  # white background, corner to corner


def test_render_stretches_to_any_size_asked(document: PdfDocument) -> None:
    image = document.render(0, 300, 100)
    assert image.size == (300, 100)
    assert close_to(image.getpixel(LETTER.rect_centre_in_pixels(300, 100)), RED)


def test_a_200_inch_page_is_rendered_under_the_caps(document: PdfDocument) -> None:
    # 200 inches at 72 dpi would be 14,400 px a side (and at 300 dpi 60,000): never allocated
    image = document.render(3, 60_000, 60_000)
    assert max(image.size) <= MAX_RENDER_SIDE
    assert image.width * image.height <= MAX_RENDER_PIXELS
    assert image.width == image.height  # aspect kept
    assert close_to(image.getpixel((image.width // 4, image.height * 3 // 4)), RED)  # the bottom-left quarter
    assert image.getpixel((image.width * 3 // 4, image.height // 4)) == (255, 255, 255)


def test_the_side_cap_keeps_the_aspect(document: PdfDocument) -> None:
    image = document.render(1, MAX_RENDER_SIDE * 2, MAX_RENDER_SIDE // 2)
    assert image.size == (MAX_RENDER_SIDE, MAX_RENDER_SIDE // 4)


@pytest.mark.parametrize(("index", "size", "expected"), [(0, 192, (148, 192)), (1, 192, (192, 136)),
                                                        (2, 100, (100, 77)), (3, 64, (64, 64))])
def test_thumbnail_fits_the_square_keeping_the_aspect(document: PdfDocument, index: int, size: int,
                                                      expected: tuple[int, int]) -> None:
    thumbnail = document.thumbnail(index, size)
    assert thumbnail.size == expected
    assert thumbnail.mode == "RGB"


def test_text_layer_is_the_lines_written(document: PdfDocument) -> None:
    assert document.text(0) == "\n".join(LETTER.lines)
    assert document.text(1) == "A landscape page"
    assert document.text(2) == "Turned page"


def test_a_page_without_text_has_an_empty_text_layer(document: PdfDocument) -> None:
    assert document.text(3) == ""


def test_text_whitespace_is_tidied() -> None:
    page = PageSpec(rect=None, lines=("Name      Amount   ", "", "", "", "Total    42  "))
    with PdfDocument.open(make_pdf([page]), "table.pdf") as opened:
        assert opened.text(0) == "Name Amount\nTotal 42"


def test_a_5000_page_pdf_opens_without_loading_a_page(loaded_pages: list[int]) -> None:
    data = make_pdf(text_pages(5000, lines_per_page=2))
    with PdfDocument.open(data, "archive.pdf") as opened:
        assert opened.page_count == 5000
        assert opened.page_size(4999) == (595, 842)  # sizes come without loading pages either
        assert loaded_pages == []
        image = opened.render(4999, 119, 168)
        assert loaded_pages == [4999]
        assert opened.text(4999).startswith("Page 5000, line 1:")
    assert image.size == (119, 168)


# -- passwords ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def locked() -> bytes:
    return encrypt_pdf(make_pdf([LETTER, WIDE]), "s3cret")


def test_encrypted_without_a_password_asks_for_one(locked: bytes) -> None:
    with pytest.raises(PdfPasswordRequired) as caught:
        PdfDocument.open(locked, "salary.pdf")
    assert caught.value.wrong_password is False
    assert caught.value.message == "'salary.pdf' is protected with a password."
    assert caught.value.hint


def test_encrypted_with_a_wrong_password_says_so(locked: bytes) -> None:
    with pytest.raises(PdfPasswordRequired) as caught:
        PdfDocument.open(locked, "salary.pdf", password="S3cret")
    assert caught.value.wrong_password is True
    assert caught.value.message == "The password for 'salary.pdf' is not right."


def test_encrypted_with_the_right_password_renders(locked: bytes) -> None:
    with PdfDocument.open(locked, "salary.pdf", password="s3cret") as opened:
        assert opened.password_protected
        assert opened.page_count == 2
        assert close_to(opened.render(0, 612, 792).getpixel(LETTER.rect_centre_in_pixels(612, 792)), RED)
        assert opened.text(1) == "A landscape page"


def test_unlocked_bytes_reopen_without_the_password(locked: bytes) -> None:
    with PdfDocument.open(locked, "salary.pdf", password="s3cret") as opened:
        unlocked = opened.unlocked_bytes()
    with PdfDocument.open(unlocked, "salary.pdf") as reopened:
        assert not reopened.password_protected
        assert reopened.page_count == 2
        assert reopened.text(0) == "\n".join(LETTER.lines)
        assert close_to(reopened.render(0, 306, 396).getpixel(LETTER.rect_centre_in_pixels(306, 396)), RED)


def test_older_rc4_encryption_opens_too() -> None:
    locked = encrypt_pdf(make_pdf([LETTER]), "pw", algorithm="RC4-128")
    with pytest.raises(PdfPasswordRequired):
        PdfDocument.open(locked, "old.pdf")
    with PdfDocument.open(locked, "old.pdf", password="pw") as opened:
        assert opened.text(0) == "\n".join(LETTER.lines)


def test_unlocked_bytes_of_an_unprotected_file_are_the_file() -> None:
    data = make_pdf([LETTER])
    with PdfDocument.open(data, "plain.pdf") as opened:
        assert not opened.password_protected
        assert opened.unlocked_bytes() == data


# -- files that cannot be read -------------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0.3, 0.6, 0.97])
def test_a_truncated_file_is_damaged_or_incomplete(keep: float) -> None:
    data = truncated(make_pdf(text_pages(5)), keep)
    with pytest.raises(PdfError) as caught:
        PdfDocument.open(data, "report.pdf")
    assert not isinstance(caught.value, PdfPasswordRequired)
    assert caught.value.message == "'report.pdf' is damaged or incomplete."
    assert "again" in caught.value.hint


def test_random_bytes_are_not_a_pdf() -> None:
    with pytest.raises(PdfError) as caught:
        PdfDocument.open(random_bytes(), "holiday.pdf")
    assert caught.value.message == "'holiday.pdf' is not a PDF document."
    assert "export it as PDF" in caught.value.hint


def test_a_pdf_without_pages_says_so() -> None:
    with pytest.raises(PdfError) as caught:
        PdfDocument.open(make_pdf([]), "blank.pdf")
    assert caught.value.message == "'blank.pdf' has no pages."


def test_an_empty_file_says_it_is_empty() -> None:
    with pytest.raises(PdfError) as caught:
        PdfDocument.open(b"", "new.pdf")
    assert caught.value.message == "'new.pdf' is empty (0 bytes)."


def test_trailing_padding_after_the_end_marker_is_fine() -> None:
    with PdfDocument.open(make_pdf([LETTER]) + b"\x00" * 4000 + b"\r\n", "padded.pdf") as opened:
        assert opened.page_count == 1


# -- threads -------------------------------------------------------------------------------------------------------
def test_concurrent_renders_from_four_threads_are_identical() -> None:
    # GIVEN two documents (PDFium is not safe even across different documents)
    first = PdfDocument.open(make_pdf(text_pages(4)), "first.pdf")
    second = PdfDocument.open(make_pdf([LETTER, WIDE, TURNED]), "second.pdf")
    jobs = [(doc, i) for doc in (first, second) for i in range(doc.page_count)]
    expected = {(id(doc), i): (doc.render(i, 400, 500).tobytes(), doc.text(i)) for doc, i in jobs}
    start = threading.Barrier(4)

    def work(thread: int) -> list[bool]:
        start.wait()
        results = []
        for round_ in range(6):
            for doc, i in jobs[(thread + round_) % len(jobs):] + jobs[:(thread + round_) % len(jobs)]:
                results.append((doc.render(i, 400, 500).tobytes(), doc.text(i)) == expected[(id(doc), i)])
        return results

    # WHEN four threads render and read every page of both at once
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(work, range(4)))
    first.close()
    second.close()
    # THEN every picture and text equals the one rendered alone
    assert all(all(results) for results in outcomes)
    assert sum(len(results) for results in outcomes) == 4 * 6 * len(jobs)


def test_a_closed_document_refuses_work() -> None:
    opened = PdfDocument.open(make_pdf([LETTER]), "done.pdf")
    opened.close()
    opened.close()
    with pytest.raises(ValueError, match="closed"):
        opened.render(0, 10, 10)
