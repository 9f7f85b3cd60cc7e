"""`HistoryStore`: every conversation in one SQLite file, written as replies stream, searchable.

Threads. The write methods (marked "Writer" below) are meant for one background writer thread:
they are synchronous, each one short transaction on the store's own writer connection, serialised
by a lock (so calling them from another thread is safe, only not what they are for). The read
methods ("Reader") may be called from any thread: each thread gets its own connection, and in WAL
mode a read never waits for the writer and sees one consistent snapshot. `load_conversation` also
reads the attachment files, so the UI calls it off its own thread.

Damage. A file that is not a database, is cut short, belongs to another program, or (checked
after an unclean exit, or once damage was met while running) has a damaged page is moved aside
(`history.sqlite3.corrupt-<time>`, with its -wal/-shm and the attachments folder) and a fresh one
started; `recovered_from` says so. A file from a newer version of the app is refused and left
untouched. A full disk raises `HistoryFull` with the database as it was, so the caller keeps the
conversation in memory and calls `save_conversation` again later.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from desktop.chat.attachments import restore
from desktop.chat.conversation import Attachment, Conversation, ErrorInfo, Message, ReplyState, Role
from desktop.i18n import _
from desktop.store.blobs import Blob, BlobFiles, sniff
from desktop.store.columns import (
    attachment_kind,
    attachment_meta,
    boxes_from,
    boxes_value,
    dumps,
    error_from,
    error_value,
    sizes_from,
    sizes_value,
)
from desktop.store.errors import (
    ConversationNotFound,
    HistoryDamaged,
    HistoryFromNewerVersion,
    HistoryFull,
    HistoryMovedAside,
    HistoryReadFailed,
    HistoryUnavailable,
    HistoryWriteFailed,
)
from desktop.store.export import from_json, renumber, to_json, write_markdown
from desktop.store.records import ConversationSummary, Draft, Origin, SearchHit, StoredFile
from desktop.store.schema import LATEST, FileKind, file_kind, header_problem, migrate
from desktop.store.search import fts_query, like_pattern, snippet, split_terms, terms

log = logging.getLogger(__name__)

FILE_NAME = "history.sqlite3"
BLOBS_FOLDER = "attachments"
_DAY = 86400.0


class _Damaged(Exception):
    """The file at the history's place is not a usable database of ours."""


@dataclass
class _Transaction:
    """One write transaction, and what to do about files around it."""

    conn: sqlite3.Connection
    created: list[Blob] = field(default_factory=list)  # files written now: removed again if it fails
    released: list[tuple[str, str]] = field(default_factory=list)  # blob rows dropped: files to remove after
    after_commit: list[Callable[[], None]] = field(default_factory=list)


@dataclass
class _StoredReply:
    """What the database holds of a reply that is still streaming (the writer's own bookkeeping)."""

    text: str
    reasoning: str
    fields: tuple[Any, ...]
    tail: int = 0  # the last reply_tail row written


_MESSAGE_COLUMNS = ("id", "role", "text", "reasoning", "state", "error", "model", "endpoint_id", "thinking",
                    "finish_reason", "prompt_tokens", "completion_tokens", "created", "answers_id", "replaces_id",
                    "sent_image_sizes", "boxes")
_ATTACHMENT_COLUMNS = "id, kind, name, mime, width, height, origin, blob_sha256, meta"


