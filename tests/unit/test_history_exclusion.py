"""What the history writer tells its listeners, and conversations kept out of the history (*Don't save this
conversation*): real SQLite, the real writer thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from desktop.assistant.history import HistoryWriter, SessionRecorder
from desktop.assistant.session import ChatSession, MessageAdded, ReplyChanged, ReplyFinished
from desktop.chat.conversation import Conversation, Message, ReplyState, Role
from desktop.store import Origin


def start(writer: HistoryWriter) -> None:
    """Start the writer and wait until its thread has opened the store."""
    writer.start()
    deadline = time.monotonic() + 10
    while writer.store is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert writer.store is not None


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[HistoryWriter]:
    made = HistoryWriter(tmp_path, interval=0.02)
    yield made
    made.close()


class Recorded:
    """A session's events fed to a recorder by hand (the session's own reply machinery is not needed)."""

    def __init__(self, writer: HistoryWriter, origin: Origin = Origin.CHAT, *, save: bool = True) -> None:
        self.session = ChatSession(runner=None, start=None)  # type: ignore[arg-type]
        self.recorder = SessionRecorder(self.session, writer, origin, save=save)

    @property
    def conversation(self) -> Conversation:
        return self.session.conversation

    def exchange(self, question: str, answer: str) -> None:
        conversation = self.conversation
        asked = conversation.add_question(question, [])
        self.session._emit(MessageAdded(asked, conversation))  # noqa: SLF001 - driving the recorder directly
        reply = conversation.start_reply(asked, model="glm-4.6v", endpoint_id="e", thinking=False)
        self.session._emit(MessageAdded(reply, conversation))  # noqa: SLF001
        reply.state, reply.text = ReplyState.STREAMING, answer[: len(answer) // 2]
        self.session._emit(ReplyChanged(reply, conversation))  # noqa: SLF001
        reply.state, reply.text = ReplyState.COMPLETE, answer
        self.session._emit(ReplyFinished(reply, conversation))  # noqa: SLF001


def test_listeners_hear_the_open_and_each_write_that_changes_the_list(writer: HistoryWriter) -> None:
    heard: list[str] = []
    remove = writer.add_listener(lambda: heard.append(threading.current_thread().name))
    start(writer)
    assert writer.flush()
    assert heard == ["history-writer"]  # the store is open, on the writer's thread
    recorded = Recorded(writer)
    recorded.exchange("Hello", "Hi there")
    assert writer.flush()
    assert len(heard) >= 2
    count = len(heard)
    streaming = Message(Role.ASSISTANT, text="part", state=ReplyState.STREAMING)
    writer.reply_changed(streaming)  # a streaming update (of nothing stored) changes no list row
    assert writer.flush()
    assert len(heard) == count
    remove()
    writer.run(lambda store: store.rename(recorded.conversation.id, "Renamed"))
    assert writer.flush()
    assert len(heard) == count


def test_a_conversation_started_not_saved_never_reaches_the_store_until_included(writer: HistoryWriter) -> None:
    start(writer)
    recorded = Recorded(writer, Origin.QUICK_ASK, save=False)
    recorded.exchange("A private question", "A private answer")
    assert writer.flush() and writer.store is not None
    assert writer.store.count_conversations() == 0
    assert recorded.conversation.id in writer.excluded and recorded.conversation.id not in writer.saved
    writer.include(recorded.conversation)
    assert writer.flush()
    stored = writer.store.load_conversation(recorded.conversation.id)
    assert [m.text for m in stored.messages] == ["A private question", "A private answer"]
    assert writer.store.summary(recorded.conversation.id).origin is Origin.QUICK_ASK  # where it began
    recorded.exchange("More", "And more")  # included: written as it happens again
    assert writer.flush()
    assert len(writer.store.load_conversation(recorded.conversation.id).messages) == 4


def test_excluding_a_saved_conversation_deletes_it_and_stops_writing_it(writer: HistoryWriter) -> None:
    start(writer)
    recorded = Recorded(writer)
    recorded.exchange("Kept for now", "Yes")
    assert writer.flush() and writer.store is not None
    assert writer.store.count_conversations() == 1
    writer.exclude(recorded.conversation.id)
    recorded.exchange("After", "Not written")
    assert writer.flush()
    assert writer.store.count_conversations() == 0
    # a conversation reopened into the same session is its own: saved as usual
    recorded.session.replace_conversation(Conversation(title="Other", messages=[Message(Role.USER, text="Again")]))
    assert writer.flush()
    assert writer.store.count_conversations() == 1
