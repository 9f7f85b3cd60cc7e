"""The capture modes — region, window, screen, all monitors — from trigger to a ready attachment.

Whatever starts a capture (a global hotkey, the tray menu, `glmv-desktop capture MODE`), this runs
it: the screen is grabbed in a worker thread (with the window list, for window capture), the
region overlay is shown for a region, and the chosen pixels become an attachment whose payload is
encoded off the UI thread before `captured` is emitted, so asking is instant. Copy and Save from
the overlay are carried out here too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QObject, QRect, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from desktop.capture.base import CaptureError, CaptureMode, CaptureScope, Rect, Screenshot, crop
from desktop.chat.attachments import ImageAttachment, prepare
from desktop.i18n import _
from desktop.logsetup import trace
from desktop.ui.notifier import Notifier
from desktop.ui.operations import dialog_value, run_async
from desktop.ui.previews import PREVIEW_SIZE
from desktop.ui.region_overlay import OverlayAction, OverlayResult, RegionSelector, to_qimage

if TYPE_CHECKING:
    from PIL import Image

    from desktop.assistant.services import Services
    from desktop.capture.window_list import WindowInfo
    from desktop.media.annotations import Annotations

log = logging.getLogger(__name__)
T = TypeVar("T")


def physical_pointer() -> tuple[int, int] | None:
    """The mouse pointer in the desktop's physical pixels (what capture handlers use)."""
    from PySide6.QtGui import QCursor

    pos = QCursor.pos()
    if sys.platform == "darwin":
        return (pos.x(), pos.y())  # mss captures macOS in points, which are Qt's coordinates there
    screen = QGuiApplication.screenAt(pos)
    if screen is None:
        return None
    ratio = screen.devicePixelRatio()
    origin = screen.geometry().topLeft()
    return (round(origin.x() + (pos.x() - origin.x()) * ratio), round(origin.y() + (pos.y() - origin.y()) * ratio))


