"""One conversation and at most one running reply, with typed events for whoever shows or keeps it.

`ChatSession` is the reply lifecycle written once: send, stop, retry, edit and resend, and the
question put back when nothing came back. The chat window and the quick-ask popup are views of a
session (*Open in chat* attaches the chat window to the popup's session, so no task crosses
windows); the history store subscribes to the same events. It imports no Qt: replies run as
tasks started by an injected `start` (the UI passes one built on its background-operation helper).

Rules:

- Every change to what a view shows is an event, delivered on the loop's thread in the order the
  changes happened. A subscriber that raises is logged and skipped; the others still get the event.
- `ReplyChanged` is sent for every stream delta (text, reasoning, boxes, usage): it carries the
  message itself, never a copy, and is one preallocated object per reply, so a view should only
  mark the message dirty. `ReplyStateChanged` is sent when the state changes (content may have
  changed with it); `ReplyFinished` once, when the reply is final and the session no longer busy.
- Stop cancels the task: the runner marks the reply stopped and keeps what arrived. A task
  cancelled before its first step, or ended by an unexpected exception, is still given a final
  state here; reporting such an exception is the job of `start` (the UI's reports it through the
  notifier).
- A retry is a new attempt answering the same question, appended after the old one, which stays.
  Only the last reply can be retried, and only the newest question edited: the conversation has no
  branches.
- Edit and resend adds an edited copy of the question (`Message.replaces`) and answers it; the
  original and its attempts stay visible, and are no longer sent as context. Nothing the user asked
  is overwritten, which the history keeps as it was.
- A reply that failed with nothing received sends `QuestionReturned` after `ReplyFinished`, so a
  view may put the question back into an empty composer to be edited and resent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from desktop.assistant.asking import check_fits, ready_to_ask
from desktop.assistant.replies import end_unexpectedly
from desktop.chat.conversation import Attachment, Conversation, Message, ReplyState, Role
from desktop.chat.request import AskOptions
from desktop.config.profiles import EndpointProfile
from desktop.i18n import _

log = logging.getLogger(__name__)


# -- events -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True, eq=False)
class MessageAdded:
    """A question or an (empty, waiting) reply was appended to `conversation`."""

    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True, eq=False)
class ReplyChanged:
    """A delta arrived: the reply's text, reasoning, boxes or usage changed (its state did not)."""

    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True, eq=False)
class ReplyStateChanged:
    """The reply's state changed (waiting → streaming → a final state); its content may have too."""

    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True, eq=False)
class ReplyFinished:
    """The reply is final (complete, stopped, interrupted or failed) and the session is free again."""

    message: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True, eq=False)
class QuestionReturned:
    """Nothing came back for `question`: a view may put its text and attachments back to be edited."""

    question: Message
    conversation: Conversation


@dataclass(frozen=True, slots=True, eq=False)
class ConversationReplaced:
    """The session now holds `conversation` (e.g. reopened from history) instead of `previous`."""

    conversation: Conversation
    previous: Conversation


SessionEvent = MessageAdded | ReplyChanged | ReplyStateChanged | ReplyFinished | QuestionReturned | ConversationReplaced
Listener = Callable[[SessionEvent], None]
StartReply = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


class RunsReplies(Protocol):
    """What streams one reply into its message (`ReplyRunner`)."""

    async def run(self, conversation: Conversation, reply: Message, profile: EndpointProfile,
                  options: AskOptions, on_change: Callable[[Message], None]) -> None:
        """Stream into `reply`, calling `on_change` after each change; sets its final state."""


@dataclass(eq=False)
class _Running:
    """The reply being answered, with what the session last reported about it."""

    reply: Message
    conversation: Conversation
    state: ReplyState
    changed: ReplyChanged
    task: asyncio.Task[None] | None = None


