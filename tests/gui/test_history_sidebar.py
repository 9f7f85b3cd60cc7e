"""The chat window's history: the sidebar by day, rename / pin / delete with undo, reopening and continuing
a conversation, search with the match highlighted, Ctrl+K, and *Don't save this conversation* — against a
real history file written by the real writer thread and the protocol-faithful server."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QLineEdit

from desktop.assistant.history import HistoryWriter, SessionRecorder
from desktop.assistant.services import AppPaths, Services
from desktop.assistant.session import ChatSession
from desktop.chat.conversation import Conversation, ImageAttachment, Message, ReplyState, Role
from desktop.config.profiles import Flavor, preset
from desktop.store import ConversationNotFound, HistoryStore, Origin
from desktop.ui.chat_window import ChatWindow
from desktop.ui.history_sidebar import HIT_ROLE, SNIPPET_ROLE, SUMMARY_ROLE, day_heading
from desktop.ui.message_widgets import ReplyWidget
from desktop.ui.notifier import Notifier
from desktop.ui.operations import reply_starter
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer
from tests.support.history_fixture import build_history

MIDNIGHT = datetime.combine(date.today(), datetime.min.time()).timestamp()
HOUR = 3600.0


def picture_bytes(colour: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (120, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def conversation(title: str, question: str, answer: str, *, at: float, picture: bytes | None = None,
                 turns: int = 1, cid: str | None = None) -> Conversation:
    """A conversation of `turns` questions and complete answers, the first question with `picture`."""
    made = Conversation(title=title, created=at, **({"id": cid} if cid else {}))
    for turn in range(turns):
        files = [ImageAttachment(name="shot.png", width=120, height=90, origin="screen", data=picture)] \
            if picture is not None and turn == 0 else []
        asked = made.add_question(question if turn == turns - 1 else f"{question} (part {turn})", files)
        asked.created = at + turn
        made.messages.append(Message(Role.ASSISTANT, text=answer if turn == turns - 1 else f"Earlier answer {turn}.",
                                     state=ReplyState.COMPLETE, model="glm-4.6v", endpoint_id="e", answers=asked.id,
                                     created=at + turn + 0.5, finish_reason="stop"))
    return made


@dataclass
class Seed:
    conversation: Conversation
    updated: float
    origin: Origin = Origin.CHAT
    pinned: bool = False


def seed(data_dir: Path, seeds: list[Seed]) -> None:
    """Write conversations as if they had last changed at the given times (before the writer opens the file)."""
    moment = [0.0]
    with HistoryStore.open(data_dir, clock=lambda: moment[0]) as store:
        for item in seeds:
            moment[0] = item.updated
            store.save_conversation(item.conversation, item.origin)
            if item.pinned:
                store.set_pinned(item.conversation.id, True)


class History:
    """The writer thread on the test's data folder, and chat windows recorded through it."""

    def __init__(self, qtbot: Any, app_paths: AppPaths, server: FakeOpenAIServer) -> None:
        self.qtbot = qtbot
        self.paths = app_paths
        self.server = server
        self.writer = HistoryWriter(app_paths.data, interval=0.05)
        self.windows: list[tuple[ChatWindow, Services]] = []

    def start(self) -> HistoryWriter:
        self.writer.start()
        self.qtbot.waitUntil(lambda: self.writer.store is not None, timeout=10000)
        return self.writer

    @property
    def store(self) -> HistoryStore:
        assert self.writer.store is not None
        return self.writer.store

    def written(self) -> HistoryStore:
        """The store once everything given to the writer so far is written."""
        assert self.writer.flush()
        return self.store

    def window(self, *, save_new: bool = True, sidebar: bool = True,
               clock: Callable[[], float] = time.time) -> ChatWindow:
        services = Services.create(self.paths)
        profile = services.profiles.upsert(preset(Flavor.VLLM, name="Test vLLM", base_url=self.server.base_url,
                                                  model="glm-4.6v"))
        services.profiles.set_active(profile.id, "glm-4.6v")
        services.settings.set("history.save_new", save_new)
        services.settings.set("ui.history_sidebar", sidebar)
        notifier = Notifier()

        def new_session() -> ChatSession:
            session = ChatSession(services.runner, reply_starter(notifier))
            SessionRecorder(session, self.writer, Origin.CHAT, save=bool(services.settings.get("history.save_new")))
            return session

        chat = ChatWindow(services, notifier, new_session=new_session, history=self.writer, clock=clock)
        chat.show()  # closed by `close`, after its background work (not by qtbot, which would delete it first)
        self.qtbot.waitExposed(chat)
        self.windows.append((chat, services))
        return chat

    def close(self) -> None:
        for chat, services in self.windows:
            # The window's own background reads (the keychain, the model list) end here, not during the next
            # test: two tests reading the keychain at once can make the keyring daemon dismiss its prompt.
            self.qtbot.waitUntil(lambda chat=chat: not chat._background, timeout=10000)  # noqa: SLF001
            chat.shutdown()
            self.qtbot.waitUntil(lambda chat=chat: not chat.busy, timeout=5000)
            chat.hide()
            chat.deleteLater()
            closing = asyncio.ensure_future(services.client.aclose())
            self.qtbot.waitUntil(closing.done, timeout=5000)
        self.writer.close()


