"""Conversations kept in the history as they happen: session events → the store, off the UI thread.

`HistoryWriter` is the store's one writer: a thread that opens the store, runs jobs in the order
they were given, and writes streaming replies coalesced (at most one short transaction per
`interval`, ~250 ms, so a crash loses at most that much of what was on screen). A full disk or a
damaged file never loses what is shown: the conversation stays in memory, the failed write is
retried with growing pauses until it succeeds, and the user is told once.

`SessionRecorder` subscribes one `ChatSession` to a writer. Both import no Qt.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from desktop.assistant.session import (
    ChatSession,
    ConversationReplaced,
    MessageAdded,
    ReplyChanged,
    ReplyFinished,
    ReplyStateChanged,
    SessionEvent,
)
from desktop.chat.conversation import Conversation, Message
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.store.errors import ConversationNotFound, HistoryError
from desktop.store.history import HistoryStore
from desktop.store.records import Origin

log = logging.getLogger(__name__)

Job = Callable[[HistoryStore], object]
CHAT_DRAFT = "chat"  # the chat window composer's draft, by its name in the history
_RETRY_FIRST, _RETRY_MOST = 1.0, 30.0


class HistoryWriter:
    """The thread that writes the history; every method is called from the UI thread."""

    def __init__(self, data_dir: Path, *, interval: float = 0.25,
                 on_problem: Callable[[UserFacingError], None] | None = None,
                 on_open: Callable[[HistoryStore, list[str]], None] | None = None,
                 retention_days: Callable[[], float | None] | None = None) -> None:
        """`on_problem` hears a failure once per run of failures (from the writer thread); `on_open` hears the
        store once it is open, with the conversations a killed app had left mid-answer (writer thread);
        `retention_days` says how old an unpinned conversation may get (None: forever), asked at each prune."""
        self._data_dir = data_dir
        self._retention_days = retention_days
        self._interval = interval
        self._on_problem = on_problem
        self._on_open = on_open
        self._jobs: deque[Job] = deque()
        self._dirty: dict[str, Message] = {}
        self._urgent = False
        self._closing = False
        self._idle = True
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.saved: set[str] = set()  # conversations written (or being written) to the history
        # "Don't save this conversation": nothing of these is handed to the store (see `exclude`).
        self.excluded: set[str] = set()
        self.origins: dict[str, Origin] = {}  # where each conversation of this run began, for `include`
        self._listeners: tuple[Callable[[], None], ...] = ()
        self.store: HistoryStore | None = None

    @property
    def started(self) -> bool:
        """Whether the writer thread was started."""
        return self._thread is not None

    @property
    def running(self) -> bool:
        """Whether the writer thread is there to run jobs (started, and the history could be opened)."""
        return self._thread is not None and self._thread.is_alive() and not self._closing

    def start(self) -> None:
        """Open the store in the writer thread and start writing."""
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)
        self._thread.start()

    def run(self, job: Job) -> None:
        """Run `job(store)` on the writer thread, after every job given before it."""
        with self._wake:
            self._jobs.append(job)
            self._idle = False
            self._wake.notify()

    def add_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` (on the writer thread) once the store is open and after each write that changed
        the list of conversations (a job, a reply made final); returns the function that removes it."""
        with self._wake:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._wake:
                self._listeners = tuple(known for known in self._listeners if known is not listener)

        return remove

    def exclude(self, conversation_id: str) -> None:
        """*Don't save this conversation*: nothing more of it is written, and what was written is deleted."""
        self.excluded.add(conversation_id)
        if conversation_id in self.saved:
            self.saved.discard(conversation_id)
            self.run(lambda store: store.delete_conversation(conversation_id))

    def include(self, conversation: Conversation) -> None:
        """Keep it in the history again: written whole now (if it has messages), then as it changes."""
        self.excluded.discard(conversation.id)
        if conversation.messages and conversation.id not in self.saved:
            self.saved.add(conversation.id)
            origin = self.origins.get(conversation.id, Origin.CHAT)
            self.run(lambda store: store.save_conversation(conversation, origin))

    def reply_changed(self, message: Message, *, now: bool = False) -> None:
        """Write this reply's progress soon (coalesced), or at the next chance with `now` (a state change)."""
        with self._wake:
            first = not self._dirty
            self._dirty[message.id] = message
            self._idle = False
            if now:
                self._urgent = True
            if now or first:  # the writer then gathers what follows for one interval
                self._wake.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything given so far is written; False if that did not happen in time."""
        deadline = time.monotonic() + timeout
        with self._wake:
            self._urgent = True
            self._wake.notify()
            while not self._idle:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return False
                self._wake.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is left (for up to `timeout`), then stop the thread and close the store. What was given
        before the store was opened (the app quit within its first second) is written too: the store opens now."""
        if self._thread is None and self._pending():
            self.start()
        with self._wake:
            self._closing = True
            self._urgent = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- the writer thread -------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            store = HistoryStore.open(self._data_dir)
            self._prune_old(store)  # first, so nothing about to be deleted is restored
            touched = store.mark_unfinished_interrupted()
        except (HistoryError, OSError) as exc:
            self._tell(exc if isinstance(exc, UserFacingError) else HistoryError(
                _("The history could not be opened: {error}").format(error=exc),
                _("Conversations of this session are kept in memory only.")))
            with self._wake:
                self._closing, self._idle = True, True
                self._wake.notify_all()
            return
        self.store = store
        if store.recovered_from is not None:
            self._tell(HistoryError(_("The history file was damaged, so a new one was started."),
                                    _("The old file was kept as {path}.").format(path=store.recovered_from)))
        if self._on_open is not None:
            self._on_open(store, touched)
        self._written()
        pause = _RETRY_FIRST
        failing = False
        try:
            while True:
                with self._wake:
                    while not (self._jobs or self._urgent or self._closing or self._dirty):
                        self._idle = True
                        self._wake.notify_all()
                        self._wake.wait()
                    if self._dirty and not (self._urgent or self._closing or self._jobs):
                        self._wake.wait(self._interval)  # let the deltas of the next ~250 ms gather
                    jobs, self._jobs = list(self._jobs), deque()
                    dirty, self._dirty = list(self._dirty.values()), {}
                    self._urgent = False
                    closing = self._closing
                try:
                    done = self._write(store, jobs, dirty)
                except (HistoryError, OSError) as exc:
                    done = None
                    if not failing:
                        self._tell(exc if isinstance(exc, UserFacingError) else HistoryError(str(exc)))
                    failing = True
                if done is not None:
                    failing, pause = False, _RETRY_FIRST
                    if closing and not self._pending():
                        return
                    continue
                if closing:
                    return  # the app is quitting: what could not be written is reported, not waited for
                with self._wake:
                    self._wake.wait(pause)
                pause = min(pause * 2, _RETRY_MOST)
        finally:
            store.close()
            with self._wake:
                self._idle = True
                self._wake.notify_all()

    def prune_old(self) -> None:
        """Delete the conversations older than the retention allows (the setting changed), after what is queued."""
        self.run(self._prune_old)

    def _prune_old(self, store: HistoryStore) -> None:
        days = self._retention_days() if self._retention_days is not None else None
        if days is None:
            return
        try:
            removed = store.prune(days)
        except (HistoryError, OSError) as exc:  # tried again at the next start
            self._tell(exc if isinstance(exc, UserFacingError) else HistoryError(str(exc)))
            return
        log.info("History: %d conversation(s) unchanged for %g days deleted", removed, days)
        trace(f"history-pruned {removed}")

    def _pending(self) -> bool:
        with self._wake:
            return bool(self._jobs or self._dirty)

    def _write(self, store: HistoryStore, jobs: list[Job], dirty: list[Message]) -> bool:
        """Run `jobs` then the reply updates; on a failure, put back what was not written (in order)."""
        for index, job in enumerate(jobs):
            try:
                job(store)
            except ConversationNotFound as exc:
                # Deleted meanwhile (`glmv-desktop history delete`, retention): not retried; a window still
                # showing it saves it anew when it changes.
                log.info("History: conversation %s is no longer in the history", exc.conversation_id)
                self.saved.discard(exc.conversation_id)
            except BaseException:
                with self._wake:
                    self._jobs.extendleft(reversed(jobs[index:]))
                    for message in dirty:
                        self._dirty.setdefault(message.id, message)
                raise
        for index, message in enumerate(dirty):
            try:
                store.update_reply(message)
            except BaseException:
                with self._wake:
                    for left in dirty[index:]:
                        self._dirty.setdefault(left.id, left)
                raise
        if jobs or any(message.is_final for message in dirty):
            self._written()
        return True

    def _written(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # noqa: BLE001 - a broken listener must not stop the writing
                log.exception("A listener of the history failed")

    def _tell(self, problem: UserFacingError) -> None:
        log.warning("History: %s", problem.message)
        if self._on_problem is not None:
            self._on_problem(problem)


class SessionRecorder:
    """Keeps one session's conversation in the history as it changes (through a `HistoryWriter`).

    A conversation the writer excludes (*Don't save this conversation*) is skipped: none of its events
    reach the store. `save=False` starts the session's new conversation excluded (`history.save_new`).
    """

    def __init__(self, session: ChatSession, writer: HistoryWriter, origin: Origin, *, save: bool = True) -> None:
        self._writer = writer
        self._origin = origin
        writer.origins.setdefault(session.conversation.id, origin)
        if not save:
            writer.excluded.add(session.conversation.id)
        self.stop = session.subscribe(self._on_event)

    def _on_event(self, event: SessionEvent) -> None:
        writer = self._writer
        if event.conversation.id in writer.excluded:
            return
        if isinstance(event, MessageAdded):
            self._added(event.conversation, event.message)
        elif isinstance(event, ReplyChanged):
            writer.reply_changed(event.message)
        elif isinstance(event, ReplyStateChanged | ReplyFinished):
            writer.reply_changed(event.message, now=True)
        elif isinstance(event, ConversationReplaced):
            writer.origins.setdefault(event.conversation.id, self._origin)
            if event.conversation.messages and event.conversation.id not in writer.saved:
                self._save(event.conversation)  # one reopened from the history is there already

    def _added(self, conversation: Conversation, message: Message) -> None:
        if conversation.id not in self._writer.saved:
            self._save(conversation)  # the first message: the conversation with it
            return
        origin = self._origin

        def add(store: HistoryStore) -> None:
            try:
                store.add_message(conversation.id, message)
            except ConversationNotFound:  # deleted meanwhile (`history delete`, retention) while still shown
                store.save_conversation(conversation, origin)  # going on with it keeps it again, whole

        self._writer.run(add)

    def _save(self, conversation: Conversation) -> None:
        self._writer.saved.add(conversation.id)
        origin = self._origin
        self._writer.run(lambda store: store.save_conversation(conversation, origin))
