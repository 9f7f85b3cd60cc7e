"""ChatSession against the protocol-faithful server: the reply lifecycle and its events, without Qt."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
from keyring.backends import fail
from PIL import Image

from desktop.assistant.replies import ReplyRunner
from desktop.assistant.session import (
    ChatSession,
    ConversationReplaced,
    MessageAdded,
    QuestionReturned,
    ReplyChanged,
    ReplyFinished,
    ReplyStateChanged,
    SessionEvent,
)
from desktop.chat.client import ChatClient
from desktop.chat.conversation import Attachment, Conversation, ImageAttachment, Message, ReplyState, Role
from desktop.chat.request import AskOptions
from desktop.config.profiles import EndpointProfile, Flavor, preset
from desktop.config.secrets import SecretStore
from desktop.errors import UserFacingError
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer, Scenario

OPTIONS = AskOptions(model="glm-4.6v")
SLOW = VLLM_NEW.evolve(reasoning="", content=" ".join(f"w{i}" for i in range(300)), tokens_per_second=60)


@dataclass
class Recorder:
    """A subscriber that keeps every event, with the reply's state and the session's busy flag at that moment."""

    session: ChatSession
    events: list[SessionEvent] = field(default_factory=list)
    states: list[ReplyState] = field(default_factory=list)  # at each ReplyStateChanged
    busy_when_finished: list[bool] = field(default_factory=list)

    def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)
        if isinstance(event, ReplyStateChanged):
            self.states.append(event.message.state)
        elif isinstance(event, ReplyFinished):
            self.busy_when_finished.append(self.session.busy)

    def kinds(self) -> list[str]:
        """The event names in order, a run of deltas written once."""
        names: list[str] = []
        for event in self.events:
            name = type(event).__name__
            if not (name == "ReplyChanged" and names and names[-1] == name):
                names.append(name)
        return names

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def picture() -> Attachment:
    return ImageAttachment.from_pixels(Image.new("RGB", (64, 48), (200, 30, 30)), "shot.png", "screen")


async def until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def drive(server: FakeOpenAIServer, body: Callable[[ChatSession, EndpointProfile], Awaitable[None]],
          start: Callable[[Coroutine[Any, Any, None]], asyncio.Task[None]] | None = None) -> None:
    """Run `body` with a session on the app's own reply runner, pointed at `server`, on a plain asyncio loop."""
    profile = preset(Flavor.VLLM, base_url=server.base_url)

    async def go() -> None:
        client = ChatClient()
        try:
            session = ChatSession(ReplyRunner(client, SecretStore(fail.Keyring())), start or asyncio.ensure_future)
            await body(session, profile)
        finally:
            await client.aclose()

    asyncio.run(go())


def test_send_streams_the_reply_with_events_in_order() -> None:
    with FakeOpenAIServer(VLLM_NEW.evolve(reasoning="Look at it.", content="A red rectangle, clearly.")) as server:
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            reply = session.send("What is this?", [], OPTIONS, profile)
            assert reply is not None and session.busy and session.reply is reply
            await until(lambda: not session.busy)

        drive(server, body)
    # THEN: the question, the reply, its deltas between state changes, and its end
    kinds = recorder.kinds()
    assert kinds[:2] == ["MessageAdded", "MessageAdded"]
    assert kinds[-3:] == ["ReplyChanged", "ReplyStateChanged", "ReplyFinished"]
    assert "ReplyStateChanged" in kinds[2:-3]
    assert recorder.states == [ReplyState.STREAMING, ReplyState.COMPLETE]
    question, reply = (e.message for e in recorder.of(MessageAdded))
    assert question.role is Role.USER and question.text == "What is this?"
    assert reply.role is Role.ASSISTANT and reply.answers == question.id
    assert reply.state is ReplyState.COMPLETE and reply.text == "A red rectangle, clearly."
    assert reply.reasoning == "Look at it."
    changed = recorder.of(ReplyChanged)
    assert len(changed) > 3 and all(e.message is reply for e in changed)
    assert len({id(e) for e in changed}) == 1, "one preallocated event per reply, no copying per delta"
    assert [e.message for e in recorder.of(ReplyFinished)] == [reply]
    assert recorder.busy_when_finished == [False]
    assert recorder.of(QuestionReturned) == []


def test_stop_mid_stream_keeps_the_partial_answer() -> None:
    with FakeOpenAIServer(SLOW) as server:
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            reply = session.send("long answer please", [], OPTIONS, profile)
            assert reply is not None
            await until(lambda: len(reply.text) > 20)
            session.stop()
            await until(lambda: not session.busy)

        drive(server, body)
    reply = recorder.of(ReplyFinished)[0].message
    assert reply.state is ReplyState.STOPPED
    assert reply.text.startswith("w0 w1") and "w299" not in reply.text
    assert recorder.states[-1] is ReplyState.STOPPED and recorder.kinds()[-1] == "ReplyFinished"
    assert recorder.of(QuestionReturned) == []


