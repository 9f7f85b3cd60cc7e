"""A protocol-faithful fake OpenAI-compatible chat server (vLLM / SGLang / Z.ai / llama.cpp / transformers serve).

It produces the wire shapes the real GLM-V servers produce but a tiny real model server cannot: vLLM's
``reasoning`` delta field, the ``[DONE]`` marker (or its absence), Z.ai error bodies and business codes,
401/429/5xx answers, a stream that stops halfway, a server that accepts and never answers, token-paced
streams and plain-text 500 bodies.  Standard library only.

Usage::

    with FakeOpenAIServer() as server:
        server.set_scenario(VLLM_NEW)                      # every following request
        server.queue(zai_error(1305), Scenario(content="ok"))  # the next two chat requests
        httpx.post(server.url("/chat/completions"), json={...})
        assert server.chat_requests[-1].body["model"] == "glm-4.6v"
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import socket
import struct
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = [
    "API_PREFIXES",
    "DEFAULT_CONTENT",
    "DEFAULT_MODEL",
    "DEFAULT_REASONING",
    "LLAMA_CPP",
    "SGLANG",
    "TRANSFORMERS_SERVE",
    "VLLM_NEW",
    "VLLM_OLD",
    "VLLM_UNAUTHORIZED_BODY",
    "ZAI",
    "ZAI_ERRORS",
    "FakeOpenAIServer",
    "RecordedRequest",
    "Scenario",
    "openai_error",
    "openai_error_body",
    "plain_text_500",
    "split_tokens",
    "vllm_error_body",
    "vllm_not_found",
    "vllm_not_vision",
    "zai_error",
    "zai_error_body",
]

DEFAULT_MODEL = "glm-4.6v"
DEFAULT_REASONING = "The user greets me. I should greet them back."
DEFAULT_CONTENT = "Hello! How can I help you today?"
# Route prefixes served: OpenAI / vLLM style and the Z.ai / BigModel styles (general and coding plan).
API_PREFIXES: tuple[str, ...] = ("/v1", "/api/paas/v4", "/api/coding/paas/v4")
# vLLM's --api-key middleware answers a missing or wrong key with exactly this 401 body.
VLLM_UNAUTHORIZED_BODY = '{"error":"Unauthorized"}'

# Z.ai / BigModel business codes: code -> (HTTP status, Chinese message, English message).
# Chinese texts follow docs.bigmodel.cn/cn/api/api-code; api.z.ai answers in English for Accept-Language: en.
ZAI_ERRORS: dict[str, tuple[int, str, str]] = {
    "1000": (401, "身份验证失败。", "Authentication failed."),
    "1001": (
        401,
        "Header中未收到Authorization参数，无法进行身份验证。",
        "Authorization parameter not received in header, unable to authenticate.",
    ),
    "1002": (
        401,
        "Authorization Token非法，请确认Authorization Token正确传递。",
        "Authorization Token is invalid, please confirm the Authorization Token is passed correctly.",
    ),
    "1003": (
        401,
        "Authorization Token过期，请重新生成/获取。",
        "Authorization Token has expired, please regenerate/obtain it.",
    ),
    "1004": (401, "Authorization Token验证失败。", "Authorization Token verification failed."),
    "1113": (429, "您的账户已欠费，请充值后重试。", "Insufficient balance or no resource package. Please recharge."),
    "1211": (400, "模型不存在，请检查模型代码。", "Unknown Model, please check the model code."),
    "1261": (400, "Prompt 超长。", "Prompt exceeds max length."),
    "1301": (
        400,
        "系统检测到输入或生成内容可能包含不安全或敏感内容，请您避免输入易产生敏感内容的提示语，感谢您的配合。",
        "System detected potentially unsafe or sensitive content in input or generation. "
        "Please avoid using prompts that may generate sensitive content. Thank you for your cooperation.",
    ),
    "1302": (
        429,
        "您当前使用该API的并发数过高，请降低并发，或联系客服增加限额。",
        "High concurrency usage of this API, please reduce concurrency or contact customer service to increase limits.",
    ),
    "1303": (
        429,
        "您当前使用该API的频率过高，请降低频率，或联系客服增加限额。",
        "High frequency usage of this API, please reduce frequency or contact customer service to increase limits.",
    ),
    "1304": (
        429,
        "该API已达今日调用次数限额，如有更多需求，请联系客服购买。",
        "Daily call limit for this API reached, please contact customer service to purchase more.",
    ),
    "1305": (
        429,
        "该API已触发流量限制。",
        "The service may be temporarily overloaded, please try again later",
    ),
}

# One "token": optional leading whitespace, then a single CJK character or a run of other non-space characters;
# trailing whitespace at the very end is its own piece, so "".join(pieces) == text always holds.
_CJK = "\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef"
_TOKEN_RE = re.compile(rf"\s*(?:[{_CJK}]|[^\s{_CJK}]+)|\s+")
_IMAGE_PROMPT_TOKENS = 256


def split_tokens(text: str, chunk_chars: int | None = None) -> list[str]:
    """Split text into stream pieces: words keeping their leading whitespace (one per CJK char), or fixed-size."""
    if not text:
        return []
    if chunk_chars is not None:
        return [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)]
    return _TOKEN_RE.findall(text)


@dataclass(frozen=True)
class Scenario:
    """How the fake server answers a request; immutable, derive variants with ``evolve`` or ``dataclasses.replace``."""

    # --- the reply ---
    reasoning: str = DEFAULT_REASONING
    content: str = DEFAULT_CONTENT
    # "reasoning_content" (old vLLM, SGLang, Z.ai, llama.cpp), "reasoning" (new vLLM), "" = inline <think>…</think>.
    reasoning_field: str = "reasoning_content"
    think_open_tag: bool = True  # inline mode only: emit "<think>" (False mimics a template that pre-fills it)
    think_close_tag: bool = True  # inline mode only: emit "</think>"
    chunk_chars: int | None = None  # stream fixed-size pieces instead of words
    finish_reason: str = "stop"  # "stop", "length", Z.ai's "sensitive", ...
    prompt_tokens: int | None = None  # usage.prompt_tokens; None = a rough estimate from the request
    # --- stream framing ---
    done_marker: bool = True  # send "data: [DONE]" (transformers serve does not)
    usage_in_final_chunk: bool = False  # put "usage" on the finish chunk itself (Z.ai style), regardless of request
    tokens_per_second: float | None = None  # pace reasoning/content pieces; also delays a non-stream reply
    # --- failures ---
    drop_after_chunks: int | None = None  # close the socket after N reasoning/content pieces, no chunked terminator
    drop_with_reset: bool = False  # drop with a TCP RST instead of a FIN
    hang: bool = False  # read the request, then never answer until release_hangs() or close()
    hang_after_headers: bool = False  # send 200 + headers (+ the role chunk when streaming), then stall
    stream_error: str | None = None  # raw JSON sent as an SSE "data:" event mid-stream, then [DONE], no finish chunk
    stream_error_after_chunks: int = 0
    status: int = 200  # != 200 answers a chat request with error_body
    error_body: str | None = None  # raw body text; None with status != 200 = a generic OpenAI-style body
    error_content_type: str = "application/json"
    zai_error_code: str | None = None  # with error_body None: a Z.ai body in the request's Accept-Language
    headers: Mapping[str, str] = field(default_factory=dict)  # extra response headers (chat and, if applied, models)
    apply_to_models: bool = False  # status/error/hang also apply to GET /models (default scenario only)
    # --- server identity ---
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    owned_by: str = "vllm"
    reject_unknown_model: bool = False  # a chat "model" not in models gets vLLM's 404
    require_api_key: str | None = None  # demand "Authorization: Bearer <key>" on /models and /chat/completions
    auth_error_body: str | None = None  # body of that 401; None = OpenAI-style invalid_api_key

    def __post_init__(self) -> None:
        """Reject nonsensical settings early."""
        if self.tokens_per_second is not None and self.tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be positive")
        if self.chunk_chars is not None and self.chunk_chars <= 0:
            raise ValueError("chunk_chars must be positive")
        if self.drop_after_chunks is not None and self.drop_after_chunks < 0:
            raise ValueError("drop_after_chunks must be >= 0")

    def evolve(self, **changes: Any) -> Scenario:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def is_error(self) -> bool:
        """Whether this scenario answers with an error body instead of a completion."""
        return self.status != 200 or self.error_body is not None or self.zai_error_code is not None

    def pieces(self) -> list[tuple[str, str]]:
        """The (delta field, text) pieces of the reply in stream order, reasoning first."""
        if self.reasoning_field:
            return [(self.reasoning_field, p) for p in split_tokens(self.reasoning, self.chunk_chars)] + [
                ("content", p) for p in split_tokens(self.content, self.chunk_chars)
            ]
        inline: list[str] = ["<think>"] if self.think_open_tag else []
        inline += split_tokens(self.reasoning, self.chunk_chars)
        inline += ["</think>"] if self.think_close_tag else []
        inline += split_tokens(self.content, self.chunk_chars)
        return [("content", p) for p in inline]


# Flavour presets (derive with .evolve(content=..., ...)).
VLLM_NEW = Scenario(reasoning_field="reasoning")
VLLM_OLD = Scenario(reasoning_field="reasoning_content")
SGLANG = Scenario(reasoning_field="reasoning_content", owned_by="sglang")
ZAI = Scenario(reasoning_field="reasoning_content", owned_by="z-ai", usage_in_final_chunk=True)
LLAMA_CPP = Scenario(reasoning_field="reasoning_content", owned_by="llamacpp")
TRANSFORMERS_SERVE = Scenario(reasoning_field="", done_marker=False, owned_by="transformers")


def _dumps(obj: Any) -> str:
    """Serialise JSON compactly with raw UTF-8, as the real servers do."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def zai_error_body(code: int | str, *, english: bool = False) -> str:
    """The Z.ai / BigModel error body for a business code."""
    key = str(code)
    _status, zh, en = ZAI_ERRORS[key]
    return _dumps({"error": {"code": key, "message": en if english else zh}})


