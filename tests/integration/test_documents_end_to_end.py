"""Documents from the command line to the server: a 3-page PDF and a 2-slide PowerPoint deck (converted by
a real LibreOffice) reach the protocol-faithful server as five pictures in order, each exactly the page
rendered at the size sent, with the question, and with each page's text when that is chosen; the history
keeps each document once, as PDF, with its page choice."""

from __future__ import annotations

import base64
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from desktop.chat.attachments import DocumentAttachment, PageMode
from desktop.media.pdf import PdfDocument
from desktop.store.history import HistoryStore
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.documents import PageSpec, SlideSpec, make_pdf, make_pptx
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

PAGE_COLOURS = [(220, 40, 40), (40, 160, 60), (40, 80, 220)]
SLIDE_COLOURS = [(230, 120, 20), (20, 150, 160)]

pytestmark = pytest.mark.skipif(shutil.which("soffice") is None and not desktop_env.STRICT,
                                reason="LibreOffice (soffice) is not installed")


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="Five pages seen.", reasoning="")) as fake:
        yield fake


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    report = tmp_path / "report.pdf"
    report.write_bytes(make_pdf([PageSpec(colour=colour, lines=(f"Quarterly report page {n + 1}",))
                                 for n, colour in enumerate(PAGE_COLOURS)]))
    deck = tmp_path / "deck.pptx"
    deck.write_bytes(make_pptx([SlideSpec(f"Slide {n + 1}", colour) for n, colour in enumerate(SLIDE_COLOURS)]))
    return report, deck


def images_of(content: list[dict[str, Any]]) -> list[Image.Image]:
    found = []
    for part in content:
        if part["type"] == "image_url":
            head, data = part["image_url"]["url"].split(",", 1)
            assert head == "data:image/png;base64", head  # pages go losslessly
            found.append(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))
    return found


def test_a_pdf_and_a_deck_reach_the_server_as_five_exact_pages(x_display: desktop_env.XServer, tmp_path: Path,
                                                               session_bus: desktop_env.SessionBus,
                                                               server: FakeOpenAIServer,
                                                               files: tuple[Path, Path]) -> None:
    report, deck = files
    write_settings(tmp_path, server.base_url, **{"chat.thinking": False})
    env = app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address)
    app = AppProcess(env)
    try:
        app.wait_for("started")
        # WHEN both are attached from the command line and sent
        asked = app.cli("ask", "--file", str(report), "--file", str(deck), "What do these pages show?", "--send",
                        timeout=180)
        assert asked.returncode == 0, asked.stderr
        assert app.wait_for("reply-finished", timeout=60) == ["complete"]
        # and again with each page's text beside its picture, only the second and third page of the report
        asked = app.cli("ask", "--file", str(report), "--pages", "2-3", "--pages-as", "both", "And their text?",
                        "--send", timeout=120)
        assert asked.returncode == 0, asked.stderr
        assert app.wait_for("reply-finished", timeout=60) == ["complete"]
        assert app.cli("quit").returncode == 0
        assert app.wait_exit() == 0
    finally:
        app.kill()

    # THEN the first request holds the question and five pictures: the report's pages, then the slides
    first = server.chat_requests[0].body["messages"]
    assert [m["role"] for m in first] == ["user"]
    content = first[0]["content"]
    assert content[-1] == {"type": "text", "text": "What do these pages show?"}
    sent = images_of(content)
    assert len(sent) == 5
    assert "report.pdf" in content[0]["text"] and "deck.pptx" in content[4]["text"]

    # each exactly the page of the document the app holds, rendered at the size sent
    with HistoryStore.open(tmp_path / "data" / "glmv-desktop") as store:
        conversation = store.load_conversation(store.list_conversations()[0].id)
    question = conversation.messages[0]
    pdf, slides = question.attachments
    assert isinstance(pdf, DocumentAttachment) and isinstance(slides, DocumentAttachment)
    assert (pdf.page_count, slides.page_count, slides.source_format) == (3, 2, "pptx")
    assert pdf.original_bytes() == report.read_bytes()  # a PDF is kept as it was
    pages = [(pdf, i) for i in range(3)] + [(slides, i) for i in range(2)]
    for picture, (document, index) in zip(sent, pages, strict=True):
        with PdfDocument.open(document.original_bytes(), document.name) as opened:
            expected = opened.render(index, picture.width, picture.height).convert("RGB")
        assert picture.tobytes() == expected.tobytes(), (document.name, index)
    # in the order given: the report's colours, then the deck's
    for picture, colour in zip(sent, PAGE_COLOURS + SLIDE_COLOURS, strict=True):
        if colour in SLIDE_COLOURS:
            seen = picture.getpixel((picture.width // 10, picture.height // 2))
        else:
            spec = PageSpec(colour=colour)
            seen = picture.getpixel(spec.rect_centre_in_pixels(picture.width, picture.height))
        assert all(abs(a - b) <= 12 for a, b in zip(seen, colour, strict=True)), (seen, colour)

    # and the second question carries pages 2-3 with their text layer after each picture
    second = server.chat_requests[1].body["messages"][-1]["content"]
    assert len(images_of(second)) == 2
    texts = [p["text"] for p in second if p["type"] == "text"]
    assert any("Quarterly report page 2" in t for t in texts) and any("Quarterly report page 3" in t for t in texts)
    assert not any("Quarterly report page 1" in t for t in texts)
    third = conversation.messages[2].attachments[0]
    assert isinstance(third, DocumentAttachment) and (third.pages, third.mode) == ((1, 2), PageMode.BOTH)
