"""Streaming reply parsing: SSE lines → chunks → reasoning, answer, boxes, usage, finish.

Handles every shape GLM-V servers produce: reasoning in `delta.reasoning_content` (Z.ai, SGLang,
llama.cpp, old vLLM) or `delta.reasoning` (new vLLM); inline `<think>…</think>` inside the content
(no server-side reasoning parser), unclosed while streaming, or with only the closing tag because
the chat template already opened it; GLM-4.1V's `<answer>` wrapper; and grounding boxes
`<|begin_of_box|>[x1,y1,x2,y2]<|end_of_box|>` in thousandths of the image, which become
structured `GroundingBox` results. Tags may be split across chunks at any byte.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from desktop.chat.conversation import GroundingBox
from desktop.chat.events import (
    BoxFound,
    ContentDelta,
    ContentWasReasoning,
    ReasoningDelta,
    StreamEvent,
    UsageReport,
)

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
BOX_OPEN, BOX_CLOSE = "<|begin_of_box|>", "<|end_of_box|>"
# Markers that carry no text for the user: stripped wherever they appear.
_DROPPED = ("<answer>", "</answer>", "<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>",
            "<|observation|>", "[gMASK]", "<sop>", "<|begin_of_image|>", "<|end_of_image|>", "<|image|>")
_TAGS = (THINK_OPEN, THINK_CLOSE, BOX_OPEN, BOX_CLOSE, *_DROPPED)
_TAG_PATTERN = re.compile("|".join(re.escape(t) for t in sorted(_TAGS, key=len, reverse=True)))
_TAG_STARTS = frozenset(t[0] for t in _TAGS)
_MAX_TAG = max(len(t) for t in _TAGS)
_NUMBER = r"-?\d+(?:\.\d+)?"
# A box marker that stays open this long is not a box: its text is released as answer text.
_MAX_BOX_CHARS = 400
_QUAD = re.compile(rf"[\[(]\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\])]")


class SseDecoder:
    """Server-sent events, one line at a time: yields each event's data; notes `[DONE]`."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self.saw_done = False

    def feed_line(self, line: str) -> str | None:
        """Feed one line (without its newline); return an event's data when the event ends."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _sep, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def close(self) -> str | None:
        """End of stream: dispatch a last event that lacked its blank line."""
        return self._dispatch()

    def _dispatch(self) -> str | None:
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        if data.strip() == "[DONE]":
            self.saw_done = True
            return None
        return data


def parse_boxes(inner: str, image_size: tuple[int, int] | None) -> list[GroundingBox]:
    """All [x1,y1,x2,y2] quadruples inside a box marker (any bracket style), ordered and clamped."""
    boxes = []
    for match in _QUAD.finditer(inner):
        x1, y1, x2, y2 = (min(1000.0, max(0.0, float(v))) for v in match.groups())
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        w, h = image_size if image_size else (None, None)
        boxes.append(GroundingBox(x1, y1, x2, y2, w, h))
    return boxes


def describe_box(index: int, box: GroundingBox) -> str:
    """How a box reads inside the answer text until it is drawn on the picture."""
    px = box.pixels()
    if px is None:
        return f"`box {index}`"
    return f"`box {index}: x {px[0]}–{px[2]}, y {px[1]}–{px[3]} px`"


class TagSplitter:
    """Splits content text into reasoning and answer by its inline tags, across chunk borders."""

    def __init__(self, image_size: tuple[int, int] | None) -> None:
        self._image_size = image_size
        self._pending = ""
        self._in_think = False
        self._box: list[str] | None = None
        self._answer_so_far: list[str] = []
        self.saw_reasoning = False
        self.box_count = 0

    def feed(self, text: str, *, final: bool = False) -> list[StreamEvent]:
        """Consume more content text; hold back a possible tag prefix unless `final`."""
        text = self._pending + text
        self._pending = ""
        if not final:
            text, self._pending = self._split_tail(text)
        events: list[StreamEvent] = []
        pos = 0
        for match in _TAG_PATTERN.finditer(text):
            self._emit(text[pos:match.start()], events)
            self._tag(match.group(), events)
            pos = match.end()
        self._emit(text[pos:], events)
        if self._box is not None and (final or sum(map(len, self._box)) > _MAX_BOX_CHARS):
            self._emit_box_end(events)
        return events

    @staticmethod
    def _split_tail(text: str) -> tuple[str, str]:
        """Cut off a trailing fragment that may be the start of a tag."""
        start = max(0, len(text) - _MAX_TAG + 1)
        for i in range(start, len(text)):
            if text[i] in _TAG_STARTS and any(t.startswith(text[i:]) for t in _TAGS):
                return text[:i], text[i:]
        return text, ""

    def _emit(self, text: str, events: list[StreamEvent]) -> None:
        if not text:
            return
        if self._box is not None:
            self._box.append(text)
        elif self._in_think:
            self.saw_reasoning = True
            events.append(ReasoningDelta(text))
        else:
            self._answer_so_far.append(text)
            events.append(ContentDelta(text))

    def _tag(self, tag: str, events: list[StreamEvent]) -> None:
        if tag == THINK_OPEN:
            self._in_think = True
        elif tag == THINK_CLOSE:
            if not self._in_think and not self.saw_reasoning and self._answer_so_far:
                # The template opened <think> in the prompt: what we took for the answer was reasoning.
                moved = "".join(self._answer_so_far)
                events.append(ContentWasReasoning(moved))
                self.saw_reasoning = True
            self._in_think = False
            self._answer_so_far = []
        elif tag == BOX_OPEN:
            self._box = []
        elif tag == BOX_CLOSE:
            self._emit_box_end(events)

    def _emit_box_end(self, events: list[StreamEvent]) -> None:
        inner = "".join(self._box or [])
        self._box = None
        boxes = parse_boxes(inner, self._image_size) if not self._in_think else []
        if not boxes:
            self._emit(inner, events)  # the markers wrapped a plain answer: keep the text
            return
        labels = []
        for box in boxes:
            self.box_count += 1
            events.append(BoxFound(box))
            labels.append(describe_box(self.box_count, box))
        self._emit(", ".join(labels), events)


class ReplyParser:
    """Turns decoded stream chunks (dicts) into `StreamEvent`s for one reply."""

    def __init__(self, reasoning_fields: Iterable[str] = ("reasoning_content", "reasoning"),
                 image_size: tuple[int, int] | None = None) -> None:
        self._fields = tuple(dict.fromkeys((*reasoning_fields, "reasoning_content", "reasoning")))
        self._splitter = TagSplitter(image_size)
        self.finish_reason: str | None = None
        self.saw_finish = False

    def feed_chunk(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """Events from one `chat.completion.chunk` (or a whole non-streamed completion)."""
        events: list[StreamEvent] = []
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            choices = []
        for choice in choices:
            if not isinstance(choice, dict):
                raise ValueError(f"a choice is not an object: {choice!r}"[:200])
            delta = choice.get("delta") or choice.get("message") or {}
            if not isinstance(delta, dict):
                raise ValueError(f"a delta is not an object: {delta!r}"[:200])
            for name in self._fields:
                reasoning = delta.get(name)
                if isinstance(reasoning, str) and reasoning:
                    self._splitter.saw_reasoning = True
                    events.append(ReasoningDelta(reasoning))
                    break
            content = delta.get("content")
            if isinstance(content, str) and content:
                events.extend(self._splitter.feed(content))
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = str(reason)
                self.saw_finish = True
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            events.append(UsageReport(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))))
        return events

    def close(self) -> list[StreamEvent]:
        """Flush text held back at the end of the stream."""
        return self._splitter.feed("", final=True)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