@pytest.fixture
def history(qtbot: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, fake_server: FakeOpenAIServer,
            session_bus: object, x_display: object) -> Iterator[History]:
    made = History(qtbot, app_paths, fake_server)
    yield made
    made.close()


# -- helpers ---------------------------------------------------------------------------------------------
def listed(chat: ChatWindow) -> list[str]:
    """The conversation ids the sidebar lists, in order."""
    assert chat.sidebar is not None
    return [s.id for s in chat.sidebar.model.summaries]


def wait_listed(qtbot: Any, chat: ChatWindow, check: Callable[[list[str]], bool], timeout: int = 10000) -> None:
    qtbot.waitUntil(lambda: check(listed(chat)), timeout=timeout)


def row_rect(chat: ChatWindow, conversation_id: str) -> Any:
    assert chat.sidebar is not None
    index = chat.sidebar.model.index_of(conversation_id)
    assert index.isValid()
    chat.sidebar.list.scrollTo(index)
    return chat.sidebar.list.visualRect(index)


def click_row(qtbot: Any, chat: ChatWindow, conversation_id: str) -> None:
    assert chat.sidebar is not None
    qtbot.mouseClick(chat.sidebar.list.viewport(), Qt.MouseButton.LeftButton,
                     pos=row_rect(chat, conversation_id).center())


def select_row(qtbot: Any, chat: ChatWindow, conversation_id: str) -> None:
    assert chat.sidebar is not None
    chat.sidebar.list.setCurrentIndex(chat.sidebar.model.index_of(conversation_id))
    chat.sidebar.list.setFocus()


def ask(qtbot: Any, chat: ChatWindow, text: str) -> None:
    chat.composer.prompt.setPlainText(text)
    qtbot.keyClick(chat.composer.prompt, Qt.Key.Key_Return)


def wait_answered(qtbot: Any, chat: ChatWindow) -> None:
    qtbot.waitUntil(lambda: bool(chat.conversation.messages) and chat.conversation.messages[-1].is_final
                    and not chat.busy, timeout=15000)


def sent_images(body: dict[str, Any]) -> list[Image.Image]:
    out = []
    for message in body["messages"]:
        content = message["content"]
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image_url":
                out.append(Image.open(io.BytesIO(base64.b64decode(part["image_url"]["url"].split(",", 1)[1]))))
    return out


