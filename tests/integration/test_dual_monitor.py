"""Capture on a real two-monitor X server (Xorg, dummy driver): monitors, exact pixels on the second one."""

from __future__ import annotations

import base64
import io
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from desktop.capture.base import CaptureScope, Monitor, Rect, crop
from desktop.capture.mss_handler import MssCapture
from tests.support.app_process import AppProcess, app_env
from tests.support.desktop_env import xdotool
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer
from tests.support.multi_monitor import DualMonitorXServer, dual_monitor_xorg
from tests.support.x11_window import show_window

pytestmark = pytest.mark.display

PICTURE_AT = (1920 + 200, 100)  # where the picture's window sits: inside the second monitor
PICTURE_SIZE = (640, 480)


@pytest.fixture(scope="module")
def dual_x() -> Iterator[DualMonitorXServer]:
    """Xorg with two 1920×1080 monitors side by side, for this module."""
    server = dual_monitor_xorg()
    yield server
    server.stop()


@pytest.fixture
def capture(dual_x: DualMonitorXServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MssCapture]:
    """MssCapture on the two-monitor display; its X connection is closed before the test ends."""
    monkeypatch.setenv("DISPLAY", dual_x.display)
    handler = MssCapture()
    yield handler
    handler._mss().close()  # the handler keeps one connection per thread and has no close of its own


def noise_picture(path: Path) -> Image.Image:
    """A picture in which every pixel differs from its neighbours, so any shift or scaling shows."""
    rng = random.Random(1234)
    image = Image.frombytes("RGB", PICTURE_SIZE, rng.randbytes(PICTURE_SIZE[0] * PICTURE_SIZE[1] * 3))
    image.save(path)
    return image


@pytest.fixture
def picture_on_second_monitor(dual_x: DualMonitorXServer, tmp_path: Path) -> Iterator[Image.Image]:
    """A known picture shown 1:1 in a window on the second monitor (a child process)."""
    picture = noise_picture(tmp_path / "noise.png")
    viewer = show_window(dual_x.env(), *PICTURE_AT, 1, 1, "--picture", str(tmp_path / "noise.png"))
    try:
        yield picture
    finally:
        viewer.close()


def test_two_monitors_side_by_side(capture: MssCapture) -> None:
    assert capture.availability().available
    assert capture.monitors() == [Monitor(0, 0, 1920, 1080), Monitor(1920, 0, 1920, 1080)]


def test_crop_on_the_second_monitor_is_pixel_exact(capture: MssCapture, picture_on_second_monitor: Image.Image) -> None:
    # GIVEN a picture at a known place on the second monitor
    offset = (37, 21)  # inside the picture
    region = Rect(PICTURE_AT[0] + offset[0], PICTURE_AT[1] + offset[1], 300, 200)
    # WHEN the region is cut from a grab of every monitor
    shots = capture.grab_monitors()
    assert [shot.monitor for shot in shots] == [Monitor(0, 0, 1920, 1080), Monitor(1920, 0, 1920, 1080)]
    assert all(shot.image.size == (1920, 1080) for shot in shots)
    cut = crop(shots, region)
    # THEN it holds exactly those pixels of the picture: not shifted, not scaled
    expected = picture_on_second_monitor.crop((offset[0], offset[1], offset[0] + 300, offset[1] + 200))
    assert cut.size == (300, 200)
    assert cut.convert("RGB").tobytes() == expected.tobytes()


def test_pointer_on_the_second_monitor_grabs_it(capture: MssCapture, picture_on_second_monitor: Image.Image) -> None:
    shot = capture.grab(CaptureScope.POINTER_MONITOR, pointer=(2500, 500))
    assert shot.monitor == Monitor(1920, 0, 1920, 1080)
    assert shot.image.size == (1920, 1080)
    left, top = PICTURE_AT[0] - 1920, PICTURE_AT[1]
    inside = shot.image.crop((left, top, left + PICTURE_SIZE[0], top + PICTURE_SIZE[1]))
    assert inside.convert("RGB").tobytes() == picture_on_second_monitor.tobytes()


def test_whole_desktop_spans_both_monitors(capture: MssCapture) -> None:
    shot = capture.grab(CaptureScope.ALL_MONITORS, pointer=None)
    assert shot.monitor == Monitor(0, 0, 3840, 1080) and shot.image.size == (3840, 1080)


def _app_settings(home: Path, base_url: str) -> None:
    config = home / "config" / "glmv-desktop"
    config.mkdir(parents=True, exist_ok=True)
    profile = {"id": "test", "name": "Test server", "flavor": "vllm", "base_url": base_url, "model": "glm-4.6v"}
    (config / "settings.json").write_text(json.dumps({
        "schema_version": 1, "endpoint.profiles": [profile], "endpoint.active": "test", "endpoint.model": "glm-4.6v",
        "images.format": "png"}))


def test_region_on_the_second_monitor_through_the_app(dual_x: DualMonitorXServer,
                                                      picture_on_second_monitor: Image.Image, tmp_path: Path,
                                                      session_bus: object) -> None:
    """The whole path as a user takes it: hotkey, a frozen overlay on each monitor, a drag on the
    second one, Enter, a question typed into the quick-ask popup; the server gets those pixels."""
    with FakeOpenAIServer(VLLM_NEW.evolve(content="A noisy picture.", reasoning="")) as server:
        _app_settings(tmp_path, server.base_url)
        app = AppProcess(app_env(dual_x, tmp_path, XDG_SESSION_TYPE="x11"))
        try:
            assert app.wait_for("hotkeys-ready") == ["x11"]
            xdotool(dual_x, "mousemove", "2400", "500", "key", "ctrl+alt+shift+s")
            app.wait_for("overlay-shown")
            app.wait_for("overlay-shown")  # one overlay per monitor
            left, top = PICTURE_AT[0] + 50, PICTURE_AT[1] + 40  # inside the picture, on the second monitor
            xdotool(dual_x, "mousemove", str(left), str(top), "mousedown", "1", "mousemove", str(left + 100),
                    str(top + 100), "mousemove", str(left + 249), str(top + 149), "mouseup", "1")
            xdotool(dual_x, "key", "Return")
            app.wait_for("capture-ready")
            app.wait_for("quick-ask-shown")
            app.wait_for("quick-ask-focused")  # the popup took the keyboard: typing goes there
            xdotool(dual_x, "type", "--delay", "20", "What is this?")
            xdotool(dual_x, "key", "Return")
            assert app.wait_for("quick-ask-reply-finished") == ["complete"]
            body = server.chat_requests[-1].body
            parts = body["messages"][-1]["content"]
            assert parts[-1] == {"type": "text", "text": "What is this?"}
            url = next(p["image_url"]["url"] for p in parts if p.get("type") == "image_url")
            sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
            assert sent.size == (250, 150)
            assert sent.tobytes() == picture_on_second_monitor.crop((50, 40, 300, 190)).tobytes()
            quitting = app.cli("quit")
            assert "quitting" in quitting.stdout, quitting.stdout + quitting.stderr
            assert app.wait_exit() == 0
        finally:
            app.kill()
