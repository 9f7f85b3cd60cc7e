"""Attachment kinds: files recognised by their bytes, documents as chosen pages, text files inline, the
request built from their parts, what fits in one request, and the history keeping each kind."""

from __future__ import annotations

import base64
import codecs
import io
from pathlib import Path

import pytest
from PIL import Image

from desktop.chat.attachments import (
    DocumentAttachment,
    ImageAttachment,
    PageMode,
    Sending,
    TextAttachment,
    fit,
    format_pages,
    load_file,
    parse_pages,
)
from desktop.chat.conversation import Conversation
from desktop.chat.request import AskOptions, build_request
from desktop.config.profiles import EndpointProfile, Flavor
from desktop.media.pdf import PdfError, PdfPasswordRequired
from desktop.media.sources import SourceKind, UnsupportedFile, read_file, recognise
from desktop.media.textfile import TextFileError, decode_text
from desktop.store import HistoryStore
from tests.support.documents import PageSpec, encrypt_pdf, make_docx, make_pdf, make_pptx, text_pages, truncated

SENDING = Sending(token_budget=1000, image_format="png")


def png(colour: tuple[int, int, int] = (10, 200, 30), size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def three_pages() -> bytes:
    return make_pdf([PageSpec(lines=(f"Alpha page {n + 1}",), colour=colour)
                     for n, colour in enumerate([(220, 40, 40), (40, 160, 60), (40, 80, 220)])])


# -- recognised by bytes, not names ---------------------------------------------------------------------
@pytest.mark.parametrize(("data", "name", "kind", "fmt"), [
    (png(), "really-a-picture.pdf", SourceKind.PICTURE, "image"),
    (b"junk\n%PDF-1.7\n...", "report.png", SourceKind.PDF, "pdf"),
    (b"plain words", "photo.jpg", SourceKind.TEXT, "text"),
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, "clip.txt", SourceKind.VIDEO, "video"),
])
def test_files_are_recognised_by_their_bytes(data: bytes, name: str, kind: SourceKind, fmt: str) -> None:
    found = recognise(data, name)
    assert (found.kind, found.format) == (kind, fmt)


def test_office_formats_are_told_apart_by_their_contents() -> None:
    from tests.support.documents import SlideSpec

    deck = make_pptx([SlideSpec("One", (200, 0, 0))])
    assert recognise(deck, "named.docx").format == "pptx"
    assert recognise(make_docx(["Hello"]), "x.bin").format == "docx"
    assert recognise(b"{\\rtf1 hello}", "letter").format == "rtf"
    assert recognise(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "old.ppt").format == "ppt"


def test_an_unknown_file_lists_what_is_supported() -> None:
    with pytest.raises(UnsupportedFile) as caught:
        recognise(bytes(range(256)) * 4, "blob.dat")
    assert "blob.dat" in caught.value.message
    assert "PDF" in caught.value.hint and "pptx" in caught.value.hint and "Markdown" in caught.value.hint


def test_a_zip_that_is_no_document_says_so() -> None:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "x")
    with pytest.raises(UnsupportedFile, match="ZIP archive"):
        recognise(out.getvalue(), "bundle.docx")


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: None, "does not exist"),
])
def test_bad_paths_say_what_is_wrong(tmp_path: Path, make: object, message: str) -> None:
    path = tmp_path / "thing.pdf"
    make(path)  # type: ignore[operator]
    with pytest.raises(UnsupportedFile, match=message):
        read_file(path)


def test_a_file_gone_between_choosing_and_reading_says_so(tmp_path: Path) -> None:
    # GIVEN a file chosen in the dialog, then deleted before it is read
    path = tmp_path / "slides.pdf"
    path.write_bytes(three_pages())
    path.unlink()
    # THEN reading it says it is gone, naming it
    with pytest.raises(UnsupportedFile, match="does not exist") as caught:
        load_file(path, "file")
    assert "slides.pdf" in caught.value.message


# -- text and code files ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("data", "encoding"), [
    ("print('héllo')\n".encode(), "UTF-8"),
    (codecs.BOM_UTF8 + b"x = 1\n", "UTF-8"),
    ("数据 = 1\n".encode("utf-16"), "UTF-16"),
    ("value = 'ascii only here'\n".encode("utf-16-le"), "UTF-16"),
    ("# 中文注释：季度数据\nprint(1)\n".encode("gb18030"), "GB18030"),
])
def test_text_encodings_are_recognised(data: bytes, encoding: str) -> None:
    found = decode_text(data, "script.py")
    assert found is not None and found.encoding == encoding
    assert found.language == "python" and found.fenced