# -- the list --------------------------------------------------------------------------------------------
def test_the_list_is_grouped_by_day_with_pinned_first_thumbnails_and_quick_asks(qtbot: Any,
                                                                              history: History) -> None:
    # GIVEN conversations last changed today, yesterday, three days, forty days and four hundred days ago,
    # an old pinned one and a quick ask, the first with a picture
    now = MIDNIGHT + 15 * HOUR
    at = {"today-late": MIDNIGHT + 2 * HOUR, "today-early": MIDNIGHT + HOUR, "yesterday": MIDNIGHT - 4 * HOUR,
          "three-days": MIDNIGHT - 2 * 86400 - HOUR, "forty-days": MIDNIGHT - 40 * 86400 + HOUR,
          "long-ago": MIDNIGHT - 400 * 86400 + HOUR, "pinned": MIDNIGHT - 90 * 86400}
    seeds = [Seed(conversation(name, f"Question {name}", "An answer.", at=when - 10, cid=name,
                               picture=picture_bytes() if name == "today-late" else None), when)
             for name, when in at.items()]
    seeds[1].origin = Origin.QUICK_ASK
    seeds[-1].pinned = True
    seed(history.paths.data, seeds)
    history.start()
    # WHEN the chat window opens with its sidebar
    chat = history.window(clock=lambda: now)
    wait_listed(qtbot, chat, lambda ids: len(ids) == len(at))
    assert chat.sidebar is not None and chat.sidebar.isVisible() and chat.history_toggle.isChecked()
    # THEN pinned comes first, then the days, newest first, each under its heading
    assert listed(chat) == ["pinned", "today-late", "today-early", "yesterday", "three-days", "forty-days",
                            "long-ago"]
    today = date.fromtimestamp(now)
    headings = chat.sidebar.model.headings()
    assert headings[:3] == ["Pinned", "Today", "Yesterday"]
    assert headings[3:] == [day_heading(date.fromtimestamp(at[name]), today)
                            for name in ("three-days", "forty-days", "long-ago")]
    assert headings[3] == date.fromtimestamp(at["three-days"]).strftime("%A")  # a weekday within the week
    assert str(date.fromtimestamp(at["long-ago"]).year) in headings[5]  # an older year is written out
    # the quick ask is listed with its origin, and the first picture's thumbnail is decoded off the UI thread
    quick = chat.sidebar.model.index_of("today-early").data(SUMMARY_ROLE)
    assert quick.origin is Origin.QUICK_ASK
    with_picture = chat.sidebar.model.index_of("today-late").data(SUMMARY_ROLE)
    assert with_picture.thumbnail is not None and with_picture.model == "glm-4.6v"
    chat.sidebar.list.viewport().repaint()
    qtbot.waitUntil(lambda: chat.sidebar.thumbnails.get(with_picture.thumbnail, 1.0) is not None, timeout=5000)
    pixmap = chat.sidebar.thumbnails.get(with_picture.thumbnail, 1.0)
    assert pixmap is not None and pixmap.toImage().pixelColor(18, 18).red() == 200
    # closing the sidebar is remembered
    chat.history_toggle.click()
    assert not chat.sidebar.isVisible() and chat.services.settings.get("ui.history_sidebar") is False


