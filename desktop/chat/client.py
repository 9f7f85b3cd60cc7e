"""The async streaming client for OpenAI-compatible endpoints, over httpx.

We speak the wire protocol ourselves instead of using the openai SDK: we need the raw `[DONE]`
marker, non-JSON error bodies, per-server extension fields, and a light import (see
docs/adr/003-httpx-instead-of-openai-sdk.md). Every failure becomes a typed `ChatError`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from desktop.chat.errors import (
    BadResponse,
    ChatError,
    ConnectTimeout,
    ContentRejected,
    EndpointUnreachable,
    StreamInterrupted,
    StreamStalled,
    classify_http_error,
)
from desktop.chat.events import Finished, StreamEvent
from desktop.chat.parser import ReplyParser, SseDecoder
from desktop.config.profiles import EndpointProfile
from desktop.i18n import _
from desktop.secret import Secret

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeouts:
    """Connect timeout, and the longest silence allowed while reading."""

    connect: float = 10.0
    read: float = 120.0


@dataclass(frozen=True)
class Endpoint:
    """A profile resolved for use: its traits, URL and the key read from the keychain."""

    profile: EndpointProfile
    api_key: Secret | None = field(repr=False)

    def headers(self) -> dict[str, str]:
        """Request headers: JSON, event streams, and the bearer key when there is one."""
        headers = {"Accept": "application/json, text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        return headers

    def url(self, path: str) -> str:
        """Absolute URL of `path` under the profile's base URL."""
        return f"{self.profile.base_url.rstrip('/')}/{path.lstrip('/')}"


