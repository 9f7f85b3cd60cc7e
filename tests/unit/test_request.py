"""Request building per endpoint profile."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from desktop.chat.conversation import Attachment, Conversation, ImageAttachment, ReplyState
from desktop.chat.request import AskOptions, RequestError, build_request
from desktop.config.profiles import LOCAL_SAMPLING_FIELDS, TRAITS, Flavor, ThinkingSwitch, preset


def screenshot(width: int = 3840, height: int = 2160) -> Attachment:
    return ImageAttachment.from_pixels(Image.new("RGB", (width, height), (0, 128, 255)), "shot.png", "screen")


def ask(flavor: Flavor, **options: object) -> dict[str, object]:
    conversation = Conversation()
    question = conversation.add_question("What is this?", [screenshot()])
    reply = conversation.start_reply(question, model="m", endpoint_id="e", thinking=True)
    opts = AskOptions(model="glm-4.6v", top_k=20, repetition_penalty=1.1, temperature=0.8, **options)  # type: ignore[arg-type]
    return build_request(preset(flavor), conversation, reply, opts).body


@pytest.mark.parametrize("flavor", list(Flavor))
def test_model_is_always_sent_and_streaming_requested(flavor: Flavor) -> None:
    body = ask(flavor)
    assert body["model"] == "glm-4.6v" and body["stream"] is True


@pytest.mark.parametrize("flavor", [Flavor.ZAI, Flavor.BIGMODEL])
def test_cloud_gets_its_thinking_switch_and_no_local_only_fields(flavor: Flavor) -> None:
    on, off = ask(flavor, thinking=True), ask(flavor, thinking=False)
    assert on["thinking"] == {"type": "enabled"} and off["thinking"] == {"type": "disabled"}
    assert not LOCAL_SAMPLING_FIELDS & set(on) and "chat_template_kwargs" not in on
    assert on["temperature"] == 0.8


@pytest.mark.parametrize("flavor", [Flavor.VLLM, Flavor.SGLANG])
def test_local_servers_get_template_kwargs_and_keep_box_tokens(flavor: Flavor) -> None:
    body = ask(flavor, thinking=False)
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["top_k"] == 20 and body["repetition_penalty"] == 1.1
    assert body["skip_special_tokens"] is False
    assert "thinking" not in body and body["stream_options"] == {"include_usage": True}


def test_transformers_serve_gets_nothing_beyond_the_openai_schema() -> None:
    body = ask(Flavor.TRANSFORMERS)
    assert set(body) <= {"model", "messages", "stream", "chat_template_kwargs", "temperature", "top_p", "max_tokens"}


def test_custom_endpoint_uses_the_switch_the_user_chose() -> None:
    profile = preset(Flavor.CUSTOM, base_url="http://127.0.0.1:1/v1")
    conversation = Conversation()
    question = conversation.add_question("hi", [])
    reply = conversation.start_reply(question, model="m", endpoint_id="e", thinking=False)
    plain = build_request(profile, conversation, reply, AskOptions(model="m", thinking=False)).body
    assert "thinking" not in plain and "chat_template_kwargs" not in plain
    from dataclasses import replace

    cloudish = replace(profile, thinking_switch=ThinkingSwitch.CLOUD)
    assert build_request(cloudish, conversation, reply, AskOptions(model="m", thinking=False)).body["thinking"] == {
        "type": "disabled"}


def test_image_is_downscaled_to_budget_and_sent_as_data_url() -> None:
    body = ask(Flavor.ZAI, token_budget=1000)
    content = body["messages"][0]["content"]  # type: ignore[index]
    assert content[-1] == {"type": "text", "text": "What is this?"}
    url = content[0]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.width < 3840 and abs(image.width / image.height - 16 / 9) < 0.02


def test_history_sends_answers_without_reasoning_and_only_the_latest_attempt() -> None:
    conversation = Conversation()
    first = conversation.add_question("first", [])
    old = conversation.start_reply(first, model="m", endpoint_id="e", thinking=True)
    old.text, old.reasoning, old.state = "partial", "SECRET-REASONING", ReplyState.INTERRUPTED
    retry = conversation.start_reply(first, model="m", endpoint_id="e", thinking=True)
    retry.text, retry.reasoning, retry.state = "full answer", "MORE-REASONING", ReplyState.COMPLETE
    second = conversation.add_question("second", [])
    reply = conversation.start_reply(second, model="m", endpoint_id="e", thinking=True)
    body = build_request(preset(Flavor.VLLM), conversation, reply, AskOptions(model="m")).body
    assert body["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "full answer"},
        {"role": "user", "content": "second"},
    ]
    assert "REASONING" not in str(body)


def test_a_retry_is_built_from_the_question_not_the_failed_attempt() -> None:
    conversation = Conversation()
    question = conversation.add_question("q", [])
    failed = conversation.start_reply(question, model="m", endpoint_id="e", thinking=True)
    failed.text, failed.state = "half an ans", ReplyState.INTERRUPTED
    again = conversation.start_reply(question, model="m", endpoint_id="e", thinking=True)
    body = build_request(preset(Flavor.VLLM), conversation, again, AskOptions(model="m")).body
    assert body["messages"] == [{"role": "user", "content": "q"}]


def test_no_model_or_no_question_says_what_to_do() -> None:
    conversation = Conversation()
    empty = conversation.add_question("", [])
    reply = conversation.start_reply(empty, model="", endpoint_id="e", thinking=True)
    with pytest.raises(RequestError, match="model"):
        build_request(preset(Flavor.VLLM), conversation, reply, AskOptions(model=""))
    with pytest.raises(RequestError) as info:
        build_request(preset(Flavor.VLLM), conversation, reply, AskOptions(model="m"))
    assert info.value.hint


def test_too_many_images_for_the_cloud() -> None:
    conversation = Conversation()
    limit = TRAITS[Flavor.ZAI].max_images
    assert limit is not None
    tiny = [ImageAttachment.from_pixels(Image.new("RGB", (30, 30)), "x", "file") for _ in range(limit + 1)]
    question = conversation.add_question("many", tiny)
    reply = conversation.start_reply(question, model="m", endpoint_id="e", thinking=True)
    with pytest.raises(RequestError, match="at most 50"):
        build_request(preset(Flavor.ZAI), conversation, reply, AskOptions(model="glm-4.6v"))