def test_rename_pin_delete_and_undo_reach_the_store(qtbot: Any, history: History) -> None:
    seed(history.paths.data, [Seed(conversation(f"Talk {n}", f"Question {n}", "Answer.", at=MIDNIGHT - n * 86400,
                                                cid=f"c{n}", picture=picture_bytes() if n == 2 else None),
                                   MIDNIGHT - n * 86400 + 60) for n in range(1, 5)])
    history.start()
    chat = history.window()
    wait_listed(qtbot, chat, lambda ids: ids == ["c1", "c2", "c3", "c4"])
    sidebar = chat.sidebar
    assert sidebar is not None

    # Rename in place: F2, type, Enter
    select_row(qtbot, chat, "c3")
    qtbot.keyClick(sidebar.list, Qt.Key.Key_F2)
    editor = sidebar.list.findChild(QLineEdit, "history_rename_editor")
    assert editor is not None and editor.text() == "Talk 3"
    editor.setText("Renamed talk")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sidebar.model.index_of("c3").data() == "Renamed talk", timeout=1000)  # at once
    assert sidebar.list.state() is not sidebar.list.State.EditingState
    assert history.written().summary("c3").title == "Renamed talk"

    # Pin (Ctrl+P on the list): listed first at once, and in the store
    select_row(qtbot, chat, "c4")
    qtbot.keyClick(sidebar.list, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert listed(chat)[0] == "c4" and sidebar.model.headings()[0] == "Pinned"
    assert history.written().summary("c4").pinned
    wait_listed(qtbot, chat, lambda ids: ids[0] == "c4")  # and still after the reload the write caused

    # Delete with the context menu's action: gone at once, Undo offered, gone from the store with its picture
    blobs = history.paths.data / "attachments"
    pictures = list(blobs.rglob("*.png"))
    assert len(pictures) == 1
    select_row(qtbot, chat, "c2")
    sidebar.delete_action.trigger()
    assert "c2" not in listed(chat)
    assert sidebar.undo_banner.isVisible() and "Talk 2" in sidebar.undo_text.text()
    with pytest.raises(ConversationNotFound):
        history.written().summary("c2")
    assert not pictures[0].exists()
    wait_listed(qtbot, chat, lambda ids: ids == ["c4", "c1", "c3"])

    # Undo brings it back, same id, its picture and place
    qtbot.mouseClick(sidebar.undo_button, Qt.MouseButton.LeftButton)
    assert not sidebar.undo_banner.isVisible()
    assert listed(chat) == ["c4", "c1", "c2", "c3"]
    restored = history.written().load_conversation("c2")
    assert [m.text for m in restored.messages] == ["Question 2", "Answer."]
    assert restored.messages[0].attachments[0].original_bytes() == picture_bytes()
    wait_listed(qtbot, chat, lambda ids: ids == ["c4", "c1", "c2", "c3"])


def test_a_reopened_conversation_continues_with_its_picture(qtbot: Any, history: History,
                                                            fake_server: FakeOpenAIServer) -> None:
    seed(history.paths.data, [
        Seed(conversation("Red picture", "What colour is this?", "It is red.", at=MIDNIGHT, cid="red",
                          picture=picture_bytes()), MIDNIGHT + 60),
        Seed(conversation("Other", "Something else", "Fine.", at=MIDNIGHT + 100, cid="other"), MIDNIGHT + 200)])
    history.start()
    chat = history.window()
    wait_listed(qtbot, chat, lambda ids: set(ids) == {"red", "other"})
    # WHEN the conversation is clicked in the list
    click_row(qtbot, chat, "red")
    qtbot.waitUntil(lambda: chat.conversation.id == "red", timeout=10000)
    # THEN it is shown as it was, and marked current in the list
    assert [m.text for m in chat.conversation.messages] == ["What colour is this?", "It is red."]
    assert chat.sidebar is not None and chat.sidebar.list.currentIndex() == chat.sidebar.model.index_of("red")
    # AND continuing it sends the earlier picture again, and adds to the same stored conversation
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Still red."))
    ask(qtbot, chat, "And now?")
    wait_answered(qtbot, chat)
    body = fake_server.chat_requests[-1].body
    images = sent_images(body)
    assert len(images) == 1 and images[0].size == (120, 90)
    assert images[0].convert("RGB").getpixel((5, 5)) == (200, 30, 30)
    assert body["messages"][-1]["content"] in ("And now?", [{"type": "text", "text": "And now?"}])
    stored = history.written().load_conversation("red")
    assert [m.text for m in stored.messages] == ["What colour is this?", "It is red.", "And now?", "Still red."]
    assert history.store.count_conversations() == 2
    wait_listed(qtbot, chat, lambda ids: ids[0] == "red")  # the newest change first


def test_new_chat_keeps_the_old_conversation_in_the_list(qtbot: Any, history: History,
                                                         fake_server: FakeOpenAIServer) -> None:
    history.start()
    chat = history.window()
    assert chat.sidebar is not None
    qtbot.waitUntil(lambda: "No conversations yet" in chat.sidebar.placeholder.text(), timeout=5000)
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="First answer."))
    ask(qtbot, chat, "First question")
    wait_answered(qtbot, chat)
    first = chat.conversation.id
    wait_listed(qtbot, chat, lambda ids: ids == [first])
    assert chat.sidebar.list.currentIndex().data(SUMMARY_ROLE).id == first
    qtbot.mouseClick(chat.new_chat_button, Qt.MouseButton.LeftButton)
    assert chat.conversation.id != first and not chat.conversation.messages
    assert listed(chat) == [first] and not chat.sidebar.list.selectionModel().hasSelection()
    ask(qtbot, chat, "Second question")
    wait_answered(qtbot, chat)
    second = chat.conversation.id
    wait_listed(qtbot, chat, lambda ids: ids == [second, first])
    assert [s.title for s in chat.sidebar.model.summaries] == ["Second question", "First question"]
    # Deleting the conversation shown leaves it for a new one
    chat.sidebar.delete(second)
    assert chat.conversation.id not in (first, second)


