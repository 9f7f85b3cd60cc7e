"""The model's grounding boxes drawn back: on the picture in the answer, and over the live screen, on the real
X display (and on two monitors of Xorg's dummy driver), checked by the pixels."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import mss
import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from desktop.assistant.asking import ask_options
from desktop.assistant.services import Services
from desktop.assistant.session import ChatSession, ReplyChanged
from desktop.chat.attachments import DocumentAttachment, PageMode
from desktop.chat.conversation import GroundingBox, ImageAttachment, Message, Role
from desktop.config.profiles import Flavor, preset
from desktop.ui.answer_view import AutoHeightBrowser
from desktop.ui.box_overlay import BOX_COLOUR, EDGE_COLOUR, BoxOverlay
from desktop.ui.conversation_view import ConversationView
from desktop.ui.message_widgets import BoxesPicture, ReplyWidget, boxes_picture
from desktop.ui.notifier import Notifier
from desktop.ui.operations import reply_starter
from desktop.ui.quick_ask import QuickAskPopup
from tests.support.desktop_env import XServer, xdotool
from tests.support.documents import make_pdf, text_pages
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer
from tests.support.multi_monitor import DualMonitorXServer, dual_monitor_xorg

pytestmark = pytest.mark.display

PICTURE_COLOUR = (40, 90, 160)
BELOW_COLOUR = (20, 160, 90)
AREA = (300, 200, 800, 600)  # where the picture was captured (global logical coordinates)
ONE_BOX = "<|begin_of_box|>[100,200,300,400]<|end_of_box|>"
TWO_BOXES = (f"The button is here {ONE_BOX} and its label is here <|begin_of_box|>[500,500,900,700]<|end_of_box|>. "
             + " ".join(f"w{i}" for i in range(150)))
BRIGHT = (BOX_COLOUR.red(), BOX_COLOUR.green(), BOX_COLOUR.blue())
DARK = (EDGE_COLOUR.red(), EDGE_COLOUR.green(), EDGE_COLOUR.blue())


def captured_picture(area: tuple[int, int, int, int] | None = AREA) -> ImageAttachment:
    picture = ImageAttachment.from_pixels(Image.new("RGB", (800, 600), PICTURE_COLOUR), "screenshot.png", "screen")
    picture.screen_area = area
    return picture


def rgb(colour: QColor) -> tuple[int, int, int]:
    return colour.red(), colour.green(), colour.blue()


@pytest.fixture
def services(services: Services, fake_server: FakeOpenAIServer, x_display: object) -> Services:
    profile = services.profiles.upsert(preset(Flavor.VLLM, name="Test vLLM", base_url=fake_server.base_url,
                                              model="glm-4.6v"))
    services.profiles.set_active(profile.id, "glm-4.6v")
    return services


@pytest.fixture(autouse=True)
def no_overlay_left() -> Iterator[None]:
    """Every test ends with no boxes on screen."""
    yield
    overlay = BoxOverlay.current()
    if overlay is not None:
        overlay.close()


def move_mouse(widget: QWidget, point: QPoint) -> None:
    """A pointer move without buttons over `widget` at `point`, as the window system delivers it."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(point), QPointF(widget.mapToGlobal(point)),
                        Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def link_point(answer: Any, number: int) -> tuple[AutoHeightBrowser, QPoint]:
    """The view showing the link to box `number`, and a point on that link (viewport coordinates)."""
    for view in answer.views():
        cursors = view.box_link_cursors(number)
        if cursors:
            cursor = cursors[0]
            cursor.setPosition((cursor.selectionStart() + cursor.selectionEnd()) // 2)
            return view, view.cursorRect(cursor).center()
    raise AssertionError(f"no link to box {number} in {answer.toPlainText()!r}")


def marked_texts(answer: Any) -> list[str]:
    return [s.cursor.selectedText() for view in answer.views() for s in view.extraSelections()]


# -- on the picture in the answer ------------------------------------------------------------------------------
def test_streamed_boxes_are_drawn_numbered_on_the_picture_and_linked_to_the_text(
        qtbot: Any, qt_loop: asyncio.AbstractEventLoop, services: Services, fake_server: FakeOpenAIServer) -> None:
    # GIVEN a conversation view showing a session, and a server that answers with two boxes among many words
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content=TWO_BOXES, tokens_per_second=400))
    notifier = Notifier()
    view = ConversationView(notifier=notifier)
    qtbot.addWidget(view)
    view.resize(720, 900)
    view.show()
    qtbot.waitExposed(view)
    session = ChatSession(services.runner, reply_starter(notifier))
    session.subscribe(view.apply)
    deltas: list[bool] = []
    session.subscribe(lambda event: deltas.append(isinstance(event, ReplyChanged)))
    # WHEN a captured picture is asked about
    reply = session.send("Where is the button?", [captured_picture()],
                         ask_options(services.settings, "glm-4.6v", thinking=False), services.profiles.active())
    assert reply is not None
    qtbot.waitUntil(lambda: reply.is_final, timeout=20000)
    view.flush()
    # THEN the reply shows the picture, 480×360 in a reply this wide, with both boxes outlined and numbered
    widget = view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    assert [(b.x1, b.y1, b.x2, b.y2) for b in reply.boxes] == [(100, 200, 300, 400), (500, 500, 900, 700)]
    picture = widget.findChild(BoxesPicture, "reply_boxes_picture")
    assert picture is not None and picture.isVisible()
    qtbot.waitUntil(lambda: picture.has_picture, timeout=10000)
    assert picture.picture_rect() == QRect(0, 0, 480, 360)
    shot = picture.grab().toImage()

    def at(x: int, y: int) -> tuple[int, int, int]:
        return rgb(shot.pixelColor(x, y))

    # box 1: columns 48…144, rows 72…144 of the picture (0.1, 0.2, 0.3, 0.4 of 480×360)
    for x, y in ((48, 108), (47, 108), (49, 108), (144, 108), (96, 72), (96, 144), (143, 100)):
        assert at(x, y) == BRIGHT, (x, y)
    assert at(46, 108) == DARK and at(146, 108) == DARK
    assert at(96, 108) == PICTURE_COLOUR, "the inside of a box shows the picture"
    # box 2: columns 240…432, rows 180…252
    for x, y in ((240, 216), (432, 216), (336, 180), (336, 252)):
        assert at(x, y) == BRIGHT, (x, y)
    assert at(20, 320) == PICTURE_COLOUR
    # …each with its number in a tag above its top-left corner
    assert BRIGHT in {at(x, y) for x in range(45, 60) for y in range(55, 69)}
    # the text names them with links, as it did while it streamed
    text = widget.answer.toPlainText()
    assert "box 1: x 80–240, y 120–240 px" in text and "box 2: x 400–720, y 300–420 px" in text
    assert widget.show_on_screen_button.isVisible()
    assert widget.findChild(QPushButton, "show_on_screen") is widget.show_on_screen_button
    # Streaming stayed cheap: the picture was drawn again only when something it shows changed, not per word
    assert deltas.count(True) >= 50 and picture.compositions <= 4, (deltas.count(True), picture.compositions)

    # WHEN the pointer hovers box 2 on the picture
    move_mouse(picture, QPoint(336, 216))
    # THEN box 2 is highlighted there and the text naming it is marked
    assert picture.highlighted == 2
    assert widget.answer.marked_box == 2
    assert [t.startswith("box 2") for t in marked_texts(widget.answer)] == [True]
    assert rgb(picture.grab().toImage().pixelColor(300, 216)) != PICTURE_COLOUR, "the inside is tinted"
    move_mouse(picture, QPoint(20, 320))
    assert picture.highlighted == 0 and marked_texts(widget.answer) == []

    # WHEN the pointer hovers the text naming box 1
    browser, point = link_point(widget.answer, 1)
    move_mouse(browser.viewport(), point)
    # THEN box 1 is highlighted on the picture
    assert picture.highlighted == 1
    move_mouse(browser.viewport(), QPoint(2, browser.viewport().height() - 2))
    assert picture.highlighted == 0


