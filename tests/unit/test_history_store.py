"""HistoryStore on real SQLite files: round trips, streaming writes, search, export, damage, a full disk."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from desktop.chat.conversation import (
    Attachment,
    Conversation,
    ErrorInfo,
    GroundingBox,
    ImageAttachment,
    Message,
    ReplyState,
    Role,
)
from desktop.store import (
    MATCH_END,
    MATCH_START,
    ConversationNotFound,
    HistoryDamaged,
    HistoryFromNewerVersion,
    HistoryFull,
    HistoryReadFailed,
    HistoryStore,
    HistoryUnavailable,
    NotAnExport,
    Origin,
    schema,
)
from tests.support import desktop_env
from tests.support.history_fixture import (
    SCHEMA_FIXTURES,
    build_history,
    fixture_conversations,
    fixture_picture,
)

ROOT = Path(__file__).resolve().parents[2]


# -- helpers ---------------------------------------------------------------------------------------------
class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> Image.Image:
    return Image.new("RGB", size, colour)


def jpeg_bytes(colour: tuple[int, int, int]) -> bytes:
    import io

    out = io.BytesIO()
    picture(colour, (40, 30)).save(out, "JPEG", quality=90)
    return out.getvalue()


def snapshot(conversation: Conversation) -> Any:
    """Everything a conversation holds, as plain values (attachments by their bytes)."""
    return (conversation.id, conversation.title, conversation.created, [
        (m.id, m.role, m.text, m.reasoning, m.state, m.error, m.model, m.endpoint_id, m.thinking, m.finish_reason,
         m.prompt_tokens, m.completion_tokens, m.created, m.sent_image_sizes, m.boxes, m.answers, m.replaces,
         [(a.id, a.name, a.width, a.height, a.origin, a.original_bytes()) for a in m.attachments])
        for m in conversation.messages])


def blob_files(data: Path) -> list[Path]:
    return sorted(p for p in (data / "attachments").rglob("*") if p.is_file())


@contextlib.contextmanager
def raw(data: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection to the history file, to look at what is stored (closed after)."""
    db = sqlite3.connect(data / "history.sqlite3", isolation_level=None)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[HistoryStore]:
    with HistoryStore.open(tmp_path / "data", clock=clock) as opened:
        yield opened


def ask(conversation: Conversation, text: str, attachments: list[Attachment] | None = None,
        answer: str = "", state: ReplyState = ReplyState.COMPLETE) -> tuple[Message, Message]:
    question = conversation.add_question(text, attachments or [])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="zai", thinking=True)
    reply.text, reply.state = answer, state
    return question, reply


# -- round trips -------------------------------------------------------------------------------------------
def test_conversation_with_two_pictures_comes_back_exactly_and_one_picture_is_one_file(
        store: HistoryStore, tmp_path: Path) -> None:
    # GIVEN a question with a screen capture (pixels only), a JPEG file, and the capture again
    capture = ImageAttachment.from_pixels(picture((200, 20, 20)), "Screen 1.png", "screen")
    photo = ImageAttachment.from_bytes(jpeg_bytes((20, 120, 200)), "photo.jpg", "file")
    again = ImageAttachment(name="copy.png", width=32, height=24, origin="clipboard", data=capture.original_bytes())
    conversation = Conversation()
    question, reply = ask(conversation, "What is on these pictures?\nSecond line", [capture, photo, again])
    reply.text, reply.reasoning = "A red block and a blue one.", "Two pictures, one repeated."
    reply.boxes = [GroundingBox(1.5, 2.25, 500.0, 999.125, 32, 24), GroundingBox(0, 0, 10, 10)]
    reply.error = ErrorInfo("Partial", "hint", "detail", retryable=False)
    reply.finish_reason, reply.prompt_tokens, reply.completion_tokens = "stop", 1234, 56
    reply.sent_image_sizes = [(32, 24), (40, 30), (32, 24)]
    reply.thinking = None

    # WHEN it is saved and read back
    store.save_conversation(conversation, Origin.QUICK_ASK)
    loaded = store.load_conversation(conversation.id)

    # THEN every field is as saved, and the repeated picture is stored once
    assert snapshot(loaded) == snapshot(conversation)
    assert loaded.messages[0].attachments[0].image().size == (32, 24)
    assert len(blob_files(tmp_path / "data")) == 2
    [summary] = store.list_conversations()
    assert (summary.id, summary.origin, summary.message_count, summary.model) == (
        conversation.id, Origin.QUICK_ASK, 2, "glm-4.6v")
    assert summary.thumbnail is not None and summary.thumbnail.attachment_id == capture.id
    assert summary.thumbnail.path.read_bytes() == capture.original_bytes()
    assert summary.thumbnail.mime == "image/png"