def test_the_list_fetches_pages_as_it_scrolls(qtbot: Any, history: History) -> None:
    build_history(history.paths.data, conversations=150, messages_per_conversation=2)
    history.start()
    chat = history.window()
    sidebar = chat.sidebar
    assert sidebar is not None
    wait_listed(qtbot, chat, lambda ids: len(ids) > 0)
    assert len(listed(chat)) < 150  # one page first
    for _ in range(20):
        sidebar.list.scrollToBottom()
        qtbot.wait(30)
        if len(listed(chat)) == 150:
            break
    ids = listed(chat)
    assert len(ids) == 150 == len(set(ids))
    assert ids == [s.id for s in history.store.list_conversations(limit=200)]
    # a change written while the list is scrolled back up: the top is read again, the rest kept as loaded
    sidebar.list.scrollToTop()
    new = conversation("Brand new", "New question", "New answer.", at=time.time(), cid="brand-new")
    history.writer.run(lambda store: store.save_conversation(new))
    wait_listed(qtbot, chat, lambda ids: ids[:1] == ["brand-new"])
    ids = listed(chat)
    assert len(ids) == 151 == len(set(ids))
    assert ids == [s.id for s in history.store.list_conversations(limit=200)]


# -- search ----------------------------------------------------------------------------------------------
def test_search_highlights_matches_and_opens_the_conversation_at_the_message(qtbot: Any, history: History) -> None:
    # GIVEN long conversations, the matches deep inside them, in English and in Chinese
    filler = "\n\n".join(f"Paragraph {n} of an earlier, rather long answer about something else entirely." * 3
                         for n in range(6))
    seeds = [Seed(conversation(f"Conversation {n}", f"Question {n}", filler, at=MIDNIGHT + n * 100, cid=f"x{n}",
                               turns=4), MIDNIGHT + n * 100 + 50) for n in range(6)]
    target = conversation("Certificates", "Why is the certificate not trusted?", filler, at=MIDNIGHT - 5000,
                          cid="cert", turns=4)
    target.messages[2].text = "Second question about the dialog"
    target.messages[3].text = filler + "\n\nThe certificate expired last week; renew it."
    target.messages[4].text = "Thanks. And the other warning?"
    target.messages[6].text = "One more thing about the proxy"
    chinese = conversation("索引问题", "索引为什么没有生效", filler, at=MIDNIGHT - 9000, cid="zh", turns=3)
    chinese.messages[3].text = filler + "\n\n因为查询条件里对索引列用了函数，数据库无法使用索引。"
    seeds += [Seed(target, MIDNIGHT - 4000), Seed(chinese, MIDNIGHT - 8000)]
    seed(history.paths.data, seeds)
    history.start()
    chat = history.window()
    sidebar = chat.sidebar
    assert sidebar is not None
    wait_listed(qtbot, chat, lambda ids: len(ids) == 8)

    # WHEN a word is typed
    qtbot.keyClicks(sidebar.search, "certificate")
    qtbot.waitUntil(lambda: not sidebar.searching and sidebar.showing_results, timeout=5000)
    hits = [sidebar.results_model.index(n) for n in range(sidebar.results_model.rowCount())]
    # THEN the conversation is listed once, at its newest match, highlighted
    assert [index.data(HIT_ROLE).conversation_id for index in hits] == ["cert"]
    answer_hit = hits[0]
    assert answer_hit.data(HIT_ROLE).message_id == target.messages[3].id
    assert sidebar.results_count.text() == "1 conversation"
    assert '<span style="background-color:#fde293; font-weight:600;">certificate</span>' in answer_hit.data(
        SNIPPET_ROLE)
    # WHEN the hit in the last answer is opened
    qtbot.mouseClick(sidebar.results.viewport(), Qt.MouseButton.LeftButton,
                     pos=sidebar.results.visualRect(answer_hit).center())
    qtbot.waitUntil(lambda: chat.conversation.id == "cert", timeout=10000)
    # THEN the conversation is shown at that message, flashed
    widget = chat.view.widget_for(chat.conversation.messages[3])
    assert isinstance(widget, ReplyWidget)
    assert chat.view.flashing is widget
    qtbot.wait(700)  # the layout settles
    top = widget.mapTo(chat.view.viewport(), QPoint(0, 0)).y()
    assert 0 <= top < chat.view.viewport().height() // 2
    assert chat.view.verticalScrollBar().value() > 0  # not at the top: the match is deep in

    # Chinese is found inside a sentence
    sidebar.search.clear()
    assert sidebar.stack.currentWidget() is sidebar.list
    sidebar.search.insert("数据库")  # typed through an input method (QTest types ASCII only)
    qtbot.waitUntil(lambda: not sidebar.searching and sidebar.showing_results, timeout=5000)
    found = [sidebar.results_model.index(n).data(HIT_ROLE) for n in range(sidebar.results_model.rowCount())]
    assert [(h.conversation_id, h.message_id) for h in found] == [("zh", chinese.messages[3].id)]
    assert any(text == "数据库" and match for h in found for text, match in h.parts())
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Return)  # Enter opens the first hit
    qtbot.waitUntil(lambda: chat.conversation.id == "zh", timeout=10000)
    assert chat.view.flashing is chat.view.widget_for(chinese.messages[3])

    # a query with no match says so
    sidebar.search.setText("zebra crossing")
    qtbot.waitUntil(lambda: not sidebar.searching and sidebar.stack.currentWidget() is sidebar.placeholder,
                    timeout=5000)
    assert "zebra crossing" in sidebar.placeholder.text()


