"""Wire-shape tests for the fake OpenAI-compatible server in tests/support/fake_openai_server.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.fake_openai_server import (
    TRANSFORMERS_SERVE,
    VLLM_NEW,
    VLLM_UNAUTHORIZED_BODY,
    ZAI,
    ZAI_ERRORS,
    FakeOpenAIServer,
    Scenario,
    openai_error,
    plain_text_500,
    split_tokens,
    vllm_not_found,
    vllm_not_vision,
    zai_error,
)

CHAT = {"model": "glm-4.6v", "messages": [{"role": "user", "content": "Hi there"}]}


def close_without_hanging(server: FakeOpenAIServer) -> None:
    """close() must return even with requests stalled or streaming (a liveness check, not a speed one)."""
    closer = threading.Thread(target=server.close, name="closer")
    closer.start()
    closer.join(timeout=30)
    assert not closer.is_alive(), "close() hung"


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    """A running fake server, closed afterwards; fails the test on any unexpected handler exception."""
    with FakeOpenAIServer() as srv:
        yield srv
    assert srv.errors == []


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A sync httpx client with a short timeout."""
    with httpx.Client(timeout=5.0) as c:
        yield c


def stream_events(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    """POST a streaming request and return the response and the raw ``data:`` payloads in order."""
    events: list[str] = []
    with client.stream("POST", url, json={**body, "stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[len("data: ") :])
            else:
                assert line == "", f"unexpected SSE line {line!r}"
    return response, events


def deltas(events: list[str]) -> list[dict[str, Any]]:
    """The choice deltas of the JSON chunks (skipping [DONE] and choice-less usage chunks)."""
    out = []
    for event in events:
        if event == "[DONE]":
            continue
        chunk = json.loads(event)
        if chunk.get("choices"):
            out.append(chunk["choices"][0]["delta"])
    return out


def joined(events: list[str], name: str) -> str:
    """Concatenate one delta field over the stream."""
    return "".join(d.get(name, "") for d in deltas(events))


# --- routes ---


def test_models_health_and_prefixes(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """/v1/models, the Z.ai prefix, /health and unknown routes answer like the real servers."""
    models = client.get(server.url("/models"))
    assert models.status_code == 200
    payload = models.json()
    assert payload["object"] == "list"
    assert [m["id"] for m in payload["data"]] == ["glm-4.6v"]
    assert payload["data"][0]["object"] == "model"
    assert isinstance(payload["data"][0]["created"], int)
    assert payload["data"][0]["owned_by"]
    assert client.get(f"{server.zai_base_url}/models").json() == payload
    assert client.post(f"{server.zai_base_url}/chat/completions", json=CHAT).status_code == 200
    assert client.get(server.url("/health")).status_code == 200
    missing = client.get(server.url("/nope"))
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    assert client.get(server.url("/chat/completions")).status_code == 405
    assert server.base_url.endswith("/v1")


def test_models_list_follows_scenario(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """The model list comes from the default scenario."""
    server.set_scenario(Scenario(models=("glm-4.5v", "glm-4.6v-flash"), owned_by="z-ai"))
    data = client.get(server.url("/models")).json()["data"]
    assert [(m["id"], m["owned_by"]) for m in data] == [("glm-4.5v", "z-ai"), ("glm-4.6v-flash", "z-ai")]


# --- streaming shapes ---


def test_stream_default_shape(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Role chunk first, reasoning_content deltas, content deltas, a finish chunk, [DONE]; no usage unless asked."""
    server.set_scenario(Scenario(reasoning="Think hard.", content="Hello world"))
    response, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["transfer-encoding"] == "chunked"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1 and ids.pop().startswith("chatcmpl-")
    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == "glm-4.6v"
        assert isinstance(chunk["created"], int)
        assert chunk["choices"][0]["index"] == 0
        assert chunk["choices"][0]["logprobs"] is None
        assert "usage" not in chunk
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[0]["choices"][0]["finish_reason"] is None
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    middle = [c["choices"][0]["delta"] for c in chunks[1:-1]]
    assert middle == [
        {"reasoning_content": "Think"},
        {"reasoning_content": " hard."},
        {"content": "Hello"},
        {"content": " world"},
    ]


def test_stream_new_vllm_reasoning_field_and_usage(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """New vLLM uses "reasoning"; include_usage adds a choice-less usage chunk before [DONE]."""
    server.set_scenario(VLLM_NEW.evolve(reasoning="a b c", content="x y", finish_reason="length"))
    body = {**CHAT, "stream_options": {"include_usage": True}}
    _, events = stream_events(client, server.url("/chat/completions"), body)
    assert joined(events, "reasoning") == "a b c"
    assert joined(events, "content") == "x y"
    assert all("reasoning_content" not in d for d in deltas(events))
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["object"] == "chat.completion.chunk"
    usage = usage_chunk["usage"]
    assert usage["completion_tokens"] == 5
    assert usage["prompt_tokens"] == 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert json.loads(events[-3])["choices"][0]["finish_reason"] == "length"


def test_stream_transformers_flavour_inline_think_no_done(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """transformers serve: reasoning inline in content between <think> tags and no [DONE]; the stream still ends."""
    server.set_scenario(TRANSFORMERS_SERVE.evolve(reasoning="hmm", content="Answer"))
    response, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert response.is_closed
    assert "[DONE]" not in events
    assert joined(events, "content") == "<think>hmm</think>Answer"
    assert json.loads(events[-1])["choices"][0]["finish_reason"] == "stop"


def test_stream_inline_think_without_opening_tag(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """A template that pre-fills <think> makes the model emit only the closing tag."""
    server.set_scenario(Scenario(reasoning_field="", think_open_tag=False, reasoning="r", content="c"))
    _, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert joined(events, "content") == "r</think>c"
    server.set_scenario(Scenario(reasoning_field="", think_close_tag=False, reasoning="r", content=""))
    _, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert joined(events, "content") == "<think>r"


def test_stream_chunk_chars_and_zai_usage_in_final_chunk(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """chunk_chars splits fixed-size pieces; the Z.ai preset carries usage on the finish chunk."""
    server.set_scenario(ZAI.evolve(reasoning="", content="abcdefg", chunk_chars=3))
    _, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert [d["content"] for d in deltas(events)[1:-1]] == ["abc", "def", "g"]
    final = json.loads(events[-2])
    assert final["choices"][0]["finish_reason"] == "stop"
    assert final["usage"]["completion_tokens"] == 3


def test_stream_error_event(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """A mid-stream error is an SSE data event followed by [DONE] and no finish chunk."""
    error = '{"object":"error","message":"boom","type":"InternalServerError","param":null,"code":500}'
    server.set_scenario(
        Scenario(reasoning="", content="one two three", stream_error=error, stream_error_after_chunks=2)
    )
    _, events = stream_events(client, server.url("/chat/completions"), CHAT)
    assert events[-2:] == [error, "[DONE]"]
    assert joined(events, "content") == "one two"
    assert all(json.loads(e)["choices"][0]["finish_reason"] is None for e in events[:-2] if "choices" in e)


# --- non-streaming ---


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_non_stream_completion(server: FakeOpenAIServer, client: httpx.Client, field: str) -> None:
    """A non-streaming request gets one chat.completion object in the same flavour, with usage."""
    server.set_scenario(Scenario(reasoning_field=field, reasoning="why", content="because so"))
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["id"].startswith("chatcmpl-")
    assert payload["model"] == "glm-4.6v"
    choice = payload["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "because so"
    assert choice["message"][field] == "why"
    assert payload["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_non_stream_inline_and_empty_reasoning(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Inline flavour puts the think block in content; an empty reasoning field is null as in vLLM."""
    server.set_scenario(TRANSFORMERS_SERVE.evolve(reasoning="r", content="c"))
    message = client.post(server.url("/chat/completions"), json=CHAT).json()["choices"][0]["message"]
    assert message["content"] == "<think>r</think>c"
    assert "reasoning_content" not in message
    server.set_scenario(Scenario(reasoning="", content="c"))
    message = client.post(server.url("/chat/completions"), json=CHAT).json()["choices"][0]["message"]
    assert message["reasoning_content"] is None


def test_model_is_echoed_and_unknown_model_rejected(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """The reply names the requested model; reject_unknown_model answers vLLM's 404."""
    payload = client.post(server.url("/chat/completions"), json={**CHAT, "model": "other"}).json()
    assert payload["model"] == "other"
    server.set_scenario(Scenario(reject_unknown_model=True))
    response = client.post(server.url("/chat/completions"), json={**CHAT, "model": "other"})
    assert response.status_code == 404
    assert response.json()["message"] == "The model `other` does not exist."


# --- errors ---


@pytest.mark.parametrize("code", sorted(ZAI_ERRORS))
def test_zai_errors(server: FakeOpenAIServer, client: httpx.Client, code: str) -> None:
    """Each Z.ai code has its HTTP status, a string code in the body, and Retry-After on 429."""
    status, zh, en = ZAI_ERRORS[code]
    server.set_scenario(zai_error(code))
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == status
    assert response.json() == {"error": {"code": code, "message": zh}}
    if status == 429:
        assert response.headers["retry-after"] == "1"
    else:
        assert "retry-after" not in response.headers
    english = client.post(server.url("/chat/completions"), json=CHAT, headers={"Accept-Language": "en-US,en"})
    assert english.json()["error"]["message"] == en


def test_zai_error_details(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Spot-check the texts the brief quotes and the fixed-language / custom Retry-After variants."""
    server.set_scenario(zai_error(1301))
    body = client.post(server.url("/chat/completions"), json=CHAT).json()
    assert body["error"]["message"].startswith("系统检测到输入或生成内容可能包含不安全或敏感内容")
    server.set_scenario(zai_error(1113, english=True, retry_after=7))
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["message"] == "Insufficient balance or no resource package. Please recharge."
    server.set_scenario(zai_error(1305, retry_after=None))
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 429
    assert "retry-after" not in response.headers
    server.set_scenario(zai_error(1002))
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Authorization Token非法，请确认Authorization Token正确传递。"


def test_vllm_errors(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """vLLM's flat and nested error bodies for unknown models and text-only models."""
    server.queue(vllm_not_found("x"), vllm_not_found("x", nested=True), vllm_not_vision())
    flat = client.post(server.url("/chat/completions"), json=CHAT)
    assert flat.status_code == 404
    assert flat.json() == {
        "object": "error",
        "message": "The model `x` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }
    nested = client.post(server.url("/chat/completions"), json=CHAT)
    assert nested.json()["error"]["type"] == "NotFoundError"
    vision = client.post(server.url("/chat/completions"), json=CHAT)
    assert vision.status_code == 400
    assert "image" in vision.json()["message"]


def test_plain_text_500_and_generic_errors(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """transformers serve's text/plain 500; a generic 503 and a 429 with Retry-After."""
    server.queue(
        plain_text_500(), openai_error(503), openai_error(429, "slow down", retry_after=3), Scenario(status=502)
    )
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Internal Server Error"
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Service Unavailable"
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["message"] == "slow down"
    response = client.post(server.url("/chat/completions"), json=CHAT)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == 502
    assert client.post(server.url("/chat/completions"), json=CHAT).status_code == 200


def test_require_api_key(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Without the right bearer key /models and chat answer 401; with it they work."""
    server.set_scenario(Scenario(require_api_key="sk-good"))
    for method, path in (("GET", "/models"), ("POST", "/chat/completions")):
        bad = client.request(method, server.url(path), json=CHAT, headers={"Authorization": "Bearer sk-bad"})
        assert bad.status_code == 401
        assert bad.json()["error"]["code"] == "invalid_api_key"
        assert client.request(method, server.url(path), json=CHAT).status_code == 401
        good = client.request(method, server.url(path), json=CHAT, headers={"Authorization": "Bearer sk-good"})
        assert good.status_code == 200
    server.set_scenario(Scenario(require_api_key="k", auth_error_body=VLLM_UNAUTHORIZED_BODY))
    assert client.get(server.url("/models")).json() == {"error": "Unauthorized"}


def test_apply_to_models(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """apply_to_models makes /models fail the same way."""
    server.set_scenario(openai_error(503).evolve(apply_to_models=True))
    assert client.get(server.url("/models")).status_code == 503
    server.set_scenario(openai_error(503))
    assert client.get(server.url("/models")).status_code == 200


# --- broken connections ---


def test_dropped_stream_raises_remote_protocol_error(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """After N pieces the socket closes without the chunked terminator: the client sees an incomplete read."""
    server.set_scenario(Scenario(reasoning="", content="one two three four", drop_after_chunks=2))
    events: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", server.url("/chat/completions"), json={**CHAT, "stream": True}) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert joined(events, "content") == "one two"
    assert "[DONE]" not in events


def test_dropped_stream_with_reset(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """drop_with_reset cuts with a TCP RST: some transport error, never a clean end."""
    server.set_scenario(Scenario(reasoning="", content="one two three", drop_after_chunks=1, drop_with_reset=True))
    with (
        pytest.raises(httpx.TransportError),
        client.stream("POST", server.url("/chat/completions"), json={**CHAT, "stream": True}) as response,
    ):
        for _ in response.iter_lines():
            pass


def test_dropped_non_stream_body(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """A non-streaming reply cut halfway is an incomplete body for the client."""
    server.set_scenario(Scenario(drop_after_chunks=0))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(server.url("/chat/completions"), json=CHAT)


def test_hang_times_out_and_close_is_prompt(client: httpx.Client) -> None:
    """A server that never answers trips the client's read timeout, and close() still returns at once."""
    threads_before = threading.active_count()
    srv = FakeOpenAIServer(Scenario(hang=True))
    with pytest.raises(httpx.ReadTimeout):
        client.post(srv.url("/chat/completions"), json=CHAT, timeout=httpx.Timeout(5.0, read=0.5))
    assert srv.hanging == 1
    assert srv.chat_requests[0].body == CHAT
    close_without_hanging(srv)
    assert threading.active_count() == threads_before, threading.enumerate()
    srv.close()  # idempotent


def test_hang_with_connected_client_closes_promptly() -> None:
    """close() aborts a hanging handler even while the client is still waiting on it."""
    srv = FakeOpenAIServer(Scenario(hang=True))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(srv.url("/chat/completions"), json=CHAT, timeout=30.0)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    srv.wait_for_requests(1)
    close_without_hanging(srv)
    caller.join(timeout=30)
    assert not caller.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.RemoteProtocolError)


def test_hang_after_headers(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Headers and the role chunk arrive, then nothing: the next read times out."""
    server.set_scenario(Scenario(hang_after_headers=True))
    timeout = httpx.Timeout(5.0, read=0.5)
    events: list[str] = []
    with (
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST", server.url("/chat/completions"), json={**CHAT, "stream": True}, timeout=timeout
        ) as response,
    ):
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(line[6:])
    assert deltas(events) == [{"role": "assistant", "content": ""}]


def test_release_hangs_lets_the_reply_through(server: FakeOpenAIServer) -> None:
    """release_hangs() un-stalls a hanging request, which then answers normally."""
    server.set_scenario(Scenario(hang=True, content="late"))
    result: list[httpx.Response] = []
    caller = threading.Thread(
        target=lambda: result.append(httpx.post(server.url("/chat/completions"), json=CHAT, timeout=10.0))
    )
    caller.start()
    deadline = time.monotonic() + 5
    while server.hanging == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.release_hangs()
    caller.join(timeout=5)
    assert result[0].json()["choices"][0]["message"]["content"] == "late"


# --- pacing ---


def test_tokens_per_second_paces_the_stream(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """N pieces at R tokens/s take at least about N/R seconds (lower bound only)."""
    content = " ".join(f"w{i}" for i in range(10))
    server.set_scenario(Scenario(reasoning="r1 r2", content=content, tokens_per_second=40.0))
    started = time.monotonic()
    _, events = stream_events(client, server.url("/chat/completions"), CHAT)
    elapsed = time.monotonic() - started
    assert joined(events, "content") == content
    assert elapsed >= 12 / 40.0 * 0.9


def test_close_during_paced_stream_is_prompt(client: httpx.Client) -> None:
    """close() interrupts a slow stream mid-way instead of waiting for it to finish."""
    threads_before = threading.active_count()
    srv = FakeOpenAIServer(Scenario(content="a " * 100, tokens_per_second=5.0))
    with client.stream("POST", srv.url("/chat/completions"), json={**CHAT, "stream": True}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
        close_without_hanging(srv)
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in lines:
                pass
    assert threading.active_count() == threads_before, threading.enumerate()


# --- recording and scenario selection ---


def test_requests_are_recorded(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Every request is recorded with method, path, lower-cased headers and parsed JSON body."""
    image = "data:image/png;base64,iVBORw0KGgo="
    body = {
        "model": "glm-4.6v",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": image}}, {"type": "text", "text": "What?"}],
            }
        ],
        "thinking": {"type": "enabled"},
    }
    client.get(server.url("/models"))
    response = client.post(server.url("/chat/completions"), json=body, headers={"Authorization": "Bearer k"})
    assert response.json()["usage"]["prompt_tokens"] == 256 + 1
    requests = server.requests
    assert [(r.method, r.route) for r in requests] == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
    chat = server.chat_requests[0]
    assert chat.body == body
    assert chat.body["messages"][0]["content"][0]["image_url"]["url"] == image
    assert chat.headers["authorization"] == "Bearer k"
    assert chat.headers["content-type"] == "application/json"
    assert json.loads(chat.raw_body) == body
    server.clear_requests()
    assert server.requests == []


def test_invalid_json_is_recorded_and_rejected(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """A non-JSON body is a 400 and is recorded with body None."""
    response = client.post(server.url("/chat/completions"), content=b"{nope", headers={"Content-Type": "text/plain"})
    assert response.status_code == 400
    assert server.requests[0].body is None
    assert server.requests[0].raw_body == b"{nope"


def test_queue_then_default(server: FakeOpenAIServer, client: httpx.Client) -> None:
    """Queued scenarios are consumed one per chat request (not by /models), then the default applies."""
    server.set_scenario(Scenario(reasoning="", content="default"))
    server.queue(zai_error(1302), Scenario(reasoning="", content="second"))
    assert client.get(server.url("/models")).status_code == 200
    assert server.queued == 2
    assert client.post(server.url("/chat/completions"), json=CHAT).status_code == 429
    second = client.post(server.url("/chat/completions"), json=CHAT).json()
    assert second["choices"][0]["message"]["content"] == "second"
    third = client.post(server.url("/chat/completions"), json=CHAT).json()
    assert third["choices"][0]["message"]["content"] == "default"
    assert server.queued == 0


def test_no_leftover_threads_with_open_keepalive_connection() -> None:
    """close() cuts idle keep-alive connections, so every handler thread is joined."""
    threads_before = threading.active_count()
    srv = FakeOpenAIServer()
    client = httpx.Client(timeout=5.0)
    try:
        assert client.post(srv.url("/chat/completions"), json=CHAT).status_code == 200
        assert client.get(srv.url("/models")).status_code == 200
        close_without_hanging(srv)
        assert threading.active_count() == threads_before, threading.enumerate()
    finally:
        client.close()


# --- helpers ---


@pytest.mark.parametrize(
    "text",
    ["Hello world", "  leading and trailing  ", "你好，世界！GLM-V 看图", "a\nb\n\nc", "", "x"],
)
def test_split_tokens_round_trips(text: str) -> None:
    """Pieces always concatenate back to the text."""
    assert "".join(split_tokens(text)) == text
    assert "".join(split_tokens(text, 4)) == text


def test_split_tokens_shapes() -> None:
    """Words keep their leading whitespace; CJK characters are single pieces."""
    assert split_tokens("Hello big world") == ["Hello", " big", " world"]
    assert split_tokens("你好 ok") == ["你", "好", " ok"]


def test_scenario_validation() -> None:
    """Nonsensical settings are rejected when the scenario is built."""
    with pytest.raises(ValueError, match="tokens_per_second"):
        Scenario(tokens_per_second=0)
    with pytest.raises(ValueError, match="chunk_chars"):
        Scenario(chunk_chars=0)