def test_stop_before_the_reply_started_still_ends_it() -> None:
    with FakeOpenAIServer(SLOW) as server:
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            session.send("never mind", [], OPTIONS, profile)
            session.stop()  # before the loop ran the task's first step
            await until(lambda: not session.busy)

        drive(server, body)
        assert server.chat_requests == []
    assert recorder.kinds() == ["MessageAdded", "MessageAdded", "ReplyStateChanged", "ReplyFinished"]
    assert recorder.of(ReplyFinished)[0].message.state is ReplyState.STOPPED


def test_dropped_stream_then_retry_is_a_second_attempt_and_only_the_latest_is_context() -> None:
    with FakeOpenAIServer() as server:
        server.queue(VLLM_NEW.evolve(reasoning="", content="one two three four five six", drop_after_chunks=3),
                     VLLM_NEW.evolve(reasoning="", content="Complete answer."),
                     VLLM_NEW.evolve(reasoning="", content="Second answer."))
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            first = session.send("question", [], OPTIONS, profile)
            assert first is not None
            await until(lambda: not session.busy)
            assert first.state is ReplyState.INTERRUPTED and first.text.strip() == "one two three"
            assert session.can_retry(first)
            # WHEN it is retried
            second = session.retry(first, OPTIONS, profile)
            assert second is not None
            await until(lambda: not session.busy)
            # THEN the new attempt answers the same question; the old one stays, above it
            conversation = session.conversation
            question = conversation.messages[0]
            assert conversation.messages == [question, first, second]
            assert first.answers == second.answers == question.id
            assert conversation.attempts(question) == [first, second]
            assert first.text.strip() == "one two three" and second.text == "Complete answer."
            assert not session.can_retry(first), "only the last reply"
            # AND a later question carries only the latest attempt as context
            session.send("two", [], OPTIONS, profile)
            await until(lambda: not session.busy)

        drive(server, body)
        bodies = [r.body["messages"] for r in server.chat_requests]
    assert bodies[1] == [{"role": "user", "content": "question"}], "the retry is built from the question alone"
    assert bodies[2] == [{"role": "user", "content": "question"}, {"role": "assistant", "content": "Complete answer."},
                         {"role": "user", "content": "two"}]
    assert recorder.of(QuestionReturned) == [], "something arrived: nothing is put back"


def test_a_failed_reply_returns_its_question_with_its_attachments() -> None:
    with FakeOpenAIServer(Scenario(status=500, error_body="boom", error_content_type="text/plain")) as server:
        recorder: Recorder
        shot = picture()

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            session.send("Please keep this question", [shot], OPTIONS, profile)
            await until(lambda: not session.busy)

        drive(server, body)
    assert recorder.kinds()[-2:] == ["ReplyFinished", "QuestionReturned"]
    reply = recorder.of(ReplyFinished)[0].message
    assert reply.state is ReplyState.FAILED and reply.error is not None and "boom" in reply.error.message
    returned = recorder.of(QuestionReturned)[0].question
    assert returned.text == "Please keep this question" and returned.attachments == [shot]
    assert returned.id == reply.answers


def test_edit_and_resend_asks_an_edited_copy_and_leaves_the_original_out_of_the_context() -> None:
    with FakeOpenAIServer() as server:
        server.queue(VLLM_NEW.evolve(reasoning="", content="First answer."),
                     Scenario(status=500, error_body="boom", error_content_type="text/plain"),
                     VLLM_NEW.evolve(reasoning="", content="Edited answer."))
        shot = picture()
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            session.send("one", [], OPTIONS, profile)
            await until(lambda: not session.busy)
            failed = session.send("tow, with a typo", [shot], OPTIONS, profile)
            await until(lambda: not session.busy)
            assert failed is not None and failed.state is ReplyState.FAILED
            conversation = session.conversation
            first_question, original = conversation.messages[0], conversation.messages[2]
            assert not session.can_edit(first_question), "only the newest question"
            assert session.edit_and_resend(first_question, "x", OPTIONS, profile) is None
            recorder = Recorder(session)
            session.subscribe(recorder)
            # WHEN the failed question is edited and resent
            reply = session.edit_and_resend(original, "two", OPTIONS, profile)
            assert reply is not None
            await until(lambda: not session.busy)
            # THEN an edited copy (same picture) is asked and answered; the original and its attempt stay
            copy = recorder.of(MessageAdded)[0].message
            assert copy.role is Role.USER and copy.text == "two" and copy.attachments == [shot]
            assert copy.replaces == original.id and reply.answers == copy.id
            assert conversation.messages == [first_question, conversation.messages[1], original, failed, copy, reply]
            assert original.text == "tow, with a typo", "what was asked is never overwritten"
            assert reply.text == "Edited answer."
            assert not session.can_edit(original)

        drive(server, body)
        sent = server.chat_requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[:2] == [{"role": "user", "content": "one"}, {"role": "assistant", "content": "First answer."}]
    assert [p["type"] for p in sent[2]["content"]] == ["image_url", "text"]
    assert sent[2]["content"][1] == {"type": "text", "text": "two"}
    assert "typo" not in str(sent), "the replaced question is not context any more"


