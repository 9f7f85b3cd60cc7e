"""The chat window against a protocol-faithful server, on the real X display."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from desktop.assistant.services import AppPaths, Services
from desktop.assistant.session import ReplyFinished
from desktop.chat.conversation import ReplyState, Role
from desktop.config.profiles import Flavor, preset
from desktop.ui.chat_window import ChatWindow
from desktop.ui.composer import PendingChip
from desktop.ui.message_widgets import ReplyWidget
from desktop.ui.notifier import Notifier
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer, Scenario, zai_error


@pytest.fixture
def window(qtbot: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, fake_server: FakeOpenAIServer,
           session_bus: object, x_display: object) -> Iterator[ChatWindow]:
    services = Services.create(app_paths)
    profile = services.profiles.upsert(preset(Flavor.VLLM, name="Test vLLM", base_url=fake_server.base_url,
                                              model="glm-4.6v"))
    services.profiles.set_active(profile.id, "glm-4.6v")
    chat = ChatWindow(services, Notifier())
    qtbot.addWidget(chat)
    chat.show()
    qtbot.waitExposed(chat)
    yield chat
    chat.shutdown()
    qtbot.waitUntil(lambda: not chat.busy, timeout=5000)
    task = asyncio.ensure_future(services.client.aclose())
    qtbot.waitUntil(task.done, timeout=5000)


def attach_picture(qtbot: Any, chat: ChatWindow, tmp_path: Path, size: tuple[int, int] = (800, 600)) -> Path:
    path = tmp_path / "picture.png"
    Image.new("RGB", size, (200, 30, 30)).save(path)
    chat.add_files([path], "file")
    qtbot.waitUntil(lambda: len(chat.composer.attachments()) == 1, timeout=10000)
    return path


def ask(qtbot: Any, chat: ChatWindow, text: str) -> None:
    chat.composer.prompt.setPlainText(text)
    qtbot.keyClick(chat.composer.prompt, Qt.Key.Key_Return)


def last_reply(chat: ChatWindow) -> Any:
    return chat.conversation.messages[-1]


def reply_widget(chat: ChatWindow) -> ReplyWidget:
    widget = chat.view.widget_for(last_reply(chat))
    assert isinstance(widget, ReplyWidget)
    return widget


def wait_final(qtbot: Any, chat: ChatWindow, timeout: int = 15000) -> None:
    qtbot.waitUntil(lambda: last_reply(chat).is_final and not chat.busy, timeout=timeout)
    chat.view.flush()


def test_question_with_image_streams_reasoning_and_answer(qtbot: Any, window: ChatWindow, tmp_path: Path,
                                                         fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="The picture is mostly red.",
                                             content="It is a **red** rectangle.\n\n```python\nprint('red')\n```"))
    attach_picture(qtbot, window, tmp_path)
    ask(qtbot, window, "What colour is this?")
    wait_final(qtbot, window)
    reply = last_reply(window)
    assert reply.state is ReplyState.COMPLETE
    widget = reply_widget(window)
    assert "It is a red rectangle." in widget.answer.toPlainText()
    assert "print('red')" in widget.answer.toPlainText()
    assert widget.reasoning.isVisible() and widget.reasoning.text.toPlainText() == "The picture is mostly red."
    body = fake_server.chat_requests[-1].body
    assert body["model"] == "glm-4.6v" and body["chat_template_kwargs"] == {"enable_thinking": True}
    parts = body["messages"][0]["content"]
    image = Image.open(io.BytesIO(base64.b64decode(parts[0]["image_url"]["url"].split(",", 1)[1])))
    assert image.size == (800, 600)
    assert parts[1] == {"type": "text", "text": "What colour is this?"}
    assert window.composer.text() == "" and window.composer.attachments() == []


def test_thinking_off_is_sent_and_no_reasoning_panel(qtbot: Any, window: ChatWindow,
                                                     fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Plain answer."))
    window.composer.thinking.setChecked(False)
    ask(qtbot, window, "hi")
    wait_final(qtbot, window)
    assert fake_server.chat_requests[-1].body["chat_template_kwargs"] == {"enable_thinking": False}
    assert not reply_widget(window).reasoning.isVisible()
    assert window.services.settings.get("chat.thinking") is False


def test_stop_keeps_the_partial_answer(qtbot: Any, window: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content=" ".join(f"w{i}" for i in range(300)),
                                             tokens_per_second=60))
    ask(qtbot, window, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(window).text) > 20, timeout=10000)
    window.composer.send_button.click()  # it is the Stop button now
    wait_final(qtbot, window)
    reply = last_reply(window)
    assert reply.state is ReplyState.STOPPED
    kept = reply.text
    assert kept.startswith("w0 w1") and "w299" not in kept
    assert kept in reply_widget(window).answer.toPlainText()
    assert window.composer.send_button.text() == "Send"
    assert reply_widget(window).retry_button.isVisible()


def test_dropped_stream_is_marked_interrupted_and_retry_completes(qtbot: Any, window: ChatWindow,
                                                                  fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(VLLM_NEW.evolve(reasoning="", content="one two three four five six", drop_after_chunks=3),
                      VLLM_NEW.evolve(reasoning="", content="Complete answer."))
    ask(qtbot, window, "question")
    wait_final(qtbot, window)
    first = last_reply(window)
    assert first.state is ReplyState.INTERRUPTED and first.text.strip() == "one two three"
    widget = reply_widget(window)
    assert widget.error.isVisible() and "broke" in widget.error.text()
    assert widget.retry_button.isVisible()
    widget.retry_button.click()
    wait_final(qtbot, window)
    assert last_reply(window).text == "Complete answer."
    assert first in window.conversation.messages and first.text.strip() == "one two three"
    assert not widget.retry_button.isVisible()
    assert fake_server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "question"}]


def test_cloud_error_shows_the_servers_message_and_keeps_the_question(qtbot: Any, window: ChatWindow,
                                                                       fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(zai_error(1113, english=True))
    ask(qtbot, window, "Please keep this question")
    wait_final(qtbot, window)
    reply = last_reply(window)
    assert reply.state is ReplyState.FAILED and reply.error is not None
    text = reply_widget(window).error.text()
    assert "Insufficient balance" in text and "Top up" in text
    question = window.conversation.messages[-2]
    assert question.role is Role.USER and question.text == "Please keep this question"
    assert window.composer.text() == "Please keep this question", "put back to be edited and resent"
    assert reply_widget(window).retry_button.isVisible(), "after topping up, Retry sends it again"


def test_a_failed_question_edited_in_the_composer_is_sent_once(qtbot: Any, window: ChatWindow,
                                                               fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(zai_error(1113, english=True), VLLM_NEW.evolve(reasoning="", content="Answered."))
    ask(qtbot, window, "Please keep this qestion")
    wait_final(qtbot, window)
    failed = last_reply(window)
    original = window.conversation.messages[-2]
    assert failed.state is ReplyState.FAILED and window.composer.text() == "Please keep this qestion"
    # WHEN the question put back is corrected and sent
    ask(qtbot, window, "Please keep this question")
    wait_final(qtbot, window)
    # THEN its edited copy is asked, without the failed original beside it
    assert fake_server.chat_requests[-1].body["messages"] == [{"role": "user", "content": "Please keep this question"}]
    copy, reply = window.conversation.messages[-2:]
    assert copy.text == "Please keep this question" and copy.replaces == original.id and reply.text == "Answered."
    assert window.conversation.messages == [original, failed, copy, reply], "the original stays, as it was"
    assert original.text == "Please keep this qestion"
    assert window.composer.text() == ""


def test_cloud_without_a_key_says_where_to_add_it(qtbot: Any, window: ChatWindow,
                                                  fake_server: FakeOpenAIServer) -> None:
    cloud = window.services.profiles.upsert(preset(Flavor.ZAI, base_url=fake_server.zai_base_url))
    window.services.profiles.set_active(cloud.id)
    window.reload_endpoints()
    ask(qtbot, window, "hello cloud")
    wait_final(qtbot, window)
    assert "No API key" in reply_widget(window).error.text()
    assert fake_server.chat_requests == []


def test_multi_turn_sends_the_earlier_answer(qtbot: Any, window: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    fake_server.queue(VLLM_NEW.evolve(reasoning="r1", content="First answer."),
                      VLLM_NEW.evolve(reasoning="r2", content="Second answer."))
    ask(qtbot, window, "one")
    wait_final(qtbot, window)
    ask(qtbot, window, "two")
    wait_final(qtbot, window)
    assert [m["content"] for m in fake_server.chat_requests[-1].body["messages"]] == ["one", "First answer.", "two"]
    window.new_chat()
    assert window.conversation.messages == []


def test_new_chat_stops_its_reply_and_starts_a_new_session(qtbot: Any, window: ChatWindow,
                                                          fake_server: FakeOpenAIServer) -> None:
    # GIVEN a reply streaming, and another subscriber (as the history store will be) following the session
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content=" ".join(f"w{i}" for i in range(300)),
                                             tokens_per_second=60))
    old = window.session
    seen: list[object] = []
    old.subscribe(seen.append)
    ask(qtbot, window, "long answer please")
    qtbot.waitUntil(lambda: len(last_reply(window).text) > 20, timeout=10000)
    reply = last_reply(window)
    # WHEN New chat is clicked
    window.new_chat_button.click()
    # THEN the window shows a new, empty session; the old reply stops, and its end still reaches the others
    assert window.session is not old and window.conversation.messages == [] and not window.busy
    assert window.view.widget_for(reply) is None and window.composer.send_button.text() == "Send"
    qtbot.waitUntil(lambda: not old.busy, timeout=5000)
    assert reply.state is ReplyState.STOPPED and old.conversation.messages[-1] is reply
    assert any(isinstance(e, ReplyFinished) and e.message is reply for e in seen)


def test_dropped_files_are_attached_by_what_they_are_and_a_bad_one_is_explained(qtbot: Any, window: ChatWindow,
                                                                                 tmp_path: Path) -> None:
    # GIVEN a picture, a text file named like a picture (its bytes decide), and a picture cut short
    good = tmp_path / "drop.png"
    Image.new("RGB", (64, 64), "blue").save(good)
    notes = tmp_path / "notes.png"
    notes.write_text("not really a png")
    bad = tmp_path / "cut.png"
    bad.write_bytes(good.read_bytes()[:60])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in (good, notes, bad)])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    # WHEN they are dropped on the window
    window.dropEvent(event)
    # THEN the two readable ones are attached as their kinds, the damaged one is explained once
    qtbot.waitUntil(lambda: len(window.composer.attachments()) == 2 and bool(window.notifier.shown), timeout=10000)
    assert sorted((a.name, a.kind) for a in window.composer.attachments()) == [("drop.png", "image"),
                                                                               ("notes.png", "text")]
    assert window.notifier.shown == ["'cut.png' is damaged or incomplete: its picture data ends early."]
    # and no placeholder is left behind
    qtbot.waitUntil(lambda: not [c for c in window.composer.strip.findChildren(PendingChip) if c.isVisible()])


def test_pasted_picture_is_encoded_off_the_ui_thread_and_attached(qtbot: Any, window: ChatWindow) -> None:
    from PySide6.QtGui import QImage

    image = QImage(1920, 1080, QImage.Format.Format_RGB32)
    image.fill(Qt.GlobalColor.darkCyan)
    mime = QMimeData()
    mime.setImageData(image)
    window.composer.prompt.insertFromMimeData(mime)
    qtbot.waitUntil(lambda: len(window.composer.attachments()) == 1, timeout=10000)
    attachment = window.composer.attachments()[0]
    assert (attachment.width, attachment.height) == (1920, 1080)
    assert attachment.original_bytes().startswith(b"\x89PNG")


def test_stream_events_only_mark_dirty_and_one_timer_tick_repaints(qtbot: Any, window: ChatWindow) -> None:
    from desktop.chat.conversation import Message, Role

    reply = Message(Role.ASSISTANT, state=ReplyState.STREAMING, model="m")
    window.view.add_message(reply)
    widget = window.view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    renders: list[int] = []
    original = widget.refresh

    def counting_refresh() -> None:
        renders.append(1)
        original()

    widget.refresh = counting_refresh  # type: ignore[method-assign]
    for i in range(500):  # 500 deltas arrive before the loop gets a chance to repaint
        reply.text += f"w{i} "
        window.view.mark_dirty(reply)
    assert renders == []
    qtbot.waitUntil(lambda: bool(renders), timeout=2000)
    qtbot.wait(100)
    assert len(renders) == 1
    assert "w499" in widget.answer.toPlainText()


def test_stalled_server_times_out_with_advice(qtbot: Any, window: ChatWindow, fake_server: FakeOpenAIServer) -> None:
    window.services.client.timeouts = type(window.services.client.timeouts)(connect=2, read=0.5)
    fake_server.set_scenario(Scenario(hang=True))
    ask(qtbot, window, "anyone there?")
    wait_final(qtbot, window)
    assert "stopped sending" in reply_widget(window).error.text()
    fake_server.release_hangs()


def test_the_pickers_follow_a_local_server_made_active_elsewhere(qtbot: Any, window: ChatWindow) -> None:
    # GIVEN the chat on a team vLLM asking for glm-4.6v
    assert window.model_box.currentText() == "glm-4.6v"
    # WHEN a local server becomes the active endpoint (as the Local servers window does on Start)
    services = window.services
    local = services.profiles.upsert(preset(Flavor.TRANSFORMERS, name="This computer", base_url="http://127.0.0.1:9/v1",
                                            model="/models/GLM-V-tiny"))
    services.profiles.set_active(local.id, "/models/GLM-V-tiny")
    # THEN the chat's pickers name it and its model: the next question goes there, with that model
    assert window.endpoint_box.currentData() == local.id
    assert window.model_box.currentText() == "/models/GLM-V-tiny"
    # AND typing another model name is not undone by the pickers following the settings
    window.model_box.setCurrentText("/models/other")
    assert window.model_box.currentText() == "/models/other"


def test_an_encrypted_pdf_asks_for_its_password_until_it_is_right(qtbot: Any, window: ChatWindow,
                                                                  tmp_path: Path) -> None:
    from PySide6.QtWidgets import QInputDialog

    from desktop.chat.attachments import DocumentAttachment
    from tests.support.documents import PageSpec, encrypt_pdf, make_pdf

    path = tmp_path / "salaries.pdf"
    path.write_bytes(encrypt_pdf(make_pdf([PageSpec(lines=("Confidential",))]), "open sesame"))
    # GIVEN an encrypted PDF attached
    window.add_files([path], "file")

    def dialog() -> QInputDialog | None:
        found = [d for d in window.findChildren(QInputDialog, "pdf_password_dialog") if d.isVisible()]
        return found[0] if found else None

    # THEN its password is asked for, with a placeholder chip shown meanwhile
    qtbot.waitUntil(lambda: dialog() is not None, timeout=10000)
    asked = dialog()
    assert asked is not None and "protected by a password" in asked.labelText() and "salaries.pdf" in asked.labelText()
    assert [c for c in window.composer.strip.findChildren(PendingChip) if c.isVisible()]
    # WHEN a wrong one is given, THEN it is asked again, saying so
    asked.setTextValue("wrong")
    asked.accept()
    qtbot.waitUntil(lambda: dialog() is not None and dialog() is not asked, timeout=10000)
    again = dialog()
    assert again is not None and "not right" in again.labelText()
    # WHEN the right one is given, THEN the document is attached and readable
    again.setTextValue("open sesame")
    again.accept()
    qtbot.waitUntil(lambda: len(window.composer.attachments()) == 1, timeout=10000)
    [document] = window.composer.attachments()
    assert isinstance(document, DocumentAttachment) and document.page_text(0) == "Confidential"
    assert window.notifier.shown == []


def test_cancelling_the_password_attaches_nothing_and_says_nothing(qtbot: Any, window: ChatWindow,
                                                                   tmp_path: Path) -> None:
    from PySide6.QtWidgets import QInputDialog

    from tests.support.documents import PageSpec, encrypt_pdf, make_pdf

    path = tmp_path / "locked.pdf"
    path.write_bytes(encrypt_pdf(make_pdf([PageSpec()]), "pw"))
    window.add_files([path], "file")
    qtbot.waitUntil(lambda: bool([d for d in window.findChildren(QInputDialog) if d.isVisible()]), timeout=10000)
    [asked] = [d for d in window.findChildren(QInputDialog) if d.isVisible()]
    asked.reject()
    qtbot.waitUntil(lambda: not [c for c in window.composer.strip.findChildren(PendingChip) if c.isVisible()],
                    timeout=10000)
    assert window.composer.attachments() == [] and window.notifier.shown == []


def test_a_document_chip_opens_its_page_picker_and_shows_the_choice(qtbot: Any, window: ChatWindow,
                                                                     tmp_path: Path) -> None:
    from PySide6.QtWidgets import QToolButton

    from desktop.ui.composer import AttachmentChip
    from desktop.ui.page_picker import PagePicker
    from tests.support.documents import make_pdf, text_pages

    path = tmp_path / "report.pdf"
    path.write_bytes(make_pdf(text_pages(3, lines_per_page=1)))
    window.add_files([path], "file")
    qtbot.waitUntil(lambda: len(window.composer.attachments()) == 1, timeout=10000)
    chip = window.composer.strip.findChild(AttachmentChip)
    assert chip is not None and chip.kind.text() == "PDF · 3/3 p."
    # WHEN its preview is clicked
    chip.findChild(QToolButton, "attachment_open").click()
    qtbot.waitUntil(lambda: any(p.isVisible() for p in window.findChildren(PagePicker)), timeout=10000)
    [picker] = [p for p in window.findChildren(PagePicker) if p.isVisible()]
    # and two pages are chosen
    picker.ranges.setText("1, 3")
    picker.ranges.editingFinished.emit()
    picker.accept()
    # THEN the chip shows the choice and its lower cost
    assert chip.kind.text() == "PDF · 2/3 p."
    assert window.composer.attachments()[0].pages == (0, 2)  # type: ignore[attr-defined]