def zai_error(code: int | str, *, english: bool | None = None, retry_after: int | None = 1) -> Scenario:
    """A Z.ai error answer; english=None picks the language from the request's Accept-Language per request."""
    key = str(code)
    status = ZAI_ERRORS[key][0]
    headers = {"Retry-After": str(retry_after)} if status == 429 and retry_after is not None else {}
    body = None if english is None else zai_error_body(key, english=english)
    return Scenario(status=status, error_body=body, zai_error_code=key, headers=headers, owned_by="z-ai")


def vllm_error_body(message: str, error_type: str, code: int, *, nested: bool = False) -> str:
    """A vLLM error body: flat ``{"object":"error",...}`` (vLLM >= 0.6) or nested ``{"error":{...}}`` (newer)."""
    detail = {"message": message, "type": error_type, "param": None, "code": code}
    return _dumps({"error": detail} if nested else {"object": "error", **detail})


def openai_error_body(message: str, error_type: str, code: str | int | None = None) -> str:
    """An OpenAI-style nested error body."""
    return _dumps({"error": {"message": message, "type": error_type, "param": None, "code": code}})


def openai_error(status: int, message: str | None = None, *, retry_after: int | None = None) -> Scenario:
    """A generic OpenAI-style error answer with the given HTTP status (and Retry-After when asked)."""
    phrase = HTTPStatus(status).phrase
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    error_type = "rate_limit_error" if status == 429 else phrase.replace(" ", "")
    return Scenario(status=status, error_body=openai_error_body(message or phrase, error_type, status), headers=headers)


