"""Session events reach the history as they happen, off the loop's thread: a streaming reply in short
coalesced writes, a full disk or a damaged file told once with nothing lost (real SQLite, a real
full tmpfs, the protocol-faithful server)."""

from __future__ import annotations

import asyncio
import io
import os
import random
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from keyring.backends import fail
from PIL import Image

from desktop.assistant.history import HistoryWriter, SessionRecorder
from desktop.assistant.replies import ReplyRunner
from desktop.assistant.session import ChatSession
from desktop.chat.client import ChatClient
from desktop.chat.conversation import Attachment, ImageAttachment, ReplyState
from desktop.chat.request import AskOptions
from desktop.config.profiles import Flavor, preset
from desktop.config.secrets import SecretStore
from desktop.errors import UserFacingError
from desktop.store.history import HistoryStore
from desktop.store.records import Origin
from tests.support.desktop_env import STRICT
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

WORDS = [f"w{i:04d}" for i in range(60)]
OPTIONS = AskOptions(model="glm-4.6v", thinking=False, token_budget=1000)


def noisy_picture(side: int) -> Attachment:
    """A picture that does not compress: `side`² × 3 bytes as PNG."""
    image = Image.frombytes("RGB", (side, side), random.Random(side).randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return ImageAttachment.from_bytes(buffer.getvalue(), "noise.png", "file")


async def ask(server: FakeOpenAIServer, writer: HistoryWriter, attachments: list[Attachment],
              samples: list[str] | None = None) -> ChatSession:
    """One question answered through a recorded session; `samples` gets the stored answer while it streams."""
    client = ChatClient()
    session = ChatSession(ReplyRunner(client, SecretStore(fail.Keyring())), asyncio.ensure_future)
    SessionRecorder(session, writer, Origin.CHAT)
    try:
        session.send("Count for me", attachments, OPTIONS, preset(Flavor.VLLM, base_url=server.base_url))
        while session.busy:
            await asyncio.sleep(0.1)
            if samples is not None and writer.store is not None and writer.store.list_conversations():
                stored = writer.store.load_conversation(session.conversation.id)
                samples.append(stored.messages[-1].text if len(stored.messages) > 1 else "")
    finally:
        await client.aclose()
    return session


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content=" ".join(WORDS), reasoning="", tokens_per_second=40)) as fake:
        yield fake


def test_a_streaming_reply_is_written_as_it_arrives(tmp_path: Path, server: FakeOpenAIServer) -> None:
    writer = HistoryWriter(tmp_path)
    writer.start()
    samples: list[str] = []
    try:
        session = asyncio.run(ask(server, writer, [noisy_picture(64)], samples))
        assert writer.flush()
    finally:
        writer.close()
    # while it streamed, the history held a growing prefix of the answer
    growing = [s for s in samples if s]
    assert len(set(growing)) >= 3 and all(" ".join(WORDS).startswith(s) for s in growing)
    assert growing == sorted(growing, key=len)
    with HistoryStore.open(tmp_path) as store:
        stored = store.load_conversation(session.conversation.id)
    question, reply = stored.messages
    assert reply.text == " ".join(WORDS) and reply.state is ReplyState.COMPLETE and reply.answers == question.id
    assert question.attachments[0].original_bytes() == session.conversation.messages[0].attachments[0].original_bytes()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB file system (tmpfs), grown later by the test; needs root."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True,
                             text=True, check=False)
    if mounted.returncode != 0:
        message = f"cannot mount a small tmpfs here ({mounted.stderr.strip()}); a full disk needs root"
        if STRICT:
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_is_told_once_and_the_conversation_is_written_when_there_is_room(
        small_disk: Path, server: FakeOpenAIServer, expect_log: Callable[[str], None]) -> None:
    expect_log(r"desktop\.assistant\.history: History: .*full")
    problems: list[UserFacingError] = []
    writer = HistoryWriter(small_disk, on_problem=problems.append)
    writer.start()
    try:
        # GIVEN a question with a 2 MB picture on a disk with 1 MiB
        session = asyncio.run(ask(server, writer, [noisy_picture(820)]))
        assert session.conversation.messages[-1].text == " ".join(WORDS), "the answer is shown all the same"
        deadline = time.monotonic() + 10
        while not problems and time.monotonic() < deadline:
            time.sleep(0.05)
        # THEN the user is told once, in words
        assert len(problems) == 1 and "full" in problems[0].message.lower() and problems[0].hint
        assert not writer.flush(timeout=1.5), "nothing can be written yet"
        assert len(problems) == 1
        # WHEN there is room again, THEN everything is written, the picture and the whole answer
        subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
        assert writer.flush(timeout=60)
    finally:
        writer.close()
    with HistoryStore.open(small_disk) as store:
        stored = store.load_conversation(session.conversation.id)
    assert [m.text for m in stored.messages] == ["Count for me", " ".join(WORDS)]
    assert stored.messages[0].attachments[0].original_bytes() == (
        session.conversation.messages[0].attachments[0].original_bytes())


def test_a_damaged_history_file_is_moved_aside_and_told_once(tmp_path: Path, server: FakeOpenAIServer,
                                                            expect_log: Callable[[str], None]) -> None:
    expect_log(r"desktop\.(assistant|store)\.history: .*(damaged|corrupt|moved)")
    with HistoryStore.open(tmp_path) as store:
        path = store.path
    path.write_bytes(os.urandom(4096))
    problems: list[UserFacingError] = []
    writer = HistoryWriter(tmp_path, on_problem=problems.append)
    writer.start()
    try:
        session = asyncio.run(ask(server, writer, []))
        assert writer.flush()
    finally:
        writer.close()
    assert len(problems) == 1 and "damaged" in problems[0].message and "corrupt" in problems[0].hint
    with HistoryStore.open(tmp_path) as store:
        assert store.load_conversation(session.conversation.id).messages[-1].text == " ".join(WORDS)


def test_what_is_given_before_the_history_opened_is_written_when_the_app_quits(tmp_path: Path) -> None:
    from desktop.chat.conversation import Conversation

    # GIVEN a question asked in the first second of the app, before its history was opened (it opens later)
    writer = HistoryWriter(tmp_path)
    conversation = Conversation()
    conversation.add_question("这份报告说了什么？", [])
    writer.saved.add(conversation.id)
    writer.run(lambda store: store.save_conversation(conversation, Origin.CHAT))
    assert not writer.started
    # WHEN the app quits right away
    writer.close()
    # THEN it is in the history
    with HistoryStore.open(tmp_path) as store:
        assert [summary.id for summary in store.list_conversations()] == [conversation.id]
