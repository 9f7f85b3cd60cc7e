"""Events a streaming reply produces, in the order they arrive."""

from __future__ import annotations

from dataclasses import dataclass

from desktop.chat.conversation import GroundingBox


@dataclass(frozen=True)
class ReasoningDelta:
    """More reasoning text."""

    text: str


@dataclass(frozen=True)
class ContentDelta:
    """More answer text (markdown)."""

    text: str


@dataclass(frozen=True)
class ContentWasReasoning:
    """The answer so far was reasoning: a `</think>` arrived without an opening tag."""

    text: str


@dataclass(frozen=True)
class BoxFound:
    """A grounding box in the answer."""

    box: GroundingBox


@dataclass(frozen=True)
class UsageReport:
    """Token counts the server reported."""

    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class Finished:
    """The server said the answer is complete (finish_reason or end of stream)."""

    reason: str | None


StreamEvent = ReasoningDelta | ContentDelta | ContentWasReasoning | BoxFound | UsageReport | Finished
