"""The annotation editor driven with real mouse and key events: tools, numbering, Shift, the wheel,
select and move, undo/redo, crop; and a picture's chip in the chat window opening it."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from desktop.assistant.services import AppPaths, Services
from desktop.chat.attachments import ImageAttachment, Sending
from desktop.media.annotations import Tool
from desktop.ui.annotator import AnnotationEditor
from desktop.ui.chat_window import ChatWindow
from desktop.ui.notifier import Notifier


def make_editor(qtbot: Any, size: tuple[int, int] = (400, 300)) -> AnnotationEditor:
    dialog = AnnotationEditor(Image.new("RGB", size, (250, 250, 250)), None)
    qtbot.addWidget(dialog)
    dialog.resize(size[0] + 60, size[1] + 160)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)  # the tool keys are the window's shortcuts
    return dialog


def at(dialog: AnnotationEditor, x: float, y: float) -> QPoint:
    return dialog.canvas.to_widget(x, y).toPoint()


def drag(dialog: AnnotationEditor, start: tuple[float, float], end: tuple[float, float],
         modifier: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    canvas = dialog.canvas
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, at(dialog, *start))
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    for point in (middle, end):
        QTest.mouseMove(canvas, at(dialog, *point))
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, at(dialog, *end))


def test_tools_draw_shapes_in_picture_pixels_with_numbers_and_undo(qtbot: Any) -> None:
    dialog = make_editor(qtbot)
    # GIVEN the box tool (R), a box dragged; then markers (M) clicked
    QTest.keyClick(dialog, Qt.Key.Key_R)
    drag(dialog, (50, 40), (150, 120))
    QTest.keyClick(dialog, Qt.Key.Key_M)
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.LeftButton, pos=at(dialog, 300, 200))
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.LeftButton, pos=at(dialog, 320, 220))
    shapes = dialog.annotations.shapes
    # THEN they are data in the picture's own pixels, numbered in order across boxes and markers
    assert [(s.tool, s.number) for s in shapes] == [(Tool.RECTANGLE, 1), (Tool.MARKER, 2), (Tool.MARKER, 3)]
    (x0, y0), (x1, y1) = shapes[0].points
    assert math.isclose(x0, 50, abs_tol=2) and math.isclose(y1, 120, abs_tol=2)
    # WHEN undone twice and redone once
    dialog.undo()
    dialog.undo()
    dialog.redo()
    assert [s.number for s in dialog.annotations.shapes] == [1, 2]
    # a click without a drag makes no box
    QTest.keyClick(dialog, Qt.Key.Key_R)
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.LeftButton, pos=at(dialog, 200, 50))
    assert len(dialog.annotations.shapes) == 2


def test_shift_constrains_and_the_wheel_changes_the_width(qtbot: Any) -> None:
    dialog = make_editor(qtbot)
    QTest.keyClick(dialog, Qt.Key.Key_L)
    drag(dialog, (50, 50), (200, 80), Qt.KeyboardModifier.ShiftModifier)
    (x0, y0), (x1, y1) = dialog.annotations.shapes[-1].points
    assert math.isclose(y1, y0, abs_tol=0.5), "snapped to horizontal"
    QTest.keyClick(dialog, Qt.Key.Key_E)
    drag(dialog, (100, 100), (180, 130), Qt.KeyboardModifier.ShiftModifier)
    (a, b), (c, d) = dialog.annotations.shapes[-1].points
    assert math.isclose(abs(c - a), abs(d - b), abs_tol=0.5), "a circle, not an ellipse"
    before = dialog.canvas.stroke
    wheel = QWheelEvent(QPointF(at(dialog, 10, 10)), QPointF(dialog.canvas.mapToGlobal(at(dialog, 10, 10))),
                        QPoint(0, 0), QPoint(0, 240), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(dialog.canvas, wheel)
    assert dialog.canvas.stroke == before + 2 and dialog.width_box.value() == before + 2


def test_select_move_delete_and_crop(qtbot: Any) -> None:
    dialog = make_editor(qtbot)
    QTest.keyClick(dialog, Qt.Key.Key_R)
    drag(dialog, (50, 50), (100, 100))
    QTest.keyClick(dialog, Qt.Key.Key_V)
    drag(dialog, (75, 50), (175, 90))  # grab its edge, move it right and down
    (x0, y0), _end = dialog.annotations.shapes[0].points
    assert math.isclose(x0, 150, abs_tol=3) and math.isclose(y0, 90, abs_tol=3)
    QTest.keyClick(dialog, Qt.Key.Key_Delete)
    assert dialog.annotations.shapes == ()
    QTest.keyClick(dialog, Qt.Key.Key_C)
    drag(dialog, (20, 30), (220, 130))
    crop = dialog.annotations.crop
    assert crop is not None and abs(crop[0] - 20) <= 2 and abs(crop[3] - 130) <= 2
    with qtbot.waitSignal(dialog.edited, timeout=2000) as done:
        dialog.done_button.click()
    assert done.args[0].crop == crop


@pytest.fixture
def window(qtbot: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths) -> Any:
    services = Services.create(app_paths)
    chat = ChatWindow(services, Notifier())
    qtbot.addWidget(chat)
    chat.show()
    qtbot.waitExposed(chat)
    yield chat
    chat.shutdown()
    task = asyncio.ensure_future(services.client.aclose())
    qtbot.waitUntil(task.done, timeout=5000)


@pytest.mark.parametrize("keep_original", [True, False])
def test_a_picture_chip_opens_the_editor_and_the_drawings_become_a_new_revision(qtbot: Any, window: ChatWindow,
                                                                                 keep_original: bool) -> None:
    from PySide6.QtWidgets import QToolButton

    from desktop.ui.composer import AttachmentChip

    window.services.settings.set("annotations.keep_original", keep_original)
    noise = Image.effect_noise((200, 120), 90).convert("RGB")
    picture = ImageAttachment.from_pixels(noise, "shot.png", "screen")
    window.composer.add_attachment(picture)
    chip = window.composer.strip.findChild(AttachmentChip)
    assert chip is not None
    chip.findChild(QToolButton, "attachment_open").click()
    qtbot.waitUntil(lambda: any(isinstance(w, AnnotationEditor) and w.isVisible()
                                for w in QApplication.topLevelWidgets()), timeout=10000)
    [dialog] = [w for w in QApplication.topLevelWidgets() if isinstance(w, AnnotationEditor) and w.isVisible()]
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)  # the tool keys are the window's shortcuts
    QTest.keyClick(dialog, Qt.Key.Key_B)
    drag(dialog, (10, 10), (90, 60))
    QTest.keyClick(dialog, Qt.Key.Key_M)
    QTest.mouseClick(dialog.canvas, Qt.MouseButton.LeftButton, pos=at(dialog, 150, 90))
    dialog.done_button.click()
    qtbot.waitUntil(lambda: picture.revision > 0 and "annotated" in chip.toolTip(), timeout=10000)
    # the drawings are data on the attachment; what is sent has them burned in
    assert picture.annotations is not None
    assert [s.tool for s in picture.annotations.shapes] == ([Tool.BLUR, Tool.MARKER] if keep_original
                                                            else [Tool.MARKER])
    sent = picture.sent_image()
    assert sent.crop((20, 20, 80, 50)).tobytes() != noise.crop((20, 20, 80, 50)).tobytes()
    # without the original kept, the kept pixels themselves are redacted
    kept = picture.image().crop((20, 20, 80, 50)).tobytes()
    assert (kept == noise.crop((20, 20, 80, 50)).tobytes()) is keep_original
    assert "mark 1" in picture.marks_note()
    assert picture.cost(Sending(2700)).images == 1
