"""From the Local servers window, on this machine: the tiny GLM-V model (a folder added by hand) is started
with `transformers serve` from the user's own environment, answers an image question through the app's
reply runner, shows its log and start-up stages, and stops; a server kept running when the app quits is
found and used again by the next start; a server killed from outside is reported with its log."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image

from desktop.assistant.local_server import LOCAL_PROFILE_ID
from desktop.assistant.services import Services
from desktop.backends.catalog import Engine
from desktop.backends.hardware import probe_hardware
from desktop.backends.startup_stages import StartupStage
from desktop.backends.supervisor import ServerState
from desktop.chat.conversation import Conversation, ImageAttachment, ReplyState
from desktop.chat.request import AskOptions
from desktop.ui.servers.window import LocalServersWindow
from tests.support.processes import session_members
from tests.support.servers_window import open_servers_window

pytestmark = pytest.mark.tiny_model

START_TIMEOUT_MS = 240_000


@pytest.fixture
def services(services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    # The server inherits the app's environment: keep its Hugging Face home private and quiet.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    services.settings.set("local.models_dir", str(services.paths.data / "models"))
    # The user's own environment, which has transformers serve (this test's venv).
    services.settings.set("local.engine_python.transformers", sys.executable)
    return services


def open_window(qtbot: Any, services: Services) -> LocalServersWindow:
    return open_servers_window(qtbot, services, probe_hardware)


def select_tiny(qtbot: Any, window: LocalServersWindow, folder: Path) -> None:
    """Add the folder (once) and select it with transformers serve, ready to start."""
    model_id = f"folder:{folder.resolve()}"
    if not any(choice.spec.id == model_id for choice, _plan in window._rows):  # noqa: SLF001
        added = window.add_model_folder(folder)
        qtbot.waitUntil(added.done, timeout=10000)
        qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done()
                        and any(choice.spec.id == model_id for choice, _plan in window._rows),  # noqa: SLF001
                        timeout=60000)
    window.select(model_id, Engine.TRANSFORMERS)
    qtbot.waitUntil(lambda: "in your environment" in window.details.engine_text.text(), timeout=60000)
    assert "--trust-remote-code" in window.details.command.toPlainText()  # the folder ships its processor code
    assert window.details.start_button.isEnabled(), window.details.start_hint.text()


def start_tiny(qtbot: Any, window: LocalServersWindow, folder: Path) -> None:
    """Add the folder, pick transformers serve, press Start, wait until it is ready."""
    select_tiny(qtbot, window, folder)
    window.details.start_button.click()
    qtbot.waitUntil(lambda: window.manager.server is not None or (
        window.launch_task is not None and window.launch_task.done()), timeout=START_TIMEOUT_MS)
    assert window.manager.server is not None, window.running.advice.text() + window.running.log_view.toPlainText()


def ask(qtbot: Any, services: Services) -> tuple[ReplyState, str]:
    """An image question to the active endpoint through the app's own reply runner."""
    profile = services.profiles.active()
    assert profile is not None
    conversation = Conversation()
    question = conversation.add_question("What is this?", [
        ImageAttachment.from_pixels(Image.new("RGB", (56, 56), (200, 30, 30)), "red.png", "screen")])
    reply = conversation.start_reply(question, model=profile.model, endpoint_id=profile.id, thinking=False)
    task = asyncio.ensure_future(services.runner.run(conversation, reply, profile,
                                                     AskOptions(model=profile.model, thinking=False), lambda _m: None))
    qtbot.waitUntil(task.done, timeout=60000)
    task.result()
    return reply.state, reply.text


def test_the_tiny_model_starts_from_the_panel_answers_shows_its_log_and_stops(
        qtbot: Any, services: Services, tiny_model_dir: Path) -> None:
    window = open_window(qtbot, services)
    start_tiny(qtbot, window, tiny_model_dir)
    supervisor = window.manager.supervisor
    assert supervisor is not None and supervisor.pid is not None
    pid = supervisor.pid
    # THEN the panel says it is ready, with its address, every stage ticked, and its log
    assert "Ready" in window.running.state_label.text() and supervisor.command.base_url in \
        window.running.state_label.text()
    assert "✓" in window.running.stage_labels[StartupStage.READY].text()
    qtbot.waitUntil(lambda: window.running.log_view.toPlainText().strip() != "", timeout=10000)
    # AND the exact command that runs is shown, with nothing secret in it (transformers serve has no key)
    assert f"--port {supervisor.command.port}" in window.details.command.toPlainText()
    # AND it is the active endpoint, and it answers an image question
    active = services.profiles.active()
    assert active is not None and active.id == LOCAL_PROFILE_ID and active.base_url == supervisor.command.base_url
    state, text = ask(qtbot, services)
    assert state is ReplyState.COMPLETE and text
    # WHEN Stop is pressed THEN nothing of its process session is left
    assert window.running.stop_button.isEnabled()
    window.running.stop_button.click()
    qtbot.waitUntil(lambda: supervisor.state is ServerState.STOPPED, timeout=30000)
    qtbot.waitUntil(lambda: "Stopped" in window.running.state_label.text(), timeout=5000)
    assert session_members(pid) == []
    assert not window.manager.state_path.exists()
    window.shutdown()


