"""Recording from the UI on the real X display: the pill and the red frame while recording (outside the
recorded area, click-through), the time limit ending it with the clip handed on, and Cancel throwing it away."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtWidgets import QApplication, QPushButton

from desktop.assistant.services import Services
from desktop.chat.attachments import Attachment, VideoAttachment
from desktop.ui.capture_flow import CaptureFlow
from desktop.ui.notifier import Notifier
from desktop.ui.recording import RecordingFlow, RecordingPill, border_pieces


@pytest.fixture
def flow(qtbot: Any, qt_loop: asyncio.AbstractEventLoop, services: Services, x_display: object) -> Any:
    delivered: list[Attachment] = []
    capture = CaptureFlow(services, Notifier())
    recording = RecordingFlow(services, Notifier(), capture, delivered.append)
    recording.delivered = delivered  # type: ignore[attr-defined]
    yield recording
    recording.shutdown()
    capture.cancel()


def pill() -> RecordingPill | None:
    shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, RecordingPill) and w.isVisible()]
    return shown[0] if shown else None


def test_the_border_is_outside_the_recorded_area() -> None:
    area = QRect(100, 50, 400, 300)
    for piece in border_pieces(area):
        assert not piece.intersects(area)
        assert piece.adjusted(-1, -1, 1, 1).intersects(area), "touching it"


def test_a_recording_shows_the_pill_and_ends_at_its_limit_with_the_clip(qtbot: Any, flow: Any) -> None:
    # WHEN the screen is recorded for at most 1.5 s
    assert flow.start("screen", 1.5).startswith("Recording")
    qtbot.waitUntil(lambda: pill() is not None, timeout=10000)
    shown = pill()
    assert shown is not None and shown.windowFlags() & Qt.WindowType.WindowStaysOnTopHint
    assert shown.findChild(QPushButton, "recording_stop") is not None
    frame = [w for w in QApplication.topLevelWidgets() if w.objectName() == "recording_border" and w.isVisible()]
    assert len(frame) == 4 and all(w.windowFlags() & Qt.WindowType.WindowTransparentForInput for w in frame)
    # THEN it stops by itself and the clip is handed on; the pill and the frame go
    qtbot.waitUntil(lambda: bool(flow.delivered), timeout=20000)
    [clip] = flow.delivered
    assert isinstance(clip, VideoAttachment) and clip.duration == pytest.approx(1.5, abs=0.35)
    assert clip.screen_area is not None and clip.describe().startswith("Video ·")
    assert pill() is None and not flow.recording


def test_cancel_throws_the_clip_away(qtbot: Any, flow: Any) -> None:
    flow.start("screen", 30)
    qtbot.waitUntil(lambda: pill() is not None, timeout=10000)
    recorder = flow.recorder
    assert recorder is not None
    pill().findChild(QPushButton, "recording_cancel").click()  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: pill() is None and not recorder.running, timeout=10000)
    qtbot.wait(300)
    assert flow.delivered == [] and not flow.recording


def test_a_wayland_session_is_told_why_it_cannot_record(flow: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from desktop.errors import UserFacingError

    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    with pytest.raises(UserFacingError, match="Wayland") as refused:
        flow.start("screen", 5)
    assert "X11 session" in refused.value.hint and not flow.recording
