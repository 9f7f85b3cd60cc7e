"""Typed errors for talking to endpoints, and the classifier that turns an HTTP failure into one.

Each error carries the server's own message (so nothing is hidden) and a hint that says what to
do. Z.ai / BigModel report a business code in the body; OpenAI-style servers use the HTTP status
and a message; transformers serve may answer with plain text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from desktop.errors import UserFacingError
from desktop.i18n import _


class ChatError(UserFacingError):
    """Any failure of a request to an endpoint."""

    retryable = True

    def __init__(self, message: str, hint: str = "", *, detail: str = "", status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, hint, detail=detail)
        self.status = status
        self.code = code


class EndpointUnreachable(ChatError):
    """The server did not accept a connection."""


class ConnectTimeout(ChatError):
    """The server took too long to accept the connection."""


class StreamStalled(ChatError):
    """The server went silent for longer than the read timeout."""


class StreamInterrupted(ChatError):
    """The connection broke before the answer finished."""


class AuthRejected(ChatError):
    """The API key is missing, wrong or expired."""

    retryable = False


class NoBalance(ChatError):
    """The cloud account has no balance or resource package."""

    retryable = False


class ContentRejected(ChatError):
    """The provider's safety system refused the input or output."""

    retryable = False


class RateLimited(ChatError):
    """Too many requests, or the service is overloaded."""

    def __init__(self, message: str, hint: str = "", *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, hint, **kwargs)
        self.retry_after = retry_after


class ModelNotFound(ChatError):
    """The server does not have the model that was asked for."""

    retryable = False


class NotAVisionModel(ChatError):
    """The model behind the endpoint cannot read images."""

    retryable = False


class ServerFailed(ChatError):
    """The server answered with a 5xx error."""


class RequestRejected(ChatError):
    """The server refused the request as malformed (4xx)."""

    retryable = False


class BadResponse(ChatError):
    """The server's reply was not the OpenAI-compatible protocol."""


_ZAI_AUTH = {"1000", "1001", "1002", "1003", "1004"}
_ZAI_RATE = {"1302", "1303", "1304", "1305"}
_ZAI_MODEL = {"1211", "1220", "1221", "1222"}
_VISION_PATTERNS = re.compile(
    r"not a multimodal model|does not support (image|vision|multimodal)|image input is not supported|"
    r"at most 0 image|no image processor|multimodal.*not supported|image_url.*not supported|"
    r"mmproj|vision is not enabled",
    re.IGNORECASE,
)
_MODEL_PATTERNS = re.compile(r"model .*(does not exist|not found|unknown)|unknown model|no such model",
                             re.IGNORECASE)


def _server_message(body: str) -> tuple[str, str | None]:
    """The message and business code inside an error body (JSON of any common shape, or text)."""
    text = body.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return (text[:500] or _("(no message)")), None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            message = error.get("message") or error.get("msg") or data.get("message") or data.get("detail")
            code = error.get("code", data.get("code"))
            return str(message if message is not None else text[:500]), (str(code) if code is not None else None)
        if isinstance(error, str):
            return error, None
        detail = data.get("detail")
        if detail is not None:
            return json.dumps(detail, ensure_ascii=False)[:500], None
    return text[:500], None


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify_http_error(status: int, body: str, headers: dict[str, str], *, model: str = "",
                        base_url: str = "") -> ChatError:
    """Turn an HTTP error response into the typed error the user sees."""
    server_says, code = _server_message(body)
    detail = _("HTTP {status} from {url}: {body}").format(status=status, url=base_url, body=body.strip()[:2000])
    said = _("The server said: {message}").format(message=server_says)
    kw: dict[str, Any] = {"detail": detail, "status": status, "code": code}
    if code == "1113":
        return NoBalance(_("Your account has no balance or resource package left. {said}").format(said=said),
                         _("Top up or buy a resource package in the provider's console, then retry."), **kw)
    if code == "1301":
        return ContentRejected(
            _("The provider's safety check refused this request. {said}").format(said=said),
            _("Rephrase the question or crop the picture to what matters, then send again."), **kw)
    if code in _ZAI_RATE or status == 429:
        wait = _retry_after(headers)
        hint = (_("Wait {seconds:.0f} s, then retry.").format(seconds=wait) if wait
                else _("Wait a moment and retry; a slower pace or a higher plan avoids this."))
        return RateLimited(_("The endpoint is rate-limited or busy. {said}").format(said=said), hint,
                           retry_after=wait, **kw)
    if status in (401, 403) or code in _ZAI_AUTH:
        return AuthRejected(_("The endpoint rejected the API key. {said}").format(said=said),
                            _("Check the key in Settings → Endpoints; create a new one in the provider's "
                              "console if it expired."), **kw)
    if _VISION_PATTERNS.search(server_says):
        return NotAVisionModel(
            _("The model '{model}' cannot read images. {said}").format(model=model, said=said),
            _("Choose a GLM-V vision model (for example glm-4.6v) or serve one on this endpoint."), **kw)
    if code in _ZAI_MODEL or status == 404 or _MODEL_PATTERNS.search(server_says):
        return ModelNotFound(
            _("The endpoint has no model named '{model}'. {said}").format(model=model, said=said),
            _("Pick a model from the list in the chat window; Settings → Test connection lists what the "
              "server has. Check the base URL ends with /v1 (or /api/paas/v4 for the cloud)."), **kw)
    if status >= 500:
        return ServerFailed(_("The server failed with HTTP {status}. {said}").format(status=status, said=said),
                            _("Retry; if it keeps failing, check the server's log (a bad image or too long "
                              "a context are common causes)."), **kw)
    return RequestRejected(_("The server refused the request (HTTP {status}). {said}").format(
        status=status, said=said), _("Check the endpoint type and model in Settings; the details show the "
                                     "server's full answer."), **kw)
