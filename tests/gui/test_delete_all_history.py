"""*Delete all history* on Settings → General: asked first (without a nested event loop), carried out by the
app's history writer on the real history file, with how many were deleted said on the page."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton

from desktop.app import AppController
from desktop.assistant.services import AppPaths, Services
from desktop.chat.conversation import Conversation, ReplyState
from desktop.store.history import HistoryStore
from desktop.ui.notifier import Notifier
from desktop.ui.settings_dialog import SettingsDialog


def saved(store: HistoryStore, title: str, *, pinned: bool = False) -> str:
    conversation = Conversation(title=title)
    question = conversation.add_question(f"{title}?", [])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="team", thinking=False)
    reply.text, reply.state = f"About {title}.", ReplyState.COMPLETE
    store.save_conversation(conversation)
    if pinned:
        store.set_pinned(conversation.id, True)
    return conversation.id


@pytest.fixture
def controller(qapp: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, session_bus: object,
               qtbot: Any) -> Iterator[AppController]:
    with HistoryStore.open(app_paths.data) as store:
        for title in ("Quokka", "Wombat"):
            saved(store, title)
        saved(store, "Numbat", pinned=True)
    app = AppController(qapp, Services.create(app_paths), Notifier())
    yield app
    app.stop_activity()
    closing = asyncio.ensure_future(app.services.client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


def settings_dialog(qtbot: Any, controller: AppController) -> SettingsDialog:
    controller.open_settings()
    dialog = next(w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible())
    qtbot.waitExposed(dialog)
    dialog.tabs.setCurrentWidget(dialog.general)
    return dialog


def confirmation(qtbot: Any, dialog: SettingsDialog) -> QMessageBox:
    dialog.general.findChild(QPushButton, "delete_all_history").click()  # returns at once: open(), no exec()
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "confirm_delete_history") is not None, timeout=2000)
    box = dialog.findChild(QMessageBox, "confirm_delete_history")
    qtbot.waitExposed(box)
    return box


def count(app_paths: AppPaths) -> int:
    with HistoryStore.open(app_paths.data, repair=False) as store:
        return store.count_conversations()


def test_delete_all_history_asks_then_deletes_everything_through_the_app(qtbot: Any, controller: AppController,
                                                                          app_paths: AppPaths) -> None:
    # GIVEN a saved conversation open in the chat window
    with HistoryStore.open(app_paths.data, repair=False) as store:
        reopened = store.load_conversation(store.list_conversations()[-1].id)
    chat = controller.chat_window()
    qtbot.addWidget(chat)  # closed and deleted after the test, so it covers no later one
    chat.session.replace_conversation(reopened)
    dialog = settings_dialog(qtbot, controller)
    result = dialog.general.findChild(QLabel, "history_deleted")
    # GIVEN the confirmation, WHEN it is cancelled, THEN nothing is deleted
    box = confirmation(qtbot, dialog)
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "confirm_delete_history") is None, timeout=2000)
    assert result.text() == ""
    assert count(app_paths) == 3
    # WHEN it is confirmed, THEN every conversation is deleted, pinned ones too, and the page says how many
    box = confirmation(qtbot, dialog)
    box.findChild(QPushButton, "confirm_delete_history_yes").click()
    qtbot.waitUntil(lambda: result.text() == "Deleted 3 conversations.", timeout=10000)
    assert dialog.general.delete_history_button is not None and dialog.general.delete_history_button.isEnabled()
    assert count(app_paths) == 0
    # and the chat window starts afresh, so nothing deleted is saved again when it goes on
    assert chat.conversation.messages == [] and chat.conversation.id != reopened.id
    # and the settings themselves are untouched: OK saves nothing new
    assert not dialog.has_changes()
    dialog.reject()


def test_settings_dialog_without_the_app_offers_no_delete_all(qtbot: Any, services: Services) -> None:
    dialog = SettingsDialog(services, Notifier())
    qtbot.addWidget(dialog)
    assert dialog.general.findChild(QPushButton, "delete_all_history") is None


def test_a_failed_delete_all_is_shown_and_deletes_nothing(qtbot: Any, services: Services) -> None:
    notifier = Notifier()

    async def refuse() -> int:
        from desktop.store.errors import HistoryError

        await asyncio.sleep(0)
        raise HistoryError("The history could not be opened, so nothing was deleted.", "Restart and try again.")

    dialog = SettingsDialog(services, notifier, delete_history=refuse)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    box = confirmation(qtbot, dialog)
    box.findChild(QPushButton, "confirm_delete_history_yes").click()
    result = dialog.general.findChild(QLabel, "history_deleted")
    qtbot.waitUntil(lambda: result.text() == "Nothing was deleted.", timeout=5000)
    deadline = time.monotonic() + 5
    while not notifier.shown and time.monotonic() < deadline:
        qtbot.wait(20)
    assert notifier.shown and "nothing was deleted" in notifier.shown[-1]
    assert notifier.dialog is not None
    notifier.dialog.done(0)
