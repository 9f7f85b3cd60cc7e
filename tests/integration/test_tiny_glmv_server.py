"""Stream chat completions with images from a tiny random GLM-V model served by ``transformers serve`` on CPU."""

import base64
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.tiny_glmv import ANSWER, REASONING, TinyGlmvServer, build_tiny_glmv

pytestmark = pytest.mark.tiny_model

REQUEST_TIMEOUT_S = 60.0


@pytest.fixture
def tiny_glmv_dir(tiny_model_dir: Path) -> Path:
    """The session's tiny GLM-V model (built once, in conftest)."""
    return tiny_model_dir


@pytest.fixture
def server(tiny_server: TinyGlmvServer) -> TinyGlmvServer:
    """The session's `transformers serve` (started once, in conftest)."""
    return tiny_server


def _png_data_url() -> str:
    """Return a 64x48 PNG, red on the left and blue on the right, as a data URL."""
    image = Image.new("RGB", (64, 48), (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 48))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _messages(image_url: str) -> list[dict[str, Any]]:
    """Return one user message with a text part and an image part."""
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": image_url}},
    ]
    return [{"role": "user", "content": parts}]


@dataclass
class Stream:
    """The raw lines and decoded chunks of one streamed chat completion."""

    status: int
    content_type: str
    lines: list[str] = field(default_factory=list)
    chunks: list[dict[str, Any]] = field(default_factory=list)

    def deltas(self, key: str) -> list[str]:
        """Return the non-empty ``key`` values of the chunk deltas, in order."""
        return [chunk["choices"][0]["delta"][key] for chunk in self.chunks if chunk["choices"][0]["delta"].get(key)]

    def kinds(self) -> list[str]:
        """Return ``reasoning`` or ``content`` for each chunk carrying text, in order."""
        kinds = []
        for chunk in self.chunks:
            delta = chunk["choices"][0]["delta"]
            kinds += [
                kind for kind, key in (("reasoning", "reasoning_content"), ("content", "content")) if delta.get(key)
            ]
        return kinds


def _stream_chat(server: TinyGlmvServer, **extra: Any) -> Stream:
    """POST a streamed chat completion with a PNG and parse its SSE lines."""
    body = {"model": server.model, "stream": True, "messages": _messages(_png_data_url()), **extra}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S) as response:
        stream = Stream(response.status_code, response.headers.get("content-type", ""))
        for line in response.iter_lines():
            stream.lines.append(line)
            if line.startswith("data: ") and line != "data: [DONE]":
                stream.chunks.append(json.loads(line.removeprefix("data: ")))
    return stream


def test_build_is_idempotent_and_deterministic(tiny_glmv_dir: Path, tmp_path: Path) -> None:
    """A second build call returns at once, and a fresh build writes the same files."""
    started = time.monotonic()
    assert build_tiny_glmv(tiny_glmv_dir) == tiny_glmv_dir
    assert time.monotonic() - started < 1.0
    fresh = build_tiny_glmv(tmp_path / "model")
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (fresh / name).read_bytes() == (tiny_glmv_dir / name).read_bytes(), name


def test_models_lists_the_pinned_model(server: TinyGlmvServer) -> None:
    """GET /v1/models lists the model folder path, already loaded."""
    response = httpx.get(f"{server.base_url}/models", timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 200
    (model,) = response.json()["data"]
    assert model["id"] == server.model
    assert model["status"] == {"value": "loaded"}


def test_thinking_stream_has_reasoning_then_content(server: TinyGlmvServer) -> None:
    """With thinking on, the stream carries reasoning deltas, then content deltas, then a plain close."""
    stream = _stream_chat(server)
    assert stream.status == 200
    assert stream.content_type.startswith("text/event-stream")
    assert stream.chunks[0]["choices"][0]["delta"] == {"role": "assistant"}
    assert all(chunk["model"] == server.model for chunk in stream.chunks)
    assert "".join(stream.deltas("reasoning_content")) == REASONING
    assert "".join(stream.deltas("content")) == ANSWER
    kinds = stream.kinds()
    assert kinds == sorted(kinds, key=("reasoning", "content").index)
    assert len(stream.deltas("reasoning_content")) > 1 and len(stream.deltas("content")) > 1
    final = stream.chunks[-1]
    assert final["choices"][0] == {"delta": {}, "index": 0, "finish_reason": "stop"}
    assert final["usage"]["completion_tokens"] > 0
    assert "data: [DONE]" not in stream.lines
    assert stream.lines[-1] == ""


def test_thinking_off_stream_has_only_content(server: TinyGlmvServer) -> None:
    """With enable_thinking false, the stream carries the answer as content only."""
    stream = _stream_chat(server, chat_template_kwargs={"enable_thinking": False})
    assert stream.status == 200
    assert stream.deltas("reasoning_content") == []
    assert "".join(stream.deltas("content")) == ANSWER
    assert stream.chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_cuts_the_reasoning(server: TinyGlmvServer) -> None:
    """A small max_tokens ends the stream inside the reasoning with finish_reason length."""
    stream = _stream_chat(server, max_tokens=3)
    assert stream.deltas("content") == []
    assert REASONING.startswith("".join(stream.deltas("reasoning_content")))
    assert stream.chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert stream.chunks[-1]["usage"]["completion_tokens"] == 3


def test_non_streamed_reply_splits_reasoning(server: TinyGlmvServer) -> None:
    """A non-streamed completion returns reasoning_content and content in one message."""
    body = {"model": server.model, "messages": _messages(_png_data_url())}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 200
    message = response.json()["choices"][0]["message"]
    assert message == {"role": "assistant", "content": ANSWER, "reasoning_content": REASONING}


@pytest.mark.parametrize(
    ("extra", "status", "detail"),
    [
        ({"bogus": 1}, 422, "Unexpected fields in the request: {'bogus'}"),
        ({"model": "someone/else"}, 400, "Server is pinned to"),
    ],
)
def test_rejected_requests_answer_json_detail(
    server: TinyGlmvServer, extra: dict[str, Any], status: int, detail: str
) -> None:
    """Unknown fields and another model name are refused with a JSON ``detail`` before any streaming."""
    body = {"model": server.model, "stream": True, "messages": [{"role": "user", "content": "hi"}], **extra}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"].startswith(detail)


def test_bad_image_is_a_plain_500(server: TinyGlmvServer) -> None:
    """An undecodable base64 image fails with a plain-text 500 before any streaming."""
    body = {"model": server.model, "stream": True, "messages": _messages("data:image/png;base64,AAAA")}
    response = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=REQUEST_TIMEOUT_S)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Internal Server Error"
