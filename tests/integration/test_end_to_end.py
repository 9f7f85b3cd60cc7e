"""End to end on a real X display: a known picture on screen → tray menu (xdotool) → Ask about my
screen → the request reaches a server → the streamed reply appears in the chat window.

Twice with the tiny real GLM-V model under `transformers serve` (thinking on, then off), and once
with the protocol-faithful server, which records the request so the pixels sent can be checked
against the picture on screen. And the tray's Local servers window, with a server that quitting stops.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from desktop.app import AppController
from desktop.assistant.local_models import folder_choice, plan_for
from desktop.assistant.services import AppPaths, Services
from desktop.backends.catalog import Engine
from desktop.backends.hardware import probe_hardware
from desktop.backends.supervisor import ServerState
from desktop.chat.conversation import ReplyState
from desktop.config.profiles import Flavor, preset
from desktop.ui.message_widgets import ReplyWidget
from desktop.ui.notifier import Notifier
from tests.support import desktop_env
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer


@pytest.fixture
def controller(qtbot: Any, qapp: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths,
               session_bus: object, x_display: desktop_env.XServer) -> Iterator[AppController]:
    services = Services.create(app_paths)
    app = AppController(qapp, services, Notifier())
    app.start()
    assert app.tray is not None, "the session's trayer provides a tray"
    unembedded = app.tray.icon.geometry()
    # trayer docks at the top right: the icon has moved there once it is embedded.
    qtbot.waitUntil(lambda: app.tray is not None and app.tray.icon.geometry() != unembedded
                    and app.tray.icon.geometry().x() > x_display.width // 2, timeout=10000)
    yield app
    app.stop_activity()  # releases the global hotkeys it grabbed on the shared display
    chat = app._chat  # noqa: SLF001
    if chat is not None:
        qtbot.waitUntil(lambda: not chat.busy, timeout=5000)
        chat.deleteLater()
    app.tray.hide()
    app.tray.deleteLater()
    closing = asyncio.ensure_future(services.client.aclose())
    qtbot.waitUntil(closing.done, timeout=5000)


def xdotool(qtbot: Any, x: desktop_env.XServer, *args: str) -> None:
    """Run xdotool while the Qt loop keeps running (the app must answer the X events it sends)."""
    process = subprocess.Popen(["xdotool", *args], env=x.env())
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=10000)
    assert process.returncode == 0


def ask_about_screen_from_tray(qtbot: Any, app: AppController, x: desktop_env.XServer) -> None:
    assert app.tray is not None
    geometry = app.tray.icon.geometry()
    xdotool(qtbot, x, "mousemove", str(geometry.center().x()), str(geometry.center().y()), "click", "3")
    qtbot.waitUntil(app.tray.menu.isVisible, timeout=5000)
    # After the four capture modes and Quick ask comes "Ask about my screen (monitor under the pointer)".
    items = [a for a in app.tray.menu.actions() if not a.isSeparator()]
    position = next(i for i, a in enumerate(items) if a.objectName() == "ask_screen")
    assert position == 5
    xdotool(qtbot, x, "key", *["Down"] * (position + 1), "Return")
    qtbot.waitUntil(lambda: app._chat is not None and len(app._chat.composer.attachments()) == 1,  # noqa: SLF001
                    timeout=15000)


def point_at(app: AppController, server_url: str, flavor: Flavor, model: str) -> None:
    profile = app.services.profiles.upsert(preset(flavor, name="Test server", base_url=server_url, model=model))
    app.services.profiles.set_active(profile.id, model)


def send(qtbot: Any, app: AppController, question: str, *, thinking: bool, timeout: int = 60000) -> Any:
    chat = app.chat_window()
    chat.reload_endpoints()
    chat.model_box.setCurrentText(app.services.profiles.active_model())
    chat.composer.thinking.setChecked(thinking)
    chat.composer.prompt.setPlainText(question)
    qtbot.keyClick(chat.composer.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: chat.conversation.messages and chat.conversation.messages[-1].is_final
                    and not chat.busy, timeout=timeout)
    chat.view.flush()
    reply = chat.conversation.messages[-1]
    widget = chat.view.widget_for(reply)
    assert isinstance(widget, ReplyWidget)
    return reply, widget


def test_screen_pixels_reach_the_server_exactly(qtbot: Any, controller: AppController, known_picture: Image.Image,
                                                x_display: desktop_env.XServer, fake_server: FakeOpenAIServer) -> None:
    fake_server.set_scenario(VLLM_NEW.evolve(reasoning="I see colour bands.", content="Four colour bands."))
    point_at(controller, fake_server.base_url, Flavor.VLLM, "glm-4.6v")
    controller.services.settings.set("images.format", "png")  # lossless, so every pixel can be compared
    ask_about_screen_from_tray(qtbot, controller, x_display)
    reply, widget = send(qtbot, controller, "What is on my screen?", thinking=True)
    assert reply.state is ReplyState.COMPLETE
    assert widget.reasoning.text.toPlainText() == "I see colour bands."
    assert "Four colour bands." in widget.answer.toPlainText()
    content = fake_server.chat_requests[-1].body["messages"][0]["content"]
    sent = Image.open(io.BytesIO(base64.b64decode(content[0]["image_url"]["url"].split(",", 1)[1]))).convert("RGB")
    assert sent.size == known_picture.size  # 1920×1080 fits the default budget: sent unscaled
    # The tray host docks a strip along the top edge; everything below it must be the picture, exactly.
    box = (0, 40, sent.width, sent.height)
    assert sent.crop(box).tobytes() == known_picture.crop(box).tobytes()


@pytest.mark.parametrize("thinking", [True, False], ids=["thinking-on", "thinking-off"])
def test_ask_about_my_screen_with_the_tiny_real_glmv_model(qtbot: Any, controller: AppController,
                                                           known_picture: Image.Image, x_display: desktop_env.XServer,
                                                           tiny_server: Any, thinking: bool) -> None:
    point_at(controller, tiny_server.base_url, Flavor.TRANSFORMERS, tiny_server.model)
    ask_about_screen_from_tray(qtbot, controller, x_display)
    reply, widget = send(qtbot, controller, "Describe my screen.", thinking=thinking)
    assert reply.state is ReplyState.COMPLETE, reply.error
    assert reply.text.strip(), "the model's answer streamed into the chat"
    assert widget.answer.toPlainText().strip()
    if thinking:
        assert reply.reasoning.strip()
        assert widget.reasoning.isVisible() and widget.reasoning.text.toPlainText() == reply.reasoning
    else:
        assert reply.reasoning == ""
        assert not widget.reasoning.isVisible()


@pytest.mark.tiny_model
def test_the_tray_opens_local_servers_and_quitting_stops_the_server(
        qtbot: Any, controller: AppController, tiny_model_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    exits: list[int] = []
    monkeypatch.setattr(controller.app, "exit", lambda code=0: exits.append(code))  # the test's app lives on
    # WHEN "Local servers…" is chosen in the tray menu THEN the window opens
    assert controller.tray is not None
    controller.tray.servers_action.trigger()
    window = controller.servers_window()
    qtbot.waitUntil(window.isVisible, timeout=5000)
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=60000)
    # AND a server started there (the tiny model on transformers serve)
    choice = folder_choice(tiny_model_dir)
    report = probe_hardware(tmp_path)
    plan = plan_for(choice, Engine.TRANSFORMERS, report, complete=True)
    launch = asyncio.ensure_future(controller.server_manager.launch(
        plan, str(choice.folder), Path(sys.executable).with_name("transformers")))
    qtbot.waitUntil(launch.done, timeout=240_000)
    supervisor = launch.result().supervisor
    pid = supervisor.pid
    assert pid is not None and "Ready" in window.running.state_label.text()
    # WHEN the app quits (keep running is off by default)
    controller.quit()
    qtbot.waitUntil(lambda: exits == [0], timeout=30000)
    # THEN the server and everything it started are gone, and no record is left for the next start
    assert supervisor.state is ServerState.STOPPED
    assert not any(_session_of(p) == pid for p in psutil.pids())
    assert not controller.server_manager.state_path.exists()


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None
