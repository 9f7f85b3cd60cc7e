"""The quick-ask popup against a protocol-faithful server, on the real X display."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication, QMouseEvent
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.assistant.services import AppPaths, Services
from desktop.chat.conversation import Attachment, ImageAttachment, Message, ReplyState, Role
from desktop.config.profiles import Flavor, preset
from desktop.ui.chat_window import ChatWindow
from desktop.ui.message_widgets import ReplyWidget
from desktop.ui.notifier import Notifier
from desktop.ui.quick_ask import HISTORY_LIMIT, QuickAskHandover, QuickAskPopup, place_beside
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer, zai_error

SLOW = VLLM_NEW.evolve(reasoning="", content=" ".join(f"w{i}" for i in range(120)), tokens_per_second=60)


@pytest.fixture
def services(services: Services, fake_server: FakeOpenAIServer, x_display: object) -> Services:
    profile = services.profiles.upsert(preset(Flavor.VLLM, name="Test vLLM", base_url=fake_server.base_url,
                                              model="glm-4.6v"))
    services.profiles.set_active(profile.id, "glm-4.6v")
    return services


@pytest.fixture
def popup(qtbot: Any, services: Services) -> Iterator[QuickAskPopup]:
    widget = QuickAskPopup(services, Notifier())
    qtbot.addWidget(widget)
    yield widget
    widget.shutdown()
    qtbot.waitUntil(lambda: not widget.busy, timeout=5000)


@pytest.fixture
def chat(qtbot: Any, services: Services) -> Iterator[ChatWindow]:
    window = ChatWindow(services, Notifier())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.shutdown()
    qtbot.waitUntil(lambda: not window.busy, timeout=5000)


def capture(size: tuple[int, int] = (800, 600), colour: tuple[int, int, int] = (200, 30, 30)) -> Attachment:
    return ImageAttachment.from_pixels(Image.new("RGB", size, colour), "screenshot.png", "screen")


ANCHOR = QRect(100, 100, 300, 200)


def show(qtbot: Any, popup: QuickAskPopup, attachment: Attachment | None = None,
         anchor: QRect | None = ANCHOR) -> None:
    popup.show_for(attachment, anchor)
    qtbot.waitExposed(popup)
    if attachment is not None:
        qtbot.waitUntil(lambda: not popup.thumbnail.pixmap().isNull(), timeout=10000)


def ask(qtbot: Any, popup: QuickAskPopup, text: str) -> None:
    popup.question.setText(text)
    qtbot.keyClick(popup.question, Qt.Key.Key_Return)


def last_reply(popup: QuickAskPopup) -> Message:
    return popup.conversation.messages[-1]


def wait_final(qtbot: Any, popup: QuickAskPopup, timeout: int = 15000) -> None:
    qtbot.waitUntil(lambda: last_reply(popup).is_final and not popup.busy, timeout=timeout)
    popup.view.flush()


def reply_widget(popup: QuickAskPopup) -> ReplyWidget:
    widget = popup.view.widget_for(last_reply(popup))
    assert isinstance(widget, ReplyWidget)
    return widget


def image_of(part: dict[str, Any]) -> Image.Image:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


# -- asking -------------------------------------------------------------------------------------------------------
def test_answer_streams_into_the_popup_and_the_capture_goes_as_a_data_url(
        qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    # GIVEN a capture shown in the popup
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="It is red.", content="A **red** rectangle."))
    show(qtbot, popup, capture())
    assert popup.objectName() == "quick_ask"
    flags = popup.windowFlags()
    for flag in (Qt.WindowType.Tool, Qt.WindowType.FramelessWindowHint, Qt.WindowType.WindowStaysOnTopHint):
        assert flags & flag
    thumbnail = popup.findChild(QWidget, "quick_ask_thumbnail")
    assert thumbnail is popup.thumbnail and 0 < popup.thumbnail.pixmap().height() <= 96
    assert "image tokens" in popup.tokens.text()
    assert not popup.view.isVisible(), "no answer area before the first question"
    # WHEN a question is asked with Enter
    ask(qtbot, popup, "What colour is this?")
    qtbot.waitUntil(lambda: popup.send_button.text() == "Stop" or last_reply(popup).is_final, timeout=5000)
    wait_final(qtbot, popup)
    # THEN the answer is rendered as in the chat window, and the request carried the picture
    assert last_reply(popup).state is ReplyState.COMPLETE
    widget = reply_widget(popup)
    assert widget.answer.toPlainText().strip() == "A red rectangle."
    assert widget.reasoning.isVisible() and widget.reasoning.text.toPlainText() == "It is red."
    assert popup.view.isVisible() and popup.send_button.text() == "Ask"
    parts = fake_server.chat_requests[-1].body["messages"][0]["content"]
    assert image_of(parts[0]).size == (800, 600)
    assert parts[1] == {"type": "text", "text": "What colour is this?"}
    assert popup.question.text() == ""


def test_a_follow_up_question_sends_the_earlier_question_and_answer(
        qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(VLLM_NEW.evolve(reasoning="", content="First answer."),
                      VLLM_NEW.evolve(reasoning="", content="Second answer."))
    show(qtbot, popup, capture())
    ask(qtbot, popup, "one")
    wait_final(qtbot, popup)
    ask(qtbot, popup, "two")
    wait_final(qtbot, popup)
    messages = fake_server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert image_of(messages[0]["content"][0]).size == (800, 600)
    assert messages[0]["content"][1]["text"] == "one"
    assert messages[1:] == [{"role": "assistant", "content": "First answer."}, {"role": "user", "content": "two"}]
    assert [m.role for m in popup.conversation.messages] == [Role.USER, Role.ASSISTANT] * 2


def test_a_text_only_ask_without_a_capture(qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    show(qtbot, popup, None, None)
    assert popup.thumbnail.isHidden()
    ask(qtbot, popup, "hello")
    wait_final(qtbot, popup)
    assert fake_server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "hello"}]


def test_stop_button_keeps_the_partial_answer(qtbot: Any, popup: QuickAskPopup,
                                              fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(SLOW)
    show(qtbot, popup, None, None)
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    assert popup.send_button.text() == "Stop"
    popup.send_button.click()
    wait_final(qtbot, popup)
    assert last_reply(popup).state is ReplyState.STOPPED and "w119" not in last_reply(popup).text
    assert popup.send_button.text() == "Ask"


def test_a_failed_question_is_put_back_and_retry_resends_it(qtbot: Any, popup: QuickAskPopup,
                                                            fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(zai_error(1113, english=True), VLLM_NEW.evolve(reasoning="", content="Now it works."))
    show(qtbot, popup, None, None)
    ask(qtbot, popup, "Please keep this question")
    wait_final(qtbot, popup)
    assert last_reply(popup).state is ReplyState.FAILED
    assert "Insufficient balance" in reply_widget(popup).error.text()
    assert popup.question.text() == "Please keep this question"
    reply_widget(popup).retry_button.click()
    wait_final(qtbot, popup)
    assert last_reply(popup).text == "Now it works."
    assert popup.question.text() == "", "the copy put back for editing went with the retry"


def test_without_an_endpoint_it_says_where_to_add_one(qtbot: Any, qt_loop: asyncio.AbstractEventLoop,
                                                      app_paths: AppPaths, fake_server: FakeOpenAIServer,
                                                      x_display: object) -> None:
    services = Services.create(app_paths)
    for profile in services.profiles.all():
        services.profiles.remove(profile.id)
    notifier = Notifier()
    popup = QuickAskPopup(services, notifier)
    qtbot.addWidget(popup)
    show(qtbot, popup, None, None)
    ask(qtbot, popup, "is anyone there?")
    qtbot.waitUntil(lambda: bool(notifier.shown), timeout=5000)
    assert notifier.shown[-1] == "No endpoint is set up."
    dialog = popup.findChild(QMessageBox, "error_dialog")
    assert dialog is not None and "Settings → Endpoints" in dialog.text()
    dialog.close()
    assert popup.question.text() == "is anyone there?", "nothing typed is lost"
    assert fake_server.chat_requests == []
    task = asyncio.ensure_future(services.client.aclose())
    qtbot.waitUntil(task.done, timeout=5000)


# -- showing, hiding, new captures -----------------------------------------------------------------------------
def test_escape_hides_while_the_answer_keeps_streaming(qtbot: Any, popup: QuickAskPopup,
                                                       fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(SLOW)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    qtbot.keyClick(popup.question, Qt.Key.Key_Escape)
    assert not popup.isVisible()
    wait_final(qtbot, popup)
    assert last_reply(popup).state is ReplyState.COMPLETE and last_reply(popup).text.endswith("w119")
    # The quick-ask hotkey shows the same conversation again, the whole answer in it.
    popup.show_for(None, None)
    assert popup.isVisible()
    assert reply_widget(popup).answer.toPlainText().strip().endswith("w119")


def test_a_new_capture_hands_the_conversation_and_its_streaming_reply_to_the_chat_window(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    # GIVEN a reply streaming in the popup, with a chat window taking handovers, and a draft typed
    fake_server.set_scenario(SLOW)
    handovers: list[QuickAskHandover] = []
    popup.open_in_chat.connect(handovers.append)
    popup.open_in_chat.connect(chat.adopt_session)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "about the red one")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    old_session, old_conversation, old_reply = popup.session, popup.conversation, last_reply(popup)
    popup.question.setText("a draft")
    # WHEN another capture arrives
    show(qtbot, popup, capture((320, 240), (30, 30, 200)))
    # THEN the old conversation went quietly to the chat window, its reply streaming on there
    assert len(handovers) == 1 and handovers[0].quiet and handovers[0].session is old_session
    assert old_session.conversation is old_conversation and old_session.reply is old_reply
    assert handovers[0].draft == "" and handovers[0].attachments == []
    assert chat.session is old_session and chat.conversation is old_conversation and chat.busy
    widget = chat.view.widget_for(old_reply)
    assert isinstance(widget, ReplyWidget)
    qtbot.waitUntil(lambda: old_reply.is_final and not chat.busy, timeout=15000)
    assert old_reply.state is ReplyState.COMPLETE and old_reply.text.endswith("w119")
    chat.view.flush()
    assert widget.answer.toPlainText().strip().endswith("w119")
    # AND the popup stays, with an empty conversation about the new capture and the draft kept
    assert popup.isVisible()
    assert popup.session is not old_session and popup.conversation is not old_conversation
    assert popup.conversation.messages == []
    assert not popup.busy and popup.send_button.text() == "Ask"
    assert popup.question.text() == "a draft"
    fake_server.set_scenario(VLLM_NEW)
    ask(qtbot, popup, "about the blue one")
    wait_final(qtbot, popup)
    messages = fake_server.chat_requests[-1].body["messages"]
    assert len(messages) == 1 and image_of(messages[0]["content"][0]).size == (320, 240)
    assert chat.conversation is old_conversation, "the popup's new conversation stays in the popup"


def test_a_new_capture_replaces_one_never_asked_about(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow) -> None:
    # GIVEN a capture shown but not asked about, and a conversation in the chat window
    popup.open_in_chat.connect(chat.adopt_session)
    earlier = chat.conversation
    first = capture()
    show(qtbot, popup, first)
    popup.question.setText("half a question")
    # WHEN another capture arrives
    second = capture((320, 240), (30, 30, 200))
    show(qtbot, popup, second)
    # THEN the new capture replaces it (the user took another picture instead), the chat window is
    # untouched, and the typed draft stays for the new capture
    assert chat.composer.attachments() == [] and chat.composer.text() == ""
    assert popup._pending is second  # noqa: SLF001
    assert chat.conversation is earlier
    assert popup.isVisible() and popup.question.text() == "half a question"
    assert popup.conversation.messages == []


def test_a_new_capture_hands_over_nothing_when_there_is_nothing_to_keep(
        qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    handovers: list[QuickAskHandover] = []
    popup.open_in_chat.connect(handovers.append)
    show(qtbot, popup, None, None)
    popup.question.setText("typed, not sent")
    show(qtbot, popup, capture())
    assert handovers == [], "an empty conversation is not worth a handover"
    assert popup.question.text() == "typed, not sent"


def test_without_a_chat_window_a_new_capture_stops_the_old_reply(
        qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    # GIVEN nothing connected to open_in_chat (no chat window could take the conversation)
    fake_server.set_scenario(SLOW)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "about the red one")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    old_conversation, old_reply = popup.conversation, last_reply(popup)
    show(qtbot, popup, capture((320, 240), (30, 30, 200)))
    # THEN the old reply stops (nothing shows it any more), its partial answer in its conversation
    qtbot.waitUntil(lambda: old_reply.is_final, timeout=5000)
    assert old_reply.state is ReplyState.STOPPED and old_conversation.messages[-1] is old_reply
    assert popup.conversation is not old_conversation and popup.conversation.messages == []
    assert not popup.busy and popup.send_button.text() == "Ask"


def test_unpinned_it_hides_when_another_program_is_active_unless_streaming(
        qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    pin = popup.findChild(QWidget, "quick_ask_pin")
    assert pin is popup.pin_button and popup.pin_button.isCheckable()
    show(qtbot, popup, None, None)
    popup._on_application_state(Qt.ApplicationState.ApplicationInactive)  # noqa: SLF001 - no real activation here
    assert not popup.isVisible()
    # Pinned: it stays.
    show(qtbot, popup, None, None)
    popup.pin_button.click()
    assert popup.pinned
    popup._on_application_state(Qt.ApplicationState.ApplicationInactive)  # noqa: SLF001
    assert popup.isVisible()
    # Unpinned but answering: it stays until the answer is done.
    popup.pin_button.click()
    fake_server.set_scenario(SLOW)
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: popup.busy, timeout=5000)
    popup._on_application_state(Qt.ApplicationState.ApplicationInactive)  # noqa: SLF001
    assert popup.isVisible()
    popup.stop()
    wait_final(qtbot, popup)
    popup._on_application_state(Qt.ApplicationState.ApplicationActive)  # noqa: SLF001
    assert popup.isVisible()
    popup._on_application_state(Qt.ApplicationState.ApplicationInactive)  # noqa: SLF001
    assert not popup.isVisible()


def test_shutdown_stops_a_running_reply(qtbot: Any, popup: QuickAskPopup, fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(SLOW)
    show(qtbot, popup, None, None)
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: popup.busy, timeout=5000)
    popup.shutdown()
    wait_final(qtbot, popup)
    assert last_reply(popup).state is ReplyState.STOPPED


# -- history ----------------------------------------------------------------------------------------------------
def test_history_walks_with_up_and_down_keeping_the_draft_and_is_saved(
        qtbot: Any, popup: QuickAskPopup, services: Services, app_paths: AppPaths) -> None:
    show(qtbot, popup, None, None)
    for text in ("first", "second", "first"):
        ask(qtbot, popup, text)
        wait_final(qtbot, popup)
    assert services.settings.get("quick_ask.history") == ["first", "second"], "newest first, no duplicates"
    saved = json.loads(app_paths.settings_file.read_text(encoding="utf-8"))
    assert saved["quick_ask.history"] == ["first", "second"]
    line = popup.question
    qtbot.keyClicks(line, "dra")
    qtbot.keyClick(line, Qt.Key.Key_Up)
    assert line.text() == "first"
    qtbot.keyClick(line, Qt.Key.Key_Up)
    assert line.text() == "second"
    qtbot.keyClick(line, Qt.Key.Key_Up)
    assert line.text() == "second", "the oldest stays"
    qtbot.keyClick(line, Qt.Key.Key_Down)
    assert line.text() == "first"
    qtbot.keyClick(line, Qt.Key.Key_Down)
    assert line.text() == "dra", "the draft comes back"
    qtbot.keyClick(line, Qt.Key.Key_Down)
    assert line.text() == "dra"
    # An edited recalled question becomes the draft.
    qtbot.keyClick(line, Qt.Key.Key_Up)
    qtbot.keyClicks(line, "ly")
    qtbot.keyClick(line, Qt.Key.Key_Up)
    assert line.text() == "first"
    qtbot.keyClick(line, Qt.Key.Key_Down)
    assert line.text() == "firstly"
    # A new popup (a new app run) reads the saved history.
    again = QuickAskPopup(Services.create(app_paths), Notifier())
    qtbot.addWidget(again)
    qtbot.keyClick(again.question, Qt.Key.Key_Up)
    assert again.question.text() == "first"


def test_history_keeps_the_newest_fifty(qtbot: Any, popup: QuickAskPopup, services: Services) -> None:
    services.settings.set("quick_ask.history", [f"q{i}" for i in range(HISTORY_LIMIT)])
    show(qtbot, popup, None, None)
    ask(qtbot, popup, "newest")
    wait_final(qtbot, popup)
    history = services.settings.get("quick_ask.history")
    assert len(history) == HISTORY_LIMIT and history[0] == "newest" and history[-1] == f"q{HISTORY_LIMIT - 2}"


# -- open in chat -------------------------------------------------------------------------------------------------
def test_open_in_chat_continues_the_conversation_there(qtbot: Any, popup: QuickAskPopup, chat: ChatWindow,
                                                       fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(VLLM_NEW.evolve(reasoning="", content="It is red."),
                      VLLM_NEW.evolve(reasoning="", content="Yes, very."))
    popup.open_in_chat.connect(chat.adopt_session)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "What colour?")
    wait_final(qtbot, popup)
    session, conversation = popup.session, popup.conversation
    chat.composer.prompt.setPlainText("Is it bright?")
    # WHEN Open in chat is clicked
    with qtbot.waitSignal(popup.open_in_chat) as signal:
        popup.findChild(QWidget, "quick_ask_open_chat").click()  # type: ignore[union-attr]
    handover = signal.args[0]
    assert isinstance(handover, QuickAskHandover) and handover.session is session
    assert not handover.streaming and not handover.quiet
    # THEN the popup is hidden and empty, and the chat window shows the conversation, in the same session
    assert not popup.isVisible() and popup.conversation.messages == [] and popup.session is not session
    assert chat.session is session and chat.conversation is conversation
    assert chat.view.widget_for(conversation.messages[-1]) is not None
    assert chat.composer.text() == "Is it bright?", "what was typed in the chat window stays"
    # AND its next question carries the history, picture included
    chat.send()
    qtbot.waitUntil(lambda: chat.conversation.messages[-1].is_final and not chat.busy, timeout=15000)
    messages = fake_server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert image_of(messages[0]["content"][0]).size == (800, 600)
    assert messages[1:] == [{"role": "assistant", "content": "It is red."},
                            {"role": "user", "content": "Is it bright?"}]
    assert chat.conversation.messages[-1].text == "Yes, very."


def test_open_in_chat_hands_over_a_streaming_reply_that_stop_can_end(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(SLOW)
    popup.open_in_chat.connect(chat.adopt_session)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    reply = last_reply(popup)
    chat.composer.prompt.setPlainText("my own draft")
    popup.question.setText("unsent follow-up")
    handover = popup.hand_over()
    assert handover.streaming and handover.session is not None and handover.session.reply is reply
    assert not popup.busy and not popup.isVisible()
    # The reply streams on into the chat window's view, with its Stop button.
    assert chat.busy and chat.composer.send_button.text() == "Stop"
    widget = chat.view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    shown = len(widget.answer.toPlainText())
    qtbot.waitUntil(lambda: len(widget.answer.toPlainText()) > shown + 10, timeout=10000)
    assert chat.composer.text() == "my own draft\nunsent follow-up"
    chat.composer.send_button.click()
    qtbot.waitUntil(lambda: reply.is_final and not chat.busy, timeout=5000)
    assert reply.state is ReplyState.STOPPED and "w119" not in reply.text
    assert chat.composer.send_button.text() == "Send"
    assert chat.composer.text() == "my own draft\nunsent follow-up"


def test_after_open_in_chat_the_chat_window_shows_the_same_session_and_stop_there_ends_it(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    # GIVEN a slow reply streaming in the popup's session
    fake_server.set_scenario(SLOW)
    popup.open_in_chat.connect(chat.adopt_session)
    show(qtbot, popup, capture())
    ask(qtbot, popup, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(popup).text) > 10, timeout=10000)
    session, reply = popup.session, last_reply(popup)
    question = session.conversation.messages[0]
    # WHEN Open in chat is clicked while it streams
    popup.open_chat_button.click()
    # THEN the chat window is a view of that very session, the reply still running in it
    assert chat.session is session and session.busy and session.reply is reply
    assert chat.view.widget_for(question) is not None
    widget = chat.view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    shown = len(widget.answer.toPlainText())
    qtbot.waitUntil(lambda: len(widget.answer.toPlainText()) > shown + 10, timeout=10000)
    # AND the popup has let go of it: a new, idle session, nothing of the old one shown
    assert popup.session is not session and not popup.busy and popup.send_button.text() == "Ask"
    assert popup.view.widget_for(reply) is None
    # WHEN Stop is pressed in the chat window THEN the session's reply stops, its partial answer kept
    assert chat.composer.send_button.text() == "Stop"
    chat.composer.send_button.click()
    qtbot.waitUntil(lambda: not session.busy, timeout=5000)
    assert reply.state is ReplyState.STOPPED and reply.text.startswith("w0") and "w119" not in reply.text
    chat.view.flush()
    assert widget.answer.toPlainText().strip() == reply.text.strip()
    assert chat.composer.send_button.text() == "Send" and widget.retry_button.isVisible()
    assert session.conversation.messages == [question, reply]


def test_open_in_chat_before_asking_moves_the_capture_and_keeps_the_chat(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow) -> None:
    popup.open_in_chat.connect(chat.adopt_session)
    earlier = chat.conversation
    shot = capture()
    show(qtbot, popup, shot)
    popup.question.setText("about this")
    popup.open_chat_button.click()
    assert chat.conversation is earlier
    assert chat.composer.attachments() == [shot] and chat.composer.text() == "about this"


def test_a_question_asked_right_after_open_in_chat_is_sent(
        qtbot: Any, popup: QuickAskPopup, chat: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    # GIVEN a capture whose preparation is still running (no event is processed in between)
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Sent anyway."))
    popup.open_in_chat.connect(chat.adopt_session)
    shot = capture()
    popup.show_for(shot, ANCHOR)
    preparing = popup._preparing  # noqa: SLF001
    assert preparing is not None and not preparing.done()
    # WHEN it is opened in chat and a question is asked in the popup at once
    popup.hand_over()
    popup.show_for(None, None)
    popup.question.setText("a text-only question")
    popup.ask()
    # THEN the question is sent, without the capture (that went to the chat window)
    assert popup.busy, "sent at once, not waiting for the capture that left"
    wait_final(qtbot, popup)
    assert last_reply(popup).text == "Sent anyway."
    assert fake_server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "a text-only question"}]
    assert chat.composer.attachments() == [shot]
    # AND the capture's preparation, ending later, changes nothing in the popup
    qtbot.waitUntil(lambda: preparing not in popup._background, timeout=10000)  # noqa: SLF001 - its callbacks ran
    assert popup.thumbnail.isHidden() and popup.conversation.messages[-1].is_final


# -- placement and size ------------------------------------------------------------------------------------------
SIZE = QSize(460, 300)
SCREENS = [QRect(0, 0, 1920, 1080), QRect(1920, -200, 1280, 1024)]  # a second monitor, offset upwards


def _anchors(available: QRect) -> list[tuple[str, QRect]]:
    x, y, w, h = available.x(), available.y(), available.width(), available.height()
    return [
        ("top-left corner", QRect(x, y, 200, 100)),
        ("top edge", QRect(x + w // 2 - 100, y, 200, 100)),
        ("top-right corner", QRect(x + w - 200, y, 200, 100)),
        ("right edge", QRect(x + w - 150, y + h // 2 - 50, 150, 100)),
        ("bottom-right corner", QRect(x + w - 200, y + h - 100, 200, 100)),
        ("bottom edge", QRect(x + w // 2 - 100, y + h - 80, 200, 80)),
        ("bottom-left corner", QRect(x, y + h - 100, 200, 100)),
        ("left edge", QRect(x, y + h // 2 - 50, 150, 100)),
        ("tall column at the left", QRect(x, y, 200, h)),
        ("tall column at the right", QRect(x + w - 200, y, 200, h)),
        ("the whole screen", QRect(x, y, w, h)),
        ("tiny, in the middle", QRect(x + w // 2, y + h // 2, 4, 4)),
    ]


@pytest.mark.parametrize("available", SCREENS, ids=["primary", "offset"])
def test_placement_is_always_inside_the_screen_and_beside_the_selection_when_it_fits(available: QRect) -> None:
    for name, anchor in _anchors(available):
        point, _above = place_beside(anchor, SIZE, available)
        placed = QRect(point, SIZE)
        assert available.contains(placed), name
        fits_beside = name not in ("the whole screen",)
        if fits_beside:
            assert not placed.intersects(anchor), name


def test_placement_prefers_below_then_above_then_the_sides() -> None:
    screen = QRect(0, 0, 1920, 1080)
    point, above = place_beside(QRect(500, 100, 300, 200), SIZE, screen)
    assert (point.x(), point.y(), above) == (500, 308, False)
    point, above = place_beside(QRect(500, 700, 300, 300), SIZE, screen)
    assert (point.y() + SIZE.height(), above) == (692, True)
    point, above = place_beside(QRect(500, 0, 300, 1080), SIZE, screen)
    assert (point.x(), above) == (808, False)
    point, above = place_beside(QRect(1400, 0, 520, 1080), SIZE, screen)
    assert point.x() + SIZE.width() == 1392
    point, _above = place_beside(screen, SIZE, screen)
    assert (point.x() + SIZE.width(), point.y() + SIZE.height()) == (1912, 1072), "over the bottom-right corner"


def test_the_popup_stays_inside_the_screen_for_anchors_at_its_edges(qtbot: Any, popup: QuickAskPopup) -> None:
    available = QGuiApplication.primaryScreen().availableGeometry()
    for name, anchor in _anchors(available):
        popup.show_for(capture((64, 48)), anchor)
        qtbot.waitUntil(lambda: not popup.thumbnail.pixmap().isNull(), timeout=5000)
        assert available.contains(popup.frameGeometry()), name


def test_a_long_answer_grows_the_popup_up_to_its_limit_then_scrolls(qtbot: Any, popup: QuickAskPopup,
                                                                     fake_server: FakeOpenAIServer) -> None:
    available = QGuiApplication.primaryScreen().availableGeometry()
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="\n\n".join(f"Paragraph {i}." for i in range(80))))
    anchor = QRect(available.x() + 100, available.bottom() - 200, 300, 150)  # room only above it
    show(qtbot, popup, capture(), anchor)
    before = popup.frameGeometry()
    assert before.bottom() < anchor.top()
    ask(qtbot, popup, "many paragraphs")
    wait_final(qtbot, popup)
    qtbot.waitUntil(lambda: popup.height() > before.height() + 100, timeout=5000)
    qtbot.wait(50)
    grown = popup.frameGeometry()
    assert available.contains(grown)
    assert grown.height() <= available.height() * 0.6 + 1
    assert grown.bottom() < anchor.top(), "grew upwards, away from the selection"
    assert popup.view.verticalScrollBar().maximum() > 0, "the rest scrolls"


def test_dragging_the_header_moves_the_popup(qtbot: Any, popup: QuickAskPopup) -> None:
    show(qtbot, popup, None, QRect(100, 100, 300, 200))
    header = popup.findChild(QWidget, "quick_ask_header")
    assert header is not None
    start = popup.pos()
    local = QPointF(150, 10)
    global_start = QPointF(header.mapToGlobal(local.toPoint()))

    def send(kind: QMouseEvent.Type, where: QPointF, buttons: Qt.MouseButton) -> None:
        event = QMouseEvent(kind, QPointF(header.mapFromGlobal(where.toPoint())), where, Qt.MouseButton.LeftButton,
                            buttons, Qt.KeyboardModifier.NoModifier)
        QGuiApplication.sendEvent(header, event)

    send(QMouseEvent.Type.MouseButtonPress, global_start, Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseMove, global_start + QPointF(40, 25), Qt.MouseButton.LeftButton)
    send(QMouseEvent.Type.MouseButtonRelease, global_start + QPointF(40, 25), Qt.MouseButton.NoButton)
    if popup.pos() == start:
        pytest.skip("the window manager moves the window itself (startSystemMove)")
    assert popup.pos() == start + QPoint(40, 25)


def test_a_file_dropped_on_the_popup_is_asked_about(qtbot: Any, popup: QuickAskPopup,
                                                    fake_server: FakeOpenAIServer, tmp_path: Path) -> None:
    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    from desktop.chat.attachments import TextAttachment

    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n\n- ship on Friday\n", encoding="utf-8")
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Ship on Friday."))
    show(qtbot, popup)
    # GIVEN a text file dropped on the popup
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(notes))])
    popup.dropEvent(QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                               Qt.KeyboardModifier.NoModifier))
    # THEN the popup is about it, with its kind and cost
    qtbot.waitUntil(lambda: popup.title.text() == "Ask about notes.md", timeout=10000)
    assert popup.details.text() == "Markdown · 3 lines" and popup.tokens.text().startswith("≈")
    # WHEN a question is asked
    ask(qtbot, popup, "When do we ship?")
    qtbot.waitUntil(lambda: len(popup.conversation.messages) == 2, timeout=10000)  # sent once its preview is made
    wait_final(qtbot, popup)
    # THEN the file went inline, before the question
    [question] = [m for m in popup.conversation.messages if m.role is Role.USER]
    assert isinstance(question.attachments[0], TextAttachment)
    content = fake_server.chat_requests[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "text"]
    assert "- ship on Friday" in content[0]["text"] and content[1]["text"] == "When do we ship?"