def test_code_is_fenced_with_its_language_and_markdown_is_not(tmp_path: Path) -> None:
    code = tmp_path / "main.rs"
    code.write_text('fn main() { println!("```"); }\n', encoding="utf-8")
    attachment = load_file(code, "file")
    assert isinstance(attachment, TextAttachment)
    [part] = attachment.parts(SENDING)
    assert part.text is not None
    assert part.text.splitlines()[2] == "````rust"  # a longer fence, since the file holds one
    assert part.text.endswith("\n````")
    notes = tmp_path / "notes.md"
    notes.write_text("# Title\n\nSome *notes*.\n", encoding="utf-8")
    [md] = load_file(notes, "file").parts(SENDING)
    assert md.text is not None and "```" not in md.text and md.text.endswith("Some *notes*.")
    table = tmp_path / "figures.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    [csv] = load_file(table, "file").parts(SENDING)
    assert csv.text is not None and "```csv\na,b\n1,2\n```" in csv.text


def test_a_huge_or_binary_text_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    big = tmp_path / "huge.log"
    big.write_text("line\n" * 300_000, encoding="utf-8")
    with pytest.raises(UnsupportedFile, match="limit"):
        load_file(big, "file")
    with pytest.raises(TextFileError, match="not text"):
        TextAttachment.from_bytes(b"\x00\x01\x02\x03" * 100, "blob.txt", "file")


# -- documents -------------------------------------------------------------------------------------------
def test_page_ranges_parse_and_format() -> None:
    assert parse_pages("1-3, 8", 10) == (0, 1, 2, 7)
    assert parse_pages("all", 3) == (0, 1, 2) and parse_pages("none", 3) == ()
    assert parse_pages("5-", 6) == (4, 5)
    assert parse_pages("1 - 3, 5", 6) == parse_pages("1-3,5", 6) == (0, 1, 2, 4)
    assert format_pages((0, 1, 2, 7, 9)) == "1-3, 8, 10"
    with pytest.raises(ValueError, match="outside 1-3"):
        parse_pages("2-5", 3)
    with pytest.raises(ValueError, match="not a page"):
        parse_pages("two", 3)


def test_a_pdf_becomes_pages_each_rendered_at_its_sent_size(tmp_path: Path) -> None:
    # GIVEN a 3-page PDF attached from a file
    path = tmp_path / "report.pdf"
    path.write_bytes(three_pages())
    document = load_file(path, "file")
    assert isinstance(document, DocumentAttachment)
    assert document.page_count == 3 and document.pages == (0, 1, 2) and document.describe().startswith("PDF")
    # WHEN its parts are made for an endpoint
    parts = document.parts(SENDING)
    # THEN a line names it, then each page as a lossless picture of exactly the rendered page
    assert parts[0].text is not None and "report.pdf" in parts[0].text and "1-3 of 3" in parts[0].text
    images = [p.image for p in parts[1:]]
    assert len(images) == 3
    for index, image in enumerate(images):
        assert image is not None and image.mime == "image/png"
        assert (image.width, image.height) == document.page_pixels(index, SENDING)
        assert image.tokens <= SENDING.token_budget
        sent = Image.open(io.BytesIO(image.data)).convert("RGB")
        rendered = document.document().render(index, image.width, image.height).convert("RGB")
        assert sent.tobytes() == rendered.tobytes()
    # and the cost shown is what is sent
    assert document.cost(SENDING).images == 3
    assert document.cost(SENDING).tokens == sum(i.tokens for i in images if i is not None)


def test_pages_as_text_or_both(tmp_path: Path) -> None:
    document = DocumentAttachment.from_pdf(three_pages(), "alpha.pdf", "file")
    document.choose((0, 2), PageMode.TEXT)
    [text] = document.parts(SENDING)
    assert text.text is not None and "Alpha page 1" in text.text and "Alpha page 3" in text.text
    assert "Alpha page 2" not in text.text and document.cost(SENDING).images == 0
    document.choose((1,), PageMode.BOTH)
    parts = document.parts(SENDING)
    assert [p.image is not None for p in parts] == [False, True, False]
    assert parts[2].text is not None and "Alpha page 2" in parts[2].text