def test_a_picture_that_was_not_captured_gets_no_show_on_screen(qtbot: Any, qt_loop: asyncio.AbstractEventLoop,
                                                                x_display: object) -> None:
    # GIVEN a question with a picture from a file (no place on screen) and a reply with a box
    question = Message(Role.USER, text="where?", attachments=[captured_picture(area=None)])
    reply = Message(Role.ASSISTANT, text="`box 1: x 80–240, y 120–240 px`",
                    boxes=[GroundingBox(100, 200, 300, 400, 800, 600)], answers=question.id)
    view = ConversationView()
    qtbot.addWidget(view)
    view.resize(720, 700)
    view.show()
    view.add_message(question)
    view.add_message(reply)
    view.flush()
    widget = view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    # THEN the picture shows the box, but there is nothing to show on screen
    picture = widget.picture
    assert picture is not None and len(picture.boxes) == 1
    qtbot.waitUntil(lambda: picture.isVisible() and picture.has_picture, timeout=10000)
    assert not widget.show_on_screen_button.isVisible()
    assert widget.show_on_screen() is None


def test_boxes_point_at_the_last_picture_sent_with_the_question() -> None:
    first, last = captured_picture(), captured_picture()
    pages = DocumentAttachment.from_pdf(make_pdf(text_pages(2)), "notes.pdf", "file")
    assert boxes_picture(Message(Role.USER, attachments=[first, last])) is last
    # a document whose pages went as pictures after the picture: the boxes point at a page, not at the picture
    assert boxes_picture(Message(Role.USER, attachments=[first, pages])) is None
    pages.mode = PageMode.TEXT
    assert boxes_picture(Message(Role.USER, attachments=[first, pages])) is first
    assert boxes_picture(Message(Role.USER, text="no picture")) is None and boxes_picture(None) is None


