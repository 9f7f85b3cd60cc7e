"""The streaming client against a protocol-faithful server: every shape and every failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psutil
import pytest

from desktop.chat import errors as e
from desktop.chat.client import ChatClient, Endpoint, Timeouts
from desktop.chat.events import ContentDelta, Finished, ReasoningDelta, StreamEvent
from desktop.config.profiles import Flavor, preset
from desktop.secret import Secret
from tests.support.fake_openai_server import (
    SGLANG,
    TRANSFORMERS_SERVE,
    VLLM_NEW,
    ZAI,
    FakeOpenAIServer,
    Scenario,
    openai_error,
    plain_text_500,
    vllm_not_found,
    vllm_not_vision,
    zai_error,
)

BODY = {"model": "glm-4.6v", "messages": [{"role": "user", "content": "hi"}], "stream": True}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def endpoint(server: FakeOpenAIServer, flavor: Flavor = Flavor.VLLM, key: str | None = None) -> Endpoint:
    url = server.zai_base_url if flavor in (Flavor.ZAI, Flavor.BIGMODEL) else server.base_url
    return Endpoint(preset(flavor, base_url=url), Secret(key) if key else None)


def collect(server: FakeOpenAIServer, flavor: Flavor = Flavor.VLLM, *, timeouts: Timeouts | None = None,
            key: str | None = None) -> tuple[list[StreamEvent], BaseException | None]:
    events: list[StreamEvent] = []

    async def go() -> BaseException | None:
        client = ChatClient(timeouts=timeouts or Timeouts(connect=2, read=5))
        try:
            async for event in client.stream_reply(endpoint(server, flavor, key), dict(BODY)):
                events.append(event)
        except e.ChatError as exc:
            return exc
        finally:
            await client.aclose()
        return None

    return events, asyncio.run(go())


def text_of(events: list[StreamEvent]) -> tuple[str, str]:
    return ("".join(x.text for x in events if isinstance(x, ReasoningDelta)),
            "".join(x.text for x in events if isinstance(x, ContentDelta)))


@pytest.mark.parametrize(("scenario", "flavor"), [
    (VLLM_NEW, Flavor.VLLM), (SGLANG, Flavor.SGLANG), (ZAI, Flavor.ZAI),
    (TRANSFORMERS_SERVE, Flavor.TRANSFORMERS),
])
def test_each_server_shape_streams_reasoning_then_answer(server: FakeOpenAIServer, scenario: Scenario,
                                                          flavor: Flavor) -> None:
    server.set_scenario(scenario.evolve(reasoning="Look at the pixels.", content="It is **red**."))
    events, error = collect(server, flavor)
    assert error is None
    assert text_of(events) == ("Look at the pixels.", "It is **red**.")
    assert isinstance(events[-1], Finished) and events[-1].reason == "stop"


def test_key_is_sent_as_bearer(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(require_api_key="k-123456789"))
    assert collect(server, key="k-123456789")[1] is None
    assert server.chat_requests[-1].headers["authorization"] == "Bearer k-123456789"
    _, error = collect(server, key="wrong-key-000")
    assert isinstance(error, e.AuthRejected) and "Settings" in error.hint


@pytest.mark.parametrize(("scenario", "kind"), [
    (zai_error(1113), e.NoBalance), (zai_error(1301), e.ContentRejected), (zai_error(1302), e.RateLimited),
    (zai_error(1305), e.RateLimited), (zai_error(1002), e.AuthRejected), (zai_error(1211), e.ModelNotFound),
    (openai_error(429, retry_after=3), e.RateLimited), (openai_error(503), e.ServerFailed),
    (vllm_not_found("glm-4.6v"), e.ModelNotFound), (vllm_not_vision(), e.NotAVisionModel),
    (plain_text_500(), e.ServerFailed),
])
def test_errors_are_typed_with_the_servers_message(server: FakeOpenAIServer, scenario: Scenario,
                                                    kind: type[e.ChatError]) -> None:
    server.set_scenario(scenario)
    events, error = collect(server, Flavor.ZAI)
    assert events == []
    assert type(error) is kind, error
    assert error.hint and error.detail


def test_dropped_stream_keeps_partial_events_then_raises(server: FakeOpenAIServer) -> None:
    server.set_scenario(VLLM_NEW.evolve(reasoning="one two three", content="four five six seven eight",
                                        drop_after_chunks=5))
    events, error = collect(server)
    assert isinstance(error, e.StreamInterrupted) and "partial answer is kept" in error.hint
    reasoning, answer = text_of(events)
    assert reasoning == "one two three" and answer.strip() == "four five"


def test_stream_closed_without_finish_or_done_is_interrupted(server: FakeOpenAIServer) -> None:
    server.set_scenario(TRANSFORMERS_SERVE.evolve(content="abc def", drop_after_chunks=2))
    _, error = collect(server, Flavor.TRANSFORMERS)
    assert isinstance(error, e.StreamInterrupted)


def test_error_inside_a_started_stream(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(stream_error='{"error": {"code": "1301", "message": "unsafe"}}',
                                 stream_error_after_chunks=2))
    events, error = collect(server, Flavor.ZAI)
    assert isinstance(error, e.ContentRejected) and "unsafe" in error.message
    assert events, "the part that arrived before the error is kept"


def test_silent_server_hits_the_read_timeout(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(hang_after_headers=True))
    _, error = collect(server, timeouts=Timeouts(connect=2, read=0.5))
    assert isinstance(error, e.StreamStalled)


def test_server_that_never_answers_hits_the_read_timeout(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(hang=True))
    _, error = collect(server, timeouts=Timeouts(connect=2, read=0.5))
    assert isinstance(error, e.StreamStalled)


def test_nothing_listening_is_unreachable() -> None:
    with FakeOpenAIServer() as fake:
        url = fake.base_url
    async def go() -> BaseException | None:
        client = ChatClient(timeouts=Timeouts(connect=2, read=2))
        try:
            async for _ in client.stream_reply(Endpoint(preset(Flavor.VLLM, base_url=url), None), dict(BODY)):
                pass
        except e.ChatError as exc:
            return exc
        finally:
            await client.aclose()
        return None
    error = asyncio.run(go())
    assert isinstance(error, e.EndpointUnreachable) and "running" in error.hint


def test_cancel_stops_at_once_and_closes_the_connection(server: FakeOpenAIServer) -> None:
    server.set_scenario(VLLM_NEW.evolve(content=" ".join(["word"] * 400), tokens_per_second=40))

    async def go() -> tuple[int, bool, list[StreamEvent]]:
        client = ChatClient()
        received = 0

        async def consume() -> None:
            nonlocal received
            async for _ in client.stream_reply(endpoint(server), dict(BODY)):
                received += 1

        task = asyncio.create_task(consume())
        while received < 3:
            await asyncio.sleep(0.01)
        assert open_connections() == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        at_cancel = received
        for _ in range(100):  # the socket is closed, not handed back to the pool half-read
            if open_connections() == 0:
                break
            await asyncio.sleep(0.02)
        closed = open_connections() == 0
        server.set_scenario(VLLM_NEW)
        after = [event async for event in client.stream_reply(endpoint(server), dict(BODY))]
        await client.aclose()
        return at_cancel, closed, after

    def open_connections() -> int:
        return sum(1 for c in psutil.Process().net_connections("tcp")
                   if c.raddr and c.raddr.port == server.port and c.status == psutil.CONN_ESTABLISHED)

    at_cancel, closed, after = asyncio.run(go())
    assert 0 < at_cancel < 400, "stopped mid-stream"
    assert closed, "cancelling closed the connection"
    assert isinstance(after[-1], Finished), "the client still works after a cancel"


def test_list_models(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(models=("glm-4.6v", "glm-4.5v")))

    async def go() -> list[str]:
        client = ChatClient()
        try:
            return await client.list_models(endpoint(server))
        finally:
            await client.aclose()

    assert asyncio.run(go()) == ["glm-4.6v", "glm-4.5v"]


@pytest.mark.parametrize(("reason", "kind"), [("sensitive", e.ContentRejected), ("abort", e.StreamInterrupted),
                                              ("network_error", e.StreamInterrupted)])
def test_abnormal_finish_reasons_are_errors_that_keep_the_partial_answer(
        server: FakeOpenAIServer, reason: str, kind: type[e.ChatError]) -> None:
    server.set_scenario(ZAI.evolve(reasoning="", content="Half of it", finish_reason=reason))
    events, error = collect(server, Flavor.ZAI)
    assert type(error) is kind
    assert text_of(events)[1] == "Half of it"


def test_malformed_chunk_is_a_protocol_error(server: FakeOpenAIServer) -> None:
    server.set_scenario(Scenario(stream_error='{"choices": ["not an object"]}', stream_error_after_chunks=1))
    _, error = collect(server)
    assert isinstance(error, e.BadResponse) and "not an object" in error.detail


def test_connection_test_without_a_model_asks_the_first_listed_or_says_there_is_none(server: FakeOpenAIServer) -> None:
    from desktop.chat.probe import check_endpoint

    async def check() -> object:
        client = ChatClient(timeouts=Timeouts(connect=2, read=5))
        try:
            return await check_endpoint(client, endpoint(server), "")
        finally:
            await client.aclose()

    server.set_scenario(Scenario(models=("served-name", "second")))
    report = asyncio.run(check())
    assert report.vision_ok and report.model == "served-name"  # type: ignore[attr-defined]
    assert server.chat_requests[-1].body["model"] == "served-name"
    server.set_scenario(Scenario(models=()))
    asked = len(server.chat_requests)
    report = asyncio.run(check())
    assert not report.vision_ok and "no model to ask" in report.vision_error.message  # type: ignore[attr-defined]
    assert len(server.chat_requests) == asked, "nothing was sent with an empty model"