def test_a_huge_page_is_rendered_within_the_budget() -> None:
    # GIVEN a 200-inch page
    document = DocumentAttachment.from_pdf(make_pdf([PageSpec(width=14400, height=14400)]), "poster.pdf", "file")
    [image] = [p.image for p in document.parts(SENDING) if p.image is not None]
    assert image is not None and image.tokens <= SENDING.token_budget and max(image.width, image.height) < 1200


def test_bad_pdfs_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(PdfError):
        DocumentAttachment.from_pdf(truncated(three_pages(), 0.3), "cut.pdf", "file")
    locked = encrypt_pdf(three_pages(), "s3cret")
    with pytest.raises(PdfPasswordRequired) as missing:
        DocumentAttachment.from_pdf(locked, "locked.pdf", "file")
    assert not missing.value.wrong_password
    with pytest.raises(PdfPasswordRequired) as wrong:
        DocumentAttachment.from_pdf(locked, "locked.pdf", "file", password="nope")
    assert wrong.value.wrong_password
    opened = DocumentAttachment.from_pdf(locked, "locked.pdf", "file", password="s3cret")
    # kept without its password, so the history can open it again
    again = DocumentAttachment(name="locked.pdf", origin="file", pdf=opened.original_bytes(), page_count=3)
    assert again.page_text(0).startswith("Alpha page 1")


def test_a_long_document_starts_with_its_first_pages_chosen() -> None:
    document = DocumentAttachment.from_pdf(make_pdf(text_pages(45, lines_per_page=1)), "long.pdf", "file")
    assert document.page_count == 45 and document.pages == tuple(range(20))


# -- one request ---------------------------------------------------------------------------------------------
def test_the_request_concatenates_every_kind_in_order(tmp_path: Path) -> None:
    picture = ImageAttachment.from_bytes(png(), "shot.png", "file")
    document = DocumentAttachment.from_pdf(three_pages(), "report.pdf", "file")
    document.choose((0, 2), PageMode.IMAGES)
    code = TextAttachment.from_bytes(b"SELECT 1;\n", "q.sql", "file")
    conversation = Conversation()
    question = conversation.add_question("What do these say?", [picture, document, code])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="x", thinking=False)
    profile = EndpointProfile(name="vllm", flavor=Flavor.VLLM, base_url="http://127.0.0.1:1/v1", model="m")
    request = build_request(profile, conversation, reply, AskOptions(model="m", token_budget=1000))
    content = request.body["messages"][0]["content"]
    kinds = [part["type"] for part in content]
    assert kinds == ["image_url", "text", "image_url", "image_url", "text", "text"]
    assert content[-1]["text"] == "What do these say?" and "```sql\nSELECT 1;\n```" in content[-2]["text"]
    assert len(request.image_sizes) == 3
    # the document's pages are PNG data URLs of the chosen pages
    head = content[2]["image_url"]["url"].split(",", 1)
    assert head[0] == "data:image/png;base64"
    assert Image.open(io.BytesIO(base64.b64decode(head[1]))).size == document.page_pixels(0, Sending(1000))


def test_what_does_not_fit_in_one_request_is_said_before_sending() -> None:
    document = DocumentAttachment.from_pdf(make_pdf(text_pages(60, lines_per_page=1)), "big.pdf", "file")
    document.choose(range(60))
    result = fit([document], Sending(2700), max_images=50, model="glm-4.6v")
    assert result.too_many_images and not result.fits
    problem = result.problem()
    assert problem is not None and "60 pictures" in problem.message and "50" in problem.message
    document.choose(range(60), PageMode.TEXT)
    assert fit([document], Sending(2700), max_images=50, model="glm-4.6v").fits
    document.choose(range(49), PageMode.IMAGES)
    many = fit([document], Sending(7500), max_images=None, model="glm-4.5v")
    assert many.too_many_tokens and many.problem() is not None


# -- history ---------------------------------------------------------------------------------------------
def test_the_history_keeps_documents_once_with_their_page_choice(tmp_path: Path) -> None:
    # GIVEN a question with a document (pages 1 and 3 as pictures and text) and a text file
    document = DocumentAttachment.from_pdf(three_pages(), "report.pdf", "file")
    document.choose((0, 2), PageMode.BOTH, page_budget=800)
    code = TextAttachment.from_bytes("# 注释\nx = 1\n".encode("gb18030"), "calc.py", "file")
    conversation = Conversation()
    conversation.add_question("Compare", [document, code])
    with HistoryStore.open(tmp_path / "data") as store:
        store.save_conversation(conversation)
        # WHEN it is read back
        back = store.load_conversation(conversation.id).messages[0].attachments
    # THEN the kinds, the page choice and the bytes are as they were; pages render again on demand
    restored, text = back
    assert isinstance(restored, DocumentAttachment) and isinstance(text, TextAttachment)
    assert (restored.pages, restored.mode, restored.page_budget, restored.page_count) == ((0, 2), PageMode.BOTH,
                                                                                          800, 3)
    assert restored.original_bytes() == document.original_bytes()
    assert [p.text for p in restored.parts(SENDING)] == [p.text for p in document.parts(SENDING)]
    assert text.file.text == "# 注释\nx = 1\n" and text.file.encoding == "GB18030"
    # and the PDF is one file, not pictures of its pages
    files = [p for p in (tmp_path / "data" / "attachments").rglob("*") if p.is_file()]
    assert sorted(f.suffix for f in files) == [".bin", ".pdf"]


