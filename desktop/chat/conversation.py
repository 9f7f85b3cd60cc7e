"""The conversation model: messages, attachments, replies and their state.

It is plain data, shaped so the history store can persist it as it changes: every object has a
stable id and a creation time, and a reply records its state (streaming, complete, stopped,
interrupted, failed) so a partial answer is never mistaken for a whole one.

Links are explicit, never inferred from neighbours: a reply names the question it answers
(`Message.answers`), so a retry is simply another attempt answering the same question (the latest
one is current: it is the answer sent as context later); an edited copy of a question names the
question it replaces (`Message.replaces`), which then stays visible but is no longer context.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from desktop.chat.attachments import Attachment, ImageAttachment
from desktop.i18n import _

__all__ = ["Attachment", "Conversation", "ErrorInfo", "GroundingBox", "ImageAttachment", "Message", "ReplyState",
           "Role", "new_id"]


def new_id() -> str:
    """A short random id for messages, attachments and conversations."""
    return uuid.uuid4().hex[:16]


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"


class ReplyState(StrEnum):
    """Where an assistant reply stands."""

    WAITING = "waiting"  # sent, nothing received yet
    STREAMING = "streaming"
    COMPLETE = "complete"
    STOPPED = "stopped"  # the user pressed Stop; the partial answer is kept
    INTERRUPTED = "interrupted"  # the stream broke; the partial answer is kept, Retry offered
    FAILED = "failed"  # nothing usable arrived; the error says why


@dataclass(frozen=True)
class GroundingBox:
    """A box the model pointed at: thousandths of the image sent, and the same in its pixels."""

    x1: float
    y1: float
    x2: float
    y2: float
    image_width: int | None = None
    image_height: int | None = None

    def pixels(self) -> tuple[int, int, int, int] | None:
        """The box in pixels of the image that was sent, if its size is known."""
        if not self.image_width or not self.image_height:
            return None
        w, h = self.image_width, self.image_height
        return (round(self.x1 * w / 1000), round(self.y1 * h / 1000),
                round(self.x2 * w / 1000), round(self.y2 * h / 1000))


@dataclass(frozen=True)
class ErrorInfo:
    """What went wrong with a reply, in the user's words, plus technical detail."""

    message: str
    hint: str = ""
    detail: str = ""
    retryable: bool = True


@dataclass(eq=False)
class Message:
    """One turn: the user's question with attachments, or the assistant's reply."""

    role: Role
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    reasoning: str = ""
    boxes: list[GroundingBox] = field(default_factory=list)
    state: ReplyState = ReplyState.COMPLETE
    error: ErrorInfo | None = None
    model: str = ""
    endpoint_id: str = ""
    thinking: bool | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)
    # Pixel sizes of the images sent with the request that produced this reply, in order.
    sent_image_sizes: list[tuple[int, int]] = field(default_factory=list)
    answers: str | None = None  # a reply: the id of the question it answers (each retry is one more attempt)
    replaces: str | None = None  # a question: the id of the question this one is an edited copy of

    @property
    def is_final(self) -> bool:
        """True once the reply will not change any more."""
        return self.state not in (ReplyState.WAITING, ReplyState.STREAMING)

    def snapshot(self) -> Message:
        """A copy of every field as it is at one instant, for a thread other than the one streaming into it.

        A reply grows on the UI thread while the history writer saves it; reading `text` twice there could
        see two lengths, and what fell between them would be lost. The shallow copy takes the instance's
        dict in one step (the GIL holds through it: no Python code runs while it is copied).
        """
        return copy.copy(self)


@dataclass(eq=False)
class Conversation:
    """An ordered list of messages with a title."""

    title: str = ""
    messages: list[Message] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    created: float = field(default_factory=time.time)

    def add_question(self, text: str, attachments: list[Attachment], *, replaces: Message | None = None) -> Message:
        """Append the user's question (`replaces`: the question it is an edited copy of)."""
        message = Message(Role.USER, text=text, attachments=list(attachments),
                          replaces=replaces.id if replaces is not None else None)
        self.messages.append(message)
        if not self.title:
            self.title = text.strip().splitlines()[0][:80] if text.strip() else _("Picture question")
        return message

    def start_reply(self, question: Message, *, model: str, endpoint_id: str, thinking: bool) -> Message:
        """Append an empty assistant reply to `question`, waiting for the server (a retry is one more)."""
        if question.role is not Role.USER:
            raise ValueError("a reply answers a question")
        reply = Message(Role.ASSISTANT, state=ReplyState.WAITING, model=model, endpoint_id=endpoint_id,
                        thinking=thinking, answers=question.id)
        self.messages.append(reply)
        return reply

    def message(self, message_id: str | None) -> Message | None:
        """The message with this id, if it is in the conversation."""
        return next((m for m in self.messages if m.id == message_id), None) if message_id else None

    def question_for(self, reply: Message) -> Message | None:
        """The question `reply` answers."""
        return self.message(reply.answers)

    def attempts(self, question: Message) -> list[Message]:
        """Every reply to `question`, oldest first; the last one is the current attempt."""
        return [m for m in self.messages if m.role is Role.ASSISTANT and m.answers == question.id]

    def last_question(self) -> Message | None:
        """The newest question (the one a retry or an edit may still change)."""
        return next((m for m in reversed(self.messages) if m.role is Role.USER), None)

    def context_for(self, reply: Message) -> list[Message]:
        """What a request for `reply` is built from: each earlier question with the answer it has now,
        then the question `reply` answers.

        Of several attempts at an earlier question the latest that produced an answer counts (a failed
        or empty attempt has nothing to send); a question replaced by an edited copy is left out, with
        its attempts. Attempts at `reply`'s own question are never context for it.
        """
        question = self.question_for(reply)
        if question is None:
            return []
        replaced = {m.replaces for m in self.messages if m.replaces}
        answers: dict[str, Message] = {}
        for message in self.messages:
            if message is reply:
                break
            if (message.role is Role.ASSISTANT and message.answers and message.text
                    and message.state is not ReplyState.FAILED):
                answers[message.answers] = message
        context: list[Message] = []
        for message in self.messages:
            if message is question:
                break
            if message.role is Role.USER and message.id not in replaced:
                context.append(message)
                answer = answers.get(message.id)
                if answer is not None:
                    context.append(answer)
        context.append(question)
        return context
