"""The one notifier: a burst of failures is one dialog, and a question handed over again is not repeated."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QApplication, QMessageBox

from desktop.app import AppController
from desktop.assistant.services import AppPaths, Services
from desktop.errors import UserFacingError
from desktop.ui.notifier import Notifier


def error_dialogs() -> list[QMessageBox]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QMessageBox) and w.objectName() == "error_dialog" and w.isVisible()]


def test_a_burst_of_errors_is_one_dialog(qtbot: Any, qt_loop: asyncio.AbstractEventLoop) -> None:
    notifier = Notifier()
    # GIVEN four failures in a row, two of them the same
    for message in ("'a.pdf' is a PDF document, not a picture.", "The server did not answer.",
                    "'a.pdf' is a PDF document, not a picture.", "Something else."):
        notifier.show_error(UserFacingError(message, "Do this."))
    qtbot.waitUntil(lambda: len(notifier.shown) == 4, timeout=2000)
    # THEN one dialog lists each once
    dialogs = error_dialogs()
    assert len(dialogs) == 1
    text = dialogs[0].text()
    assert text.count("a.pdf") == 1 and "did not answer" in text and "Something else" in text
    # and once it is closed, the next failure opens a new one
    dialogs[0].done(0)
    qtbot.waitUntil(lambda: not error_dialogs(), timeout=2000)
    notifier.show_error(UserFacingError("Later."))
    qtbot.waitUntil(lambda: len(error_dialogs()) == 1, timeout=2000)
    assert "Later." in error_dialogs()[0].text() and "Something else" not in error_dialogs()[0].text()
    error_dialogs()[0].done(0)


def test_failed_asks_handed_over_again_show_one_dialog_and_the_question_once(
        qtbot: Any, qapp: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, session_bus: object,
        tmp_path: Path) -> None:
    # GIVEN the running app (its command handler), and a picture file that turns out unreadable
    controller = AppController(qapp, Services.create(app_paths), Notifier())
    bad = tmp_path / "report.pdf"
    bad.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    try:
        # WHEN the same `ask` arrives four times
        outcomes = []
        for _ in range(4):
            pending = controller.handle_argv(["ask", "--image", str(bad), "--send", "--", "What does it say?"])
            assert not isinstance(pending, str)
            task = asyncio.ensure_future(pending)
            qtbot.waitUntil(task.done, timeout=10000)
            outcomes.append(task.exception())
        # THEN each is answered with the reason, the app shows one dialog, and the question is there once, unsent
        assert all(isinstance(e, UserFacingError) and "is a PDF document" in e.message for e in outcomes)
        qtbot.waitUntil(lambda: len(controller.notifier.shown) == 4, timeout=2000)
        assert len(error_dialogs()) == 1
        chat = controller.chat_window()
        assert chat.composer.text() == "What does it say?"
        assert chat.conversation.messages == []
    finally:
        for dialog in error_dialogs():
            dialog.done(0)
        controller.stop_activity()
        qtbot.addWidget(controller.chat_window())  # closed and deleted after the test, so it covers no later one
        closing = asyncio.ensure_future(controller.services.client.aclose())
        qtbot.waitUntil(closing.done, timeout=5000)
