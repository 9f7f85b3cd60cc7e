"""The app as users start it: one instance, a tray menu driven by xdotool, no tray, a crash, and what a
start from a terminal prints."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env


def visible_chat_windows(x: desktop_env.XServer) -> list[str]:
    return desktop_env.xdotool(x, "search", "--onlyvisible", "--name", "^GLM-V Desktop$").split()


def wait_until(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def app(x_display: desktop_env.XServer, tmp_path: Path) -> Iterator[AppProcess]:
    process = AppProcess(app_env(x_display, tmp_path))
    yield process
    process.kill()


def test_second_launch_hands_its_command_to_the_first(app: AppProcess, x_display: desktop_env.XServer) -> None:
    app.wait_for("tray-shown")
    assert visible_chat_windows(x_display) == []
    changed = app.cli("config", "set", "capture.scope", "all")
    assert changed.returncode == 0 and "capture.scope" in changed.stdout
    refused = app.cli("config", "set", "images.token_budget", "5")
    assert refused.returncode == 2 and "between" in refused.stderr
    opened = app.cli("chat")
    assert opened.returncode == 0 and "Chat window opened" in opened.stdout
    wait_until(lambda: visible_chat_windows(x_display))
    again = app.cli()
    assert again.returncode == 0 and "already running" in again.stdout
    quitting = app.cli("quit")
    assert quitting.returncode == 0
    assert app.wait_exit() == 0
    assert app.cli("quit").stdout.strip() == "GLM-V Desktop is not running."
    assert app.cli("config", "get", "capture.scope").stdout.strip() == '"all"', "the running app saved it"


IN_THE_TRAY = "GLM-V Desktop is running in the tray."


def printed(app: AppProcess, text: str, timeout: float = 15.0) -> list[str]:
    """The app's stdout lines that contain `text`, waiting for the first one to arrive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(text in line for line in app.output):
        time.sleep(0.05)
    return [line for line in app.output if text in line]


def test_the_app_says_it_is_running_in_the_tray_and_how_to_reach_it(x_display: desktop_env.XServer,
                                                                    tmp_path: Path) -> None:
    # GIVEN the app started from a terminal on a desktop with a tray
    app = AppProcess(app_env(x_display, tmp_path))
    try:
        app.wait_for("tray-shown")
        # THEN it says once that it is up, where, and how to quit it
        lines = printed(app, IN_THE_TRAY)
        assert len(lines) == 1, app.output
        assert "icon" in lines[0] and "glmv-desktop quit" in lines[0]
        # AND a second launch hands its command over and prints only the running instance's reply
        again = app.cli("chat")
        assert again.returncode == 0 and "Chat window opened" in again.stdout
        assert "running" not in again.stdout + again.stderr
        assert app.cli("quit").returncode == 0
        assert app.wait_exit() == 0
        assert len([line for line in app.output if IN_THE_TRAY in line]) == 1
    finally:
        app.kill()


def app_windows(x: desktop_env.XServer) -> int:
    """Visible top-level windows of the app (chat window, open menus)."""
    return len(desktop_env.xdotool(x, "search", "--onlyvisible", "--class", "glmv-desktop").split())


def open_tray_menu(x_display: desktop_env.XServer, icon: tuple[int, int, int, int]) -> None:
    x, y, w, h = icon
    before = app_windows(x_display)
    desktop_env.xdotool(x_display, "mousemove", str(x + w // 2), str(y + h // 2), "click", "3")
    wait_until(lambda: app_windows(x_display) > before)  # the menu's own window is mapped
    time.sleep(0.2)  # and Qt has taken the keyboard grab that routes the keys below to it


def test_tray_menu_opens_the_chat_and_quits(app: AppProcess, x_display: desktop_env.XServer) -> None:
    x, y, w, h = (int(v) for v in app.wait_for("tray-shown"))
    open_tray_menu(x_display, (x, y, w, h))
    # "Open chat" is the seventh item: four capture modes, Quick ask, Ask about my screen, Open chat.
    desktop_env.xdotool(x_display, "key", *["Down"] * 7, "Return")
    wait_until(lambda: visible_chat_windows(x_display))
    open_tray_menu(x_display, (x, y, w, h))
    desktop_env.xdotool(x_display, "key", "Up", "Return")  # "Quit" is the last item
    assert app.wait_exit() == 0


def test_without_a_tray_the_chat_window_is_shown_and_explains(tmp_path: Path) -> None:
    bare = desktop_env.start_xvfb(1280, 800)
    try:
        app = AppProcess(app_env(bare, tmp_path))
        try:
            app.wait_for("no-tray")
            wait_until(lambda: visible_chat_windows(bare))
            lines = printed(app, "GLM-V Desktop is running")
            assert len(lines) == 1, app.output
            assert "no system tray" in lines[0] and "chat window" in lines[0]
            assert "glmv-desktop chat" in lines[0] and "glmv-desktop quit" in lines[0]
            assert IN_THE_TRAY not in lines[0]
            assert app.cli("quit").returncode == 0
            assert app.wait_exit() == 0
        finally:
            app.kill()
    finally:
        bare.stop()


def test_a_crashed_instance_does_not_block_the_next_start(x_display: desktop_env.XServer, tmp_path: Path) -> None:
    env = app_env(x_display, tmp_path)
    first = AppProcess(env)
    try:
        first.wait_for("started")
    finally:
        first.kill()  # SIGKILL: its socket file stays behind
    second = AppProcess(env)
    try:
        second.wait_for("started")
        assert second.cli("quit").returncode == 0
        assert second.wait_exit() == 0
    finally:
        second.kill()


def test_doctor_reports_each_subsystem(x_display: desktop_env.XServer, tmp_path: Path, session_bus: object) -> None:
    app = AppProcess.__new__(AppProcess)
    app.env = app_env(x_display, tmp_path)
    result = app.cli("doctor", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for section in ("Display and tray", "Screen capture", "Global hotkeys", "Keychain", "Endpoints"):
        assert section in out
    assert "✔ tray" in out and "✔ capture: mss" in out and "✔ keychain" in out
    assert "✔ window capture: x11" in out
    # not running: each default hotkey was tried here, and released
    assert "✔ hotkey backend: x11" in out and "✔ hotkey: Capture a region: Ctrl+Alt+Shift+S works" in out
    assert "not checked: no API key is stored" in out  # the cloud presets
    assert "127.0.0.1:8000" in out and "not reachable" in out  # the local vLLM preset, not running here


def test_doctor_without_a_display_still_reports_everything(tmp_path: Path, session_bus: object) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    for name in ("CONFIG", "DATA", "STATE", "CACHE"):
        env[f"XDG_{name}_HOME"] = str(tmp_path / name.lower())
    env["QT_QPA_PLATFORM"] = "offscreen"
    result = subprocess.run([sys.executable, "-m", "desktop", "doctor"], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "no graphical session" in result.stdout
    assert "Keychain" in result.stdout and "Endpoints" in result.stdout, "the later sections still ran"


def test_status_when_not_running_says_so(tmp_path: Path, x_display: desktop_env.XServer) -> None:
    app = AppProcess.__new__(AppProcess)
    app.env = app_env(x_display, tmp_path)
    result = app.cli("status")
    assert result.returncode == 1 and "not running" in result.stdout
