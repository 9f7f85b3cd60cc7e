"""Capture end to end on the real X display: a known picture on screen, the app's real X11 hotkeys
pressed with xdotool, the frozen overlay dragged with xdotool's mouse, and the quick-ask popup's
question sent to the protocol-faithful server, which records the image it received. The image
must be exactly the pixels of the selected region (not off by one, not scaled)."""

from __future__ import annotations

import asyncio
import base64
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PySide6.QtWidgets import QLineEdit
from Xlib import XK, X, error
from Xlib import display as xdisplay

from desktop.app import AppController
from desktop.assistant.services import AppPaths, Services
from desktop.config.profiles import Flavor, preset
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.ui.notifier import Notifier
from tests.support import desktop_env
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer
from tests.support.x11_window import show_window


def xdotool(qtbot: Any, x: desktop_env.XServer, *args: str) -> None:
    """Run xdotool while the Qt loop keeps running (the app must answer the X events it sends)."""
    desktop_env.require("xdotool")
    process = subprocess.Popen(["xdotool", *args], env=x.env())
    qtbot.waitUntil(lambda: process.poll() is not None, timeout=10000)
    assert process.returncode == 0


def start_app(qtbot: Any, qapp: Any, app_paths: AppPaths, server: FakeOpenAIServer,
              monkeypatch: pytest.MonkeyPatch, x: desktop_env.XServer) -> AppController:
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    monkeypatch.setenv("DISPLAY", x.display)
    services = Services.create(app_paths)
    services.settings.set("images.format", "png")  # lossless, so the pixels can be compared exactly
    profile = services.profiles.upsert(preset(Flavor.VLLM, name="Test server", base_url=server.base_url,
                                              model="glm-4.6v"))
    services.profiles.set_active(profile.id, "glm-4.6v")
    app = AppController(qapp, services, Notifier())
    app.start()
    qtbot.waitUntil(lambda: app.hotkeys is not None and app.hotkeys.backend_name == "x11", timeout=10000)
    return app


def stop_app(qtbot: Any, app: AppController) -> None:
    app.stop_activity()
    popup = app._popup  # noqa: SLF001
    if popup is not None:
        qtbot.waitUntil(lambda: not popup.busy, timeout=5000)
        popup.hide()
        popup.deleteLater()
    if app.tray is not None:
        app.tray.hide()
        app.tray.deleteLater()
    task = asyncio.ensure_future(app.services.client.aclose())
    qtbot.waitUntil(task.done, timeout=5000)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="It is a test picture.", reasoning="")) as running:
        yield running