def test_add_message_appends_and_a_retried_add_is_harmless(store: HistoryStore) -> None:
    conversation = Conversation()
    question, reply = ask(conversation, "First question", answer="First answer")
    store.save_conversation(conversation)
    second = conversation.add_question("Second question", [ImageAttachment.from_pixels(picture((1, 2, 3)), "a.png",
                                                                                  "screen")])
    store.add_message(conversation.id, second)
    store.add_message(conversation.id, second)  # e.g. retried after a full disk
    assert snapshot(store.load_conversation(conversation.id)) == snapshot(conversation)
    with pytest.raises(ConversationNotFound):
        store.add_message("no-such-conversation", Message(Role.USER, text="x"))


def test_retry_attempts_are_linked_to_their_question(store: HistoryStore) -> None:
    # GIVEN a question whose first attempt failed and whose retry completed, then a follow-up
    conversation = Conversation()
    question, first = ask(conversation, "Why does the build fail?", state=ReplyState.FAILED)
    first.error = ErrorInfo("The server is busy.", "Retry.")
    store.save_conversation(conversation)
    retry = conversation.start_reply(question, model="glm-4.6v", endpoint_id="zai", thinking=False)
    store.add_message(conversation.id, retry)
    retry.text, retry.state = "A missing header.", ReplyState.COMPLETE
    assert store.update_reply(retry)
    follow, follow_reply = ask(conversation, "Which header?", answer="stdio.h")
    store.add_message(conversation.id, follow)
    store.add_message(conversation.id, follow_reply)

    # WHEN it is read back
    loaded = store.load_conversation(conversation.id)

    # THEN both attempts answer the first question, the latest one counts as context
    q = loaded.messages[0]
    assert [m.id for m in loaded.attempts(q)] == [first.id, retry.id]
    assert [m.text for m in loaded.context_for(loaded.messages[-1])] == [
        "Why does the build fail?", "A missing header.", "Which header?"]
    with raw(store.path.parent) as db:
        assert db.execute("SELECT count(*) FROM messages WHERE answers_id = ?", (question.id,)).fetchone()[0] == 2


def test_save_conversation_mirrors_the_conversation_including_removed_messages(store: HistoryStore,
                                                                                 tmp_path: Path) -> None:
    conversation = Conversation()
    ask(conversation, "Keep me", answer="kept")
    dropped, dropped_reply = ask(conversation, "Drop me", [ImageAttachment.from_pixels(picture((9, 9, 9)), "d.png",
                                                                                 "screen")], answer="gone")
    store.save_conversation(conversation)
    assert len(blob_files(tmp_path / "data")) == 1
    conversation.messages.remove(dropped)
    conversation.messages.remove(dropped_reply)
    conversation.title = "Renamed by the session"
    store.save_conversation(conversation)
    assert snapshot(store.load_conversation(conversation.id)) == snapshot(conversation)
    assert blob_files(tmp_path / "data") == []


# -- streaming ---------------------------------------------------------------------------------------------
def test_streaming_reply_updated_100_times_then_reloaded(store: HistoryStore, tmp_path: Path) -> None:
    # GIVEN a reply added while waiting
    conversation = Conversation()
    question, reply = ask(conversation, "Write a long answer", state=ReplyState.WAITING)
    store.save_conversation(conversation)

    # WHEN it streams, saved 100 times
    for i in range(100):
        reply.state = ReplyState.STREAMING
        reply.reasoning += f"thought {i}. "
        reply.text += f"word{i} 词{i} "
        if i == 50:
            reply.boxes = [GroundingBox(10, 20, 30, 40, 100, 80)]
            reply.sent_image_sizes = [(100, 80)]
        assert store.update_reply(reply)
        if i == 60:
            # THEN a reader (another store on the same files, like the CLI) sees everything so far
            with HistoryStore.open(tmp_path / "data") as other:
                seen = other.load_conversation(conversation.id).messages[1]
                assert (seen.text, seen.reasoning, seen.state) == (reply.text, reply.reasoning, ReplyState.STREAMING)
                assert seen.boxes == reply.boxes
            # and a reply still streaming is not in the search index yet, nor found by LIKE
            assert not store.search("word55") and not store.search("词5")

    # the growth was appended, not rewritten
    with raw(tmp_path / "data") as db:
        assert db.execute("SELECT count(*) FROM reply_tail").fetchone()[0] == 100

    reply.state, reply.finish_reason, reply.prompt_tokens, reply.completion_tokens = ReplyState.COMPLETE, "stop", 9, 400
    assert store.update_reply(reply)

    # THEN the final reply is one row, searchable, exactly as in memory
    with raw(tmp_path / "data") as db:
        assert db.execute("SELECT count(*) FROM reply_tail").fetchone()[0] == 0
    assert snapshot(store.load_conversation(conversation.id)) == snapshot(conversation)
    [hit] = store.search("word55")
    assert hit.message_id == reply.id


def test_a_reply_restarted_in_place_is_rewritten(store: HistoryStore) -> None:
    conversation = Conversation()
    _question, reply = ask(conversation, "Q", state=ReplyState.STREAMING, answer="first try")
    store.save_conversation(conversation)
    reply.text = "other"  # not a continuation of what was stored
    assert store.update_reply(reply)
    reply.text += " text"
    assert store.update_reply(reply)
    assert store.load_conversation(conversation.id).messages[1].text == "other text"


