"""A planned local server launched for real — the tiny GLM-V model under `transformers serve`, by the
same path a user's vLLM takes — becomes the active endpoint, answers an image question through the
app's own reply runner, and stops with nothing left behind."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from desktop.assistant.local_server import LOCAL_PROFILE_ID, launch_local_server
from desktop.assistant.replies import ReplyRunner
from desktop.assistant.services import AppPaths
from desktop.backends.catalog import Engine, ModelSpec, Precision
from desktop.backends.planner import Fit, Plan
from desktop.backends.supervisor import ServerStartFailed
from desktop.chat.client import ChatClient
from desktop.chat.conversation import Conversation, ImageAttachment, Message, ReplyState
from desktop.chat.request import AskOptions
from desktop.config.profiles import EndpointProfile, Flavor, ProfileBook
from desktop.config.secrets import SecretStore
from desktop.config.settings import SettingsStore
from tests.support.processes import session_members
from tests.support.tiny_glmv import TinyGlmvServer

pytestmark = pytest.mark.tiny_model

TINY = ModelSpec("tiny-glmv", "Tiny GLM-V", "test/tiny-glmv", None, Precision.BF16, 10_000_000, 10_000_000,
                 4096, 64, (0, 0), (Engine.TRANSFORMERS,))


def tiny_plan() -> Plan:
    # On CPU in float32, trusting the fixture's own processor code: the flags a test model needs.
    return Plan(TINY, Engine.TRANSFORMERS, Fit.YELLOW, context=4096,
                flags=["--trust-remote-code", "--device", "cpu", "--dtype", "float32"])


def offline_env(workdir: Path) -> dict[str, str]:
    env = TinyGlmvServer(Path("unused"), workdir=workdir)._environment()  # noqa: SLF001 - the fixture's env
    return {name: value for name, value in env.items() if os.environ.get(name) != value}


async def ask_about_a_picture(endpoint: EndpointProfile, secrets: SecretStore) -> Message:
    """Ask `endpoint` about a red square through the app's own reply runner; the finished reply."""
    client = ChatClient()
    try:
        conversation = Conversation()
        picture = Image.new("RGB", (56, 56), (200, 30, 30))
        square = ImageAttachment.from_pixels(picture, "red.png", "screen")
        question = conversation.add_question("What is this?", [square])
        reply = conversation.start_reply(question, model=endpoint.model, endpoint_id=endpoint.id, thinking=False)
        await ReplyRunner(client, secrets).run(conversation, reply, endpoint,
                                               AskOptions(model=endpoint.model, thinking=False), lambda _m: None)
    finally:
        await client.aclose()
    return reply


def test_launch_makes_the_server_the_active_endpoint_and_it_answers(tiny_model_dir: Path, tmp_path: Path,
                                                                    app_paths: AppPaths) -> None:
    settings = SettingsStore(app_paths.settings_file)
    profiles, secrets = ProfileBook(settings), SecretStore()
    program = Path(sys.executable).with_name("transformers")

    async def scenario() -> tuple[ReplyState, str, int]:
        server = await launch_local_server(tiny_plan(), str(tiny_model_dir), profiles=profiles, secrets=secrets,
                                           logs_dir=tmp_path / "logs", state_path=tmp_path / "server.json",
                                           executable=program, extra_env=offline_env(tmp_path),
                                           ready_timeout_s=240)
        pid = server.supervisor.pid
        assert pid is not None
        try:
            # THEN the active endpoint is the local server, on loopback
            active = profiles.active()
            assert active is not None and active.id == LOCAL_PROFILE_ID and active.flavor is Flavor.TRANSFORMERS
            assert active.base_url == server.command.base_url and active.base_url.startswith("http://127.0.0.1:")
            assert active.model == str(tiny_model_dir), "transformers serve answers only to the model path"
            # AND an image question through the app's own runner is answered
            reply = await ask_about_a_picture(active, secrets)
            return reply.state, reply.text, pid
        finally:
            await server.supervisor.stop()

    state, text, pid = asyncio.run(scenario())
    assert state is ReplyState.COMPLETE and text
    assert session_members(pid) == [], "nothing of the server's process session is left"
    assert not (tmp_path / "server.json").exists()


def test_a_server_that_cannot_start_leaves_the_endpoints_alone(tmp_path: Path, app_paths: AppPaths) -> None:
    settings = SettingsStore(app_paths.settings_file)
    profiles, secrets = ProfileBook(settings), SecretStore()
    before = [p.id for p in profiles.all()]

    async def scenario() -> None:
        await launch_local_server(tiny_plan(), str(tmp_path / "no-such-model"), profiles=profiles, secrets=secrets,
                                  logs_dir=tmp_path / "logs", executable=Path(sys.executable).with_name("transformers"),
                                  extra_env=offline_env(tmp_path), ready_timeout_s=120)

    with pytest.raises(ServerStartFailed) as failure:
        asyncio.run(scenario())
    assert "exited" in failure.value.message or "ready" in failure.value.message
    assert failure.value.log_tail
    assert [p.id for p in profiles.all()] == before and LOCAL_PROFILE_ID not in before