def test_ctrl_k_opens_the_history_search_and_esc_clears_it(qtbot: Any, history: History) -> None:
    history.start()
    chat = history.window(sidebar=False)
    sidebar = chat.sidebar
    assert sidebar is not None and not sidebar.isVisible()
    chat.activateWindow()
    chat.composer.prompt.setFocus()
    chat.composer.prompt.setPlainText("half a question")
    qtbot.keyClick(chat.composer.prompt, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier)
    assert sidebar.isVisible() and chat.services.settings.get("ui.history_sidebar") is True
    qtbot.waitUntil(sidebar.search.hasFocus, timeout=3000)
    assert chat.composer.text() == "half a question"  # Ctrl+K did not edit the composer
    qtbot.keyClicks(sidebar.search, "report")
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Escape)
    assert sidebar.search.text() == "" and chat.isVisible()  # Esc cleared the search, the window stays
    qtbot.keyClick(sidebar.search, Qt.Key.Key_Escape)
    assert chat.isVisible()
    qtbot.waitUntil(chat.composer.prompt.hasFocus, timeout=3000)  # and again: back to the question


# -- Don't save this conversation ---------------------------------------------------------------------------
def test_a_conversation_not_saved_is_never_written_until_it_is_switched_on(qtbot: Any, history: History,
                                                                          fake_server: FakeOpenAIServer) -> None:
    history.start()
    chat = history.window(save_new=False)  # history.save_new off: new conversations start not saved
    assert not chat.saving and chat.not_saved_badge.isVisible() and chat.dont_save_action.isChecked()
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Private answer."))
    ask(qtbot, chat, "A private question")
    wait_answered(qtbot, chat)
    assert history.written().count_conversations() == 0
    assert not (history.paths.data / "history.sqlite3").read_bytes().count(b"private question")
    # Switching it on saves the whole conversation
    qtbot.mouseClick(chat.not_saved_badge, Qt.MouseButton.LeftButton)
    assert chat.saving and not chat.not_saved_badge.isVisible() and not chat.dont_save_action.isChecked()
    stored = history.written().load_conversation(chat.conversation.id)
    assert [m.text for m in stored.messages] == ["A private question", "Private answer."]
    assert stored.messages[1].state is ReplyState.COMPLETE
    wait_listed(qtbot, chat, lambda ids: ids == [chat.conversation.id])
    # New chat: the setting applies again
    chat.new_chat()
    assert not chat.saving and chat.not_saved_badge.isVisible()


