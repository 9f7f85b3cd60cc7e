"""ReplyRunner: the message is the buffer; every outcome leaves the question and partial answer."""

from __future__ import annotations

import asyncio

from keyring.backends import fail

from desktop.assistant.replies import ReplyRunner
from desktop.chat.client import ChatClient
from desktop.chat.conversation import Conversation, Message, ReplyState
from desktop.chat.request import AskOptions
from desktop.config.profiles import EndpointProfile, Flavor, preset
from desktop.config.secrets import SecretStore
from desktop.secret import Secret
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer, Scenario


def run_reply(profile: EndpointProfile, secrets: SecretStore | None = None) -> tuple[Message, int]:
    conversation = Conversation()
    question = conversation.add_question("What is this?", [])
    reply = conversation.start_reply(question, model="glm-4.6v", endpoint_id=profile.id, thinking=True)
    updates = 0

    def changed(_message: Message) -> None:
        nonlocal updates
        updates += 1

    async def go() -> None:
        client = ChatClient()
        try:
            await ReplyRunner(client, secrets or SecretStore(fail.Keyring())).run(
                conversation, reply, profile, AskOptions(model="glm-4.6v"), changed)
        finally:
            await client.aclose()

    asyncio.run(go())
    assert conversation.messages[0].text == "What is this?"
    return reply, updates


def test_complete_reply_with_reasoning_usage_and_boxes() -> None:
    content = "The button is at <|begin_of_box|>[10,20,30,40]<|end_of_box|>."
    with FakeOpenAIServer(VLLM_NEW.evolve(reasoning="Find it.", content=content)) as server:
        reply, updates = run_reply(preset(Flavor.VLLM, base_url=server.base_url))
    assert reply.state is ReplyState.COMPLETE and reply.finish_reason == "stop"
    assert reply.reasoning == "Find it." and "box 1" in reply.text and len(reply.boxes) == 1
    assert reply.completion_tokens and updates > 3


def test_interrupted_keeps_partial_and_failed_says_why() -> None:
    with FakeOpenAIServer(Scenario(reasoning="", content="a b c d e f", drop_after_chunks=2)) as server:
        reply, _ = run_reply(preset(Flavor.VLLM, base_url=server.base_url))
    assert reply.state is ReplyState.INTERRUPTED and reply.text.strip() == "a b"
    assert reply.error is not None and reply.error.retryable
    with FakeOpenAIServer(Scenario(status=500, error_body="boom", error_content_type="text/plain")) as server:
        reply, _ = run_reply(preset(Flavor.VLLM, base_url=server.base_url))
    assert reply.state is ReplyState.FAILED and reply.error is not None and "boom" in reply.error.message


def test_cloud_needs_a_key_before_anything_is_sent() -> None:
    with FakeOpenAIServer() as server:
        reply, _ = run_reply(preset(Flavor.ZAI, base_url=server.zai_base_url))
        assert server.chat_requests == []
    assert reply.state is ReplyState.FAILED and reply.error is not None and "API key" in reply.error.message


def test_session_key_is_sent() -> None:
    secrets = SecretStore(fail.Keyring())
    profile = preset(Flavor.ZAI)
    with FakeOpenAIServer(Scenario(require_api_key="sess-key-12345")) as server:
        profile = preset(Flavor.ZAI, base_url=server.zai_base_url)
        secrets.set_for_session(profile.keychain_entry, Secret("sess-key-12345"))
        reply, _ = run_reply(profile, secrets)
    assert reply.state is ReplyState.COMPLETE
