"""Chinese typed where people type: the composer, the quick-ask question, the history search and an annotation's
text. An input method (fcitx5, IBus) hands Qt a composition (pinyin being typed) and then the chosen characters
as a QInputMethodEvent; that is what most of these tests send. One runs a real one: IBus with its pinyin engine
on the test display, typed into with X key events, into the composer's and the quick-ask question's fields. The
composer is also typed into with real X key events of characters that are on no key of the keyboard map."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
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

ROOT = Path(__file__).resolve().parents[2]


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


def test_a_real_input_method_types_chinese_into_the_composer_and_the_question(
        x_display: desktop_env.XServer, session_bus: desktop_env.SessionBus, tmp_path: Path) -> None:
    # IBus with its pinyin engine on the test display: "nihao" then space picks 你好, as a user types it
    if not (shutil.which("ibus-daemon") and Path("/usr/libexec/ibus-engine-libpinyin").exists()):
        if desktop_env.STRICT:
            pytest.fail("ibus and ibus-libpinyin are needed (installed by .ci/run)")
        pytest.skip("ibus and ibus-libpinyin are not installed")
    env = {**os.environ, **x_display.env(), "DBUS_SESSION_BUS_ADDRESS": session_bus.address,
           "HOME": str(tmp_path), "QT_IM_MODULE": "ibus", "QT_QPA_PLATFORM": "xcb"}
    log = (tmp_path / "ibus.log").open("w")
    daemon = subprocess.Popen(["ibus-daemon", "--replace", "--panel=disable", "--xim", "--verbose"], env=env,
                              stdout=log, stderr=log, start_new_session=True)
    app: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        # the engines are known once the daemon has read its components: ask until it says so
        while "libpinyin" not in subprocess.run(["ibus", "list-engine"], env=env, capture_output=True,
                                                text=True).stdout:
            assert time.monotonic() < deadline, "ibus-daemon did not start: " + (tmp_path / "ibus.log").read_text()
            time.sleep(0.5)
        app = subprocess.Popen([sys.executable, "-m", "tests.support.ime_typing"], env=env, cwd=ROOT, text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert app.stdin is not None and app.stdout is not None
        assert app.stdout.readline().strip() == "composer"
        # the pinyin engine, once a field of the app has the focus (an input context exists)
        # (`ibus engine NAME` says it failed when it cannot also save the choice in dconf: ask which is in use)
        while subprocess.run(["ibus", "engine"], env=env, capture_output=True, text=True).stdout.strip() != "libpinyin":
            assert time.monotonic() < deadline, "ibus did not take the libpinyin engine"
            subprocess.run(["ibus", "engine", "libpinyin"], env=env, capture_output=True)
            time.sleep(0.3)
        desktop_env.xdotool(x_display, "type", "--delay", "80", "nihao")
        desktop_env.xdotool(x_display, "key", "space")
        app.stdin.write("question\n")
        app.stdin.flush()
        assert app.stdout.readline().strip() == "question"
        time.sleep(0.3)
        desktop_env.xdotool(x_display, "type", "--delay", "80", "zhongwen")
        desktop_env.xdotool(x_display, "key", "space")
        time.sleep(0.5)
        app.stdin.write("done\n")
        app.stdin.flush()
        typed = json.loads(app.stdout.readline())
        assert app.wait(10) == 0
    finally:
        if app is not None:
            if app.poll() is None:
                app.kill()
                app.wait()
            for stream in (app.stdin, app.stdout):
                if stream is not None:
                    stream.close()
        subprocess.run(["ibus", "exit"], env=env, capture_output=True)
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(10)
        log.close()
    assert typed == {"composer": "你好", "question": "中文"}
