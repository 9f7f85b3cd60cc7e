"""Chinese typed where people type: the composer, the quick-ask question, the history search and an annotation's
text. An input method (fcitx5, IBus) hands Qt a composition (pinyin being typed) and then the chosen characters
as a QInputMethodEvent; that is what these tests send. The composer is also typed into with real X key events
(xdotool, on Xvfb): characters that are on no key of the keyboard map."""

from __future__ import annotations

import subprocess
from typing import Any

from PIL import Image
from PySide6.QtGui import QInputMethodEvent
from PySide6.QtWidgets import QApplication, QInputDialog, QPlainTextEdit, QWidget

from desktop.assistant.services import Services
from desktop.media.annotations import Tool, render
from desktop.ui.annotator import AnnotationEditor
from desktop.ui.chat_window import ChatWindow
from desktop.ui.history_sidebar import HIT_ROLE
from desktop.ui.notifier import Notifier
from desktop.ui.quick_ask import QuickAskPopup
from tests.gui.test_history_sidebar import MIDNIGHT, History, Seed, conversation, history, seed  # noqa: F401
from tests.support import desktop_env


def type_with_input_method(widget: QWidget, *chosen: str) -> None:
    """What an input method does: show the pinyin being composed, then commit the characters picked."""
    for text in chosen:
        QApplication.sendEvent(widget, QInputMethodEvent("ji du", []))  # the composition, not yet text
        commit = QInputMethodEvent()
        commit.setCommitString(text)
        QApplication.sendEvent(widget, commit)


def test_the_composer_takes_chinese_from_an_input_method_and_from_the_keyboard(
        qtbot: Any, services: Services, x_display: desktop_env.XServer) -> None:
    chat = ChatWindow(services, Notifier())
    qtbot.addWidget(chat)
    chat.show()
    qtbot.waitExposed(chat)
    prompt = chat.composer.prompt
    prompt.setFocus()
    QApplication.sendEvent(prompt, QInputMethodEvent("jidu", []))
    assert chat.composer.text() == "", "a composition is not text until it is chosen"
    type_with_input_method(prompt, "季度", "报告")
    assert chat.composer.text() == "季度报告"
    # real key events from the X server, for characters no key of the keymap carries
    prompt.clear()
    chat.activateWindow()
    qtbot.waitUntil(prompt.hasFocus, timeout=5000)
    process = subprocess.Popen(["xdotool", "type", "--delay", "40", "截图里的错误"], env=x_display.env())
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=15000)
    qtbot.waitUntil(lambda: chat.composer.text() == "截图里的错误", timeout=5000)
    chat.shutdown()
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)


def test_the_quick_ask_question_takes_chinese(qtbot: Any, services: Services) -> None:
    popup = QuickAskPopup(services, Notifier())
    qtbot.addWidget(popup)
    popup.show()
    type_with_input_method(popup.question, "这个", "报错是什么意思？")
    assert popup.question.text() == "这个报错是什么意思？"


def test_the_history_search_finds_what_was_typed_in_chinese(qtbot: Any, history: History) -> None:  # noqa: F811
    seed(history.paths.data, [Seed(conversation("季度报告", "第三季度的收入为什么下降？", "因为汇率变化。",
                                                at=MIDNIGHT, cid="zh"), MIDNIGHT + 10)])
    history.start()
    chat = history.window()
    sidebar = chat.sidebar
    assert sidebar is not None
    qtbot.waitUntil(lambda: len(sidebar.model.summaries) == 1, timeout=10000)
    type_with_input_method(sidebar.search, "汇率")
    qtbot.waitUntil(lambda: not sidebar.searching and sidebar.showing_results, timeout=5000)
    hits = [sidebar.results_model.index(n).data(HIT_ROLE) for n in range(sidebar.results_model.rowCount())]
    assert sidebar.search.text() == "汇率" and [hit.conversation_id for hit in hits] == ["zh"]


def test_an_annotation_takes_chinese_text_and_draws_its_characters(qtbot: Any) -> None:
    picture = Image.new("RGB", (400, 200), (255, 255, 255))
    editor = AnnotationEditor(picture, None)
    qtbot.addWidget(editor)
    editor.show()
    editor.canvas.text_wanted.emit(40.0, 60.0)
    dialog = next(w for w in QApplication.topLevelWidgets() if w.objectName() == "annotation_text_dialog")
    assert isinstance(dialog, QInputDialog)
    box = dialog.findChild(QPlainTextEdit)
    assert box is not None
    box.setFocus()
    type_with_input_method(box, "重点", "看这里")
    dialog.accept()
    qtbot.waitUntil(lambda: len(editor.annotations.shapes) == 1, timeout=3000)
    [shape] = editor.annotations.shapes
    assert shape.tool is Tool.TEXT and shape.text == "重点看这里"
    drawn = render(picture, editor.annotations)
    inked = sum(1 for x in range(40, 360) for y in range(30, 120) if drawn.getpixel((x, y)) != (255, 255, 255))
    assert inked > 200, "the characters were drawn (a CJK font is there), not left blank"
