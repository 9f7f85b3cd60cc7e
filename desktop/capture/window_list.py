"""The visible top-level windows and their rectangles, for window capture.

Taken at the moment of the hotkey, before the frozen overlay appears, so that space-click in the
overlay picks the window that was under the pointer in the frozen picture (ShareX's approach).
Each platform has its own lister; all report rectangles in the desktop's physical pixels,
including the window frame the user sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from desktop.availability import Availability
from desktop.capture.base import Rect


@dataclass(frozen=True)
class WindowInfo:
    """A visible top-level window."""

    id: int
    title: str
    rect: Rect  # physical pixels, frame included, may extend past the desktop's edges
    pid: int | None = None


class WindowLister(Protocol):
    """Lists windows on some desktops."""

    name: str

    def availability(self) -> Availability:
        """Whether this lister works here, and why not."""
        ...

    def windows(self) -> list[WindowInfo]:
        """Visible top-level windows, topmost first. Call off the UI thread (it talks to the window system)."""
        ...

    def active(self) -> WindowInfo | None:
        """The window with the keyboard focus, if the window manager says which."""
        ...


def window_at(windows: list[WindowInfo], x: int, y: int, exclude_pid: int | None = None) -> WindowInfo | None:
    """The topmost window containing physical pixel (x, y), skipping this app's own windows."""
    for window in windows:
        if window.rect.contains(x, y) and (exclude_pid is None or window.pid != exclude_pid):
            return window
    return None
