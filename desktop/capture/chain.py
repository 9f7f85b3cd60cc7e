"""The capture handlers in order of preference: the first one available on this desktop captures.

Kept apart from `base.py` (the protocol and the shared types the handlers import), so that no
handler module and the chain that lists them import each other.
"""

from __future__ import annotations

import sys

from desktop.availability import Availability, wayland_session
from desktop.capture.base import CaptureError, CaptureHandler, CaptureScope, Screenshot
from desktop.capture.mss_handler import MssCapture
from desktop.capture.portal import PortalCapture
from desktop.i18n import _


class CaptureChain:
    """The ordered handlers; the first available one captures."""

    def __init__(self, handlers: list[CaptureHandler]) -> None:
        self.handlers = handlers

    def report(self) -> list[tuple[str, Availability]]:
        """Each handler with its availability, in order (for doctor and settings)."""
        return [(h.name, h.availability()) for h in self.handlers]

    def active(self) -> CaptureHandler:
        """The first available handler, or CaptureError explaining why none works."""
        reasons = []
        for handler in self.handlers:
            status = handler.availability()
            if status.available:
                return handler
            reasons.append(f"{handler.name}: {status.reason} {status.how_to_fix}".strip())
        raise CaptureError(_("No way to capture the screen works on this desktop."), "\n".join(reasons))

    def grab(self, scope: CaptureScope, pointer: tuple[int, int] | None) -> Screenshot:
        """Capture with the first available handler."""
        return self.active().grab(scope, pointer)

    def grab_monitors(self) -> list[Screenshot]:
        """Every monitor with the first available handler."""
        return self.active().grab_monitors()


def default_chain() -> CaptureChain:
    """The handlers for this platform, best first."""
    if not sys.platform.startswith("linux"):
        return CaptureChain([MssCapture()])
    if wayland_session():
        return CaptureChain([PortalCapture(), MssCapture()])
    # On X11 mss reads the screen directly; the portal is the fallback (e.g. a locked-down X server).
    return CaptureChain([MssCapture(), PortalCapture()])
