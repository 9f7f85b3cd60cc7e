"""The streaming parser against every reply shape GLM-V servers produce, split at every byte."""

from __future__ import annotations

import json

import pytest

from desktop.chat.events import (
    BoxFound,
    ContentDelta,
    ContentWasReasoning,
    ReasoningDelta,
    StreamEvent,
    UsageReport,
)
from desktop.chat.parser import ReplyParser, SseDecoder, parse_boxes


def chunk(**delta: object) -> dict[str, object]:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


def fold(events: list[StreamEvent]) -> tuple[str, str, list[BoxFound]]:
    """Reasoning and answer text as a view would show them after these events."""
    reasoning, answer, boxes = "", "", []
    for event in events:
        if isinstance(event, ReasoningDelta):
            reasoning += event.text
        elif isinstance(event, ContentDelta):
            answer += event.text
        elif isinstance(event, ContentWasReasoning):
            reasoning += answer
            answer = ""
        elif isinstance(event, BoxFound):
            boxes.append(event)
    return reasoning, answer, boxes


def feed_content_in_pieces(text: str, size: int, image_size: tuple[int, int] | None = None) -> list[StreamEvent]:
    parser = ReplyParser(image_size=image_size)
    events: list[StreamEvent] = []
    for start in range(0, len(text), size):
        events += parser.feed_chunk(chunk(content=text[start:start + size]))
    return events + parser.close()


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_field_of_each_server_becomes_reasoning(field: str) -> None:
    parser = ReplyParser()
    events = parser.feed_chunk(chunk(**{field: "Let me look. "})) + parser.feed_chunk(chunk(content="It is red."))
    assert fold(events)[:2] == ("Let me look. ", "It is red.")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64])
def test_inline_think_split_at_any_position(size: int) -> None:
    text = "<think>I see a red square.</think>The picture is red."
    assert fold(feed_content_in_pieces(text, size))[:2] == ("I see a red square.", "The picture is red.")


def test_unclosed_think_while_streaming_is_reasoning_so_far() -> None:
    parser = ReplyParser()
    events = parser.feed_chunk(chunk(content="<think>still thinking about the"))
    reasoning, answer, _ = fold(events)
    assert answer == ""
    assert reasoning == "still thinking about the"


@pytest.mark.parametrize("size", [1, 4, 100])
def test_closing_think_without_opening_moves_answer_to_reasoning(size: int) -> None:
    # The chat template put "<think>" in the prompt, so only "</think>" arrives.
    events = feed_content_in_pieces("The user wants a colour.</think>Red.", size)
    assert any(isinstance(e, ContentWasReasoning) for e in events)
    assert fold(events)[:2] == ("The user wants a colour.", "Red.")


@pytest.mark.parametrize("size", [1, 3, 50])
def test_answer_tags_are_stripped(size: int) -> None:
    events = feed_content_in_pieces("<think>hmm</think><answer>Forty-two.</answer><|endoftext|>", size)
    assert fold(events)[:2] == ("hmm", "Forty-two.")


@pytest.mark.parametrize("size", [1, 2, 9, 200])
def test_box_becomes_structured_result_in_pixels_of_sent_image(size: int) -> None:
    text = "The button is here: <|begin_of_box|>[100, 200, 300, 400]<|end_of_box|>."
    reasoning, answer, boxes = fold(feed_content_in_pieces(text, size, image_size=(1920, 1080)))
    assert len(boxes) == 1
    box = boxes[0].box
    assert (box.x1, box.y1, box.x2, box.y2) == (100, 200, 300, 400)
    assert box.pixels() == (192, 216, 576, 432)
    assert "<|begin_of_box|>" not in answer and "box 1" in answer
    assert answer.startswith("The button is here: ") and answer.endswith(".")


def test_box_markers_around_a_plain_answer_keep_the_text() -> None:
    _, answer, boxes = fold(feed_content_in_pieces("<|begin_of_box|>42<|end_of_box|>", 3))
    assert boxes == [] and answer == "42"


def test_several_boxes_and_bracket_styles() -> None:
    boxes = parse_boxes("[[10,20,30,40],[50, 60, 70, 80]] (1,2,3,4)", (1000, 1000))
    assert [(b.x1, b.y1, b.x2, b.y2) for b in boxes] == [(10, 20, 30, 40), (50, 60, 70, 80), (1, 2, 3, 4)]
    clamped = parse_boxes("[900,-5,1200,10]", None)[0]
    assert (clamped.x1, clamped.y1, clamped.x2, clamped.y2) == (900, 0, 1000, 10)
    assert clamped.pixels() is None


def test_text_that_only_looks_like_a_tag_start_is_released_at_the_end() -> None:
    assert fold(feed_content_in_pieces("a < b and c <thi", 2))[1] == "a < b and c <thi"


def test_usage_and_finish_reason() -> None:
    parser = ReplyParser()
    parser.feed_chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
    events = parser.feed_chunk({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 34}})
    assert parser.saw_finish and parser.finish_reason == "length"
    assert events == [UsageReport(12, 34)]


def test_sse_decoder_handles_done_comments_and_multiline_data() -> None:
    sse = SseDecoder()
    lines = [": keep-alive", "event: message", 'data: {"a":', 'data: 1}', "", "data: [DONE]", ""]
    out = [d for line in lines if (d := sse.feed_line(line)) is not None]
    assert [json.loads(d) for d in out] == [{"a": 1}]
    assert sse.saw_done


def test_sse_decoder_without_space_after_colon() -> None:
    sse = SseDecoder()
    assert sse.feed_line('data:{"x":2}') is None
    assert sse.feed_line("") == '{"x":2}'


def test_a_box_marker_that_never_closes_releases_its_text() -> None:
    text = "<|begin_of_box|>" + "word " * 120
    parser = ReplyParser()
    events = parser.feed_chunk(chunk(content=text))
    assert fold(events)[1].startswith("word word"), "released while streaming, not held to the end"


def test_chunks_of_the_wrong_shape_raise_value_error() -> None:
    with pytest.raises(ValueError):
        ReplyParser().feed_chunk({"choices": [{"delta": "text"}]})
    assert ReplyParser().feed_chunk({"choices": [{"delta": {"content": 5, "reasoning": None}}]}) == []