def test_switching_saving_off_deletes_the_conversation_and_stops_writing_it(qtbot: Any, history: History,
                                                                           fake_server: FakeOpenAIServer) -> None:
    history.start()
    chat = history.window()
    assert chat.saving and not chat.not_saved_badge.isVisible()
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Kept answer."))
    ask(qtbot, chat, "A kept question")
    wait_answered(qtbot, chat)
    cid = chat.conversation.id
    assert history.written().count_conversations() == 1
    wait_listed(qtbot, chat, lambda ids: ids == [cid])
    # WHEN "Don't save this conversation" is chosen in the ⋯ menu
    chat.dont_save_action.trigger()
    # THEN it is deleted from the history and the list, and "Not saved" shows
    assert not chat.saving and chat.not_saved_badge.isVisible()
    assert history.written().count_conversations() == 0
    wait_listed(qtbot, chat, lambda ids: ids == [])
    # AND what follows is not written either
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Not kept."))
    ask(qtbot, chat, "Another question")
    wait_answered(qtbot, chat)
    assert history.written().count_conversations() == 0
    assert [m.text for m in chat.conversation.messages][-2:] == ["Another question", "Not kept."]


def test_the_quick_ask_popup_offers_dont_save_and_the_chat_window_keeps_it(qtbot: Any, history: History,
                                                                          fake_server: FakeOpenAIServer) -> None:
    from desktop.ui.quick_ask import QuickAskPopup

    history.start()
    chat = history.window()
    services, notifier = chat.services, chat.notifier

    def new_session() -> ChatSession:
        session = ChatSession(services.runner, reply_starter(notifier))
        SessionRecorder(session, history.writer, Origin.QUICK_ASK)
        return session

    popup = QuickAskPopup(services, notifier, new_session=new_session, history=history.writer)
    qtbot.addWidget(popup)
    popup.show_for(None, None)
    assert popup.dont_save_button.isVisible() and not popup.dont_save_button.isChecked()
    qtbot.mouseClick(popup.dont_save_button, Qt.MouseButton.LeftButton)
    assert popup.dont_save_button.isChecked() and popup.dont_save_button.text() == "Not saved"
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Quick private answer."))
    popup.question.setText("A quick private question")
    popup.ask()
    qtbot.waitUntil(lambda: len(popup.conversation.messages) == 2 and not popup.busy, timeout=15000)
    assert history.written().count_conversations() == 0
    # Open in chat: the chat window shows it as not saved
    chat.adopt_session(popup.hand_over())
    assert chat.conversation.messages[0].text == "A quick private question"
    assert not chat.saving and chat.not_saved_badge.isVisible()
    assert not popup.dont_save_button.isChecked()  # the popup's next conversation is saved as usual
    popup.shutdown()


