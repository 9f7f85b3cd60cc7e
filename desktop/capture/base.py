"""What every capture handler offers, and the chain that picks the first one that works here.

A handler says whether it is available on this desktop and, if not, why and what to install, so
the app degrades with an explanation (Wayland without the portal, macOS without the Screen
Recording permission) instead of returning black pictures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from desktop.availability import Availability
from desktop.errors import UserFacingError
from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image


class CaptureMode(StrEnum):
    """What to capture, declared once: the CLI words (`glmv-desktop capture region`), the tray's menu
    items, the capture hotkeys (`hotkeys.capture_<mode>`) and the app all derive from it."""

    REGION = "region"
    WINDOW = "window"
    SCREEN = "screen"
    ALL = "all"

    @property
    def label(self) -> str:
        """The mode in the user's words."""
        return {
            CaptureMode.REGION: _("Capture a region"),
            CaptureMode.WINDOW: _("Capture the window under the pointer"),
            CaptureMode.SCREEN: _("Capture the screen under the pointer"),
            CaptureMode.ALL: _("Capture all monitors"),
        }[self]

    @property
    def menu_label(self) -> str:
        """The tray menu's item: "…" where a selection follows."""
        return _("Capture a region…") if self is CaptureMode.REGION else self.label

    @property
    def help(self) -> str:
        """What the mode does, for the command line's help."""
        return {
            CaptureMode.REGION: _("select on a frozen screen"),
            CaptureMode.WINDOW: _("the window under the pointer"),
            CaptureMode.SCREEN: _("the monitor under the pointer"),
            CaptureMode.ALL: _("every monitor"),
        }[self]


class CaptureScope(StrEnum):
    """What to capture."""

    POINTER_MONITOR = "pointer"  # the monitor under the mouse pointer
    ALL_MONITORS = "all"  # every monitor, as one picture of the whole desktop


@dataclass(frozen=True)
class Rect:
    """A rectangle in the desktop's physical pixels (a monitor, a window, a selected region)."""

    left: int
    top: int
    width: int
    height: int

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.left + self.width

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.top + self.height

    def contains(self, x: int, y: int) -> bool:
        """True if the physical pixel (x, y) lies inside."""
        return self.left <= x < self.right and self.top <= y < self.bottom

    def intersection(self, other: Rect) -> Rect | None:
        """The overlap of the two rectangles, or None if they do not overlap."""
        left, top = max(self.left, other.left), max(self.top, other.top)
        right, bottom = min(self.right, other.right), min(self.bottom, other.bottom)
        if right <= left or bottom <= top:
            return None
        return Rect(left, top, right - left, bottom - top)

    @staticmethod
    def union(rects: list[Rect]) -> Rect:
        """The smallest rectangle holding all of `rects` (which must not be empty)."""
        left, top = min(r.left for r in rects), min(r.top for r in rects)
        right, bottom = max(r.right for r in rects), max(r.bottom for r in rects)
        return Rect(left, top, right - left, bottom - top)


# A monitor is a rectangle of the desktop; the name says which kind of rectangle a field holds.
Monitor = Rect


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

    def grab_monitors(self) -> list[Screenshot]:
        """Every monitor at once, each at its native resolution, for the frozen region overlay.

        A handler that can only take one picture of the whole desktop (the Wayland portal) returns
        one Screenshot whose `monitor` is the desktop's bounding rectangle.
        """
        ...


def crop(shots: list[Screenshot], rect: Rect) -> Image.Image:
    """The pixels of `rect` (desktop physical pixels) cut from the monitors' pictures, exactly.

    A rectangle that spans monitors is put together from each; any part outside every monitor
    (between monitors of different sizes) is black.
    """
    from PIL import Image

    pieces = [(shot, part) for shot in shots if (part := shot.monitor.intersection(rect)) is not None]
    if len(pieces) == 1 and pieces[0][1] == rect:
        shot = pieces[0][0]
        box = (rect.left - shot.monitor.left, rect.top - shot.monitor.top,
               rect.right - shot.monitor.left, rect.bottom - shot.monitor.top)
        return shot.image.crop(box)
    canvas = Image.new("RGB", (rect.width, rect.height))
    for shot, part in pieces:
        box = (part.left - shot.monitor.left, part.top - shot.monitor.top,
               part.right - shot.monitor.left, part.bottom - shot.monitor.top)
        canvas.paste(shot.image.crop(box), (part.left - rect.left, part.top - rect.top))
    return canvas