def test_nothing_is_added_without_an_endpoint_or_a_model_or_while_busy() -> None:
    with FakeOpenAIServer(SLOW) as server:

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            recorder = Recorder(session)
            session.subscribe(recorder)
            with pytest.raises(UserFacingError, match="No endpoint is set up"):
                session.send("hello", [], OPTIONS, None)
            with pytest.raises(UserFacingError, match="No model is chosen") as info:
                session.send("hello", [], AskOptions(model=""), profile, where_to_pick_a_model="Pick one up there.")
            assert info.value.hint == "Pick one up there."
            assert session.send("   ", [], OPTIONS, profile) is None
            assert session.conversation.messages == [] and recorder.events == []
            assert session.send("long answer please", [], OPTIONS, profile) is not None
            assert session.send("and another", [], OPTIONS, profile) is None, "one reply at a time"
            assert len(session.conversation.messages) == 2
            session.stop()
            await until(lambda: not session.busy)

        drive(server, body)


def test_a_raising_subscriber_is_logged_and_the_others_still_get_every_event(
        expect_log: Callable[[str], None]) -> None:
    expect_log(r"desktop\.assistant\.session: A subscriber of the chat session failed")
    with FakeOpenAIServer(VLLM_NEW.evolve(reasoning="", content="Still answered.")) as server:
        recorder: Recorder
        calls = 0

        def broken(_event: SessionEvent) -> None:
            nonlocal calls
            calls += 1
            raise RuntimeError("a broken view")

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(broken)
            session.subscribe(recorder)
            session.send("hi", [], OPTIONS, profile)
            await until(lambda: not session.busy)

        drive(server, body)
    assert calls == len(recorder.events) > 4
    assert recorder.of(ReplyFinished)[0].message.state is ReplyState.COMPLETE
    assert recorder.of(ReplyFinished)[0].message.text == "Still answered."


def test_two_views_see_the_same_events_and_one_can_leave() -> None:
    with FakeOpenAIServer(VLLM_NEW.evolve(reasoning="", content="For both.")) as server:
        first: Recorder
        second: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal first, second
            first, second = Recorder(session), Recorder(session)
            session.subscribe(first)
            leave = session.subscribe(second)
            session.send("one", [], OPTIONS, profile)
            await until(lambda: not session.busy)
            leave()
            leave()  # a second call changes nothing
            session.send("two", [], OPTIONS, profile)
            await until(lambda: not session.busy)

        drive(server, body)
    assert len(first.of(ReplyFinished)) == 2 and len(second.of(ReplyFinished)) == 1
    assert first.events[:len(second.events)] == second.events
    assert all(a is b for a, b in zip(first.events, second.events, strict=False))


def test_an_unexpected_failure_still_ends_the_reply_and_start_reports_it() -> None:
    class BrokenRunner:
        async def run(self, conversation: Conversation, reply: Message, profile: EndpointProfile,
                      options: AskOptions, on_change: Callable[[Message], None]) -> None:
            reply.state = ReplyState.STREAMING
            reply.text = "half"
            on_change(reply)
            raise RuntimeError("a bug")

    reported: list[BaseException] = []

    def start(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(lambda t: reported.append(t.exception()) if not t.cancelled() else None)  # type: ignore[func-returns-value]
        return task

    async def go() -> tuple[Recorder, Message]:
        session = ChatSession(BrokenRunner(), start)
        recorder = Recorder(session)
        session.subscribe(recorder)
        reply = session.send("q", [], OPTIONS, preset(Flavor.VLLM))
        assert reply is not None
        await until(lambda: not session.busy)
        return recorder, reply

    recorder, reply = asyncio.run(go())
    assert reply.state is ReplyState.INTERRUPTED and reply.text == "half", "what arrived is kept"
    assert reply.error is not None and "a bug" in reply.error.message
    assert recorder.states == [ReplyState.STREAMING, ReplyState.INTERRUPTED]
    assert recorder.kinds()[-1] == "ReplyFinished"
    assert [str(e) for e in reported] == ["a bug"]


def test_replacing_the_conversation_stops_the_old_reply_and_reports_its_end_with_it() -> None:
    with FakeOpenAIServer(SLOW) as server:
        recorder: Recorder

        async def body(session: ChatSession, profile: EndpointProfile) -> None:
            nonlocal recorder
            recorder = Recorder(session)
            session.subscribe(recorder)
            old = session.conversation
            reply = session.send("long answer please", [], OPTIONS, profile)
            assert reply is not None
            await until(lambda: len(reply.text) > 10)
            reopened = Conversation(title="from history")
            session.replace_conversation(reopened)
            assert session.conversation is reopened and not session.busy
            await until(lambda: reply.is_final)
            await asyncio.sleep(0.05)
            replaced = recorder.of(ConversationReplaced)[0]
            assert replaced.conversation is reopened and replaced.previous is old
            finished = recorder.of(ReplyFinished)[0]
            assert finished.message is reply and finished.conversation is old
            assert reply.state is ReplyState.STOPPED and old.messages[-1] is reply and reopened.messages == []

        drive(server, body)
