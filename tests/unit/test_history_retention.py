"""Retention, deletions from outside the app, and ids typed short, on a real SQLite history."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from desktop.assistant.history import HistoryWriter
from desktop.chat.conversation import Conversation, ReplyState
from desktop.cli import HERE
from desktop.commands import COMMANDS, Where
from desktop.store.history import HistoryStore

DAY = 86400.0


def saved(store: HistoryStore, title: str, *, pinned: bool = False) -> Conversation:
    conversation = Conversation(title=title)
    question = conversation.add_question(f"{title}?", [])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="team", thinking=False)
    reply.text, reply.state = f"About {title}.", ReplyState.COMPLETE
    store.save_conversation(conversation)
    if pinned:
        store.set_pinned(conversation.id, True)
    return conversation


def aged(data_dir: Path, days: float) -> HistoryStore:
    """The history as it was `days` ago (what is saved through it was last changed then)."""
    return HistoryStore.open(data_dir, clock=lambda: time.time() - days * DAY)


def titles(data_dir: Path) -> set[str]:
    with HistoryStore.open(data_dir) as store:
        return {s.title for s in store.list_conversations()}


def test_the_writer_prunes_what_retention_no_longer_keeps_when_it_opens_and_when_asked(tmp_path: Path) -> None:
    # GIVEN conversations last changed 100 and 45 days ago (one of them pinned), and today
    with aged(tmp_path, 100) as store:
        saved(store, "ancient")
        saved(store, "pinned", pinned=True)
    with aged(tmp_path, 45) as store:
        saved(store, "older")
    with HistoryStore.open(tmp_path) as store:
        saved(store, "new")
    retention: list[float | None] = [90.0]
    opened = threading.Event()
    writer = HistoryWriter(tmp_path, retention_days=lambda: retention[0], on_open=lambda _store, _ids: opened.set())
    # WHEN the writer opens the history with 90 days' retention
    writer.start()
    try:
        assert opened.wait(10)
        # THEN only the unpinned conversation older than that is gone
        assert titles(tmp_path) == {"pinned", "older", "new"}
        # and "forever" deletes nothing, 30 days the 45-day-old one (pinned ones stay)
        retention[0] = None
        writer.prune_old()
        assert writer.flush()
        assert titles(tmp_path) == {"pinned", "older", "new"}
        retention[0] = 30.0
        writer.prune_old()
        assert writer.flush()
        assert titles(tmp_path) == {"pinned", "new"}
    finally:
        writer.close()


def test_a_conversation_deleted_from_outside_is_not_retried_and_is_saved_anew_when_it_changes(
        tmp_path: Path) -> None:
    # GIVEN a conversation the app's writer saved
    writer = HistoryWriter(tmp_path)
    writer.start()
    try:
        conversation = Conversation(title="Quokka")
        question = conversation.add_question("Quokka?", [])
        writer.saved.add(conversation.id)
        writer.run(lambda store: store.save_conversation(conversation))
        assert writer.flush()
        # WHEN another process deletes it, and the app then adds to it
        with HistoryStore.open(tmp_path, repair=False) as other:
            assert other.delete_conversation(conversation.id)
        reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="team", thinking=False)
        writer.run(lambda store: store.add_message(conversation.id, reply))
        # THEN the writer is not stuck retrying it, and no longer counts it as saved
        assert writer.flush(5)
        assert conversation.id not in writer.saved
        assert titles(tmp_path) == set()
    finally:
        writer.close()


def test_ids_typed_short_find_their_conversation(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path) as store:
        for conversation_id in ("abcd", "abcdef", "abce"):
            store.save_conversation(Conversation(title=conversation_id, id=conversation_id))
        assert store.ids_starting_with("abcde") == ["abcdef"]
        assert store.ids_starting_with("abcd") == ["abcd", "abcdef"]  # the whole id first
        assert set(store.ids_starting_with("abc")) == {"abcd", "abcdef", "abce"}
        assert store.ids_starting_with("ab%") == [] and store.ids_starting_with("ab_d") == []


def test_every_command_carried_out_here_has_its_runner() -> None:
    assert set(HERE) == {c.name for c in COMMANDS if c.where is Where.HERE}
