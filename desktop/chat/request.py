"""Request building per endpoint profile: messages, images as data URLs, thinking, sampling.

The profile decides what is sent: the thinking switch in the form its server understands, only the
extra sampling fields it accepts (vLLM-only fields never go to the cloud), image limits. Earlier
reasoning is never sent back, and images are downscaled to the user's budget (never upscaled).
This is CPU work (image encoding): run it off the UI thread.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from desktop.chat.attachments import Sending
from desktop.chat.conversation import Conversation, Message, Role
from desktop.config.profiles import EndpointProfile, ThinkingSwitch
from desktop.errors import UserFacingError
from desktop.i18n import _


@dataclass(frozen=True)
class AskOptions:
    """The per-question choices: model, thinking, image budget and sampling."""

    model: str
    thinking: bool = True
    token_budget: int = 2700
    image_format: str = "jpeg"
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    send_clean: bool = False  # an annotated picture also goes without its drawings


@dataclass(frozen=True)
class ChatRequest:
    """A JSON body ready to POST to `{base_url}/chat/completions`, and the image sizes it carries."""

    body: dict[str, Any]
    image_sizes: list[tuple[int, int]]


class RequestError(UserFacingError):
    """A question that cannot be sent as it stands."""


def sending_for(profile: EndpointProfile | None, options_or_budget: AskOptions | int,
                image_format: str = "jpeg", *, send_clean: bool = False) -> Sending:
    """How attachments go to `profile`: the budget and format asked for, within the endpoint's image limits."""
    if isinstance(options_or_budget, AskOptions):
        budget, image_format = options_or_budget.token_budget, options_or_budget.image_format
        send_clean = options_or_budget.send_clean
    else:
        budget = options_or_budget
    traits = profile.traits if profile is not None else None
    return Sending(token_budget=budget, image_format=image_format,
                   max_side=traits.max_image_side if traits else None,
                   max_bytes=traits.max_image_bytes if traits else None, send_clean=send_clean,
                   video=traits.video.value if traits else "frames", max_images=traits.max_images if traits else None)


def _user_content(message: Message, sending: Sending, sizes: list[tuple[int, int]]) -> str | list[dict[str, Any]]:
    if not message.attachments:
        return message.text
    content: list[dict[str, Any]] = []
    for attachment in message.attachments:
        for part in attachment.parts(sending):
            if part.image is not None:
                sizes.append((part.image.width, part.image.height))
                content.append({"type": "image_url", "image_url": {"url": part.image.data_url()}})
            elif part.video is not None:
                encoded = base64.b64encode(part.video).decode("ascii")
                if sending.video == "input_video":
                    content.append({"type": "input_video", "input_video": {"data": encoded, "format": "mp4"}})
                else:
                    content.append({"type": "video_url", "video_url": {"url": f"data:video/mp4;base64,{encoded}"}})
            elif part.text:
                content.append({"type": "text", "text": part.text})
    if message.text:
        content.append({"type": "text", "text": message.text})
    return content


def build_request(profile: EndpointProfile, conversation: Conversation, reply: Message,
                  options: AskOptions) -> ChatRequest:
    """The request that produces `reply`, from everything said before it."""
    traits = profile.traits
    if not options.model:
        raise RequestError(_("No model is chosen for '{name}'.").format(name=profile.name),
                           _("Pick a model in the chat window's model box, or set one in Settings → Endpoints."))
    messages: list[dict[str, Any]] = []
    sizes: list[tuple[int, int]] = []
    sending = sending_for(profile, options)
    # The conversation picks the context by its links (the latest attempt at each earlier question);
    # of an answer only its text goes back, earlier reasoning is never re-sent.
    for message in conversation.context_for(reply):
        if message.role is Role.USER:
            if not message.text and not message.attachments:
                continue
            messages.append({"role": "user", "content": _user_content(message, sending, sizes)})
        else:
            messages.append({"role": "assistant", "content": message.text})
    if not messages or messages[-1]["role"] != "user":
        raise RequestError(_("There is no question to send."), _("Type a question or attach a picture."))
    if traits.max_images is not None and len(sizes) > traits.max_images:
        raise RequestError(
            _("This conversation holds {count} images; the endpoint accepts at most {limit}.").format(
                count=len(sizes), limit=traits.max_images),
            _("Start a new chat (earlier images are re-sent with every question)."))

    body: dict[str, Any] = {"model": options.model, "messages": messages, "stream": True}
    if traits.stream_usage:
        body["stream_options"] = {"include_usage": True}
    if traits.thinking_switch is ThinkingSwitch.CLOUD:
        body["thinking"] = {"type": "enabled" if options.thinking else "disabled"}
    elif traits.thinking_switch is ThinkingSwitch.TEMPLATE_KWARGS:
        body["chat_template_kwargs"] = {"enable_thinking": options.thinking}
    if options.max_tokens:
        body["max_tokens"] = options.max_tokens
    if options.temperature is not None:
        body["temperature"] = options.temperature
    if options.top_p is not None:
        body["top_p"] = options.top_p
    extra = traits.extra_fields
    if "top_k" in extra and options.top_k is not None:
        body["top_k"] = options.top_k
    if "repetition_penalty" in extra and options.repetition_penalty is not None:
        body["repetition_penalty"] = options.repetition_penalty
    if "skip_special_tokens" in extra:
        # Grounding boxes are special tokens: without this vLLM/SGLang strip them from the answer.
        body["skip_special_tokens"] = False
    return ChatRequest(body=body, image_sizes=sizes)
