"""Screen capture with mss: X11 (XShmGetImage), Windows (BitBlt) and macOS (CoreGraphics).

mss cannot capture under Wayland; it needs a 24/32-bit X display.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from desktop.availability import Availability, wayland_session
from desktop.capture.base import CaptureError, CaptureScope, Monitor, Screenshot
from desktop.i18n import _
from desktop.media.images import from_bgra


class MssCapture:
    """Captures with mss; one mss instance per thread (its X connection is not thread-safe)."""

    name = "mss"

    def __init__(self) -> None:
        self._local = threading.local()

    def _mss(self) -> Any:
        grabber = getattr(self._local, "mss", None)
        if grabber is None:
            import mss

            grabber = mss.MSS()
            self._local.mss = grabber
        return grabber

    def availability(self) -> Availability:
        """Available on Windows, macOS and X11 sessions (including XWayland only for X11 windows)."""
        if sys.platform.startswith("linux"):
            if wayland_session():
                return Availability(False, _("mss cannot capture a Wayland session."),
                                    _("The desktop portal captures instead; if it is missing, install "
                                      "xdg-desktop-portal and your desktop's portal backend."))
            if not os.environ.get("DISPLAY"):
                return Availability(False, _("There is no X display (DISPLAY is not set)."),
                                    _("Run the app inside a graphical session."))
        if sys.platform == "darwin":
            from desktop.capture.macos_permission import screen_recording_access

            permission = screen_recording_access()
            if not permission.available:
                return permission
        try:
            self._mss()
        except Exception as exc:  # noqa: BLE001 - any failure to open the display is "not available"
            return Availability(False, _("mss could not open the display: {error}").format(error=exc))
        return Availability(True)

    def monitors(self) -> list[Monitor]:
        """The physical monitors (mss lists the union first; it is skipped)."""
        return [Monitor(m["left"], m["top"], m["width"], m["height"]) for m in self._mss().monitors[1:]]

    def grab(self, scope: CaptureScope, pointer: tuple[int, int] | None) -> Screenshot:
        """Capture the monitor under `pointer` (the first if unknown) or the whole desktop."""
        grabber = self._mss()
        if scope is CaptureScope.ALL_MONITORS:
            region = grabber.monitors[0]
        else:
            monitors = grabber.monitors[1:] or grabber.monitors[:1]
            region = monitors[0]
            if pointer is not None:
                for candidate in monitors:
                    box = Monitor(candidate["left"], candidate["top"], candidate["width"], candidate["height"])
                    if box.contains(*pointer):
                        region = candidate
                        break
        try:
            shot = grabber.grab(region)
        except Exception as exc:
            raise CaptureError(_("The screen could not be captured: {error}").format(error=exc),
                               _("Run 'glmv-desktop doctor' to see what capture needs on this desktop.")) from exc
        return self._screenshot(region, shot)

    def grab_monitors(self) -> list[Screenshot]:
        """Each monitor separately, at its native resolution."""
        grabber = self._mss()
        regions = grabber.monitors[1:] or grabber.monitors[:1]
        try:
            return [self._screenshot(region, grabber.grab(region)) for region in regions]
        except Exception as exc:
            raise CaptureError(_("The screen could not be captured: {error}").format(error=exc),
                               _("Run 'glmv-desktop doctor' to see what capture needs on this desktop.")) from exc

    def _screenshot(self, region: dict[str, int], shot: Any) -> Screenshot:
        monitor = Monitor(region["left"], region["top"], region["width"], region["height"])
        image = from_bgra(bytes(shot.bgra), shot.width, shot.height)
        return Screenshot(image=image, monitor=monitor, handler=self.name)