def vllm_not_found(model: str, *, nested: bool = False) -> Scenario:
    """vLLM's answer to an unknown model name (HTTP 404)."""
    body = vllm_error_body(f"The model `{model}` does not exist.", "NotFoundError", 404, nested=nested)
    return Scenario(status=404, error_body=body)


def vllm_not_vision(
    message: str = "At most 0 image(s) may be provided in one request.", *, nested: bool = False
) -> Scenario:
    """vLLM's answer to an image sent to a text-only model (HTTP 400)."""
    return Scenario(status=400, error_body=vllm_error_body(message, "BadRequestError", 400, nested=nested))


def plain_text_500() -> Scenario:
    """transformers serve's answer to a bad image: a bare text/plain "Internal Server Error" 500."""
    return Scenario(status=500, error_body="Internal Server Error", error_content_type="text/plain; charset=utf-8")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake server received it."""

    method: str
    path: str  # the full request target, query included
    headers: dict[str, str]  # lower-cased names
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    raw_body: bytes

    @property
    def route(self) -> str:
        """The path without its query string."""
        return urlsplit(self.path).path

    @property
    def is_chat(self) -> bool:
        """Whether this was a chat completion request."""
        return self.route.endswith("/chat/completions")


def _estimate_prompt_tokens(body: Any) -> int:
    """A rough prompt token count: text pieces plus a fixed cost per image."""
    if not isinstance(body, dict):
        return 0
    total = 0
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += len(split_tokens(content))
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text":
                    total += len(split_tokens(str(part.get("text", ""))))
                elif part.get("type") in ("image_url", "image", "video_url"):
                    total += _IMAGE_PROMPT_TOKENS
    return total


class _Aborted(Exception):
    """Raised inside a handler when the server is closing or the scenario drops the connection."""


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer with daemon handler threads that it still tracks, so close() can cut and join them."""

    daemon_threads = True  # a forgotten server never blocks interpreter exit ...

    def __init__(self, owner: FakeOpenAIServer) -> None:
        """Bind to an ephemeral loopback port."""
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._handlers: list[threading.Thread] = []  # ... but socketserver does not join daemon threads: we do
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection (Nagle off, as uvicorn does) and serve it in a tracked daemon thread."""
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="fake-openai-handler",
            daemon=True,
        )
        with self._connections_lock:
            self._connections.add(request)
            self._handlers = [t for t in self._handlers if t.is_alive()]
            self._handlers.append(thread)
        thread.start()

    def join_handlers(self, timeout: float) -> None:
        """Wait for every handler thread to end."""
        deadline = time.monotonic() + timeout
        with self._connections_lock:
            handlers = list(self._handlers)
        for thread in handlers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def shutdown_request(self, request: Any) -> None:
        """Forget the connection once its handler is done."""
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        """Shut down every live connection, unblocking handlers stuck in recv or send."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore disconnects; record and print anything else."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError | _Aborted):
            return
        if exc is not None:
            self.owner._record_error(exc)
        traceback.print_exc(file=sys.stderr)