def test_quick_ask_shows_the_boxes_and_puts_them_on_the_screen(qtbot: Any, services: Services,
                                                               fake_server: FakeOpenAIServer) -> None:
    # GIVEN the quick-ask popup about a capture, answered with a box
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content=f"Here {ONE_BOX}."))
    popup = QuickAskPopup(services, Notifier())
    qtbot.addWidget(popup)
    try:
        popup.show_for(captured_picture((1000, 300, 800, 600)), QRect(1000, 300, 800, 600))
        qtbot.waitExposed(popup)
        popup.question.setText("Where is it?")
        qtbot.keyClick(popup.question, Qt.Key.Key_Return)
        messages = popup.conversation.messages
        qtbot.waitUntil(lambda: len(messages) == 2 and messages[-1].is_final and not popup.busy, timeout=15000)
        popup.view.flush()
        widget = popup.view.widget_for(popup.conversation.messages[-1])
        assert isinstance(widget, ReplyWidget)
        # THEN its reply shows the picture with the box, and offers Show on screen
        picture = widget.findChild(BoxesPicture, "reply_boxes_picture")
        assert picture is not None and picture.isVisible() and len(picture.boxes) == 1
        button = widget.findChild(QPushButton, "show_on_screen")
        assert button is not None and button.isVisible()
        # WHEN it is clicked
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        overlay = BoxOverlay.current()
        assert overlay is not None and overlay is widget.overlay and overlay.is_open
        qtbot.waitUntil(lambda: screen_pixel(1000 + 80, 300 + 180) == BRIGHT, timeout=5000)
        # … and Esc is pressed in the popup: the boxes go, the popup stays
        popup.activateWindow()
        popup.question.setFocus()
        qtbot.keyClick(popup.question, Qt.Key.Key_Escape)
        assert not overlay.is_open and BoxOverlay.current() is None
        assert popup.isVisible()
    finally:
        popup.shutdown()
        qtbot.waitUntil(lambda: not popup.busy, timeout=5000)