def test_update_reply_of_a_deleted_conversation_writes_nothing(store: HistoryStore) -> None:
    conversation = Conversation()
    _question, reply = ask(conversation, "Q", state=ReplyState.STREAMING, answer="so far")
    store.save_conversation(conversation)
    store.delete_conversation(conversation.id)
    reply.text += " and more"
    assert not store.update_reply(reply)
    reply.state = ReplyState.COMPLETE
    assert not store.update_reply(reply)
    assert store.count_conversations() == 0


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from PIL import Image
from desktop.chat.conversation import Attachment, ImageAttachment, Conversation, ReplyState
from desktop.store import HistoryStore

store = HistoryStore.open(Path(sys.argv[1]))
conversation = Conversation(id="streaming")
question = conversation.add_question("Explain the picture", [ImageAttachment.from_pixels(
    Image.new("RGB", (16, 16), (1, 2, 3)), "shot.png", "screen")])
reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id="zai", thinking=True)
store.save_conversation(conversation)
for i in range(20):
    reply.state = ReplyState.STREAMING
    reply.text += f"part {i} "
    store.update_reply(reply)
waiting = Conversation(id="waiting")
reply2 = waiting.start_reply(waiting.add_question("Nothing arrived", []), model="m", endpoint_id="e", thinking=False)
store.save_conversation(waiting)
print("written", flush=True)
time.sleep(60)
"""


def test_a_killed_app_leaves_its_replies_interrupted_with_what_had_arrived(tmp_path: Path) -> None:
    # GIVEN an app killed (SIGKILL) in the middle of a streaming reply
    data = tmp_path / "data"
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(data)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "written"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    assert (data / "history.sqlite3-wal").exists()  # it did not get to close

    # WHEN the next start opens the history and marks unfinished replies
    with HistoryStore.open(data) as store:
        assert store.recovered_from is None
        touched = store.mark_unfinished_interrupted()

        # THEN the partial answer is kept, marked interrupted; a reply that got nothing is failed
        assert sorted(touched) == ["streaming", "waiting"]
        streaming = store.load_conversation("streaming")
        assert streaming.messages[0].attachments[0].image().size == (16, 16)
        reply = streaming.messages[1]
        assert reply.text == "".join(f"part {i} " for i in range(20))
        assert reply.state is ReplyState.INTERRUPTED
        assert reply.error is not None and reply.error.retryable
        assert store.load_conversation("waiting").messages[1].state is ReplyState.FAILED
        assert store.search("part 19")
        assert store.mark_unfinished_interrupted() == []


# -- deleting, pinning, pruning, drafts --------------------------------------------------------------------
def test_deleting_removes_a_file_only_with_the_last_conversation_using_it(store: HistoryStore,
                                                                           tmp_path: Path) -> None:
    shared = ImageAttachment.from_pixels(picture((5, 5, 5)), "shared.png", "screen")
    own = ImageAttachment.from_pixels(picture((6, 6, 6)), "own.png", "screen")
    first, second = Conversation(), Conversation()
    ask(first, "one", [shared, own], answer="a")
    copy = ImageAttachment(name="s.png", width=32, height=24, origin="file", data=shared.original_bytes())
    ask(second, "two", [copy], answer="b")
    store.save_conversation(first)
    store.save_conversation(second)
    assert len(blob_files(tmp_path / "data")) == 2

    assert store.delete_conversation(first.id)
    [left] = blob_files(tmp_path / "data")
    assert left.read_bytes() == shared.original_bytes()
    assert not store.delete_conversation(first.id)
    with pytest.raises(ConversationNotFound):
        store.load_conversation(first.id)

    store.delete_conversation(second.id)
    assert blob_files(tmp_path / "data") == []
    with raw(tmp_path / "data") as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM messages_fts WHERE messages_fts MATCH 'one'").fetchone()[0] == 0


def test_pin_and_rename_and_the_order_of_the_list(store: HistoryStore, clock: Clock) -> None:
    conversations = []
    for i in range(3):
        clock.now += 60
        conversation = Conversation()
        ask(conversation, f"question {i}", answer=f"answer {i}")
        store.save_conversation(conversation)
        conversations.append(conversation)
    assert [s.id for s in store.list_conversations()] == [c.id for c in reversed(conversations)]

    store.set_pinned(conversations[0].id, True)
    store.rename(conversations[1].id, "Quarterly report 季度报告")
    listed = store.list_conversations()
    assert [s.id for s in listed] == [conversations[0].id, conversations[2].id, conversations[1].id]
    assert listed[0].pinned and not listed[1].pinned
    assert listed[2].title == "Quarterly report 季度报告"
    assert [s.id for s in store.list_conversations(limit=1, offset=1)] == [conversations[2].id]
    assert store.count_conversations() == 3
    assert [h.conversation_id for h in store.search("季度报告")] == [conversations[1].id]
    assert store.search("Quarterly")[0].message_id is None  # a title hit
    with pytest.raises(ConversationNotFound):
        store.rename("nope", "x")
    with pytest.raises(ConversationNotFound):
        store.set_pinned("nope", True)


def test_prune_deletes_old_conversations_but_not_pinned_ones(store: HistoryStore, clock: Clock,
                                                              tmp_path: Path) -> None:
    old, old_pinned, recent = Conversation(), Conversation(), Conversation()
    ask(old, "old", [ImageAttachment.from_pixels(picture((7, 7, 7)), "old.png", "screen")], answer="x")
    ask(old_pinned, "old but pinned", answer="y")
    store.save_conversation(old)
    store.save_conversation(old_pinned)
    store.set_pinned(old_pinned.id, True)
    clock.now += 40 * 86400
    ask(recent, "recent", answer="z")
    store.save_conversation(recent)

    assert store.prune(older_than_days=30) == 1
    assert {s.id for s in store.list_conversations()} == {old_pinned.id, recent.id}
    assert blob_files(tmp_path / "data") == []
    assert store.prune(older_than_days=30) == 0


def test_delete_all_leaves_no_text_in_the_file(store: HistoryStore, tmp_path: Path) -> None:
    for i in range(20):
        conversation = Conversation()
        ask(conversation, f"secret-question-{i}", [ImageAttachment.from_pixels(picture((i, 1, 1)), "p.png", "screen")],
            answer="secret-answer " * 50)
        store.save_conversation(conversation)
    store.save_draft("chat", "my draft", [])
    assert store.delete_all() == 20
    assert store.list_conversations() == [] and blob_files(tmp_path / "data") == []
    assert store.load_draft("chat") is not None
    for path in (tmp_path / "data").glob("history.sqlite3*"):
        assert b"secret-answer" not in path.read_bytes(), path.name


def test_drafts_keep_text_and_attachments_and_their_files(store: HistoryStore, tmp_path: Path) -> None:
    shot = ImageAttachment.from_pixels(picture((8, 8, 8)), "draft.png", "screen")
    store.save_draft("quick_ask", "half a question", [shot])
    draft = store.load_draft("quick_ask")
    assert draft is not None and draft.text == "half a question"
    [attachment] = draft.attachments
    assert (attachment.id, attachment.name, attachment.original_bytes()) == (shot.id, "draft.png",
                                                                          shot.original_bytes())
    assert store.load_draft("chat") is None

    # the same picture sent in a conversation that is then deleted: the draft still holds the file
    conversation = Conversation()
    ask(conversation, "sent", [shot], answer="ok")
    store.save_conversation(conversation)
    store.delete_conversation(conversation.id)
    assert len(blob_files(tmp_path / "data")) == 1

    store.save_draft("quick_ask", "only text now", [])
    draft = store.load_draft("quick_ask")
    assert draft is not None and (draft.text, draft.attachments) == ("only text now", [])
    assert blob_files(tmp_path / "data") == []
    store.save_draft("quick_ask", "", [])
    assert store.load_draft("quick_ask") is None


def test_collect_garbage_removes_files_no_row_names(store: HistoryStore, tmp_path: Path) -> None:
    conversation = Conversation()
    ask(conversation, "keep", [ImageAttachment.from_pixels(picture((3, 3, 3)), "k.png", "screen")], answer="x")
    store.save_conversation(conversation)
    stray = tmp_path / "data" / "attachments" / "ab" / ("ab" + "0" * 62 + ".png")
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"left by a crash")
    (stray.parent / ".incoming-x1").write_bytes(b"half")
    assert store.collect_garbage() == 2
    assert len(blob_files(tmp_path / "data")) == 1
    assert store.load_conversation(conversation.id).messages[0].attachments[0].image().size == (32, 24)


# -- search ------------------------------------------------------------------------------------------------
@pytest.fixture
def searchable(store: HistoryStore, clock: Clock) -> dict[str, Conversation]:
    made = {}
    for key, question, answer in [
        ("cert", "Why is the certificate not trusted?", "The certificate chain is missing an intermediate."),
        ("qt", "Qt or GTK for a tray app?", "Qt has QSystemTrayIcon; GTK needs an extension."),
        ("zh", "这个错误是什么意思？", "这是一个网络超时错误，请检查代理设置。"),
        ("mixed", "把表格转换成 CSV", "Here is the CSV 文件: name,price"),
        ("syntax", 'What does "AND" mean in a query (a OR b)?', "It joins terms: both must match*. Don't "
                   "worry about C:\\Users\\me."),
    ]:
        clock.now += 10
        conversation = Conversation()
        ask(conversation, question, answer=answer)
        store.save_conversation(conversation)
        made[key] = conversation
    return made


def test_search_finds_english_words_and_parts_of_words(store: HistoryStore,
                                                        searchable: dict[str, Conversation]) -> None:
    hits = store.search("certificate")
    assert {h.conversation_id for h in hits} == {searchable["cert"].id}
    assert [h.role for h in hits] == [Role.ASSISTANT, Role.USER]  # newest first
    assert hits[0].snippet == f"The {MATCH_START}certificate{MATCH_END} chain is missing an intermediate."
    assert hits[0].parts() == [("The ", False), ("certificate", True), (" chain is missing an intermediate.", False)]
    assert {h.message_id for h in store.search("ertific")} == {m.id for m in searchable["cert"].messages}
    assert store.search("CERTIFICATE CHAIN")[0].message_id == searchable["cert"].messages[1].id
    assert store.search("certificate banana") == []
    assert store.search('"chain is missing"')[0].message_id == searchable["cert"].messages[1].id


def test_search_finds_chinese(store: HistoryStore, searchable: dict[str, Conversation]) -> None:
    hits = store.search("网络超时")
    assert [h.message_id for h in hits] == [searchable["zh"].messages[1].id]
    assert f"{MATCH_START}网络超时{MATCH_END}" in hits[0].snippet
    assert {h.conversation_id for h in store.search("CSV 文件")} == {searchable["mixed"].id}
    assert {h.conversation_id for h in store.search("表格转换")} == {searchable["mixed"].id}


def test_search_terms_under_three_characters_use_like(store: HistoryStore,
                                                      searchable: dict[str, Conversation]) -> None:
    assert {h.conversation_id for h in store.search("Qt")} == {searchable["qt"].id}
    assert {h.conversation_id for h in store.search("qt")} == {searchable["qt"].id}
    assert {h.conversation_id for h in store.search("错误")} == {searchable["zh"].id}
    hits = store.search("错误")
    assert all(f"{MATCH_START}错误{MATCH_END}" in h.snippet for h in hits)
    # short and long terms together: the index for the long one, LIKE for the short one
    assert {h.conversation_id for h in store.search("Qt extension")} == {searchable["qt"].id}
    assert store.search("Qt certificate") == []
    assert store.search("") == [] and store.search("   ") == []
    assert store.search("%") == [] and store.search("_") == []


def test_search_text_is_never_fts_syntax(store: HistoryStore, searchable: dict[str, Conversation]) -> None:
    for query in ['"AND"', "a OR b", "match*", "AND", "NEAR(", '"unbalanced', "(", "^x", "col:value"]:
        store.search(query)  # no sqlite3.OperationalError
    assert {h.conversation_id for h in store.search("match*")} == {searchable["syntax"].id}
    assert {h.conversation_id for h in store.search("(a OR b)")} == {searchable["syntax"].id}
    assert {h.conversation_id for h in store.search("don't")} == {searchable["syntax"].id}
    assert {h.conversation_id for h in store.search("C:\\Users")} == {searchable["syntax"].id}


def test_search_limit_and_long_text_snippets(store: HistoryStore) -> None:
    conversation = Conversation()
    for i in range(30):
        ask(conversation, f"question {i}", answer=("filler text " * 40) + f"needle{i} " + ("more filler " * 40))
    store.save_conversation(conversation)
    hits = store.search("needle", limit=10)
    assert len(hits) == 10
    assert hits[0].snippet.startswith("…") and hits[0].snippet.endswith("…")
    assert len(hits[0].snippet) < 200
    assert f"{MATCH_START}needle{MATCH_END}29" in hits[0].snippet


# -- export and import -------------------------------------------------------------------------------------
def make_rich(store: HistoryStore) -> Conversation:
    capture = ImageAttachment.from_pixels(picture((250, 0, 0)), "Screen: 1/2.png", "screen")
    conversation = Conversation(title="Export me: 导出 / test")
    question, reply = ask(conversation, "What is it?", [capture, capture], answer="A **red** square.")
    reply.reasoning, reply.boxes = "Looking.", [GroundingBox(1, 2, 3, 4, 32, 24)]
    retry = conversation.start_reply(question, model="glm-4.5v", endpoint_id="zai", thinking=False)
    retry.text, retry.state = "Red.", ReplyState.STOPPED
    edited = conversation.add_question("What is it really?", [], replaces=question)
    late = conversation.start_reply(edited, model="glm-4.6v", endpoint_id="zai", thinking=True)
    late.state, late.error = ReplyState.FAILED, ErrorInfo("Sensitive content.", "Rephrase.", "1301")
    store.save_conversation(conversation, Origin.QUICK_ASK)
    store.set_pinned(conversation.id, True)
    return conversation


def test_json_export_imports_back_exactly(store: HistoryStore, tmp_path: Path) -> None:
    conversation = make_rich(store)
    exported = store.export_json(conversation.id)
    text = json.dumps(exported)  # JSON-ready

    with HistoryStore.open(tmp_path / "fresh") as fresh:
        assert fresh.import_json(json.loads(text)) == conversation.id
        assert fresh.export_json(conversation.id) == exported
        assert snapshot(fresh.load_conversation(conversation.id)) == snapshot(conversation)
        summary = fresh.summary(conversation.id)
        assert summary.pinned and summary.origin is Origin.QUICK_ASK

    # into the same history: a copy with new ids, links kept
    copy_id = store.import_json(exported)
    assert copy_id != conversation.id
    copy = store.load_conversation(copy_id)
    assert [m.text for m in copy.messages] == [m.text for m in conversation.messages]
    assert copy.messages[1].answers == copy.messages[0].id and copy.messages[3].replaces == copy.messages[0].id
    assert len(blob_files(tmp_path / "data")) == 1

    # undo a delete: export before, import after
    store.delete_conversation(conversation.id)
    assert store.import_json(exported) == conversation.id
    assert store.export_json(conversation.id) == exported


def test_import_refuses_what_is_not_an_export(store: HistoryStore) -> None:
    conversation = make_rich(store)
    good = store.export_json(conversation.id)
    damaged_picture = json.loads(json.dumps(good))
    damaged_picture["messages"][0]["attachments"][0]["data"] = "aGVsbG8="
    for bad in [{}, [], {"format": "other"}, {**good, "version": 99}, {**good, "messages": [{"role": "user"}]},
                {**good, "conversation": {"id": "x"}}, damaged_picture]:
        with pytest.raises(NotAnExport):
            store.import_json(bad)  # type: ignore[arg-type]
    assert store.count_conversations() == 1


def test_markdown_export_writes_the_pictures_beside_it(store: HistoryStore, tmp_path: Path) -> None:
    conversation = make_rich(store)
    out = tmp_path / "export"
    md = store.export_markdown(conversation.id, out)
    text = md.read_text(encoding="utf-8")
    assert md.parent == out and md.suffix == ".md" and "/" not in md.name
    assert text.startswith("# Export me: 导出 / test\n")
    assert "A **red** square." in text and "<summary>Reasoning</summary>" in text
    assert "earlier attempt" in text and "Sensitive content." in text
    links = [line[line.index("(<") + 2:line.index(">)")] for line in text.splitlines() if line.startswith("![")]
    assert len(links) == 2 and len(set(links)) == 1  # the same picture twice is one file
    assert (out / links[0]).read_bytes() == conversation.messages[0].attachments[0].original_bytes()


# -- schema, migrations, damage ----------------------------------------------------------------------------
def test_a_new_file_gets_the_latest_schema(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "data"):
        pass
    with raw(tmp_path / "data") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST
        assert db.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert {"conversations", "messages", "attachments", "blobs", "drafts", "draft_attachments", "reply_tail",
            "messages_fts", "titles_fts"} <= tables


@pytest.mark.parametrize("version", sorted(int(p.name[1:]) for p in SCHEMA_FIXTURES.glob("v*")))
def test_a_history_of_every_earlier_schema_opens_with_its_content(version: int, tmp_path: Path) -> None:
    # GIVEN a copy of the fixture written by that schema
    data = tmp_path / "data"
    shutil.copytree(SCHEMA_FIXTURES / f"v{version}", data)
    with raw(data) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == version

    # WHEN this version opens it
    with HistoryStore.open(data) as store:
        # THEN it is migrated and holds what was written
        for conversation, origin, pinned in fixture_conversations():
            assert snapshot(store.load_conversation(conversation.id)) == snapshot(conversation)
            summary = store.summary(conversation.id)
            assert (summary.origin, summary.pinned) == (origin, pinned)
        assert [h.conversation_id for h in store.search("超时错误")] == ["fixture-quick"]
        assert store.search("export button")[0].conversation_id == "fixture-chat"
        draft = store.load_draft("chat")
        assert draft is not None and draft.attachments[0].original_bytes() == fixture_picture()
    with raw(data) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(SCHEMA_FIXTURES / f"v{schema.LATEST}", data)
    before = hashlib.sha256((data / "history.sqlite3").read_bytes()).hexdigest()
    broken = (*schema.MIGRATIONS, "ALTER TABLE messages ADD COLUMN later TEXT;\nTHIS IS NOT SQL;")
    conn = sqlite3.connect(data / "history.sqlite3", isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            schema.migrate(conn, data / "history.sqlite3", broken)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST
        assert "later" not in {r[1] for r in conn.execute("PRAGMA table_info(messages)")}
        assert hashlib.sha256((data / "history.sqlite3").read_bytes()).hexdigest() == before
        # and a working next version applies
        assert schema.migrate(conn, data / "history.sqlite3", (*schema.MIGRATIONS, "CREATE TABLE later (x);")) == \
            schema.LATEST
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.LATEST + 1
    finally:
        conn.close()


def test_migration_scripts_split_into_whole_statements() -> None:
    statements = list(schema.statements(schema.V1))
    assert all(sqlite3.complete_statement(s + ";") or sqlite3.complete_statement(s) for s in statements)
    assert sum(s.startswith("CREATE TRIGGER") for s in statements) == 7
    with pytest.raises(ValueError, match="incomplete"):
        list(schema.statements("CREATE TABLE x (a"))


def test_a_file_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with HistoryStore.open(data) as store:
        conversation = Conversation()
        ask(conversation, "from the future", answer="x")
        store.save_conversation(conversation)
    with raw(data) as db:
        db.execute(f"PRAGMA user_version = {schema.LATEST + 1}")
    before = (data / "history.sqlite3").read_bytes()
    with pytest.raises(HistoryFromNewerVersion) as caught:
        HistoryStore.open(data)
    assert "newer version" in caught.value.message and caught.value.hint
    assert (data / "history.sqlite3").read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["history.sqlite3"]


def _random_bytes(path: Path) -> None:
    path.write_bytes(os.urandom(50_000))


def _truncated(path: Path) -> None:
    with HistoryStore.open(path.parent) as store:
        for i in range(50):
            conversation = Conversation()
            ask(conversation, f"question {i}", answer="answer " * 200)
            store.save_conversation(conversation)
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size // 2)


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('another program')")
    db.commit()
    db.close()


def _damaged_page(path: Path) -> None:
    """A history closed cleanly, then one page (the messages table's root) overwritten with noise."""
    with HistoryStore.open(path.parent) as store:
        for i in range(50):
            conversation = Conversation(id=f"c{i}")
            ask(conversation, f"question {i}", answer="answer " * 200)
            store.save_conversation(conversation)
    with raw(path.parent) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'messages'").fetchone()[0]
    with path.open("r+b") as handle:
        handle.seek((root - 1) * page_size)
        handle.write(os.urandom(page_size))


@pytest.mark.parametrize(("damage", "seen_in_header"), [(_random_bytes, True), (_truncated, True),
                                                       (_foreign, False), (_damaged_page, False)],
                         ids=["random-bytes", "truncated", "foreign-sqlite", "damaged-page-after-a-crash"])
def test_a_damaged_or_foreign_file_is_moved_aside_and_a_fresh_one_starts(
        damage: Callable[[Path], None], seen_in_header: bool, tmp_path: Path, clock: Clock,
        expect_log: Callable[[str], None]) -> None:
    expect_log(r"desktop\.store\.history: The history file .* was unusable")
    data = tmp_path / "data"
    data.mkdir()
    path = data / "history.sqlite3"
    damage(path)
    (data / "history.sqlite3-wal").write_bytes(b"left over")  # as a crashed app leaves it
    (data / "attachments" / "aa").mkdir(parents=True, exist_ok=True)
    (data / "attachments" / "aa" / "picture.png").write_bytes(b"a picture the old file named")
    original = path.read_bytes()

    with HistoryStore.open(data, clock=clock) as store:
        assert store.recovered_from is not None
        assert store.recovered_from.name.startswith("history.sqlite3.corrupt-")
        if seen_in_header:  # moved before SQLite opened it: exactly as it was, its -wal beside it
            assert store.recovered_from.read_bytes() == original
            assert store.recovered_from.with_name(store.recovered_from.name + "-wal").read_bytes() == b"left over"
        assert not (data / "history.sqlite3-wal").exists() or (data / "history.sqlite3-wal").read_bytes() != \
            b"left over"
        assert store.recovery_notice is not None and store.recovery_notice.hint
        assert store.list_conversations() == []
        conversation = Conversation()
        ask(conversation, "a fresh start", answer="works")
        store.save_conversation(conversation)
        assert store.search("fresh start")
    kept = next(data.glob("attachments.corrupt-*"))
    assert (kept / "aa" / "picture.png").exists()
    with HistoryStore.open(data) as again:
        assert again.recovered_from is None and again.count_conversations() == 1


def test_a_history_that_cannot_be_opened_says_where(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    with pytest.raises(HistoryUnavailable) as caught:
        HistoryStore.open(tmp_path / "data")
    assert str(tmp_path) in caught.value.hint


def test_damage_met_while_running_is_repaired_at_the_next_start(tmp_path: Path,
                                                                 expect_log: Callable[[str], None]) -> None:
    # GIVEN a history closed cleanly whose file was damaged afterwards (a failing disk, a bad copy)
    expect_log(r"desktop\.store\.history: The history file .* is damaged")
    expect_log(r"desktop\.store\.history: The history file .* was unusable")
    data = tmp_path / "data"
    data.mkdir()
    _damaged_page(data / "history.sqlite3")

    # WHEN the app reads it: a clear error, and a note to check the file next time
    with HistoryStore.open(data) as store:
        assert store.recovered_from is None  # a clean exit: not every page is checked at start
        with pytest.raises(HistoryReadFailed) as caught:
            store.load_conversation("c3")
        assert caught.value.hint
    assert (data / "history.sqlite3.check").exists()

    # a process that may not repair (the CLI while the app runs) only says so
    with pytest.raises(HistoryDamaged):
        HistoryStore.open(data, repair=False)
    assert not list(data.glob("*.corrupt-*"))

    # THEN the next start puts it aside and starts afresh
    with HistoryStore.open(data) as store:
        assert store.recovered_from is not None and store.count_conversations() == 0
    assert not (data / "history.sqlite3.check").exists()


# -- a full disk -------------------------------------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MB file system (tmpfs), so writes fail with ENOSPC / SQLITE_FULL for real."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],  # noqa: S607
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        message = f"cannot mount a tiny tmpfs (needs root): {mounted.stderr.strip()}"
        if desktop_env.STRICT:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)  # noqa: S607


def test_a_full_disk_raises_history_full_and_keeps_the_database_whole(tiny_disk: Path) -> None:
    data = tiny_disk / "data"
    ballast = tiny_disk / "ballast"
    with HistoryStore.open(data) as store:
        ballast.write_bytes(b"\0" * 400_000)  # room we can give back later
        saved: list[Conversation] = []
        failed: Conversation | None = None
        for i in range(200):
            conversation = Conversation()
            ask(conversation, f"question {i}", answer=os.urandom(4_000).hex())
            try:
                store.save_conversation(conversation)
            except HistoryFull as exc:
                assert "disk is full" in exc.message and exc.hint
                failed = conversation
                break
            saved.append(conversation)
        assert failed is not None and saved

        # THEN the database is whole: everything saved before is there, nothing of the failed one
        with raw(data) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.count_conversations() == len(saved)
        assert snapshot(store.load_conversation(saved[-1].id)) == snapshot(saved[-1])
        with pytest.raises(ConversationNotFound):
            store.load_conversation(failed.id)

        # a picture that does not fit fails the same way, leaving no partial file
        big = ImageAttachment(name="big.bin", width=1, height=1, origin="file", data=os.urandom(900_000))
        with pytest.raises(HistoryFull):
            store.add_message(saved[0].id, Message(Role.USER, text="with a big file", attachments=[big]))
        assert not [p for p in (data / "attachments").rglob("*") if p.is_file()]

        # WHEN space comes back, writing resumes
        ballast.unlink()
        store.delete_conversation(saved[0].id)
        store.save_conversation(failed)
        assert snapshot(store.load_conversation(failed.id)) == snapshot(failed)


# -- concurrency -------------------------------------------------------------------------------------------
def test_reading_while_the_writer_streams(store: HistoryStore) -> None:
    # GIVEN a reply streaming from a writer thread
    conversation = Conversation()
    _question, reply = ask(conversation, "Stream while I read", state=ReplyState.STREAMING)
    store.save_conversation(conversation)
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(200):
                reply.text += f"chunk{i} "
                store.update_reply(reply)
            reply.state = ReplyState.COMPLETE
            store.update_reply(reply)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write, name="history-writer")
    writer.start()

    # WHEN this thread reads meanwhile
    seen = []
    try:
        while not done.is_set():
            seen.append(store.load_conversation(conversation.id).messages[1].text)
            store.list_conversations()
            store.search("chunk1")
    finally:
        writer.join(30)

    # THEN every read saw a whole snapshot: a prefix of the final text, never shorter than before
    assert not errors
    final = store.load_conversation(conversation.id).messages[1]
    assert final.state is ReplyState.COMPLETE and final.text == reply.text
    assert all(final.text.startswith(text) for text in seen)
    assert [len(t) for t in seen] == sorted(len(t) for t in seen)