class ChatSession:
    """One conversation and at most one running reply; see the module's rules."""

    def __init__(self, runner: RunsReplies, start: StartReply, conversation: Conversation | None = None) -> None:
        """Args:
            runner: streams a reply into its message.
            start: schedules a reply's coroutine on the loop and returns its task; cancelling the
                task is Stop. It reports an exception the coroutine raises.
            conversation: the conversation to continue (a new, empty one if not given).
        """
        self._runner = runner
        self._start = start
        self._conversation = conversation if conversation is not None else Conversation()
        self._listeners: tuple[Listener, ...] = ()
        self._running: _Running | None = None

    # -- what it holds -------------------------------------------------------------------------------
    @property
    def conversation(self) -> Conversation:
        """The conversation this session holds."""
        return self._conversation

    @property
    def busy(self) -> bool:
        """True from sending until the reply is final (and `ReplyFinished` is being sent)."""
        return self._running is not None

    @property
    def reply(self) -> Message | None:
        """The reply being answered now, if any."""
        return self._running.reply if self._running is not None else None

    # -- subscribers -----------------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Deliver every following event to `listener`; returns the function that stops it."""
        self._listeners = (*self._listeners, listener)
        subscribed = True

        def unsubscribe() -> None:
            nonlocal subscribed
            if subscribed:
                subscribed = False
                # By identity: two equal listeners (two views alike) are still two subscriptions.
                index = next(i for i, known in enumerate(self._listeners) if known is listener)
                self._listeners = self._listeners[:index] + self._listeners[index + 1:]

        return unsubscribe

    def _emit(self, event: SessionEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one broken view or store must not break the others
                log.exception("A subscriber of the chat session failed on %s", type(event).__name__)

    # -- asking --------------------------------------------------------------------------------------
    def send(self, text: str, attachments: list[Attachment], options: AskOptions, profile: EndpointProfile | None,
             *, where_to_pick_a_model: str | None = None) -> Message | None:
        """Ask a new question and start its reply; returns the reply, or None when busy or there is
        nothing to send. Raises UserFacingError (before anything is added) when no endpoint or model
        is set: `where_to_pick_a_model` is the hint for a missing model, in the asking window's words."""
        if self.busy or (not text.strip() and not attachments):
            return None
        profile = ready_to_ask(profile, options, where_to_pick_a_model or _default_model_hint())
        check_fits(attachments, options, profile)
        question = self._conversation.add_question(text, attachments)
        self._emit(MessageAdded(question, self._conversation))
        return self._answer(question, options, profile)

    def can_retry(self, reply: Message) -> bool:
        """True if `reply` may be asked for again now: nothing running, and it is the last message."""
        messages = self._conversation.messages
        return (not self.busy and reply.role is Role.ASSISTANT and bool(messages) and messages[-1] is reply
                and self._conversation.question_for(reply) is not None)

    def retry(self, reply: Message, options: AskOptions, profile: EndpointProfile | None, *,
              where_to_pick_a_model: str | None = None) -> Message | None:
        """Ask again for `reply`'s question: a new attempt after it (it stays visible). Returns the new
        reply, or None if `reply` cannot be retried now; UserFacingError as for `send`."""
        if not self.can_retry(reply):
            return None
        profile = ready_to_ask(profile, options, where_to_pick_a_model or _default_model_hint())
        question = self._conversation.question_for(reply)
        assert question is not None
        return self._answer(question, options, profile)

    def can_edit(self, question: Message) -> bool:
        """True if `question` may be edited and resent now: nothing running, and it is the newest question."""
        return not self.busy and question.role is Role.USER and question is self._conversation.last_question()

    def edit_and_resend(self, question: Message, text: str, options: AskOptions, profile: EndpointProfile | None,
                        *, attachments: list[Attachment] | None = None,
                        where_to_pick_a_model: str | None = None) -> Message | None:
        """Ask an edited copy of `question` (its attachments unless others are given) and answer it; the
        original stays, no longer context. Returns the reply, or None if it cannot be edited now or
        nothing would be sent; UserFacingError as for `send`."""
        if not self.can_edit(question):
            return None
        kept = list(question.attachments) if attachments is None else list(attachments)
        if not text.strip() and not kept:
            return None
        profile = ready_to_ask(profile, options, where_to_pick_a_model or _default_model_hint())
        check_fits(kept, options, profile)
        copy = self._conversation.add_question(text, kept, replaces=question)
        self._emit(MessageAdded(copy, self._conversation))
        return self._answer(copy, options, profile)

    def stop(self) -> None:
        """Stop the running reply at once; what arrived so far is kept."""
        running = self._running
        if running is not None and running.task is not None and not running.task.done():
            running.task.cancel()

    def replace_conversation(self, conversation: Conversation) -> None:
        """Hold `conversation` instead (reopened from history). A reply still running in the old one is
        stopped; its end is still reported, with the old conversation, and the session is free at once."""
        self.stop()
        self._running = None
        previous, self._conversation = self._conversation, conversation
        self._emit(ConversationReplaced(conversation, previous))

    # -- the reply -----------------------------------------------------------------------------------
    def _answer(self, question: Message, options: AskOptions, profile: EndpointProfile) -> Message:
        conversation = self._conversation
        reply = conversation.start_reply(question, model=options.model, endpoint_id=profile.id,
                                         thinking=options.thinking)
        running = _Running(reply, conversation, reply.state, ReplyChanged(reply, conversation))
        self._running = running
        work = self._runner.run(conversation, reply, profile, options, lambda _message: self._changed(running))
        try:
            running.task = self._start(work)
        except BaseException as exc:
            work.close()
            self._running = None
            end_unexpectedly(reply, exc)
            self._emit(MessageAdded(reply, conversation))
            self._emit(ReplyFinished(reply, conversation))
            raise
        running.task.add_done_callback(lambda task: self._finished(running, task))
        self._emit(MessageAdded(reply, conversation))
        return reply

    def _changed(self, running: _Running) -> None:
        """The runner's `on_change`: a state change, or (the common case) one more delta."""
        if running.reply.state is not running.state:
            running.state = running.reply.state
            self._emit(ReplyStateChanged(running.reply, running.conversation))
        else:
            self._emit(running.changed)

    def _finished(self, running: _Running, task: asyncio.Task[None]) -> None:
        if self._running is running:
            self._running = None
        reply = running.reply
        if task.cancelled():
            if not reply.is_final:  # cancelled before the runner's first step: nothing else marks it
                reply.state = ReplyState.STOPPED
        else:
            error = task.exception()
            if error is not None and not reply.is_final:
                end_unexpectedly(reply, error)
        if reply.state is not running.state:
            running.state = reply.state
            self._emit(ReplyStateChanged(reply, running.conversation))
        self._emit(ReplyFinished(reply, running.conversation))
        if reply.state is ReplyState.FAILED and running.conversation is self._conversation:
            question = running.conversation.question_for(reply)
            if question is not None:
                self._emit(QuestionReturned(question, running.conversation))


def _default_model_hint() -> str:
    return _("Pick a model in the chat window's model box, or set one in Settings → Endpoints.")
