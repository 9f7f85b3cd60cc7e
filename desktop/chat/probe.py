"""Test connection: list the server's models and prove vision with a tiny picture."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass, field

from desktop.chat.client import ChatClient, Endpoint
from desktop.chat.errors import ChatError
from desktop.chat.events import ContentDelta, ReasoningDelta
from desktop.config.profiles import ThinkingSwitch
from desktop.i18n import _
from desktop.media.images import EncodedImage


@dataclass
class ConnectionReport:
    """What a connection test found: the models, and whether the model read an image."""

    models: list[str] = field(default_factory=list)
    models_error: ChatError | None = None
    model: str = ""  # the model asked about the picture
    vision_ok: bool = False
    vision_reply: str = ""
    vision_error: ChatError | None = None

    @property
    def ok(self) -> bool:
        """True when the endpoint answered an image question."""
        return self.vision_ok


def tiny_test_image() -> EncodedImage:
    """A 56×56 picture, left half red and right half blue, as PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (56, 56), (220, 30, 30))
    ImageDraw.Draw(image).rectangle((28, 0, 55, 55), fill=(30, 60, 220))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return EncodedImage(buffer.getvalue(), "image/png", 56, 56)


async def check_endpoint(client: ChatClient, endpoint: Endpoint, model: str, timeout: float = 60.0) -> ConnectionReport:
    """List models, then ask `model` (the first listed one when empty) about a tiny image; errors are
    recorded, not raised."""
    report = ConnectionReport()
    try:
        report.models = await client.list_models(endpoint)
    except ChatError as exc:
        report.models_error = exc
    report.model = model.strip() or (report.models[0] if report.models else "")
    if not report.model:
        report.vision_error = ChatError(_("There is no model to ask: none is set and the server listed none."),
                                        _("Type the model's name in Default model (the name the server serves it "
                                          "under), then test again."))
        return report
    body: dict[str, object] = {
        "model": report.model,
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": tiny_test_image().data_url()}},
            {"type": "text", "text": _("Which two colours does this picture show? Answer in three words.")},
        ]}],
        "stream": True,
        "max_tokens": 64,
    }
    switch = endpoint.profile.traits.thinking_switch
    if switch is ThinkingSwitch.CLOUD:
        body["thinking"] = {"type": "disabled"}
    elif switch is ThinkingSwitch.TEMPLATE_KWARGS:
        body["chat_template_kwargs"] = {"enable_thinking": False}
    text: list[str] = []
    reasoning: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            async for event in client.stream_reply(endpoint, body):
                if isinstance(event, ContentDelta):
                    text.append(event.text)
                elif isinstance(event, ReasoningDelta):
                    reasoning.append(event.text)
        report.vision_ok = True
    except ChatError as exc:
        report.vision_error = exc
    except TimeoutError:
        report.vision_error = ChatError(_("The model did not answer within {s:.0f} s.").format(s=timeout),
                                        _("The server may still be loading; try again in a minute."))
    report.vision_reply = "".join(text).strip() or "".join(reasoning).strip()
    return report