def _reply_fields(message: Message) -> tuple[Any, ...]:
    """The columns update_reply writes besides the text, as stored."""
    error = error_value(message.error)
    return (message.state.value, None if error is None else dumps(error), dumps(boxes_value(message.boxes)),
            message.finish_reason, message.prompt_tokens, message.completion_tokens,
            dumps(sizes_value(message.sent_image_sizes)), message.model)


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _is_damage(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class HistoryStore:
    """The conversation history: one SQLite database (WAL) and a folder of attachment files."""

    def __init__(self, path: Path, blobs_dir: Path, *, clock: Callable[[], float] = time.time,
                 repair: bool = True) -> None:
        """Open (creating, upgrading or replacing a damaged one as needed) the database at `path`.

        Args:
            repair: move a damaged file aside and start afresh; pass False where another process may
                have the history open (the CLI while the app runs), to get HistoryDamaged instead.

        Raises:
            HistoryFromNewerVersion: the file is from a newer app (left untouched).
            HistoryDamaged: the file is damaged and `repair` is False (left untouched).
            HistoryUnavailable: it cannot be opened at all (permissions, a missing drive).
        """
        self.path = path
        self._repair = repair
        # Left when damage was met while running, so the next open checks every page.
        self._check_marker = path.with_name(path.name + ".check")
        self.blobs = BlobFiles(blobs_dir)
        self._clock = clock
        self._write_lock = threading.RLock()
        self._readers: dict[int, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()
        self._replies: dict[str, _StoredReply] = {}
        self.recovered_from: Path | None = None  # where a damaged file was moved, this start
        self.recovery_notice: HistoryMovedAside | None = None  # what to tell the user about it, once
        self._writer = self._open()

    @classmethod
    def open(cls, data_dir: Path, *, clock: Callable[[], float] = time.time, repair: bool = True) -> HistoryStore:
        """The history in the app's data folder: `history.sqlite3` and `attachments/`."""
        return cls(data_dir / FILE_NAME, data_dir / BLOBS_FOLDER, clock=clock, repair=repair)

    # -- opening ---------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return self._open_existing()
            except _Damaged as exc:
                if not self._repair:
                    raise HistoryDamaged(self.path, str(exc)) from exc
                self._move_aside(str(exc))
            return self._open_existing()
        except sqlite3.Error as exc:
            raise HistoryUnavailable(self.path, f"{type(exc).__name__}: {exc}") from exc
        except OSError as exc:
            raise HistoryUnavailable(self.path, str(exc)) from exc
        except _Damaged as exc:  # a fresh file is damaged too: the disk itself is failing
            raise HistoryUnavailable(self.path, str(exc)) from exc

    def _open_existing(self) -> sqlite3.Connection:
        problem = header_problem(self.path)
        if problem:
            raise _Damaged(problem)
        # A -wal file left behind means the last run did not close the history (it crashed, or is
        # still running): only then, or after damage was met, is every page checked.
        check = self.path.with_name(self.path.name + "-wal").exists() or self._check_marker.exists()
        conn = self._connect()
        try:
            kind = file_kind(conn)
            if kind is FileKind.FOREIGN:
                raise _Damaged("a SQLite database of another program (its application_id is not ours)")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > LATEST:  # before anything writes to it
                raise HistoryFromNewerVersion(self.path, version, LATEST)
            if kind is FileKind.OURS and check:
                # Walks every page (about 10 ms per 10 MB of history): finds a page damaged by a
                # crash or a failing disk before anything is written on top of it.
                verdict = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
                if verdict != ["ok"]:
                    raise _Damaged("; ".join(verdict))
                self._check_marker.unlink(missing_ok=True)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.info("History journal mode is %s, not WAL (the file system may not support it)", mode)
            conn.execute("PRAGMA secure_delete = FAST")  # deleted text is zeroed where that costs no extra I/O
            conn.execute("PRAGMA journal_size_limit = 8388608")
            found = migrate(conn, self.path)
            if found != LATEST:
                log.info("History upgraded from schema %d to %d", found, LATEST)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if _is_damage(exc):
                raise _Damaged(str(exc)) from exc
            raise
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(self._clock()))
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        self._check_marker.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm", ""):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                source.replace(aside.with_name(aside.name + suffix))
        # The pictures the damaged file names go with it, so nothing is swept as unused.
        if self.blobs.root.exists():
            suffix = aside.name.removeprefix(self.path.name)  # ".corrupt-<time>"
            self.blobs.root.replace(self.blobs.root.with_name(self.blobs.root.name + suffix))
        log.warning("The history file %s was unusable (%s); moved it aside to %s and started a new one",
                    self.path, reason, aside.name)
        self.recovered_from = aside
        self.recovery_notice = HistoryMovedAside(aside, reason)

    def close(self) -> None:
        """Close every connection (no read may still be running in another thread)."""
        with self._write_lock:
            with contextlib.suppress(sqlite3.Error):
                self._writer.execute("PRAGMA optimize")
            self._writer.close()
        with self._readers_lock:
            for conn in self._readers.values():
                conn.close()
            self._readers.clear()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # -- transactions ----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writing(self) -> Iterator[_Transaction]:
        with self._write_lock:
            tx = _Transaction(self._writer)
            try:
                tx.conn.execute("BEGIN IMMEDIATE")
                yield tx
                tx.conn.execute("COMMIT")
            except BaseException as exc:
                if tx.conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        tx.conn.execute("ROLLBACK")
                for blob in tx.created:
                    with contextlib.suppress(OSError):
                        self.blobs.remove(blob.sha256, blob.ext)
                if _is_full(exc):
                    raise HistoryFull(str(exc)) from exc
                if isinstance(exc, sqlite3.Error) and _is_damage(exc):
                    self._note_damage(exc)
                if isinstance(exc, sqlite3.Error | OSError):
                    raise HistoryWriteFailed(self.path.parent, f"{type(exc).__name__}: {exc}") from exc
                raise
            for action in tx.after_commit:
                action()
            self._remove_released(tx.released)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        ident = threading.get_ident()
        with self._readers_lock:
            conn = self._readers.get(ident)
            if conn is None:
                conn = self._readers[ident] = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for the whole read
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if _is_damage(exc):
                self._note_damage(exc)
            raise HistoryReadFailed(f"{type(exc).__name__}: {exc}") from exc

    def _note_damage(self, exc: sqlite3.Error) -> None:
        """Damage met while running: the next open checks the file (and puts it aside if need be)."""
        log.warning("The history file %s is damaged: %s", self.path, exc)
        with contextlib.suppress(OSError):
            self._check_marker.touch()

    def _remove_released(self, released: list[tuple[str, str]]) -> None:
        """Delete the files whose rows a committed transaction dropped, unless one came back meanwhile."""
        if not released:
            return
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")  # another process adding the same picture waits for us
            for sha, ext in released:
                if conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone() is None:
                    self.blobs.remove(sha, ext)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            log.info("Unused attachment files left for the next clean-up: %s", exc)

    # -- blobs -----------------------------------------------------------------------------------------
    def _store_blob(self, tx: _Transaction, data: bytes) -> Blob:
        blob, created = self.blobs.write(data)
        if created:
            tx.created.append(blob)
        tx.conn.execute("INSERT OR IGNORE INTO blobs (sha256, size, ext, created) VALUES (?, ?, ?, ?)",
                        (blob.sha256, blob.size, blob.ext, self._clock()))
        return blob

    def _release(self, tx: _Transaction, shas: Iterable[str] | None) -> None:
        """Drop the rows of blobs nothing refers to any more (of `shas`, or all); their files go after commit."""
        query = ("DELETE FROM blobs WHERE {where} NOT EXISTS (SELECT 1 FROM attachments a WHERE a.blob_sha256 = "
                 "blobs.sha256) AND NOT EXISTS (SELECT 1 FROM draft_attachments d WHERE d.blob_sha256 = "
                 "blobs.sha256) RETURNING sha256, ext")
        if shas is None:
            tx.released += [(r[0], r[1]) for r in tx.conn.execute(query.format(where="")).fetchall()]
            return
        for sha in set(shas):
            if sha:
                tx.released += [(r[0], r[1]) for r in
                                tx.conn.execute(query.format(where="sha256 = ? AND"), (sha,)).fetchall()]

    def _insert_attachments(self, tx: _Transaction, table: str, owner: tuple[str, str],
                            attachments: list[Attachment]) -> None:
        owner_column, owner_id = owner
        for position, attachment in enumerate(attachments):
            data = attachment.original_bytes()
            blob = self._store_blob(tx, data)
            tx.conn.execute(
                f"INSERT INTO {table} ({owner_column}, position, {_ATTACHMENT_COLUMNS}) "  # noqa: S608 - fixed names
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (owner_id, position, attachment.id, attachment_kind(attachment), attachment.name, sniff(data)[0],
                 attachment.width, attachment.height, attachment.origin, blob.sha256,
                 dumps(attachment_meta(attachment))))

    # -- writing (Writer) ------------------------------------------------------------------------------
    def save_conversation(self, conversation: Conversation, origin: Origin = Origin.CHAT) -> None:
        """Writer: make the stored conversation equal to `conversation` (insert or update, every message).

        The first save of a conversation, and the way to catch up after a failed write (HistoryFull):
        it rewrites every message, so streaming goes through `update_reply`. `origin` is kept from the
        first save (where the conversation was started).
        """
        with self._writing() as tx:
            now = self._clock()
            model = next((m.model for m in reversed(conversation.messages) if m.role is Role.ASSISTANT and m.model),
                         "")
            tx.conn.execute(
                "INSERT INTO conversations (id, title, origin, created, updated, model) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, updated = excluded.updated, "
                "model = CASE WHEN excluded.model != '' THEN excluded.model ELSE model END",
                (conversation.id, conversation.title, Origin(origin).value, conversation.created, now, model))
            self._sync_messages(tx, conversation)

    def _sync_messages(self, tx: _Transaction, conversation: Conversation) -> None:
        keep = {m.id for m in conversation.messages}
        stored = [r[0] for r in tx.conn.execute("SELECT id FROM messages WHERE conversation_id = ?",
                                                (conversation.id,))]
        gone = [m for m in stored if m not in keep]
        if gone:
            marks = ",".join("?" * len(gone))
            shas = [r[0] for r in tx.conn.execute(
                f"SELECT blob_sha256 FROM attachments WHERE message_id IN ({marks})", gone)]  # noqa: S608
            tx.conn.execute(f"DELETE FROM messages WHERE id IN ({marks})", gone)  # noqa: S608
            self._release(tx, shas)
            tx.after_commit.append(lambda: self._forget(gone))
        for position, message in enumerate(conversation.messages):
            self._put_message(tx, conversation.id, message, position)

    def add_message(self, conversation_id: str, message: Message) -> None:
        """Writer: append a question (its attachment files first, then the rows) or a reply to a saved conversation.

        Adding a message that is already stored rewrites it (so a retried add is harmless).

        Raises:
            ConversationNotFound: save the conversation first.
            HistoryFull: nothing was written.
        """
        with self._writing() as tx:
            if tx.conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone() is None:
                raise ConversationNotFound(conversation_id)
            row = tx.conn.execute("SELECT position FROM messages WHERE id = ? AND conversation_id = ?",
                                  (message.id, conversation_id)).fetchone()
            if row is not None:
                position = int(row[0])
            else:
                position = int(tx.conn.execute("SELECT coalesce(max(position), -1) + 1 FROM messages "
                                               "WHERE conversation_id = ?", (conversation_id,)).fetchone()[0])
            self._put_message(tx, conversation_id, message, position)
            self._touch(tx, conversation_id, message)

    def _put_message(self, tx: _Transaction, conversation_id: str, message: Message, position: int) -> None:
        message = message.snapshot()  # a reply may be streaming into it on another thread
        values = (message.id, conversation_id, position, message.role.value, message.text, message.reasoning,
                  message.state.value, None if message.error is None else dumps(error_value(message.error)),
                  message.model, message.endpoint_id, None if message.thinking is None else int(message.thinking),
                  message.finish_reason, message.prompt_tokens, message.completion_tokens, message.created,
                  message.answers, message.replaces, dumps(sizes_value(message.sent_image_sizes)),
                  dumps(boxes_value(message.boxes)))
        tx.conn.execute(
            "INSERT INTO messages (id, conversation_id, position, role, text, reasoning, state, error, model, "
            "endpoint_id, thinking, finish_reason, prompt_tokens, completion_tokens, created, answers_id, replaces_id, "
            "sent_image_sizes, boxes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET conversation_id = excluded.conversation_id, position = excluded.position, "
            "role = excluded.role, text = excluded.text, reasoning = excluded.reasoning, state = excluded.state, "
            "error = excluded.error, model = excluded.model, endpoint_id = excluded.endpoint_id, "
            "thinking = excluded.thinking, finish_reason = excluded.finish_reason, "
            "prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, "
            "created = excluded.created, answers_id = excluded.answers_id, replaces_id = excluded.replaces_id, "
            "sent_image_sizes = excluded.sent_image_sizes, boxes = excluded.boxes", values)
        tx.conn.execute("DELETE FROM reply_tail WHERE message_id = ?", (message.id,))
        old = [r[0] for r in tx.conn.execute(
            "DELETE FROM attachments WHERE message_id = ? RETURNING blob_sha256", (message.id,))]
        self._insert_attachments(tx, "attachments", ("message_id", message.id), message.attachments)
        self._release(tx, old)
        self._remember(tx, message)

    def _forget(self, message_ids: Iterable[str]) -> None:
        for message_id in message_ids:
            self._replies.pop(message_id, None)

    def _remember(self, tx: _Transaction, message: Message) -> None:
        """After commit, note what is stored of a reply still streaming (so the next update appends)."""
        if message.is_final:
            tx.after_commit.append(lambda: self._forget([message.id]))
            return
        stored = _StoredReply(message.text, message.reasoning, _reply_fields(message))
        tx.after_commit.append(lambda: self._replies.__setitem__(message.id, stored))

    def _touch(self, tx: _Transaction, conversation_id: str, message: Message) -> None:
        model = message.model if message.role is Role.ASSISTANT else ""
        tx.conn.execute("UPDATE conversations SET updated = ?, model = CASE WHEN ? != '' THEN ? ELSE model END "
                        "WHERE id = ?", (self._clock(), model, model, conversation_id))

    def update_reply(self, message: Message) -> bool:
        """Writer: save a reply's progress (text, reasoning, state, error, boxes, finish reason, tokens).

        Cheap enough for every ~250 ms while streaming: text that only grew since the last call is
        appended as a small row, not rewritten; the final call folds it into the message's row and
        indexes it for search. Returns False if the message is not in the history (never added, or
        its conversation was deleted meanwhile): nothing is written then.
        """
        with self._write_lock:
            return self._update_reply(message)

    def _update_reply(self, message: Message) -> bool:
        message = message.snapshot()  # it grows on another thread: what is written is what is noted as stored
        stored = self._replies.get(message.id)
        fields = _reply_fields(message)
        appendable = (stored is not None and not message.is_final and message.text.startswith(stored.text)
                      and message.reasoning.startswith(stored.reasoning))
        with self._writing() as tx:
            if appendable:
                assert stored is not None
                text, reasoning = message.text[len(stored.text):], message.reasoning[len(stored.reasoning):]
                if text or reasoning:
                    added = tx.conn.execute(
                        "INSERT INTO reply_tail (message_id, seq, text, reasoning) "
                        "SELECT id, ?, ?, ? FROM messages WHERE id = ?",
                        (stored.tail + 1, text, reasoning, message.id)).rowcount
                    if not added:
                        tx.after_commit.append(lambda: self._forget([message.id]))
                        return False
                if fields != stored.fields and not self._write_fields(tx, message, fields):
                    tx.after_commit.append(lambda: self._forget([message.id]))
                    return False
                now = _StoredReply(message.text, message.reasoning, fields, stored.tail + (1 if text or reasoning
                                                                                       else 0))
                tx.after_commit.append(lambda: self._replies.__setitem__(message.id, now))
                return True
            found = tx.conn.execute(
                "UPDATE messages SET text = ?, reasoning = ?, state = ?, error = ?, boxes = ?, finish_reason = ?, "
                "prompt_tokens = ?, completion_tokens = ?, sent_image_sizes = ?, model = ? WHERE id = ? "
                "RETURNING conversation_id", (message.text, message.reasoning, *fields, message.id)).fetchone()
            if found is None:
                tx.after_commit.append(lambda: self._forget([message.id]))
                return False
            tx.conn.execute("DELETE FROM reply_tail WHERE message_id = ?", (message.id,))
            if message.is_final:
                self._touch(tx, found[0], message)
            self._remember(tx, message)
            return True

    @staticmethod
    def _write_fields(tx: _Transaction, message: Message, fields: tuple[Any, ...]) -> bool:
        return bool(tx.conn.execute(
            "UPDATE messages SET state = ?, error = ?, boxes = ?, finish_reason = ?, prompt_tokens = ?, "
            "completion_tokens = ?, sent_image_sizes = ?, model = ? WHERE id = ?", (*fields, message.id)).rowcount)

    def mark_unfinished_interrupted(self) -> list[str]:
        """Writer, once at start: replies a killed app left waiting or streaming become final.

        What had arrived is kept and the reply is `interrupted` (Retry is offered); a reply that had
        received nothing becomes `failed`, as a live one would. Returns the ids of the conversations
        touched. Never call it while this or another process may still be streaming into the history.
        """
        error = dumps(error_value(_interrupted_error()))
        with self._writing() as tx:
            rows = tx.conn.execute("SELECT id, conversation_id, text, reasoning FROM messages "
                                   "WHERE state IN ('waiting', 'streaming')").fetchall()
            touched: list[str] = []
            for row in rows:
                text, reasoning = self._with_tail(tx.conn, row["id"], row["text"], row["reasoning"])
                state = ReplyState.INTERRUPTED if (text or reasoning) else ReplyState.FAILED
                tx.conn.execute("UPDATE messages SET text = ?, reasoning = ?, state = ?, "
                                "error = coalesce(error, ?) WHERE id = ?",
                                (text, reasoning, state.value, error, row["id"]))
                tx.conn.execute("DELETE FROM reply_tail WHERE message_id = ?", (row["id"],))
                if row["conversation_id"] not in touched:
                    touched.append(row["conversation_id"])
            tx.after_commit.append(self._replies.clear)
        return touched

    def rename(self, conversation_id: str, title: str) -> None:
        """Writer: give a conversation a new title (raises ConversationNotFound)."""
        with self._writing() as tx:
            if not tx.conn.execute("UPDATE conversations SET title = ? WHERE id = ?",
                                   (title, conversation_id)).rowcount:
                raise ConversationNotFound(conversation_id)

    def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        """Writer: pin a conversation (listed first, never pruned) or unpin it (raises ConversationNotFound)."""
        with self._writing() as tx:
            if not tx.conn.execute("UPDATE conversations SET pinned = ? WHERE id = ?",
                                   (int(pinned), conversation_id)).rowcount:
                raise ConversationNotFound(conversation_id)

    def delete_conversation(self, conversation_id: str) -> bool:
        """Writer: delete a conversation, and the files only it used; False if there was none.

        For an undo, keep `export_json(id)` from before and `import_json` it back (same id, same content).
        """
        with self._writing() as tx:
            shas = [r[0] for r in tx.conn.execute(
                "SELECT a.blob_sha256 FROM attachments a JOIN messages m ON m.id = a.message_id "
                "WHERE m.conversation_id = ?", (conversation_id,))]
            ids = [r[0] for r in tx.conn.execute("SELECT id FROM messages WHERE conversation_id = ?",
                                                 (conversation_id,))]
            deleted = tx.conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,)).rowcount
            self._release(tx, shas)
            tx.after_commit.append(lambda: self._forget(ids))
        return bool(deleted)

    def delete_all(self) -> int:
        """Writer: delete every conversation (pinned ones too; drafts stay) and compact the file, so no
        deleted text stays in free pages. Returns how many were deleted."""
        with self._writing() as tx:
            deleted = tx.conn.execute("DELETE FROM conversations").rowcount
            self._release(tx, None)
            tx.after_commit.append(self._replies.clear)
        with self._write_lock:
            try:
                self._writer.execute("VACUUM")
                self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # e.g. no room for the copy VACUUM makes: the rows are gone anyway
                log.info("History not compacted after deleting everything: %s", exc)
        return int(deleted)

    def prune(self, older_than_days: float) -> int:
        """Writer: delete conversations not pinned and not changed for `older_than_days`; returns how many."""
        cutoff = self._clock() - older_than_days * _DAY
        with self._writing() as tx:
            ids = [r[0] for r in tx.conn.execute(
                "SELECT m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE c.pinned = 0 AND c.updated < ?", (cutoff,))]
            deleted = tx.conn.execute("DELETE FROM conversations WHERE pinned = 0 AND updated < ?",
                                      (cutoff,)).rowcount
            if deleted:
                self._release(tx, None)
            tx.after_commit.append(lambda: self._forget(ids))
        return int(deleted)

    def collect_garbage(self) -> int:
        """Writer, in the background at start: remove files no row names (left by a crash between
        writing a file and its row, or between a delete and its files); returns how many."""
        removed = 0
        with self._writing() as tx:
            self._release(tx, None)
            # Files of rows dropped just now go after the commit, in case it fails.
            known = {r[0] for r in tx.conn.execute("SELECT sha256 FROM blobs")} | {sha for sha, _ext in tx.released}
            for sha, path in list(self.blobs.stored()):
                if sha not in known:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def save_draft(self, window: str, text: str, attachments: list[Attachment]) -> None:
        """Writer: keep what a window's composer holds (an empty one removes the draft)."""
        with self._writing() as tx:
            old = [r[0] for r in tx.conn.execute("SELECT blob_sha256 FROM draft_attachments WHERE window_name = ?",
                                                 (window,))]
            tx.conn.execute("DELETE FROM drafts WHERE window_name = ?", (window,))
            if text or attachments:
                tx.conn.execute("INSERT INTO drafts (window_name, text, updated) VALUES (?, ?, ?)",
                                (window, text, self._clock()))
                self._insert_attachments(tx, "draft_attachments", ("window_name", window), attachments)
            self._release(tx, old)

    def import_json(self, data: dict[str, Any]) -> str:
        """Writer: add a conversation exported by `export_json`; returns its id.

        It keeps its id unless the history already has one with that id; then it is added as a copy
        with new ids. Raises NotAnExport for anything else.
        """
        imported = from_json(data)
        with self._writing() as tx:
            conversation = imported.conversation
            ids = [m.id for m in conversation.messages]
            taken = tx.conn.execute(
                f"SELECT 1 FROM conversations WHERE id = ? UNION ALL SELECT 1 FROM messages "  # noqa: S608
                f"WHERE id IN ({','.join('?' * len(ids))}) LIMIT 1", (conversation.id, *ids)).fetchone()
            if taken:
                renumber(conversation)
            tx.conn.execute(
                "INSERT INTO conversations (id, title, origin, created, updated, pinned, model) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (conversation.id, conversation.title, imported.origin.value, conversation.created, imported.updated,
                 int(imported.pinned), imported.model))
            self._sync_messages(tx, conversation)
        return conversation.id

    # -- reading (Reader) ------------------------------------------------------------------------------
    def count_conversations(self) -> int:
        """Reader: how many conversations the history holds."""
        with self._reading() as conn:
            return int(conn.execute("SELECT count(*) FROM conversations").fetchone()[0])

    def list_conversations(self, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        """Reader: a page of the list, pinned first, then the most recently changed."""
        with self._reading() as conn:
            rows = conn.execute(
                "WITH page AS (SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n, "
                "(SELECT a.seq FROM messages m JOIN attachments a ON a.message_id = m.id "
                " WHERE m.conversation_id = c.id AND a.kind = 'image' ORDER BY m.position, a.position "
                " LIMIT 1) AS thumb FROM conversations c ORDER BY c.pinned DESC, c.updated DESC LIMIT ? OFFSET ?) "
                "SELECT page.*, t.id AS thumb_id, t.mime, t.width, t.height, b.sha256, b.ext FROM page "
                "LEFT JOIN attachments t ON t.seq = page.thumb LEFT JOIN blobs b ON b.sha256 = t.blob_sha256 "
                "ORDER BY page.pinned DESC, page.updated DESC", (limit, offset)).fetchall()
        return [self._summary(row) for row in rows]

    def ids_starting_with(self, prefix: str, limit: int = 10) -> list[str]:
        """Reader: ids of conversations that begin with `prefix` (an id typed short), an exact match first,
        then the most recently changed."""
        with self._reading() as conn:
            return [r[0] for r in conn.execute(
                "SELECT id FROM conversations WHERE substr(id, 1, ?) = ? ORDER BY id = ? DESC, updated DESC "
                "LIMIT ?", (len(prefix), prefix, prefix, limit))]

    def summary(self, conversation_id: str) -> ConversationSummary:
        """Reader: one conversation's list row (raises ConversationNotFound)."""
        with self._reading() as conn:
            row = conn.execute(
                "SELECT c.*, (SELECT count(*) FROM messages m WHERE m.conversation_id = c.id) AS n, "
                "t.id AS thumb_id, t.mime, t.width, t.height, b.sha256, b.ext FROM conversations c "
                "LEFT JOIN attachments t ON t.seq = (SELECT a.seq FROM messages m JOIN attachments a "
                " ON a.message_id = m.id WHERE m.conversation_id = c.id AND a.kind = 'image' "
                " ORDER BY m.position, a.position LIMIT 1) "
                "LEFT JOIN blobs b ON b.sha256 = t.blob_sha256 WHERE c.id = ?", (conversation_id,)).fetchone()
        if row is None:
            raise ConversationNotFound(conversation_id)
        return self._summary(row)

    def _summary(self, row: sqlite3.Row) -> ConversationSummary:
        thumbnail = None
        if row["thumb_id"] is not None and row["sha256"] is not None:
            thumbnail = StoredFile(row["thumb_id"], self.blobs.path(row["sha256"], row["ext"]), row["mime"],
                                   row["width"], row["height"])
        return ConversationSummary(row["id"], row["title"], Origin(row["origin"]), row["created"], row["updated"],
                                   bool(row["pinned"]), row["model"], int(row["n"]), thumbnail)

    def load_conversation(self, conversation_id: str) -> Conversation:
        """Reader: the conversation as saved, attachments read from their files (raises ConversationNotFound).

        Reads files: call it off the UI thread. A reply still streaming comes with all its text so far.
        """
        with self._reading() as conn:
            head = conn.execute("SELECT id, title, created FROM conversations WHERE id = ?",
                                (conversation_id,)).fetchone()
            if head is None:
                raise ConversationNotFound(conversation_id)
            rows = conn.execute(f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages "  # noqa: S608 - fixed names
                                "WHERE conversation_id = ? ORDER BY position, seq", (conversation_id,)).fetchall()
            tails: dict[str, tuple[list[str], list[str]]] = {}
            for tail in conn.execute("SELECT t.message_id, t.text, t.reasoning FROM reply_tail t "
                                     "JOIN messages m ON m.id = t.message_id WHERE m.conversation_id = ? "
                                     "ORDER BY t.message_id, t.seq", (conversation_id,)):
                pieces = tails.setdefault(tail[0], ([], []))
                pieces[0].append(tail[1])
                pieces[1].append(tail[2])
            files = conn.execute(
                "SELECT a.message_id, a.id, a.kind, a.name, a.mime, a.width, a.height, a.origin, a.blob_sha256, "
                "a.meta, b.ext FROM attachments a JOIN messages m ON m.id = a.message_id "
                "LEFT JOIN blobs b ON b.sha256 = a.blob_sha256 WHERE m.conversation_id = ? "
                "ORDER BY a.message_id, a.position", (conversation_id,)).fetchall()
        attachments: dict[str, list[Attachment]] = {}
        for row in files:
            attachments.setdefault(row["message_id"], []).append(self._attachment(row))
        messages = []
        for row in rows:
            message = _message_from_row(row, attachments.get(row["id"], []))
            if row["id"] in tails:
                texts, reasonings = tails[row["id"]]
                message.text += "".join(texts)
                message.reasoning += "".join(reasonings)
            messages.append(message)
        return Conversation(title=head["title"], messages=messages, id=head["id"], created=head["created"])

    def _attachment(self, row: sqlite3.Row) -> Attachment:
        data = b""
        if row["blob_sha256"] is not None:
            try:
                data = self.blobs.read(row["blob_sha256"], row["ext"] or "bin")
            except OSError as exc:
                log.warning("Attachment file of '%s' is missing from the history: %s", row["name"], exc)
        return restore(row["kind"], data, name=row["name"], origin=row["origin"], width=row["width"] or 0,
                       height=row["height"] or 0, attachment_id=row["id"], meta=json.loads(row["meta"] or "{}"))

    def load_draft(self, window: str) -> Draft | None:
        """Reader: what a window's composer held, or None."""
        with self._reading() as conn:
            head = conn.execute("SELECT text, updated FROM drafts WHERE window_name = ?", (window,)).fetchone()
            if head is None:
                return None
            rows = conn.execute(
                "SELECT d.id, d.kind, d.name, d.mime, d.width, d.height, d.origin, d.blob_sha256, d.meta, b.ext "
                "FROM draft_attachments d LEFT JOIN blobs b ON b.sha256 = d.blob_sha256 "
                "WHERE d.window_name = ? ORDER BY d.position", (window,)).fetchall()
        return Draft(head["text"], [self._attachment(row) for row in rows], head["updated"])

    def search(self, query: str, limit: int = 50) -> list[SearchHit]:
        """Reader: messages (and titles) matching every term of `query`, newest first.

        Terms of three characters or more use the trigram index (so parts of words and Chinese
        match); shorter ones are matched with LIKE. Each hit's snippet marks the matches.
        """
        long_terms, short_terms = split_terms(query)
        if not long_terms and not short_terms:
            return []
        likes = [like_pattern(t) for t in short_terms]
        with self._reading() as conn:
            messages = self._search_messages(conn, long_terms, likes, limit)
            titles = self._search_titles(conn, long_terms, likes, limit)
        all_terms = terms(query)
        hits = [SearchHit(r["conversation_id"], r["id"], r["title"], snippet(r["text"], all_terms), Role(r["role"]),
                          r["created"], float(r["rank"])) for r in messages]
        found = {h.conversation_id for h in hits}
        hits += [SearchHit(r["id"], None, r["title"], snippet(r["title"], all_terms), None, r["updated"],
                           float(r["rank"])) for r in titles if r["id"] not in found]
        hits.sort(key=lambda h: h.created, reverse=True)
        return hits[:limit]

    @staticmethod
    def _search_messages(conn: sqlite3.Connection, long_terms: list[str], likes: list[str],
                         limit: int) -> list[sqlite3.Row]:
        like_sql = "".join(" AND m.text LIKE ? ESCAPE '\\'" for _ in likes)
        if long_terms:
            return conn.execute(
                "SELECT m.id, m.conversation_id, m.role, m.text, m.created, c.title, bm25(messages_fts) AS rank "  # noqa: S608
                "FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid "
                "JOIN conversations c ON c.id = m.conversation_id "
                f"WHERE messages_fts MATCH ?{like_sql} ORDER BY messages_fts.rowid DESC LIMIT ?",
                (fts_query(long_terms), *likes, limit)).fetchall()
        return conn.execute(
            "SELECT m.id, m.conversation_id, m.role, m.text, m.created, c.title, 0.0 AS rank "  # noqa: S608
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            f"WHERE m.state NOT IN ('waiting', 'streaming'){like_sql} ORDER BY m.seq DESC LIMIT ?",
            (*likes, limit)).fetchall()

    @staticmethod
    def _search_titles(conn: sqlite3.Connection, long_terms: list[str], likes: list[str],
                       limit: int) -> list[sqlite3.Row]:
        like_sql = "".join(" AND c.title LIKE ? ESCAPE '\\'" for _ in likes)
        if long_terms:
            return conn.execute(
                "SELECT c.id, c.title, c.updated, bm25(titles_fts) AS rank FROM titles_fts "  # noqa: S608
                "JOIN conversations c ON c.seq = titles_fts.rowid "
                f"WHERE titles_fts MATCH ?{like_sql} ORDER BY titles_fts.rowid DESC LIMIT ?",
                (fts_query(long_terms), *likes, limit)).fetchall()
        return conn.execute(
            f"SELECT c.id, c.title, c.updated, 0.0 AS rank FROM conversations c WHERE 1{like_sql} "  # noqa: S608
            "ORDER BY c.seq DESC LIMIT ?", (*likes, limit)).fetchall()

    # -- export ----------------------------------------------------------------------------------------
    def export_json(self, conversation_id: str) -> dict[str, Any]:
        """Reader: the conversation, its attachments included, as one JSON-ready dict (see `import_json`)."""
        summary = self.summary(conversation_id)
        return to_json(self.load_conversation(conversation_id), summary)

    def export_markdown(self, conversation_id: str, out_dir: Path) -> Path:
        """Reader: write `<title>.md` into `out_dir` with its pictures as files beside it; returns the .md."""
        summary = self.summary(conversation_id)
        return write_markdown(self.load_conversation(conversation_id), summary, out_dir)

    @staticmethod
    def _with_tail(conn: sqlite3.Connection, message_id: str, text: str, reasoning: str) -> tuple[str, str]:
        rows = conn.execute("SELECT text, reasoning FROM reply_tail WHERE message_id = ? ORDER BY seq",
                            (message_id,)).fetchall()
        return text + "".join(r[0] for r in rows), reasoning + "".join(r[1] for r in rows)


def _interrupted_error() -> ErrorInfo:
    return ErrorInfo(_("The app closed before this answer was complete."),
                     _("What had arrived is kept. Retry to ask again."), retryable=True)


def _message_from_row(row: sqlite3.Row, attachments: list[Attachment]) -> Message:
    error = row["error"]
    return Message(
        Role(row["role"]), text=row["text"], attachments=attachments, reasoning=row["reasoning"],
        boxes=boxes_from(json.loads(row["boxes"])), state=ReplyState(row["state"]),
        error=error_from(json.loads(error)) if error else None, model=row["model"], endpoint_id=row["endpoint_id"],
        thinking=None if row["thinking"] is None else bool(row["thinking"]), finish_reason=row["finish_reason"],
        prompt_tokens=row["prompt_tokens"], completion_tokens=row["completion_tokens"], id=row["id"],
        created=row["created"], sent_image_sizes=sizes_from(json.loads(row["sent_image_sizes"])),
        answers=row["answers_id"], replaces=row["replaces_id"])

