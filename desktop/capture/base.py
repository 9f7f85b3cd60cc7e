"""What every capture handler offers, and the chain that picks the first one that works here.

A handler says whether it is available on this desktop and, if not, why and what to install, so
the app degrades with an explanation (Wayland without the portal, macOS without the Screen
Recording permission) instead of returning black pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from desktop.errors import UserFacingError
from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image


class CaptureScope(StrEnum):
    """What to capture."""

    POINTER_MONITOR = "pointer"  # the monitor under the mouse pointer
    ALL_MONITORS = "all"  # every monitor, as one picture of the whole desktop


@dataclass(frozen=True)
class Monitor:
    """A monitor's rectangle in the desktop's physical pixels."""

    left: int
    top: int
    width: int
    height: int

    def contains(self, x: int, y: int) -> bool:
        """True if the physical pixel (x, y) lies on this monitor."""
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height


@dataclass(frozen=True)
class Availability:
    """Whether a handler works here; if not, why, and what the user can do."""

    available: bool
    reason: str = ""
    how_to_fix: str = ""


@dataclass(frozen=True)
class Screenshot:
    """Captured pixels and where on the desktop they came from."""

    image: Image.Image
    monitor: Monitor
    handler: str


class CaptureError(UserFacingError):
    """A capture that could not be taken."""


class CaptureHandler(Protocol):
    """A way of taking screenshots on some desktops."""

    name: str

    def availability(self) -> Availability:
        """Whether this handler can capture on this desktop, and why not."""
        ...

    def monitors(self) -> list[Monitor]:
        """The monitors, in the desktop's physical pixels."""
        ...

    def grab(self, scope: CaptureScope, pointer: tuple[int, int] | None) -> Screenshot:
        """Capture the chosen scope; `pointer` is in physical pixels. CPU/IO work: call off the UI thread."""
        ...


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


def default_chain() -> CaptureChain:
    """The handlers for this platform, best first."""
    from desktop.capture.mss_handler import MssCapture

    return CaptureChain([MssCapture()])
