"""Runs one reply: resolves the endpoint and key, builds the request, streams into the message.

The message object is the buffer: events are applied to it as they arrive and `on_change` is
called so a view can schedule a repaint (the view repaints on its own timer, never per delta).
Whatever happens, the question and any partial answer stay in the conversation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from desktop.chat.client import ChatClient, Endpoint
from desktop.chat.conversation import Conversation, ErrorInfo, Message, ReplyState
from desktop.chat.errors import ChatError, StreamInterrupted, StreamStalled
from desktop.chat.events import (
    BoxFound,
    ContentDelta,
    ContentWasReasoning,
    Finished,
    ReasoningDelta,
    StreamEvent,
    UsageReport,
)
from desktop.chat.request import AskOptions, build_request
from desktop.config.profiles import EndpointProfile
from desktop.config.secrets import SecretStore
from desktop.errors import UserFacingError
from desktop.i18n import _

log = logging.getLogger(__name__)


def apply_event(reply: Message, event: StreamEvent) -> None:
    """Fold one stream event into the reply."""
    if isinstance(event, ReasoningDelta):
        reply.reasoning += event.text
    elif isinstance(event, ContentDelta):
        reply.text += event.text
    elif isinstance(event, ContentWasReasoning):
        reply.reasoning += reply.text
        reply.text = ""
    elif isinstance(event, BoxFound):
        reply.boxes.append(event.box)
    elif isinstance(event, UsageReport):
        reply.prompt_tokens, reply.completion_tokens = event.prompt_tokens, event.completion_tokens
    elif isinstance(event, Finished):
        reply.finish_reason = event.reason


class ReplyRunner:
    """Asks an endpoint for one reply and keeps the conversation's message up to date."""

    def __init__(self, client: ChatClient, secrets: SecretStore) -> None:
        self._client = client
        self._secrets = secrets

    async def run(self, conversation: Conversation, reply: Message, profile: EndpointProfile,
                  options: AskOptions, on_change: Callable[[Message], None]) -> None:
        """Stream the reply into `reply`; sets its final state. Re-raises only cancellation."""
        reply.state = ReplyState.WAITING
        reply.error = None
        reply.text = reply.reasoning = ""
        reply.boxes.clear()
        on_change(reply)
        try:
            # Local servers may be started with --api-key too, so a stored key is always used.
            key = await asyncio.to_thread(self._secrets.get, profile.keychain_entry)
            if profile.traits.needs_key and not key:
                raise UserFacingError(
                    _("No API key is set for '{name}'.").format(name=profile.name),
                    _("Add your key in Settings → Endpoints (it is kept in the system keychain)."))
            request = await asyncio.to_thread(build_request, profile, conversation, reply, options)
            reply.sent_image_sizes = request.image_sizes
            image_size = request.image_sizes[-1] if request.image_sizes else None
            async for event in self._client.stream_reply(Endpoint(profile, key), request.body, image_size):
                if reply.state is ReplyState.WAITING:
                    reply.state = ReplyState.STREAMING
                apply_event(reply, event)
                on_change(reply)
            reply.state = ReplyState.COMPLETE
        except asyncio.CancelledError:
            reply.state = ReplyState.STOPPED
            on_change(reply)
            raise
        except (StreamInterrupted, StreamStalled) as exc:
            reply.state = ReplyState.INTERRUPTED if (reply.text or reply.reasoning) else ReplyState.FAILED
            reply.error = ErrorInfo(exc.message, exc.hint, exc.detail, retryable=True)
            log.info("Reply interrupted: %s", exc.detail or exc.message)
        except ChatError as exc:
            reply.state = ReplyState.INTERRUPTED if (reply.text or reply.reasoning) else ReplyState.FAILED
            reply.error = ErrorInfo(exc.message, exc.hint, exc.detail, retryable=exc.retryable)
            log.info("Reply failed: %s", exc.detail or exc.message)
        except UserFacingError as exc:
            reply.state = ReplyState.FAILED
            reply.error = ErrorInfo(exc.message, exc.hint, exc.detail, retryable=True)
        except Exception as exc:  # noqa: BLE001 - a bug must still leave the reply in a final state
            log.exception("Unexpected failure while answering")
            end_unexpectedly(reply, exc)
        on_change(reply)


def end_unexpectedly(reply: Message, exc: BaseException) -> None:
    """Give a reply that a bug interrupted its final state: what arrived is kept, Retry is offered."""
    reply.state = ReplyState.INTERRUPTED if (reply.text or reply.reasoning) else ReplyState.FAILED
    reply.error = ErrorInfo(_("Something went wrong while answering: {error}").format(error=exc),
                            _("What arrived is kept. Retry; if it happens again, please report it with the "
                              "log file."), repr(exc), retryable=True)