def test_a_capture_keeps_where_it_was_on_screen_in_the_history(tmp_path: Path) -> None:
    capture = ImageAttachment.from_pixels(Image.new("RGB", (64, 48), (1, 2, 3)), "region.png", "screen")
    capture.screen_area = (1930, 40, 64, 48)
    conversation = Conversation()
    conversation.add_question("Where?", [capture])
    with HistoryStore.open(tmp_path / "data") as store:
        store.save_conversation(conversation)
        [back] = store.load_conversation(conversation.id).messages[0].attachments
    assert isinstance(back, ImageAttachment) and back.sent_area() == (1930, 40, 64, 48)


def test_an_annotated_picture_sends_its_drawings_its_marks_and_the_unmarked_one_when_asked() -> None:
    from desktop.media.annotations import Annotations, Shape, Tool

    noise = Image.effect_noise((300, 200), 90).convert("RGB")
    picture = ImageAttachment.from_pixels(noise, "shot.png", "screen")
    picture.screen_area = (1000, 500, 600, 400)  # captured on a screen scaled 2× (logical = half the pixels)
    picture.annotate(Annotations(shapes=(Shape(Tool.BLUR, ((10, 10), (110, 90))),
                                         Shape(Tool.MARKER, ((250, 150),), number=1),
                                         Shape(Tool.ARROW, ((150, 20), (280, 60)))), crop=(0, 0, 300, 180)))
    # WHEN sent with the unmarked picture too
    parts = picture.parts(Sending(2700, "png", send_clean=True))
    # THEN: a label, the unmarked picture, a label, the marked picture, the note of its marks
    assert [p.image is not None for p in parts] == [False, True, False, True, False]
    clean, marked = (Image.open(io.BytesIO(p.image.data)).convert("RGB") for p in parts if p.image is not None)
    assert clean.size == marked.size == (300, 180)  # cropped
    # the unmarked one still has the blur (the original never leaves), but not the arrow or the marker
    assert clean.crop((30, 30, 90, 70)).tobytes() != noise.crop((30, 30, 90, 70)).tobytes()
    assert clean.crop((200, 100, 300, 180)).tobytes() == noise.crop((200, 100, 300, 180)).tobytes()
    assert marked.crop((200, 100, 300, 180)).tobytes() != noise.crop((200, 100, 300, 180)).tobytes()
    assert parts[-1].text is not None and "mark 1: point [833, 833]" in parts[-1].text
    assert picture.cost(Sending(2700, send_clean=True)).images == 2
    # and the crop moves where the picture sent was on screen
    assert picture.sent_area() == (1000, 500, 600, 360)


def test_what_will_be_sent_is_the_request_itself() -> None:
    from desktop.ui.send_preview import preview_request

    picture = ImageAttachment.from_bytes(png((200, 10, 10), (64, 48)), "red.png", "file")
    conversation = Conversation()
    profile = EndpointProfile(name="vllm", flavor=Flavor.VLLM, base_url="http://127.0.0.1:1/v1", model="m")
    preview = preview_request(profile, conversation, "What colour?", [picture],
                              AskOptions(model="m", image_format="png"))
    # the parts are the request's, the picture its exact bytes, and nothing was added to the conversation
    assert [p.text for p in preview.parts] == [None, "What colour?"]
    assert Image.open(io.BytesIO(preview.parts[0].data)).convert("RGB").getpixel((5, 5)) == (200, 10, 10)
    assert preview.parts[0].mime == "image/png" and conversation.messages == []
    assert "…(" in preview.body_text and "base64,iVBOR" not in preview.body_text
    assert preview.url == "http://127.0.0.1:1/v1/chat/completions" and preview.earlier_messages == 0