# -- over the live screen --------------------------------------------------------------------------------------
def screen_pixel(x: int, y: int, display: str | None = None) -> tuple[int, int, int]:
    """The colour of one pixel of the real screen."""
    with mss.MSS(display=display) if display else mss.MSS() as grabber:
        shot = grabber.grab({"left": x, "top": y, "width": 1, "height": 1})
        return shot.pixel(0, 0)


class ClickRecorder(QWidget):
    """A plain window in one colour that notes where it is clicked."""

    def __init__(self, geometry: QRect) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        self.setObjectName("window_below_the_boxes")
        self.clicks: list[QPoint] = []
        self.setGeometry(geometry)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(*BELOW_COLOUR))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self.clicks.append(event.position().toPoint())


@pytest.fixture
def window_below(qtbot: Any, x_display: XServer) -> ClickRecorder:
    """A window where the picture was captured, under where the boxes will be drawn."""
    below = ClickRecorder(QRect(*AREA))
    qtbot.addWidget(below)
    below.show()
    qtbot.waitExposed(below)
    qtbot.waitUntil(lambda: screen_pixel(AREA[0] + 400, AREA[1] + 300) == BELOW_COLOUR, timeout=5000)
    return below


def show_box(qtbot: Any, *, stay_ms: int = 60_000, fade_ms: int = 100,
             area: tuple[int, int, int, int] = AREA) -> BoxOverlay:
    overlay = BoxOverlay.show_boxes(area, [GroundingBox(100, 200, 300, 400)], stay_ms=stay_ms, fade_ms=fade_ms)
    with qtbot.waitSignal(overlay.shown, timeout=5000) as shown:
        pass
    assert shown.args == [1]
    return overlay


def wait_for_pixel(qtbot: Any, x: int, y: int, colour: tuple[int, int, int],
                   pixel: Callable[[int, int], tuple[int, int, int]] = screen_pixel) -> None:
    qtbot.waitUntil(lambda: pixel(x, y) == colour, timeout=5000)


# The box [100, 200, 300, 400] of the area (300, 200, 800, 600): columns 380…540, rows 320…440 of the screen.
LEFT, TOP, RIGHT, BOTTOM = 300 + 80, 200 + 120, 300 + 240, 200 + 240