def test_a_reply_growing_while_it_is_written_loses_no_delta(store: HistoryStore, tmp_path: Path) -> None:
    # GIVEN a reply that the UI thread keeps extending while the writer thread saves it (as the app does:
    # the writer is handed the live Message), with thread switches made as frequent as they can be
    conversation = Conversation()
    _question, reply = ask(conversation, "Count", state=ReplyState.STREAMING)
    store.save_conversation(conversation)
    words = [f"w{i:05d}" for i in range(3000)]
    streamed = threading.Event()

    def stream() -> None:
        for word in words:
            reply.text += word + " "
            reply.reasoning += "."
        streamed.set()

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    ui = threading.Thread(target=stream, name="ui")
    try:
        ui.start()
        # WHEN the writer saves its progress again and again meanwhile (not final: appended as tails)
        while not streamed.is_set():
            assert store.update_reply(reply)
    finally:
        ui.join(30)
        sys.setswitchinterval(interval)
    assert store.update_reply(reply)

    # THEN a reader sees every word, in order: no delta fell between what was read and what was noted
    with HistoryStore.open(tmp_path / "data") as other:
        seen = other.load_conversation(conversation.id).messages[1]
    assert seen.text.split() == words
    assert seen.reasoning == "." * len(words)


# -- the generated history ---------------------------------------------------------------------------------
def test_the_generated_history_is_searchable(tmp_path: Path) -> None:
    stats = build_history(tmp_path / "big", conversations=40)
    assert (stats.conversations, stats.messages) == (40, 400)
    with HistoryStore.open(tmp_path / "big") as store:
        assert store.count_conversations() == 40
        assert store.search("screenshot") and store.search("错误")
        assert any(s.thumbnail for s in store.list_conversations(limit=40))
        assert len(blob_files(tmp_path / "big")) <= 24