class _Handler(BaseHTTPRequestHandler):
    """Serves /health, /models and /chat/completions according to the owner's scenarios."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def version_string(self) -> str:
        """Identify as uvicorn, like vLLM, SGLang and transformers serve."""
        return "uvicorn"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        """Dispatch a GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Dispatch a POST."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Dispatch a PUT."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Dispatch a DELETE."""
        self._dispatch()

    # --- plumbing ---

    @property
    def _owner(self) -> FakeOpenAIServer:
        """The FakeOpenAIServer this handler serves."""
        return self.server.owner

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send a complete response with a Content-Length."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        """Send a JSON response."""
        self._send(status, _dumps(obj).encode(), "application/json", headers)

    def _hang(self) -> None:
        """Block until release_hangs() (return) or close() (raise _Aborted)."""
        if not self._owner._wait_hang():
            self._drop(reset=False)

    def _drop(self, *, reset: bool) -> None:
        """Cut the connection abruptly (FIN, or RST with reset=True) and abandon the request."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.rfile.close()  # drop makefile()'s reference so close() really closes the fd
                self.connection.close()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
        raise _Aborted

    def _pause(self, seconds: float) -> None:
        """Sleep, but abort at once when the server closes."""
        if seconds > 0 and self._owner._stop.wait(seconds):
            self._drop(reset=False)

    # --- routing ---

    def _dispatch(self) -> None:
        """Record the request, route it and turn aborts into a quiet disconnect."""
        raw = self._read_body()
        try:
            body: Any = json.loads(raw) if raw else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        headers = {name.lower(): value for name, value in self.headers.items()}
        self._owner._record(RecordedRequest(self.command, self.path, headers, body, raw))
        route = urlsplit(self.path).path
        try:
            self._route(route, body, bad_json)
        except _Aborted:
            self.close_connection = True

    def _route(self, route: str, body: Any, bad_json: bool) -> None:
        """Answer one request."""
        if route == "/health":
            if self.command != "GET":
                self._send_json(405, {"detail": "Method Not Allowed"})
            else:
                self._send(200, b"")
            return
        for prefix in API_PREFIXES:
            if route == f"{prefix}/models":
                if self.command != "GET":
                    self._send_json(405, {"detail": "Method Not Allowed"})
                else:
                    self._models(self._owner.scenario)
                return
            if route == f"{prefix}/chat/completions":
                if self.command != "POST":
                    self._send_json(405, {"detail": "Method Not Allowed"})
                else:
                    self._chat(self._owner._next_scenario(), body, bad_json)
                return
        self._send_json(404, {"detail": "Not Found"})

    def _authorized(self, scenario: Scenario) -> bool:
        """Check the bearer key; answer 401 and return False when it is wrong."""
        if scenario.require_api_key is None:
            return True
        if self.headers.get("Authorization", "") == f"Bearer {scenario.require_api_key}":
            return True
        body = scenario.auth_error_body or openai_error_body(
            "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
        )
        self._send(401, body.encode(), "application/json", {"WWW-Authenticate": "Bearer"})
        return False

    def _send_error_scenario(self, scenario: Scenario) -> None:
        """Answer with the scenario's error status and body."""
        status = scenario.status if scenario.status != 200 else 500
        if scenario.error_body is not None:
            text, content_type = scenario.error_body, scenario.error_content_type
        elif scenario.zai_error_code is not None:
            english = self.headers.get("Accept-Language", "").strip().lower().startswith("en")
            text, content_type = zai_error_body(scenario.zai_error_code, english=english), "application/json"
        else:
            phrase = HTTPStatus(status).phrase
            text, content_type = openai_error_body(phrase, phrase.replace(" ", ""), status), "application/json"
        self._send(status, text.encode(), content_type, scenario.headers)

    def _models(self, scenario: Scenario) -> None:
        """Answer GET /models."""
        if not self._authorized(scenario):
            return
        if scenario.apply_to_models:
            if scenario.hang:
                self._hang()
            if scenario.is_error:
                self._send_error_scenario(scenario)
                return
        data = [
            {"id": m, "object": "model", "created": self._owner.created, "owned_by": scenario.owned_by}
            for m in scenario.models
        ]
        self._send_json(200, {"object": "list", "data": data}, scenario.headers if scenario.apply_to_models else None)

    def _chat(self, scenario: Scenario, body: Any, bad_json: bool) -> None:
        """Answer POST /chat/completions."""
        if scenario.hang:
            self._hang()
        if not self._authorized(scenario):
            return
        if scenario.is_error:
            self._send_error_scenario(scenario)
            return
        if bad_json or not isinstance(body, dict):
            self._send(400, vllm_error_body("Invalid JSON body", "BadRequestError", 400).encode())
            return
        model = body.get("model") or scenario.models[0]
        if scenario.reject_unknown_model and model not in scenario.models:
            self._send(404, vllm_error_body(f"The model `{model}` does not exist.", "NotFoundError", 404).encode())
            return
        reply = _Reply(scenario, str(model), body)
        if body.get("stream") is True:
            self._stream(scenario, reply, body)
        else:
            self._complete(scenario, reply)

    # --- completions ---

    def _complete(self, scenario: Scenario, reply: _Reply) -> None:
        """Answer a non-streaming request with one chat.completion object."""
        if scenario.tokens_per_second:
            self._pause(len(reply.pieces) / scenario.tokens_per_second)
        payload = _dumps(reply.completion()).encode()
        if scenario.hang_after_headers or scenario.drop_after_chunks is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in scenario.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if scenario.hang_after_headers:
                self._hang()
            if scenario.drop_after_chunks is not None:
                self.wfile.write(payload[: len(payload) // 2])
                self._drop(reset=scenario.drop_with_reset)
            self.wfile.write(payload)
            return
        self._send(200, payload, "application/json", scenario.headers)

    def _write_chunk(self, data: bytes) -> None:
        """Write one HTTP/1.1 chunk."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: str) -> None:
        """Write one SSE event as its own HTTP chunk."""
        self._write_chunk(f"data: {payload}\n\n".encode())

    def _finish_stream(self, scenario: Scenario) -> None:
        """Send [DONE] when the flavour does, then the chunked terminator."""
        if scenario.done_marker:
            self._event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stream(self, scenario: Scenario, reply: _Reply, body: dict[str, Any]) -> None:
        """Answer a streaming request with SSE chunks over chunked transfer encoding."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        for name, value in scenario.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self._event(_dumps(reply.chunk({"role": "assistant", "content": ""})))
        if scenario.hang_after_headers:
            self._hang()
        interval = 1.0 / scenario.tokens_per_second if scenario.tokens_per_second else 0.0
        for sent, (name, text) in enumerate(reply.pieces):
            if scenario.drop_after_chunks is not None and sent >= scenario.drop_after_chunks:
                self._drop(reset=scenario.drop_with_reset)
            if scenario.stream_error is not None and sent >= scenario.stream_error_after_chunks:
                break
            self._pause(interval)
            self._event(_dumps(reply.chunk({name: text})))
        if scenario.drop_after_chunks is not None:
            self._drop(reset=scenario.drop_with_reset)
        if scenario.stream_error is not None:
            self._event(scenario.stream_error)
            self._finish_stream(scenario)
            return
        final = reply.chunk({}, finish_reason=scenario.finish_reason)
        if scenario.usage_in_final_chunk:
            final["usage"] = reply.usage()
        self._event(_dumps(final))
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            self._event(_dumps({**reply.envelope("chat.completion.chunk"), "choices": [], "usage": reply.usage()}))
        self._finish_stream(scenario)


class _Reply:
    """Builds the JSON objects of one completion in the scenario's flavour."""

    def __init__(self, scenario: Scenario, model: str, body: dict[str, Any]) -> None:
        """Fix the id, timestamp, pieces and usage of this reply."""
        self.scenario = scenario
        self.model = model
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.pieces = scenario.pieces()
        self.prompt_tokens = (
            scenario.prompt_tokens if scenario.prompt_tokens is not None else _estimate_prompt_tokens(body)
        )

    def envelope(self, obj: str) -> dict[str, Any]:
        """The id/object/created/model header shared by every object of this reply."""
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model}

    def usage(self) -> dict[str, int]:
        """The usage block."""
        completion = len(self.pieces)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        """One chat.completion.chunk object."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self.envelope("chat.completion.chunk"), "choices": [choice]}

    def completion(self) -> dict[str, Any]:
        """The whole non-streaming chat.completion object."""
        message: dict[str, Any] = {"role": "assistant"}
        if self.scenario.reasoning_field:
            message["content"] = "".join(t for f, t in self.pieces if f == "content")
            message[self.scenario.reasoning_field] = (
                "".join(t for f, t in self.pieces if f == self.scenario.reasoning_field) or None
            )
        else:
            message["content"] = "".join(t for _, t in self.pieces)
        message["tool_calls"] = []
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.scenario.finish_reason}
        return {**self.envelope("chat.completion"), "choices": [choice], "usage": self.usage()}


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on 127.0.0.1:<ephemeral> in a daemon thread; a context manager."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        """Start serving at once with the given default scenario."""
        self._lock = threading.Lock()
        self._scenario = scenario or Scenario()
        self._queue: list[Scenario] = []
        self._requests: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._hangs: set[threading.Event] = set()
        self._request_seen = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._closed = False
        self.created = int(time.time())
        self._httpd = _HTTPServer(self)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai-server", daemon=True
        )
        self._thread.start()

    # --- addresses ---

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"{self.root_url}/v1"

    @property
    def zai_base_url(self) -> str:
        """The Z.ai-style base URL, ``http://127.0.0.1:PORT/api/paas/v4``."""
        return f"{self.root_url}/api/paas/v4"

    def url(self, path: str) -> str:
        """An absolute URL: paths starting with /v1, /api or /health are taken as is, others go under /v1."""
        path = path if path.startswith("/") else f"/{path}"
        if path.startswith(("/v1/", "/api/", "/health")) or path == "/v1":
            return f"{self.root_url}{path}"
        return f"{self.base_url}{path}"

    # --- scenarios ---

    @property
    def scenario(self) -> Scenario:
        """The default scenario (used when the queue is empty, and for /models)."""
        with self._lock:
            return self._scenario

    def set_scenario(self, scenario: Scenario) -> None:
        """Use this scenario for all following requests (after any queued ones)."""
        with self._lock:
            self._scenario = scenario

    def queue(self, *scenarios: Scenario) -> None:
        """Queue scenarios consumed one per chat request before falling back to the default."""
        with self._lock:
            self._queue.extend(scenarios)

    @property
    def queued(self) -> int:
        """How many queued scenarios are still unused."""
        with self._lock:
            return len(self._queue)

    def _next_scenario(self) -> Scenario:
        """Pop the next queued scenario, or the default."""
        with self._lock:
            return self._queue.pop(0) if self._queue else self._scenario

    # --- recorded traffic ---

    def _record(self, request: RecordedRequest) -> None:
        """Remember a received request and wake waiters."""
        with self._request_seen:
            self._requests.append(request)
            self._request_seen.notify_all()

    def _record_error(self, exc: BaseException) -> None:
        """Remember an unexpected handler exception."""
        with self._lock:
            self._errors.append(exc)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """A snapshot of the chat completion requests received so far."""
        return [r for r in self.requests if r.is_chat]

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions raised inside handlers (disconnects excluded)."""
        with self._lock:
            return list(self._errors)

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._requests.clear()

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Wait until at least count requests have arrived; raise TimeoutError otherwise."""
        with self._request_seen:
            if not self._request_seen.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"{len(self._requests)} of {count} requests arrived within {timeout} s")
            return list(self._requests)

    # --- hangs and shutdown ---

    def _wait_hang(self) -> bool:
        """Block a handler until released (True) or the server closes (False)."""
        event = threading.Event()
        with self._lock:
            if self._stop.is_set():
                return False
            self._hangs.add(event)
        try:
            event.wait()
        finally:
            with self._lock:
                self._hangs.discard(event)
        return not self._stop.is_set()

    @property
    def hanging(self) -> int:
        """How many handlers are currently stalled by hang / hang_after_headers."""
        with self._lock:
            return len(self._hangs)

    def release_hangs(self) -> None:
        """Let every currently stalled handler carry on and answer normally."""
        with self._lock:
            for event in self._hangs:
                event.set()

    def close(self) -> None:
        """Stop serving, abort hanging handlers, cut live connections and join every thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            for event in self._hangs:
                event.set()
        self._httpd.shutdown()
        self._httpd.cut_connections()
        self._httpd.server_close()
        self._httpd.join_handlers(timeout=5)
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        """Return the running server."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close the server."""
        self.close()