def test_boxes_land_on_exact_screen_pixels_and_let_clicks_through(qtbot: Any, x_display: XServer,
                                                                   window_below: ClickRecorder,
                                                                   capfd: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLMV_DESKTOP_TRACE", "1")
    # WHEN the box is shown on screen
    overlay = show_box(qtbot)
    assert "boxes-shown 1" in capfd.readouterr().out
    assert [w.screen().name() for w in overlay.windows] == [window_below.screen().name()]
    wait_for_pixel(qtbot, LEFT, (TOP + BOTTOM) // 2, BRIGHT)
    # THEN the outline covers the box's edge rows and columns (and one pixel either side), dark just outside
    with mss.MSS() as grabber:
        shot = grabber.grab({"left": 0, "top": 0, "width": x_display.width, "height": x_display.height})
    middle_y, middle_x = (TOP + BOTTOM) // 2, (LEFT + RIGHT) // 2
    for x in (LEFT - 1, LEFT, LEFT + 1, RIGHT - 1, RIGHT, RIGHT + 1):
        assert shot.pixel(x, middle_y) == BRIGHT, x
    for y in (TOP - 1, TOP, TOP + 1, BOTTOM - 1, BOTTOM, BOTTOM + 1):
        assert shot.pixel(middle_x, y) == BRIGHT, y
    assert shot.pixel(LEFT - 2, middle_y) == DARK and shot.pixel(RIGHT + 2, middle_y) == DARK
    # …with its number above the top-left corner; inside and around it the window below shows untouched
    assert BRIGHT in {shot.pixel(x, y) for x in range(LEFT - 3, LEFT + 12) for y in range(TOP - 20, TOP - 4)}
    for x, y in ((middle_x, middle_y), (LEFT + 3, middle_y), (RIGHT + 30, middle_y), (middle_x, BOTTOM + 30)):
        assert shot.pixel(x, y) == BELOW_COLOUR, (x, y)

    # WHEN the outline itself and the box's middle are clicked
    xdotool(x_display, "mousemove", str(LEFT), str(middle_y), "click", "1")
    qtbot.waitUntil(lambda: len(window_below.clicks) == 1, timeout=5000)
    xdotool(x_display, "mousemove", str(middle_x), str(middle_y), "click", "1")
    qtbot.waitUntil(lambda: len(window_below.clicks) == 2, timeout=5000)
    # THEN both clicks reached the window below, at those places
    assert window_below.clicks == [QPoint(LEFT - AREA[0], middle_y - AREA[1]),
                                   QPoint(middle_x - AREA[0], middle_y - AREA[1])]
    assert overlay.is_open

    # WHEN Esc is pressed (the window below has the keyboard: the boxes never take it)
    window_below.activateWindow()
    qtbot.waitUntil(window_below.isActiveWindow, timeout=5000)
    xdotool(x_display, "key", "Escape")
    # THEN the boxes are gone at once
    qtbot.waitUntil(lambda: not overlay.is_open, timeout=5000)
    assert overlay.windows == [] and BoxOverlay.current() is None
    wait_for_pixel(qtbot, LEFT, middle_y, BELOW_COLOUR)


def test_boxes_fade_out_and_close_by_themselves(qtbot: Any, window_below: ClickRecorder) -> None:
    overlay = show_box(qtbot, stay_ms=300, fade_ms=200)
    wait_for_pixel(qtbot, LEFT, TOP + 50, BRIGHT)
    with qtbot.waitSignal(overlay.closed, timeout=5000):
        pass
    assert not overlay.is_open and BoxOverlay.current() is None
    wait_for_pixel(qtbot, LEFT, TOP + 50, BELOW_COLOUR)


def test_showing_boxes_again_replaces_the_boxes_shown(qtbot: Any, window_below: ClickRecorder) -> None:
    first = show_box(qtbot)
    second = show_box(qtbot, area=(AREA[0] + 100, AREA[1], AREA[2], AREA[3]))
    assert not first.is_open and first.windows == []
    assert second.is_open and BoxOverlay.current() is second
    wait_for_pixel(qtbot, LEFT, TOP + 50, BELOW_COLOUR)
    wait_for_pixel(qtbot, LEFT + 100, TOP + 50, BRIGHT)


def test_an_area_on_no_screen_now_shows_nothing(qtbot: Any, x_display: XServer) -> None:
    # GIVEN a picture captured on a monitor since unplugged
    overlay = BoxOverlay.show_boxes((5000, 200, 800, 600), [GroundingBox(100, 200, 300, 400)])
    # THEN nothing is shown, and nothing waits to be closed
    assert not overlay.is_open and overlay.windows == [] and BoxOverlay.current() is None


# -- on two monitors ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dual_x() -> Iterator[DualMonitorXServer]:
    """Xorg with two 1920×1080 monitors side by side, for this module's two-monitor tests."""
    server = dual_monitor_xorg()
    yield server
    server.stop()


class BoxesProcess:
    """`tests.support.show_boxes` on another display: the overlay of a real app process there."""

    def __init__(self, server: XServer, area: tuple[int, int, int, int], *boxes: str, scale: str = "") -> None:
        env = {**server.env(), "GLMV_DESKTOP_TRACE": "1"}
        if scale:
            env["QT_SCALE_FACTOR"] = scale
        env.pop("PYTEST_CURRENT_TEST", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.show_boxes", *map(str, area), *boxes], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []

    def read_until(self, last: str) -> list[str]:
        assert self.process.stdout is not None
        while True:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the overlay process ended: {self.lines} {self.stderr()}")
            self.lines.append(line.strip())
            if line.strip() == last:
                return self.lines

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_boxes_land_on_the_second_monitor(dual_x: DualMonitorXServer) -> None:
    # GIVEN a picture captured on the second monitor
    area = (1920 + 300, 200, 800, 600)
    shown = BoxesProcess(dual_x, area, "100,200,300,400")
    try:
        lines = shown.read_until("windows-listed")
        # THEN one window, on the second monitor only, drew the box
        assert sum(line.endswith("boxes-shown 1") for line in lines) == 1
        windows = [line.split()[1:] for line in lines if line.startswith("window ")]
        assert len(windows) == 1 and int(windows[0][1]) >= 1920, windows
        # …at the right pixels of the second monitor
        left, top, right, bottom = 1920 + 380, 320, 1920 + 540, 440
        pixel = screen_on(dual_x, left, 380)
        for x, y in ((left, 380), (left - 1, 380), (left + 1, 380), (right, 380), (2300 + 80, top), (2380, bottom)):
            assert pixel(x, y) == BRIGHT, (x, y)
        assert pixel(left - 2, 380) == DARK
        assert pixel(2380, 380) != BRIGHT, "the inside is not covered"
        assert pixel(380, 380) != BRIGHT, "nothing on the first monitor"
    finally:
        shown.close()


def test_a_box_across_both_monitors_is_drawn_on_each(dual_x: DualMonitorXServer) -> None:
    # GIVEN a picture captured across the seam between the monitors, and a box across it too
    area = (1920 - 400, 300, 800, 400)
    shown = BoxesProcess(dual_x, area, "400,100,600,900")
    try:
        lines = shown.read_until("windows-listed")
        # THEN each monitor has a window, and the box's left edge is on the first, its right edge on the second
        windows = [line.split()[1:] for line in lines if line.startswith("window ")]
        assert len(windows) == 2 and len({w[0] for w in windows}) == 2, windows
        left, right = 1520 + 320, 1520 + 480
        top, bottom = 300 + 40, 300 + 360
        pixel = screen_on(dual_x, right, 500)
        for x, y in ((left, 500), (right, 500), (1900, top), (1940, top), (1900, bottom), (1940, bottom)):
            assert pixel(x, y) == BRIGHT, (x, y)
    finally:
        shown.close()


def screen_on(server: XServer, x: int, y: int) -> Callable[[int, int], tuple[int, int, int]]:
    """A grab of the whole desktop of `server` once pixel (x, y) shows the outline, read a pixel at a time."""
    with mss.MSS(display=server.display) as grabber:
        for _ in range(100):
            shot = grabber.grab({"left": 0, "top": 0, "width": server.width, "height": server.height})
            if shot.pixel(x, y) == BRIGHT:
                break
            threading.Event().wait(0.05)
    return lambda px, py: shot.pixel(px, py)


def test_boxes_on_a_hidpi_screen_land_on_the_physical_pixels(x_display: XServer) -> None:
    # GIVEN an app at twice the scale: the area of the physical pixels (300, 200, 800, 600) is (150, 100, 400, 300)
    # in its logical coordinates
    shown = BoxesProcess(x_display, (150, 100, 400, 300), "100,200,300,400", scale="2")
    try:
        shown.read_until("windows-listed")
        # THEN the box's edges are on the physical pixels 380…540 × 320…440, drawn at the screen's pixel ratio
        pixel = screen_on(x_display, LEFT, (TOP + BOTTOM) // 2)
        middle_y, middle_x = (TOP + BOTTOM) // 2, (LEFT + RIGHT) // 2
        for x in (LEFT - 1, LEFT, LEFT + 1, RIGHT - 1, RIGHT, RIGHT + 1):
            assert pixel(x, middle_y) == BRIGHT, x
        for y in (TOP, TOP + 1, BOTTOM, BOTTOM + 1):
            assert pixel(middle_x, y) == BRIGHT, y
        assert pixel(middle_x, middle_y) != BRIGHT
    finally:
        shown.close()
