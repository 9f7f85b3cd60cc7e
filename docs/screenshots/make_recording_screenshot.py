"""Take the README's picture of screen recording: `recording.png`, a window being recorded (the red frame
and the pill with its timer, Stop and Cancel) beside the chat window holding a clip recorded a moment
before (its filmstrip chip). Needs a real X display:

    xvfb-run -s "-screen 0 1600x900x24" .venv/bin/python -m docs.screenshots.make_recording_screenshot

The clip, the recorder, the pill, the frame and the chip are the app's own; the recorded "window" is a
picture shown on screen.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "recording.png"
AREA = (40, 80, 880, 520)


async def shoot() -> Path:
    """Record the picture for two seconds into the chat, then start again and grab the screen mid-recording."""
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication, QLabel

    from desktop.assistant.services import AppPaths, Services
    from desktop.capture.base import Rect
    from desktop.capture.recorder import Recorder, RecordingSettings
    from desktop.chat.attachments import VideoAttachment
    from desktop.ui.capture_flow import CaptureFlow
    from desktop.ui.chat_window import ChatWindow
    from desktop.ui.notifier import Notifier
    from desktop.ui.recording import RecordingFlow
    from docs.screenshots.make_annotation_screenshots import make_capture
    from docs.screenshots.offscreen import grab_screen

    QApplication.setQuitOnLastWindowClosed(False)
    work = Path(tempfile.mkdtemp(prefix="glmv-recording-shot-"))
    make_capture().save(work / "capture.png")
    shown = QLabel()
    shown.setWindowFlags(Qt.WindowType.FramelessWindowHint | Qt.WindowType.Tool)
    shown.setPixmap(QPixmap(str(work / "capture.png")))
    shown.setGeometry(*AREA)
    shown.show()
    services = Services.create(AppPaths(config=work / "c", data=work / "d", logs=work / "l"))
    chat = ChatWindow(services, Notifier())
    chat.setGeometry(AREA[0] + AREA[2] + 20, 40, 640, 820)
    chat.show()
    await asyncio.sleep(0.5)
    area = Rect(*AREA)
    recorder = Recorder(area, work / "clip.mp4", RecordingSettings(fps=10, max_seconds=2))
    await asyncio.to_thread(recorder.start)
    recording = await asyncio.to_thread(recorder.wait)
    assert recording is not None
    clip = await asyncio.to_thread(VideoAttachment.from_bytes, recording.path.read_bytes(), "Screen recording.mp4",
                                   "screen")
    await asyncio.to_thread(clip.thumbnail, 192)
    chat.composer.add_attachment(clip)
    chat.composer.prompt.setPlainText("What happens when I press Enable 2FA?")
    flow = RecordingFlow(services, Notifier(), CaptureFlow(services, Notifier()), lambda _clip: None)
    flow._limit = 60  # noqa: SLF001 - the chrome alone, as a recording shows it
    flow._show_chrome(QRect(*AREA))  # noqa: SLF001
    assert flow.pill is not None
    flow.pill.show_progress(7.4, 60, 0)
    for _ in range(20):
        await asyncio.sleep(0.05)
    grab_screen((0, 0, AREA[0] + AREA[2] + 680, 880), OUT)
    flow._clear()  # noqa: SLF001
    chat.shutdown()
    await services.client.aclose()
    return OUT


def main() -> int:
    """Render on the display and save the PNG."""
    from docs.screenshots.offscreen import run_on_display

    return run_on_display(shoot)


if __name__ == "__main__":
    sys.exit(main())