def test_opening_a_conversation_while_a_reply_streams_keeps_that_reply(qtbot: Any, history: History,
                                                                      fake_server: FakeOpenAIServer) -> None:
    seed(history.paths.data, [Seed(conversation("Older", "An older question", "Its answer.", at=MIDNIGHT,
                                                cid="older"), MIDNIGHT + 60)])
    history.start()
    chat = history.window()
    wait_listed(qtbot, chat, lambda ids: ids == ["older"])
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content=" ".join(f"w{i}" for i in range(400)),
                                             tokens_per_second=50))
    ask(qtbot, chat, "A long answer please")
    streaming = chat.conversation
    qtbot.waitUntil(lambda: len(streaming.messages[-1].text) > 10, timeout=10000)
    wait_listed(qtbot, chat, lambda ids: ids == [streaming.id, "older"])
    # WHEN another conversation is opened while the answer streams
    click_row(qtbot, chat, "older")
    qtbot.waitUntil(lambda: chat.conversation.id == "older", timeout=10000)
    # THEN it opens in a new session; the reply shown before is stopped, what arrived kept in the history
    assert not chat.busy
    qtbot.waitUntil(lambda: streaming.messages[-1].state is ReplyState.STOPPED, timeout=5000)
    kept = history.written().load_conversation(streaming.id)
    assert kept.messages[-1].state is ReplyState.STOPPED and kept.messages[-1].text == streaming.messages[-1].text
    assert kept.messages[-1].text.startswith("w0 w1")


def test_a_reopened_conversation_renders_its_document_again_and_survives_a_lost_file(
        qtbot: Any, history: History, fake_server: FakeOpenAIServer, expect_log: Callable[[str], None]) -> None:
    from desktop.chat.attachments import DocumentAttachment, PageMode
    from desktop.ui.message_widgets import QuestionWidget
    from tests.support.documents import PageSpec, make_pdf

    # GIVEN two saved conversations about PDFs, pages 2-3 chosen as pictures and text
    for cid in ("kept", "lost"):
        document = DocumentAttachment.from_pdf(make_pdf([PageSpec(lines=(f"{cid} page {n}",)) for n in (1, 2, 3)]),
                                               f"{cid}.pdf", "file")
        document.choose((1, 2), PageMode.BOTH)
        made = Conversation(title=cid, created=MIDNIGHT, id=cid)
        asked = made.add_question("Summarise", [document])
        made.messages.append(Message(Role.ASSISTANT, text="Done.", state=ReplyState.COMPLETE, model="glm-4.6v",
                                     answers=asked.id, finish_reason="stop"))
        seed(history.paths.data, [Seed(made, MIDNIGHT + 60)])
    # and the PDF file of one of them removed from the history folder by hand
    expect_log(r"desktop\.store\.history: Attachment file of 'lost\.pdf' is missing")
    lost_bytes = DocumentAttachment.from_pdf(make_pdf([PageSpec(lines=(f"lost page {n}",)) for n in (1, 2, 3)]),
                                             "x.pdf", "f").original_bytes()
    for path in (history.paths.data / "attachments").rglob("*.pdf"):
        if path.read_bytes() == lost_bytes:
            path.unlink()
    history.start()
    chat = history.window()
    wait_listed(qtbot, chat, lambda ids: set(ids) == {"kept", "lost"})
    # WHEN the intact one is reopened and continued
    click_row(qtbot, chat, "kept")
    qtbot.waitUntil(lambda: chat.conversation.id == "kept", timeout=10000)
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="", content="Yes."))
    ask(qtbot, chat, "Anything else?")
    wait_answered(qtbot, chat)
    # THEN its pages are rendered again from the kept PDF, with their text, as chosen
    first = fake_server.chat_requests[-1].body["messages"][0]["content"]
    assert len(sent_images(fake_server.chat_requests[-1].body)) == 2
    texts = " ".join(p["text"] for p in first if p["type"] == "text")
    assert "kept page 2" in texts and "kept page 3" in texts and "kept page 1" not in texts
    # WHEN the one whose file is gone is opened, THEN it opens, its question shown with a placeholder
    click_row(qtbot, chat, "lost")
    qtbot.waitUntil(lambda: chat.conversation.id == "lost", timeout=10000)
    assert [m.text for m in chat.conversation.messages] == ["Summarise", "Done."]
    chat.view.flush()
    assert chat.findChildren(QuestionWidget)
