"""Nothing shown is lost: the app SIGKILLed while an answer streams comes back with the question, its
picture and everything that was on screen half a second before the kill, marked interrupted."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from desktop.chat.conversation import ReplyState, Role
from desktop.store.history import HistoryStore
from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer

TOKENS_PER_SECOND = 20
WORDS = [f"w{i:04d}" for i in range(600)]  # one stream piece each: the stored text says how far it got


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content=" ".join(WORDS), reasoning="",
                                          tokens_per_second=TOKENS_PER_SECOND)) as fake:
        yield fake


def test_a_killed_app_shows_the_interrupted_answer_again(x_display: desktop_env.XServer, tmp_path: Path,
                                                         session_bus: desktop_env.SessionBus,
                                                         server: FakeOpenAIServer) -> None:
    write_settings(tmp_path, server.base_url, **{"chat.thinking": False})
    env = app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address)
    picture = tmp_path / "red.png"
    Image.new("RGB", (320, 200), (220, 20, 20)).save(picture)
    # GIVEN an answer streaming into the chat window
    app = AppProcess(env)
    try:
        app.wait_for("started")
        asked = app.cli("ask", "--image", str(picture), "Count for me", "--send")
        assert asked.returncode == 0, asked.stderr
        deadline = time.monotonic() + 20
        while not server.chat_requests and time.monotonic() < deadline:
            time.sleep(0.01)
        streaming_since = time.monotonic()
        time.sleep(3.0)
        # WHEN the app is killed mid-answer
        killed_at = time.monotonic()
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait(10)
    finally:
        app.kill()
    # what the server had sent half a second before the kill, at the latest (it paces each word)
    shown_before = int((killed_at - 0.5 - streaming_since) * TOKENS_PER_SECOND) - 2
    assert 20 < shown_before < len(WORDS) - 100, "the answer was still streaming when the app was killed"
    # THEN the next start shows that conversation again, in the chat window
    again = AppProcess(env)
    try:
        assert again.wait_for("history-restored") == ["2"]
        assert again.cli("quit").returncode == 0
        assert again.wait_exit() == 0
    finally:
        again.kill()
    # with the question, its picture, and the partial answer, marked interrupted
    with HistoryStore.open(tmp_path / "data" / "glmv-desktop") as store:
        summary = store.list_conversations()[0]
        conversation = store.load_conversation(summary.id)
    question, reply = conversation.messages
    assert question.role is Role.USER and question.text == "Count for me"
    assert [(a.width, a.height) for a in question.attachments] == [(320, 200)]
    assert question.attachments[0].original_bytes() == picture.read_bytes()
    assert reply.state is ReplyState.INTERRUPTED and reply.answers == question.id
    words = reply.text.split()
    assert words == WORDS[: len(words)], "what was stored is what arrived, in order"
    assert len(words) >= shown_before, (len(words), shown_before)


def test_a_killed_app_gives_back_the_unsent_question_and_its_files(x_display: desktop_env.XServer, tmp_path: Path,
                                                                   session_bus: desktop_env.SessionBus,
                                                                   server: FakeOpenAIServer) -> None:
    write_settings(tmp_path, server.base_url)
    env = app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address)
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n\n- ship it\n", encoding="utf-8")
    picture = tmp_path / "red.png"
    Image.new("RGB", (32, 20), (220, 20, 20)).save(picture)
    # GIVEN a question with a text file and a picture in the chat window's composer, not sent
    app = AppProcess(env)
    try:
        app.wait_for("started")
        asked = app.cli("ask", "--file", str(notes), "--image", str(picture), "Half-written question")
        assert asked.returncode == 0, asked.stderr
        # WHEN the app is killed a few seconds later
        time.sleep(3.0)
        os.killpg(app.process.pid, signal.SIGKILL)
        app.process.wait(10)
    finally:
        app.kill()
    assert server.chat_requests == []
    # THEN the next start puts both files and the text back into the chat window's composer
    again = AppProcess(env)
    try:
        again.wait_for("started")
        assert again.cli("chat").returncode == 0
        assert again.wait_for("draft-restored") == ["2"]
        assert again.cli("quit").returncode == 0
        assert again.wait_exit() == 0
    finally:
        again.kill()
    with HistoryStore.open(tmp_path / "data" / "glmv-desktop") as store:
        draft = store.load_draft("chat")
    assert draft is not None and draft.text == "Half-written question"
    assert [(a.kind, a.name) for a in draft.attachments] == [("text", "notes.md"), ("image", "red.png")]
    assert draft.attachments[0].original_bytes() == notes.read_bytes()
