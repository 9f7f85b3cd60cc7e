"""Screen recording from the UI: pick what to record, show that it is recording, hand the clip to the chat.

`RecordingFlow` picks the area (a region in the frozen overlay, the window under the pointer, or the
monitor under it), starts the `Recorder` (its own threads: nothing of it runs here), shows the
`RecordingPill` (red dot, timer, dropped frames, *Stop*, *Cancel*; always on top, outside the area) and a
red border around the area (click-through, outside it, so it is not recorded), and when the recording
ends (Stop, `glmv-desktop record stop`, the time limit) turns the clip into a `VideoAttachment` in a
worker thread and puts it into the chat window's composer.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRect, Qt, Signal
from PySide6.QtGui import QColor, QGuiApplication, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from desktop.capture.base import Rect
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.ui.capture_flow import CaptureFlow, logical_rect, physical_pointer
from desktop.ui.notifier import Notifier
from desktop.ui.operations import run_async

if TYPE_CHECKING:
    from desktop.assistant.services import Services
    from desktop.capture.recorder import Recorder, Recording
    from desktop.chat.attachments import VideoAttachment

log = logging.getLogger(__name__)

BORDER = 3


class RecordingPill(QWidget):
    """The small always-on-top window while recording: a red dot, the time, dropped frames, Stop, Cancel."""

    stop_requested = Signal()
    cancel_requested = Signal()

    def __init__(self) -> None:
        super().__init__(None, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.setObjectName("recording_pill")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setStyleSheet("QWidget#recording_pill { background: #202124; border-radius: 16px; }"
                           "QLabel { color: white; } QPushButton { color: white; background: #3c4043; "
                           "border: none; border-radius: 10px; padding: 3px 10px; }"
                           "QPushButton#recording_stop { background: #d93025; }")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 6, 8, 6)
        dot = QLabel("●")
        dot.setObjectName("recording_dot")
        dot.setStyleSheet("QLabel { color: #ff4d4d; font-size: 16px; }")
        row.addWidget(dot)
        self.time = QLabel("0:00")
        self.time.setObjectName("recording_time")
        row.addWidget(self.time)
        self.dropped = QLabel()
        self.dropped.setObjectName("recording_dropped")
        self.dropped.setStyleSheet("QLabel { color: #fbbc04; }")
        self.dropped.setVisible(False)
        row.addWidget(self.dropped)
        stop = QPushButton(_("Stop"))
        stop.setObjectName("recording_stop")
        stop.setToolTip(_("Stop and attach the clip to the chat (glmv-desktop record stop)"))
        stop.clicked.connect(self.stop_requested)
        row.addWidget(stop)
        cancel = QPushButton(_("Cancel"))
        cancel.setObjectName("recording_cancel")
        cancel.setToolTip(_("Stop and throw the clip away"))
        cancel.clicked.connect(self.cancel_requested)
        row.addWidget(cancel)

    def show_progress(self, seconds: float, limit: float, dropped: int) -> None:
        """The time recorded (of the limit) and the frames dropped so far."""
        self.time.setText(_("{m}:{s:02d} of {lm}:{ls:02d}").format(m=int(seconds) // 60, s=int(seconds) % 60,
                                                                  lm=int(limit) // 60, ls=int(limit) % 60))
        self.dropped.setVisible(dropped > 0)
        self.dropped.setText(_("{n} frames dropped").format(n=dropped))


class _BorderPiece(QWidget):
    """One side of the red frame around the recorded area: click-through and outside it."""

    def __init__(self, geometry: QRect) -> None:
        super().__init__(None, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint | Qt.WindowType.WindowTransparentForInput
                         | Qt.WindowType.WindowDoesNotAcceptFocus | Qt.WindowType.X11BypassWindowManagerHint)
        self.setObjectName("recording_border")
        self.setAttribute(Qt.WidgetAttribute.WA_ShowWithoutActivating)
        self.setGeometry(geometry)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        """A solid red strip."""
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(217, 48, 37))
        painter.end()


def border_pieces(area: QRect) -> list[QRect]:
    """The four strips just outside `area` (logical coordinates): top, bottom, left, right."""
    b = BORDER
    return [QRect(area.left() - b, area.top() - b, area.width() + 2 * b, b),
            QRect(area.left() - b, area.bottom() + 1, area.width() + 2 * b, b),
            QRect(area.left() - b, area.top(), b, area.height()),
            QRect(area.right() + 1, area.top(), b, area.height())]


class RecordingFlow(QObject):
    """One recording at a time, from picking the area to the clip in the chat."""

    state_changed = Signal(bool)  # recording or not
    _progressed = Signal(float, int)  # seconds recorded, frames dropped: from the recorder's thread

    def __init__(self, services: Services, notifier: Notifier, capture: CaptureFlow,
                 deliver: Callable[[VideoAttachment], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.notifier = notifier
        self.capture = capture
        self.deliver = deliver
        self.recorder: Recorder | None = None
        self.pill: RecordingPill | None = None
        self._borders: list[_BorderPiece] = []
        self._area: QRect | None = None
        self._limit = 60.0
        self._progressed.connect(self._show_progress)  # queued to the UI thread
        self._task: asyncio.Task[None] | None = None
        self._finishing = False

    @property
    def recording(self) -> bool:
        """True from the start of a recording until its clip is handed on (or it is cancelled)."""
        return self.recorder is not None

    def start(self, target: str, seconds: float | None = None) -> str:
        """Record `target` (region, window, screen) for at most `seconds` (the setting when None)."""
        if self.recording or (self._task is not None and not self._task.done()):
            return _("A recording is already running; 'glmv-desktop record stop' ends it.")
        from desktop.availability import wayland_session
        from desktop.chat.attachments import require_video

        require_video()
        if wayland_session():
            raise UserFacingError(_("Screen recording does not work in a Wayland session yet."),
                                  _("It needs the desktop's ScreenCast portal, which the app does not use yet. Log in "
                                    "to an X11 session to record, or attach a recording made with your desktop's own "
                                    "tool (Attach…)."))
        self._task = run_async(self._start(target, seconds), notifier=self.notifier)
        return _("Recording: {target}.").format(target=target)

    async def _start(self, target: str, seconds: float | None) -> None:
        area, logical = await self._pick(target)
        if area is None or logical is None:
            return
        from desktop.capture.recorder import Recorder, RecordingProgress, RecordingSettings

        settings = self.services.settings
        limit = float(seconds if seconds is not None else settings.get("recording.max_seconds"))
        folder = Path(tempfile.mkdtemp(prefix="glmv-recording-"))
        out = folder / time.strftime("Screen recording %Y-%m-%d %H.%M.%S.mp4")

        def progress(state: RecordingProgress) -> None:
            self._progressed.emit(state.elapsed, state.dropped)

        recorder = Recorder(area, out, RecordingSettings(fps=int(settings.get("recording.fps")), max_seconds=limit),
                            on_progress=progress)
        await asyncio.to_thread(recorder.start)
        self.recorder, self._area, self._limit = recorder, logical, limit
        self._show_chrome(logical)
        self.state_changed.emit(True)
        trace(f"recording-started {target} {area.width}x{area.height}")
        ended = await asyncio.to_thread(recorder.wait)
        if ended is not None and self.recorder is recorder and not self._finishing:
            await self._finish(recorder, ended)

    async def _pick(self, target: str) -> tuple[Rect | None, QRect | None]:
        if target == "region":
            selected = await self.capture.select_region()
            if selected is None:
                return None, None
            result = selected[1]
            return result.rect, result.anchor
        pointer = physical_pointer()
        if target == "window":
            _shots, rect = await self.capture.window_area(pointer)
            return rect, logical_rect(rect)
        rect = await asyncio.to_thread(self._monitor_under, pointer)
        return rect, logical_rect(rect)

    def _monitor_under(self, pointer: tuple[int, int] | None) -> Rect:
        """Worker thread: the monitor under the pointer (the first one without a pointer), in physical pixels."""
        monitors = self.services.capture.active().monitors()
        return next((m for m in monitors if pointer is not None and m.contains(*pointer)), monitors[0])

    def stop(self) -> str:
        """Stop now and attach the clip (Stop, `record stop`)."""
        recorder = self.recorder
        if recorder is None or self._finishing:
            return _("Nothing is being recorded.")
        run_async(self._stop(recorder), notifier=self.notifier)
        return _("Recording stopped; the clip goes to the chat window.")

    async def _stop(self, recorder: Recorder) -> None:
        self._finishing = True
        try:
            recording = await asyncio.to_thread(recorder.stop)
        except UserFacingError:
            self._clear()
            raise
        await self._finish(recorder, recording)

    def cancel(self) -> None:
        """Stop and throw the clip away."""
        recorder = self.recorder
        if recorder is None:
            return
        self._finishing = True
        self._clear()
        run_async(asyncio.to_thread(self._discard, recorder), notifier=self.notifier)
        trace("recording-cancelled")

    @staticmethod
    def _discard(recorder: Recorder) -> None:
        """Worker thread: stop without keeping anything, its temporary folder included."""
        recorder.cancel()
        shutil.rmtree(recorder.out.parent, ignore_errors=True)

    async def _finish(self, recorder: Recorder, recording: Recording) -> None:
        self._finishing = True
        area = self._area
        self._clear()
        trace(f"recording-stopped {recording.frames} {recording.dropped}")
        from desktop.chat.attachments import VideoAttachment

        def load() -> VideoAttachment:
            clip = VideoAttachment.from_bytes(recording.path.read_bytes(), recording.path.name, "screen",
                                              dropped=recording.dropped)
            shutil.rmtree(recording.path.parent, ignore_errors=True)  # its own temporary folder: the clip has it
            if area is not None:
                clip.screen_area = (area.x(), area.y(), area.width(), area.height())
            clip.thumbnail(192)
            return clip

        clip = await asyncio.to_thread(load)
        trace(f"recording-attached {clip.duration:.2f}")
        self.deliver(clip)

    def _clear(self) -> None:
        for piece in self._borders:
            piece.close()
            piece.deleteLater()
        self._borders = []
        if self.pill is not None:
            self.pill.close()
            self.pill.deleteLater()
            self.pill = None
        self.recorder = None
        self._finishing = False
        self.state_changed.emit(False)

    def _show_chrome(self, area: QRect) -> None:
        self._borders = [_BorderPiece(rect) for rect in border_pieces(area)]
        for piece in self._borders:
            piece.show()
        pill = RecordingPill()
        pill.stop_requested.connect(self.stop)
        pill.cancel_requested.connect(self.cancel)
        pill.show_progress(0, self._limit, 0)
        pill.adjustSize()
        screen = QGuiApplication.screenAt(area.center()) or QGuiApplication.primaryScreen()
        available = screen.availableGeometry()
        x = min(max(area.center().x() - pill.width() // 2, available.left()), available.right() - pill.width())
        below = area.bottom() + BORDER + 8
        y = below if below + pill.height() <= available.bottom() else max(available.top(),
                                                                           area.top() - BORDER - 8 - pill.height())
        if available.top() <= y and y + pill.height() > area.top() - BORDER and y < area.bottom() + BORDER:
            y = available.top()  # the area fills the screen: the pill goes at the top, over it (it is recorded)
        pill.move(x, y)
        pill.show()
        self.pill = pill

    def _show_progress(self, elapsed: float, dropped: int) -> None:
        if self.pill is not None:
            self.pill.show_progress(elapsed, self._limit, dropped)

    def shutdown(self) -> None:
        """The app is quitting: a recording under way is thrown away."""
        self.cancel()