def logical_rect(rect: Rect) -> QRect:
    """A physical rectangle in Qt's logical coordinates, through the screen that holds its centre."""
    if sys.platform == "darwin":
        return QRect(rect.left, rect.top, rect.width, rect.height)  # captures are in points there
    for screen in QGuiApplication.screens():
        g, ratio = screen.geometry(), screen.devicePixelRatio()
        native = Rect(g.left(), g.top(), round(g.width() * ratio), round(g.height() * ratio))
        if native.contains(rect.left + rect.width // 2, rect.top + rect.height // 2):
            left = round(g.left() + (rect.left - g.left()) / ratio)
            top = round(g.top() + (rect.top - g.top()) / ratio)
            return QRect(left, top, round(rect.width / ratio), round(rect.height / ratio))
    return QRect(rect.left, rect.top, rect.width, rect.height)


def default_save_path(now: datetime | None = None) -> Path:
    """Where Save suggests putting a capture: the Pictures folder, named by the time."""
    import platformdirs

    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H-%M-%S")
    return Path(platformdirs.user_pictures_dir()) / _("Screenshot {stamp}.png").format(stamp=stamp)


class CaptureFlow(QObject):
    """Runs captures one at a time and hands the result to whoever asks about it."""

    captured = Signal(object, object)  # Attachment, QRect (logical) of where it was on screen
    overlay_shown = Signal()

    def __init__(self, services: Services, notifier: Notifier, *,
                 hide_own_windows: Callable[[], bool] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.notifier = notifier
        self.hide_own_windows = hide_own_windows or (lambda: False)
        self.selector: RegionSelector | None = None
        self._task: asyncio.Task[None] | None = None
        self._lister: object | None = None
        self.last_saved: Path | None = None
        self.save_dialog: QFileDialog | None = None
        # One thread talks to the window system for every capture: its X connections (mss, Xlib)
        # are opened once, by warm_up(), instead of by whichever pool thread runs the first capture.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="glmv-capture")

    def warm_up(self) -> asyncio.Future[None]:
        """Open the capture connections ahead of the first hotkey, so it is as fast as the rest."""
        def prepare() -> None:
            try:
                # Opens the display connection; no picture is taken ahead of time (a portal screenshot
                # may prompt the user, and a held frame would cost 8 MB of idle memory per 1080p screen).
                self.services.capture.active()
                lister = self._window_lister()
                if lister.availability().available:  # type: ignore[attr-defined]
                    lister.windows()  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - the real capture reports the problem
                log.info("Capture warm-up: %s", exc)

        # No overlay widget is built ahead of time either: laying one out loads the font engine, about
        # 4 MB held while idle, to save the first overlay a few milliseconds.
        done = asyncio.get_event_loop().run_in_executor(self._worker, prepare)
        done.add_done_callback(lambda _future: trace("capture-warm"))
        return done

    async def _in_worker(self, function: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, function)

    @property
    def busy(self) -> bool:
        """True while a capture is being taken or a region is being selected."""
        return self._task is not None and not self._task.done()

    def start(self, mode: CaptureMode) -> asyncio.Task[None] | None:
        """Capture in `mode`; ignored (with the overlay brought forward) while one is under way."""
        if self.busy:
            log.info("A capture is already under way; %s ignored", mode.value)
            if self.selector is not None and self.selector.overlays:
                self.selector.overlays[0].raise_()
            return None
        started = time.monotonic()
        trace(f"capture-started {mode.value} {started:.6f}")
        task = run_async(self._run(mode), notifier=self.notifier, owner=None)
        self._task = task
        return task

    def cancel(self) -> None:
        """Close the overlay, stop a capture under way and end the capture thread (the app is quitting)."""
        if self.selector is not None:
            self.selector.cancel()
        if self._task is not None:
            self._task.cancel()
        self._worker.shutdown(wait=False, cancel_futures=True)

    # -- the modes -------------------------------------------------------------------------------
    async def _run(self, mode: CaptureMode) -> None:
        try:
            await self._capture(mode)
        except CaptureError:
            if sys.platform == "darwin":
                self._ask_for_screen_recording()
            raise

    def _ask_for_screen_recording(self) -> None:
        """macOS: ask for the Screen Recording permission (the system prompts once), else open its settings."""
        from PySide6.QtCore import QUrl
        from PySide6.QtGui import QDesktopServices

        from desktop.capture.macos_permission import (
            SCREEN_RECORDING_SETTINGS_URL,
            request_screen_recording_access,
        )

        if not request_screen_recording_access():
            QDesktopServices.openUrl(QUrl(SCREEN_RECORDING_SETTINGS_URL))

    async def _capture(self, mode: CaptureMode) -> None:
        from desktop.ui.box_overlay import BoxOverlay

        shown = BoxOverlay.current()
        if shown is not None:
            shown.close()  # the model's boxes drawn over the screen are not part of what is captured
        if self.hide_own_windows():
            await asyncio.sleep(0.15)  # let the compositor repaint what our popup covered
        pointer = physical_pointer()
        if mode is CaptureMode.REGION:
            await self._region()
        elif mode is CaptureMode.WINDOW:
            await self._window(pointer)
        else:
            scope = CaptureScope.ALL_MONITORS if mode is CaptureMode.ALL else CaptureScope.POINTER_MONITOR
            shot = await self._in_worker(lambda: self.services.capture.grab(scope, pointer))
            await self._deliver(shot.image, logical_rect(shot.monitor), mode)

    async def select_region(self) -> tuple[list[Screenshot], OverlayResult] | None:
        """Freeze every monitor and let the user drag a region in the overlay; None if they cancel."""
        shots, windows = await self._in_worker(self._grab_with_windows)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[OverlayResult | None] = loop.create_future()
        selector = RegionSelector(shots, windows, parent=self)
        def settle(result: OverlayResult | None) -> None:
            if not outcome.done():
                outcome.set_result(result)

        selector.finished.connect(settle)
        selector.cancelled.connect(lambda: settle(None))
        self.selector = selector
        try:
            selector.show()
            self.overlay_shown.emit()
            result = await outcome
        finally:
            selector.cancel()
            self.selector = None
            selector.deleteLater()
        if result is None:
            trace("capture-cancelled")
            return None
        trace(f"region-confirmed {time.monotonic():.6f}")
        return shots, result

    async def _region(self) -> None:
        selected = await self.select_region()
        if selected is None:
            return
        shots, result = selected
        image = await asyncio.to_thread(crop, shots, result.rect)
        if result.action is OverlayAction.COPY:
            QGuiApplication.clipboard().setImage(to_qimage(image))
            trace("capture-copied")
        elif result.action is OverlayAction.SAVE:
            await self._save(image)
        elif result.action is OverlayAction.ANNOTATE:
            from desktop.ui.annotator import annotate

            trace("annotator-opened")
            drawn = await annotate(image, None, self.services.settings, title=_("Annotate the selection"))
            if drawn is None:
                trace("capture-cancelled")
                return
            await self._deliver(image, result.anchor, CaptureMode.REGION, drawn)
        else:
            await self._deliver(image, result.anchor, CaptureMode.REGION)

    async def window_area(self, pointer: tuple[int, int] | None) -> tuple[list[Screenshot], Rect]:
        """The window under the pointer (the active one if none), on screen: CaptureError says why not."""
        shots, windows = await self._in_worker(self._grab_with_windows)
        from desktop.capture.window_list import window_at

        window = window_at(windows, *pointer, os.getpid()) if pointer is not None else None
        if window is None:
            window = await self._in_worker(self._active_window)
        if window is None:
            status = await self._in_worker(lambda: self._window_lister().availability())  # type: ignore[attr-defined]
            if not status.available:
                raise CaptureError(_("Window capture does not work on this desktop: {reason}").format(
                    reason=status.reason), _("Capture a region and drag over the window instead. {fix}").format(
                    fix=status.how_to_fix).strip())
            raise CaptureError(_("There is no window under the mouse pointer to capture."),
                               _("Point at a window and press the hotkey again, or capture a region instead."))
        desktop = Rect.union([s.monitor for s in shots])
        rect = window.rect.intersection(desktop)
        if rect is None:
            raise CaptureError(_("The window '{title}' is off screen.").format(title=window.title),
                               _("Move it onto a monitor and try again."))
        return shots, rect

    async def _window(self, pointer: tuple[int, int] | None) -> None:
        shots, rect = await self.window_area(pointer)
        image = await asyncio.to_thread(crop, shots, rect)
        await self._deliver(image, logical_rect(rect), CaptureMode.WINDOW)

    # -- helpers ---------------------------------------------------------------------------------
    def _window_lister(self) -> object:
        if self._lister is None:
            from desktop.capture.windows_default import default_window_lister

            self._lister = default_window_lister()
        return self._lister

    def _grab_with_windows(self) -> tuple[list[Screenshot], list[WindowInfo]]:
        """Worker thread: every monitor's pixels, then the windows (a failure to list them only
        disables Space+click)."""
        shots = self.services.capture.grab_monitors()
        try:
            lister = self._window_lister()
            windows = lister.windows() if lister.availability().available else []  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - window picking is optional; capture still works
            log.info("Windows could not be listed: %s", exc)
            windows = []
        return shots, windows

    def _active_window(self) -> WindowInfo | None:
        try:
            lister = self._window_lister()
            return lister.active() if lister.availability().available else None  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - treated as "no window"
            log.info("The active window is unknown: %s", exc)
            return None

    async def _deliver(self, image: Image.Image, anchor: QRect, mode: CaptureMode,
                       drawn: Annotations | None = None) -> None:
        """Make an attachment (with its drawings) with its payload encoded, then hand it on."""
        attachment = ImageAttachment.from_pixels(image, _("{mode}.png").format(mode=mode.value), "screen")
        attachment.screen_area = (anchor.x(), anchor.y(), anchor.width(), anchor.height())
        if drawn is not None:
            attachment.annotate(drawn)
            if not self.services.settings.get("annotations.keep_original"):
                await asyncio.to_thread(attachment.burn_redactions)
        await asyncio.to_thread(prepare, attachment, self.services.sending(), PREVIEW_SIZE)
        trace(f"capture-ready {mode.value} {time.monotonic():.6f}")
        self.captured.emit(attachment, anchor)

    async def _ask_save_path(self, suggested: Path) -> str:
        """The file chosen in a save dialog, "" if cancelled. The dialog is not run in a nested
        event loop (getSaveFileName would stall every other task, a streaming answer included)."""
        dialog = QFileDialog(None, _("Save the capture"), str(suggested), _("PNG images (*.png)"))
        dialog.setObjectName("save_capture_dialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("png")
        self.save_dialog = dialog
        try:
            path: str | None = await dialog_value(dialog, dialog.fileSelected)
            return path or ""
        finally:
            self.save_dialog = None

    async def _save(self, image: Image.Image) -> None:
        path_text = await self._ask_save_path(default_save_path())
        if not path_text:
            return
        path = Path(path_text)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, format="PNG")

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise CaptureError(_("The capture could not be saved to {path}: {error}").format(path=path, error=exc),
                               _("Choose a folder you can write to.")) from exc
        self.last_saved = path
        trace("capture-saved")
