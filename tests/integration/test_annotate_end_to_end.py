"""Annotating a capture on the real X display: the region hotkey pressed and the overlay dragged with
xdotool, E opens the editor, an arrow, a numbered marker and a blur are drawn with xdotool's mouse, and
the picture that reaches the protocol-faithful server is checked pixel by pixel: the arrow is there,
the blurred part no longer carries the original's detail, the rest is untouched, and the marker's
position reaches the model as a note in thousandths."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from PySide6.QtWidgets import QApplication

from desktop.app import AppController
from desktop.assistant.services import AppPaths
from desktop.chat.attachments import ImageAttachment
from desktop.media.annotations import Tool
from desktop.ui.annotator import AnnotationEditor
from tests.integration.test_capture_end_to_end import sent_image, start_app, stop_app, xdotool
from tests.support import desktop_env
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

LEFT, TOP, RIGHT, BOTTOM = 100, 80, 600, 420  # the region dragged (inclusive corners)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="It is a test picture.", reasoning="")) as running:
        yield running


@pytest.fixture
def app(qtbot: Any, qapp: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, session_bus: object,
        x_display: desktop_env.XServer, server: FakeOpenAIServer,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[AppController]:
    started = start_app(qtbot, qapp, app_paths, server, monkeypatch, x_display)
    yield started
    stop_app(qtbot, started)


def editor() -> AnnotationEditor | None:
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, AnnotationEditor) and w.isVisible()]
    return shown[0] if shown else None


def on_screen(dialog: AnnotationEditor, x: float, y: float) -> tuple[str, str]:
    """A picture position as screen coordinates for xdotool."""
    point = dialog.canvas.mapToGlobal(dialog.canvas.to_widget(x, y).toPoint())
    return str(point.x()), str(point.y())


def detail(picture: Image.Image) -> float:
    """How much a picture changes from one pixel to the next (grid lines and text: a lot; a blur: little)."""
    grey = picture.convert("L")
    shifted = grey.crop((1, 0, grey.width, grey.height))
    return float(ImageStat.Stat(ImageChops.difference(grey.crop((0, 0, grey.width - 1, grey.height)),
                                                      shifted)).mean[0])


def test_an_annotated_capture_reaches_the_model_with_its_marks_and_redaction(
        qtbot: Any, app: AppController, x_display: desktop_env.XServer, known_picture: Image.Image,
        server: FakeOpenAIServer) -> None:
    # GIVEN a region selected in the frozen overlay, then E
    xdotool(qtbot, x_display, "mousemove", "700", "500", "key", "ctrl+alt+shift+s")
    qtbot.waitUntil(lambda: app._capture is not None and app._capture.selector is not None  # noqa: SLF001
                    and all(o.isVisible() for o in app._capture.selector.overlays), timeout=10000)  # noqa: SLF001
    xdotool(qtbot, x_display, "mousemove", str(LEFT), str(TOP), "mousedown", "1", "mousemove", "300", "300",
            "mousemove", str(RIGHT), str(BOTTOM), "mouseup", "1")
    selector = app._capture.selector  # noqa: SLF001
    assert selector is not None
    qtbot.waitUntil(lambda: selector.selection is not None and selector.selection.right == RIGHT + 1, timeout=5000)
    xdotool(qtbot, x_display, "key", "e")
    # THEN the editor opens on the selection
    qtbot.waitUntil(lambda: editor() is not None and editor().isActiveWindow(), timeout=10000)  # type: ignore[union-attr]
    dialog = editor()
    assert dialog is not None and dialog.canvas.picture.size == (RIGHT - LEFT + 1, BOTTOM - TOP + 1)
    qtbot.waitUntil(lambda: dialog.canvas.scale() > 0.5, timeout=5000)
    # WHEN an arrow is dragged (the default tool), a marker clicked (M) and a part blurred (B), with the real mouse
    xdotool(qtbot, x_display, "mousemove", *on_screen(dialog, 40, 40), "mousedown", "1",
            "mousemove", *on_screen(dialog, 140, 100), "mousemove", *on_screen(dialog, 240, 160), "mouseup", "1")
    qtbot.waitUntil(lambda: len(dialog.annotations.shapes) == 1, timeout=5000)
    xdotool(qtbot, x_display, "key", "m", "mousemove", *on_screen(dialog, 300, 60), "click", "1")
    qtbot.waitUntil(lambda: len(dialog.annotations.shapes) == 2, timeout=5000)
    xdotool(qtbot, x_display, "key", "b", "mousemove", *on_screen(dialog, 20, 200), "mousedown", "1",
            "mousemove", *on_screen(dialog, 100, 250), "mousemove", *on_screen(dialog, 200, 300), "mouseup", "1")
    qtbot.waitUntil(lambda: len(dialog.annotations.shapes) == 3, timeout=5000)
    assert [s.tool for s in dialog.annotations.shapes] == [Tool.ARROW, Tool.MARKER, Tool.BLUR]
    assert dialog.annotations.shapes[1].number == 1
    done = dialog.done_button
    centre = done.mapToGlobal(done.rect().center())
    xdotool(qtbot, x_display, "mousemove", str(centre.x()), str(centre.y()), "click", "1")
    # AND the question is asked in the popup
    qtbot.waitUntil(lambda: app._popup is not None and app._popup.isVisible(), timeout=15000)  # noqa: SLF001
    popup = app._popup  # noqa: SLF001
    assert popup is not None
    popup.question.setText("What does mark 1 point at?")
    popup.ask()
    qtbot.waitUntil(lambda: len(server.chat_requests) >= 1 and not popup.busy, timeout=15000)

    # THEN the picture sent is the selection with the drawings burned in
    sent = sent_image(server)
    original = known_picture.crop((LEFT, TOP, RIGHT + 1, BOTTOM + 1))
    assert sent.size == original.size
    red = (230, 40, 40)

    def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
        return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))

    arrow = [shape for shape in popup.conversation.messages[0].attachments[0].annotations.shapes  # type: ignore[attr-defined]
             if shape.tool is Tool.ARROW][0]
    (x0, y0), (x1, y1) = arrow.points
    for t in (0.25, 0.5, 0.75):
        assert near(sent.getpixel((round(x0 + t * (x1 - x0)), round(y0 + t * (y1 - y0)))), red), t
    marker = popup.conversation.messages[0].attachments[0].annotations.shapes[1]  # type: ignore[attr-defined]
    (mx, my), = marker.points
    assert near(sent.getpixel((round(mx) - 9, round(my))), red) and near(sent.getpixel((round(mx) + 9, round(my))),
                                                                         red), "the marker's disc, beside its number"
    # the blurred part no longer carries the grid and text of the original; far from the drawings nothing changed
    box = (30, 210, 190, 290)
    assert detail(original.crop(box)) > 3 * detail(sent.crop(box))
    assert sent.crop((420, 250, 500, 340)).tobytes() == original.crop((420, 250, 500, 340)).tobytes()
    # and the marker reaches the model as a note, in thousandths of the picture, before the question
    content = server.chat_requests[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["image_url", "text", "text"]
    note = content[1]["text"]
    assert f"mark 1: point [{round(mx / sent.width * 1000)}, {round(my / sent.height * 1000)}]" in note
    assert content[2]["text"] == "What does mark 1 point at?"
    # the attachment keeps its drawings as data (editable) and where it was on screen
    attachment = popup.conversation.messages[0].attachments[0]
    assert isinstance(attachment, ImageAttachment) and attachment.sent_area() == (LEFT, TOP, original.width,
                                                                                  original.height)