@pytest.fixture
def app(qtbot: Any, qapp: Any, qt_loop: asyncio.AbstractEventLoop, app_paths: AppPaths, session_bus: object,
        x_display: desktop_env.XServer, server: FakeOpenAIServer,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[AppController]:
    started = start_app(qtbot, qapp, app_paths, server, monkeypatch, x_display)
    yield started
    stop_app(qtbot, started)


def sent_image(server: FakeOpenAIServer) -> Image.Image:
    """The image of the last chat request, decoded from its data URL."""
    parts = server.chat_requests[-1].body["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p.get("type") == "image_url")
    header, data = url.split(",", 1)
    assert header == "data:image/png;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def ask_in_popup(qtbot: Any, app: AppController, server: FakeOpenAIServer, question: str) -> None:
    """Type the question in the popup and send it; wait for the answer."""
    qtbot.waitUntil(lambda: app._popup is not None and app._popup.isVisible(), timeout=15000)  # noqa: SLF001
    popup = app._popup  # noqa: SLF001
    assert popup is not None
    popup.question.setText(question)
    popup.ask()
    qtbot.waitUntil(lambda: len(server.chat_requests) >= 1 and not popup.busy, timeout=15000)
    assert "test picture" in popup.conversation.messages[-1].text


def test_region_hotkey_drag_and_ask_sends_the_exact_pixels(qtbot: Any, app: AppController,
                                                           x_display: desktop_env.XServer,
                                                           known_picture: Image.Image,
                                                           server: FakeOpenAIServer) -> None:
    # GIVEN the app is running with its default hotkeys grabbed
    region = next(r for r in app.hotkeys.registrations() if r.action is HotkeyAction.CAPTURE_REGION)  # type: ignore[union-attr]
    assert region.ok and region.shortcut == "Ctrl+Alt+Shift+S"
    # WHEN the region hotkey is pressed in "another program"
    xdotool(qtbot, x_display, "mousemove", "700", "500", "key", "ctrl+alt+shift+s")
    qtbot.waitUntil(lambda: app._capture is not None and app._capture.selector is not None  # noqa: SLF001
                    and all(o.isVisible() for o in app._capture.selector.overlays), timeout=10000)  # noqa: SLF001
    # AND a region is dragged with the real mouse from (123, 211) to (456, 389), then Enter
    xdotool(qtbot, x_display, "mousemove", "123", "211", "mousedown", "1", "mousemove", "300", "300",
            "mousemove", "456", "389", "mouseup", "1")
    selector = app._capture.selector  # noqa: SLF001
    assert selector is not None
    qtbot.waitUntil(lambda: selector.selection is not None and selector.selection.right == 457, timeout=5000)
    xdotool(qtbot, x_display, "key", "Return")
    # THEN the popup appears beside it and asking sends exactly those pixels
    ask_in_popup(qtbot, app, server, "What is in this region?")
    sent = sent_image(server)
    assert sent.size == (334, 179)
    assert sent.tobytes() == known_picture.crop((123, 211, 457, 390)).tobytes()
    assert server.chat_requests[-1].body["messages"][-1]["content"][-1]["text"] == "What is in this region?"
    popup = app._popup  # noqa: SLF001
    assert popup is not None and popup.windowFlags() & popup.windowFlags().WindowStaysOnTopHint
    assert not popup.geometry().intersects(selector.logical_rect(selector.selection)), "beside, not over it"


def test_escape_in_the_overlay_cancels_and_a_second_hotkey_works(qtbot: Any, app: AppController,
                                                                 x_display: desktop_env.XServer) -> None:
    for _ in range(2):
        xdotool(qtbot, x_display, "key", "ctrl+alt+shift+s")
        qtbot.waitUntil(lambda: app._capture is not None and app._capture.selector is not None,  # noqa: SLF001
                        timeout=10000)
        qtbot.waitUntil(lambda: all(o.isVisible() for o in app._capture.selector.overlays),  # type: ignore[union-attr]  # noqa: SLF001
                        timeout=10000)
        xdotool(qtbot, x_display, "key", "Escape")
        qtbot.waitUntil(lambda: not app._capture.busy, timeout=10000)  # type: ignore[union-attr]  # noqa: SLF001
    assert app._popup is None or not app._popup.isVisible()  # noqa: SLF001


def test_window_hotkey_captures_the_window_under_the_pointer(qtbot: Any, app: AppController,
                                                             x_display: desktop_env.XServer,
                                                             known_picture: Image.Image, tmp_path: Path,
                                                             server: FakeOpenAIServer) -> None:
    # GIVEN a window showing a known picture at (400, 300), 320×200
    inner = known_picture.crop((0, 0, 320, 200)).transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    inner.save(tmp_path / "inner.png")
    window = show_window(x_display.env(), 400, 300, 1, 1, "--title", "Known window", "--picture",
                         str(tmp_path / "inner.png"))
    try:
        # WHEN the pointer is over it and the window hotkey is pressed
        xdotool(qtbot, x_display, "mousemove", "500", "400", "key", "ctrl+alt+shift+w")
        ask_in_popup(qtbot, app, server, "What is in this window?")
        # THEN exactly the window's pixels were sent
        sent = sent_image(server)
        assert sent.size == (320, 200)
        assert sent.tobytes() == inner.tobytes()
    finally:
        window.close()


def test_capture_command_from_the_cli_captures_the_screen(qtbot: Any, app: AppController,
                                                          x_display: desktop_env.XServer,
                                                          known_picture: Image.Image,
                                                          server: FakeOpenAIServer) -> None:
    xdotool(qtbot, x_display, "mousemove", "900", "600")
    message = app.handle_argv(["capture", "screen"])
    assert "Capturing" in message
    ask_in_popup(qtbot, app, server, "And the whole screen?")
    sent = sent_image(server)
    assert sent.size == (x_display.width, x_display.height)
    # everything but the tray host's strip at the top right is the known picture
    tray_strip = sent.height // 10
    assert sent.crop((0, tray_strip, sent.width, sent.height)).tobytes() == known_picture.crop(
        (0, tray_strip, sent.width, sent.height)).tobytes()


def test_a_hotkey_held_by_another_program_is_reported(qtbot: Any, qapp: Any, qt_loop: asyncio.AbstractEventLoop,
                                                      app_paths: AppPaths, session_bus: object,
                                                      x_display: desktop_env.XServer, server: FakeOpenAIServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN another X client holds Ctrl+Alt+Shift+W (with and without NumLock, as tools do)
    other = xdisplay.Display(x_display.display)
    code = other.keysym_to_keycode(XK.string_to_keysym("w"))
    catcher = error.CatchError(error.BadAccess)
    for extra in (0, X.Mod2Mask):
        other.screen().root.grab_key(code, X.ControlMask | X.Mod1Mask | X.ShiftMask | extra, True,
                                     X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
    other.sync()
    try:
        # WHEN the app starts
        app = start_app(qtbot, qapp, app_paths, server, monkeypatch, x_display)
        try:
            # THEN that hotkey is reported taken, with the reason and the fallback command, and the others work
            states = {r.action: r for r in app.hotkeys.registrations()}  # type: ignore[union-attr]
            window = states[HotkeyAction.CAPTURE_WINDOW]
            assert window.status is RegistrationStatus.TAKEN
            assert "Another program" in window.reason
            assert "glmv-desktop capture window" in window.advice()
            assert states[HotkeyAction.CAPTURE_REGION].ok
            notifier = app.notifier
            qtbot.waitUntil(lambda: any("hotkeys do not work" in text for text in notifier.shown), timeout=5000)
            status = app.handle_argv(["status"])
            assert "Capture the window under the pointer: Ctrl+Alt+Shift+W (taken" in status
        finally:
            stop_app(qtbot, app)
            for box in qapp.topLevelWidgets():
                if box.objectName() == "error_dialog":
                    box.close()
    finally:
        other.close()


def test_save_from_the_overlay_writes_the_pixels_and_other_work_goes_on(
        qtbot: Any, app: AppController, x_display: desktop_env.XServer, known_picture: Image.Image,
        tmp_path: Path) -> None:
    # GIVEN another task is running on the loop (as a streaming answer would be)
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(1)
            await asyncio.sleep(0.01)

    other_work = asyncio.ensure_future(ticker())
    try:
        # WHEN a region is selected and Ctrl+S pressed
        xdotool(qtbot, x_display, "mousemove", "700", "500", "key", "ctrl+alt+shift+s")
        qtbot.waitUntil(lambda: app._capture is not None and app._capture.selector is not None  # noqa: SLF001
                        and all(o.isVisible() for o in app._capture.selector.overlays), timeout=10000)  # noqa: SLF001
        xdotool(qtbot, x_display, "mousemove", "100", "150", "mousedown", "1", "mousemove", "200", "200",
                "mousemove", "299", "249", "mouseup", "1")
        selector = app._capture.selector  # noqa: SLF001
        assert selector is not None
        qtbot.waitUntil(lambda: selector.selection is not None and selector.selection.right == 300, timeout=5000)
        xdotool(qtbot, x_display, "key", "ctrl+s")
        flow = app._capture  # noqa: SLF001
        assert flow is not None
        qtbot.waitUntil(lambda: flow.save_dialog is not None and flow.save_dialog.isVisible(), timeout=10000)
        # THEN while the save dialog is open the other task keeps running
        seen = len(ticks)
        qtbot.waitUntil(lambda: len(ticks) > seen + 5, timeout=5000)
        # AND the file chosen gets exactly the selected pixels
        target = tmp_path / "region.png"
        dialog = flow.save_dialog
        assert dialog is not None
        dialog.setDirectory(str(tmp_path))
        name_box = dialog.findChild(QLineEdit, "fileNameEdit")  # what the user types into
        assert name_box is not None
        name_box.setText(target.name)
        dialog.accept()
        qtbot.waitUntil(lambda: flow.last_saved is not None, timeout=10000)
        assert flow.last_saved == target
        saved = Image.open(target).convert("RGB")
        assert saved.tobytes() == known_picture.crop((100, 150, 300, 250)).tobytes()
    finally:
        other_work.cancel()


def test_a_capture_command_while_one_is_under_way_fails_with_the_reason(qtbot: Any, app: AppController,
                                                                        known_picture: Image.Image) -> None:
    from desktop.errors import UserFacingError

    assert "Capturing" in app.handle_argv(["capture", "region"])
    with pytest.raises(UserFacingError, match="already under way"):
        app.handle_argv(["capture", "region"])
    app.capture_flow().cancel()
    qtbot.waitUntil(lambda: not app.capture_flow().busy, timeout=5000)
