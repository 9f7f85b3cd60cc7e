"""Recording from the command line, end to end: `glmv-desktop record screen --seconds 2` in the running app
(real mss, real PyAV on Xvfb), the clip lands in the chat window, and a question sends it to the
protocol-faithful vLLM-shaped server as an MP4 `video_url` that decodes to the recorded length; `record
stop` ends an open-ended recording."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import desktop_env
from tests.support.app_process import AppProcess, app_env, write_settings
from tests.support.fake_openai_server import VLLM_NEW, FakeOpenAIServer


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(VLLM_NEW.evolve(content="A window changes.", reasoning="")) as fake:
        yield fake


@pytest.fixture
def app(x_display: desktop_env.XServer, tmp_path: Path, session_bus: desktop_env.SessionBus,
        server: FakeOpenAIServer) -> Iterator[AppProcess]:
    write_settings(tmp_path, server.base_url, **{"chat.thinking": False})
    process = AppProcess(app_env(x_display, tmp_path, DBUS_SESSION_BUS_ADDRESS=session_bus.address))
    process.wait_for("started")
    yield process
    process.kill()


def decoded_seconds(data: bytes) -> float:
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames / float(stream.average_rate)


def test_record_the_screen_from_the_cli_and_ask_about_the_clip(app: AppProcess, server: FakeOpenAIServer) -> None:
    # WHEN a 2-second recording of the screen is asked for from the command line
    recorded = app.cli("record", "screen", "--seconds", "2")
    assert recorded.returncode == 0, recorded.stderr
    started = app.wait_for("recording-started")
    assert started[0] == "screen"
    # THEN it stops by itself and the clip lands in the chat window
    assert app.wait_for("recording-stopped", timeout=30)[1] == "0", "no frame dropped"
    seconds = float(app.wait_for("recording-attached", timeout=30)[0])
    assert seconds == pytest.approx(2.0, abs=0.3)
    # AND asking sends it to the vLLM-shaped server as an MP4 video_url
    asked = app.cli("ask", "What happens in this clip?", "--send")
    assert asked.returncode == 0, asked.stderr
    assert app.wait_for("reply-finished", timeout=60) == ["complete"]
    content = server.chat_requests[-1].body["messages"][-1]["content"]
    assert [part["type"] for part in content] == ["text", "video_url", "text"]
    head, data = content[1]["video_url"]["url"].split(",", 1)
    assert head == "data:video/mp4;base64"
    assert decoded_seconds(base64.b64decode(data)) == pytest.approx(2.0, abs=0.3)
    assert content[2]["text"] == "What happens in this clip?"


def test_record_stop_ends_an_open_ended_recording(app: AppProcess) -> None:
    assert app.cli("record", "screen").returncode == 0
    app.wait_for("recording-started")
    began = time.monotonic()
    time.sleep(1.5)
    # a second recording is refused while one runs, with the way to stop it
    again = app.cli("record", "screen")
    assert again.returncode == 0 and "already" in again.stdout
    stopped = app.cli("record", "stop")
    assert stopped.returncode == 0, stopped.stderr
    ended = time.monotonic() - began
    # THEN the clip is as long as the recording ran: at least the wait, at most until `stop` returned
    assert 1.5 - 0.3 <= float(app.wait_for("recording-attached", timeout=30)[0]) <= ended + 0.3
    assert "Nothing is being recorded" in app.cli("record", "stop").stdout


def test_the_record_hotkey_stops_a_recording_and_starts_a_region_one(app: AppProcess,
                                                                      x_display: desktop_env.XServer) -> None:
    # GIVEN the record hotkey is grabbed (Ctrl+Alt+Shift+R by default)
    deadline = time.monotonic() + 20
    while "Record a region (again: stop): Ctrl+Alt+Shift+R (registered)" not in (status := app.cli("status").stdout):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    # WHEN it is pressed while the screen is being recorded
    assert app.cli("record", "screen").returncode == 0
    app.wait_for("recording-started")
    time.sleep(1.0)
    desktop_env.xdotool(x_display, "key", "ctrl+alt+shift+r")
    # THEN the recording ends and its clip is attached
    assert float(app.wait_for("recording-attached", timeout=30)[0]) >= 0.7
    # WHEN it is pressed with nothing recording, a region is dragged in the overlay and Enter pressed
    desktop_env.xdotool(x_display, "mousemove", "700", "500", "key", "ctrl+alt+shift+r")
    app.wait_for("overlay-shown")
    time.sleep(0.3)
    desktop_env.xdotool(x_display, "mousemove", "100", "120", "mousedown", "1", "mousemove", "250", "250",
                        "mousemove", "420", "361", "mouseup", "1")
    time.sleep(0.3)
    desktop_env.xdotool(x_display, "key", "Return")
    # THEN that region (both corners included) is recorded, until the hotkey is pressed again
    assert app.wait_for("recording-started", timeout=20) == ["region", "321x242"]
    time.sleep(0.8)
    desktop_env.xdotool(x_display, "key", "ctrl+alt+shift+r")
    assert float(app.wait_for("recording-attached", timeout=30)[0]) >= 0.5