class ChatClient:
    """Streams replies and lists models; owns one pooled httpx client unless one is injected."""

    def __init__(self, http: httpx.AsyncClient | None = None, timeouts: Timeouts | None = None) -> None:
        self._http = http
        self._owns_http = http is None
        self._lock = threading.Lock()
        self.timeouts = timeouts or Timeouts()

    def _client(self) -> httpx.AsyncClient:
        with self._lock:
            if self._http is None:
                import httpx  # deferred: not needed until the first question

                # Creating it loads the CA bundle; `prepare()` does that off the UI thread ahead of time.
                self._http = httpx.AsyncClient(follow_redirects=True, trust_env=True)
            return self._http

    def prepare(self) -> None:
        """Import httpx and build the connection pool now (call from a worker thread), so the
        first question does not pay for it on the UI thread."""
        self._client()

    def _timeout(self) -> httpx.Timeout:
        import httpx

        t = self.timeouts
        return httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect)

    async def aclose(self) -> None:
        """Close the connection pool (if this client created it)."""
        if self._http is not None and self._owns_http:
            await self._http.aclose()
        self._http = None

    async def stream_reply(self, endpoint: Endpoint, body: dict[str, Any],
                           image_size: tuple[int, int] | None = None) -> AsyncIterator[StreamEvent]:
        """POST a streaming chat request and yield its events; raise a `ChatError` on failure.

        The reply is complete only if the server sent a finish reason or `[DONE]`; a stream
        that ends without either, or breaks, raises `StreamInterrupted` after the partial events.
        """
        import httpx

        parser = ReplyParser(endpoint.profile.traits.reasoning_fields, image_size)
        sse = SseDecoder()
        try:
            async with self._client().stream("POST", endpoint.url("chat/completions"), json=body,
                                             headers=endpoint.headers(), timeout=self._timeout()) as response:
                if response.status_code >= 400:
                    raw = (await response.aread()).decode("utf-8", "replace")
                    raise classify_http_error(response.status_code, raw, dict(response.headers),
                                              model=str(body.get("model", "")), base_url=endpoint.profile.base_url)
                content_type = response.headers.get("content-type", "")
                if "json" in content_type and "event-stream" not in content_type:
                    # A server that ignored stream=true: one whole completion.
                    for event in self._parse(parser, (await response.aread()).decode("utf-8", "replace"),
                                             endpoint, body):
                        yield event
                else:
                    async for line in response.aiter_lines():
                        data_line = sse.feed_line(line)
                        if data_line is None:
                            continue
                        for event in self._parse(parser, data_line, endpoint, body):
                            yield event
                    tail = sse.close()
                    if tail is not None:
                        for event in self._parse(parser, tail, endpoint, body):
                            yield event
        except ChatError:
            raise
        except httpx.ConnectTimeout as exc:
            raise ConnectTimeout(
                _("The server at {url} did not accept the connection within {s:.0f} s.").format(
                    url=endpoint.profile.base_url, s=self.timeouts.connect),
                _("Check that the server is running and reachable, or raise the connect timeout in Settings."),
                detail=repr(exc)) from exc
        except httpx.ConnectError as exc:
            raise EndpointUnreachable(
                _("Could not reach the server at {url}.").format(url=endpoint.profile.base_url),
                _("Check the address in Settings → Endpoints and that the server is running (for a local "
                  "server: is it started and listening on that port?)."), detail=str(exc)) from exc
        except httpx.ReadTimeout as exc:
            raise StreamStalled(
                _("The server stopped sending for {s:.0f} s.").format(s=self.timeouts.read),
                _("Retry; if the server is busy or slow to start, raise the read timeout in Settings."),
                detail=repr(exc)) from exc
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.NetworkError) as exc:
            if not parser.saw_finish:
                raise StreamInterrupted(
                    _("The connection to the server broke before the answer finished."),
                    _("The partial answer is kept. Retry to ask again."), detail=repr(exc)) from exc
            # The answer was finished; only the trailer (usage, [DONE]) was lost.
            log.info("Connection closed after the finish reason: %r", exc)
        except httpx.HTTPError as exc:
            raise BadResponse(_("The request to {url} failed: {error}").format(
                url=endpoint.profile.base_url, error=exc), _("Retry; the details show what happened."),
                detail=repr(exc)) from exc
        for event in parser.close():
            yield event
        self._check_finish(parser.finish_reason, parser.saw_finish or sse.saw_done, endpoint)
        yield Finished(parser.finish_reason)

    @staticmethod
    def _check_finish(reason: str | None, finished: bool, endpoint: Endpoint) -> None:
        """Raise for an answer that did not end normally (the partial answer stays with the caller)."""
        if not finished:
            ending = (_("neither a finish reason nor [DONE]") if endpoint.profile.traits.streams_done
                      else _("no finish reason"))
            raise StreamInterrupted(
                _("The server closed the answer early: it sent {ending}.").format(ending=ending),
                _("The partial answer is kept. Retry to ask again; if this repeats, the server may be "
                  "crashing (check its log)."))
        if reason == "sensitive":
            raise ContentRejected(
                _("The provider's safety check stopped the answer partway."),
                _("The part that arrived is kept. Rephrase the question or crop the picture, then send again."),
                code="sensitive")
        if reason in ("network_error", "abort", "error"):
            raise StreamInterrupted(
                _("The server aborted the answer ({reason}).").format(reason=reason),
                _("The partial answer is kept. Retry to ask again."), code=reason)

    @staticmethod
    def _parse(parser: ReplyParser, data: str, endpoint: Endpoint, body: dict[str, Any]) -> list[StreamEvent]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise BadResponse(_("The server sent something that is not an OpenAI-compatible stream."),
                              _("Check the endpoint URL: it should end with /v1 (or /api/paas/v4 for the cloud)."),
                              detail=data[:500]) from exc
        if isinstance(chunk, dict) and "error" in chunk and not chunk.get("choices"):
            # An error reported inside a stream that had already started (cloud and vLLM do this).
            error = chunk["error"]
            code = error.get("code") if isinstance(error, dict) else None
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            raise classify_http_error(status, data, {}, model=str(body.get("model", "")),
                                      base_url=endpoint.profile.base_url)
        try:
            if not isinstance(chunk, dict):
                raise ValueError("a stream event is not a JSON object")
            return parser.feed_chunk(chunk)
        except ValueError as exc:
            raise BadResponse(_("The server sent something that is not an OpenAI-compatible stream."),
                              _("Check the endpoint URL and type in Settings."), detail=f"{exc}: {data[:500]}") from exc

    async def list_models(self, endpoint: Endpoint) -> list[str]:
        """The model ids the server offers (`GET /models`)."""
        data = await self._get_json(endpoint, "models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise BadResponse(_("The server's model list is not in the OpenAI format."),
                              _("Check the endpoint URL: it should end with /v1 (or /api/paas/v4 for the cloud)."),
                              detail=json.dumps(data)[:500])
        return [str(item["id"]) for item in items if isinstance(item, dict) and "id" in item]

    async def _get_json(self, endpoint: Endpoint, path: str) -> Any:
        import httpx

        try:
            response = await self._client().get(endpoint.url(path), headers=endpoint.headers(),
                                                 timeout=self._timeout())
        except (httpx.ConnectTimeout, httpx.ReadTimeout, httpx.PoolTimeout) as exc:
            raise ConnectTimeout(_("The server at {url} did not answer in time.").format(
                url=endpoint.profile.base_url), _("Check that the server is running and not overloaded; a "
                                                  "local server may still be loading its model."),
                detail=repr(exc)) from exc
        except httpx.HTTPError as exc:
            raise EndpointUnreachable(
                _("Could not reach the server at {url}.").format(url=endpoint.profile.base_url),
                _("Check the address in Settings → Endpoints and that the server is running."),
                detail=str(exc)) from exc
        if response.status_code >= 400:
            raise classify_http_error(response.status_code, response.text, dict(response.headers),
                                      base_url=endpoint.profile.base_url)
        try:
            return response.json()
        except ValueError as exc:
            raise BadResponse(_("The server did not answer with JSON."),
                              _("Check the endpoint URL: it should end with /v1 (or /api/paas/v4 for the cloud)."),
                              detail=response.text[:500]) from exc