def test_a_server_kept_running_is_offered_and_used_by_the_next_start(
        qtbot: Any, services: Services, tiny_model_dir: Path) -> None:
    window = open_window(qtbot, services)
    window.running.keep_running.setChecked(True)
    assert services.settings.get("local.keep_running") is True
    start_tiny(qtbot, window, tiny_model_dir)
    supervisor = window.manager.supervisor
    assert supervisor is not None and supervisor.pid is not None
    pid, port = supervisor.pid, supervisor.command.port
    # WHEN the app quits with "keep running" on
    quitting = asyncio.ensure_future(window.manager.shutdown(keep_running=True))
    qtbot.waitUntil(quitting.done, timeout=20000)
    quitting.result()
    window.shutdown()
    window.close()
    try:
        # THEN the server still runs, and its record says where
        assert psutil.pid_exists(pid) and window.manager.state_path.exists()
        # WHEN the app starts again THEN the window offers to use it or stop it
        services.settings.set("endpoint.active", "")
        again = open_window(qtbot, services)
        banner = again.running.left_over
        qtbot.waitUntil(banner.isVisible, timeout=10000)
        assert f"port {port}" in banner.text.text()
        # WHEN "Use it" is pressed THEN it is the active endpoint again and it answers
        banner.use_button.click()
        qtbot.waitUntil(lambda: again.manager.adopted is not None, timeout=10000)
        active = services.profiles.active()
        assert active is not None and active.id == LOCAL_PROFILE_ID and f":{port}/" in active.base_url
        assert "started earlier" in again.running.state_label.text()
        qtbot.waitUntil(lambda: "$ " in again.running.log_view.toPlainText(), timeout=10000)  # its log file
        state, text = ask(qtbot, services)
        assert state is ReplyState.COMPLETE and text
        # WHEN Stop is pressed THEN its whole session is gone
        again.running.stop_button.click()
        qtbot.waitUntil(lambda: session_members(pid) == [], timeout=30000)
        qtbot.waitUntil(lambda: not again.manager.state_path.exists(), timeout=5000)
        again.shutdown()
    finally:
        if session_members(pid):
            os.killpg(pid, signal.SIGKILL)


def test_a_server_killed_from_outside_is_reported_with_its_log(
        qtbot: Any, services: Services, tiny_model_dir: Path) -> None:
    window = open_window(qtbot, services)
    start_tiny(qtbot, window, tiny_model_dir)
    supervisor = window.manager.supervisor
    assert supervisor is not None and supervisor.pid is not None
    # WHEN something kills the server's whole process group
    os.killpg(supervisor.pid, signal.SIGKILL)
    # THEN the panel says it exited, why it cannot tell more, and keeps the log
    qtbot.waitUntil(lambda: supervisor.state is ServerState.CRASHED, timeout=20000)
    qtbot.waitUntil(window.running.advice.isVisible, timeout=5000)
    assert "was killed (signal 9)" in window.running.advice.text()
    assert window.running.log_view.toPlainText().strip()
    assert not window.running.stop_button.isEnabled()
    assert not window.manager.state_path.exists()
    qtbot.waitUntil(lambda: session_members(supervisor.pid or 0) == [], timeout=10000)
    window.shutdown()


def test_a_double_click_starts_one_server_and_cancel_start_leaves_nothing(
        qtbot: Any, services: Services, tiny_model_dir: Path) -> None:
    window = open_window(qtbot, services)
    select_tiny(qtbot, window, tiny_model_dir)
    # WHEN Start is pressed twice in a row THEN there is one start, and Start is off while it runs
    first = window.start_selected()
    assert first is not None and window.start_selected() is first
    assert not window.details.start_button.isEnabled()
    # WHEN "Cancel start" is pressed while it loads
    qtbot.waitUntil(lambda: window.manager.supervisor is not None and window.manager.supervisor.pid is not None,
                    timeout=30000)
    supervisor = window.manager.supervisor
    assert supervisor is not None and supervisor.pid is not None
    pid = supervisor.pid
    assert window.running.stop_button.text() == "Cancel start"
    window.running.stop_button.click()
    qtbot.waitUntil(first.done, timeout=30000)
    # THEN nothing of it is left, no record, and the endpoints did not change
    assert supervisor.state is ServerState.STOPPED
    assert session_members(pid) == [] and not window.manager.state_path.exists()
    assert services.profiles.get(LOCAL_PROFILE_ID) is None
    qtbot.waitUntil(window.details.start_button.isEnabled, timeout=5000)
    window.shutdown()


def test_starting_a_server_stops_one_an_earlier_run_left(qtbot: Any, services: Services, tiny_model_dir: Path) -> None:
    window = open_window(qtbot, services)
    start_tiny(qtbot, window, tiny_model_dir)
    supervisor = window.manager.supervisor
    assert supervisor is not None and supervisor.pid is not None
    old = supervisor.pid
    quitting = asyncio.ensure_future(window.manager.shutdown(keep_running=True))
    qtbot.waitUntil(quitting.done, timeout=20000)
    window.shutdown()
    window.close()
    try:
        # WHEN the next start ignores the offer and starts a server
        again = open_window(qtbot, services)
        qtbot.waitUntil(again.running.left_over.isVisible, timeout=10000)
        start_tiny(qtbot, again, tiny_model_dir)
        # THEN the old one is gone (it held the memory the new one needs) and the record is the new one's
        new = again.manager.supervisor
        assert new is not None and new.pid is not None and new.pid != old
        assert session_members(old) == []
        assert f'"pid": {new.pid}' in again.manager.state_path.read_text()
        assert not again.running.left_over.isVisible()
        stopping = asyncio.ensure_future(again.manager.stop())
        qtbot.waitUntil(stopping.done, timeout=30000)
        again.shutdown()
    finally:
        if session_members(old):
            os.killpg(old, signal.SIGKILL)
