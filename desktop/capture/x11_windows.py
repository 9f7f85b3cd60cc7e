"""The visible top-level windows of an X11 desktop, with python-xlib.

With an EWMH window manager the stacking order comes from `_NET_CLIENT_LIST_STACKING` and each
rectangle is the client's area grown by `_NET_FRAME_EXTENTS` (or, if the manager does not set
them, the frame window the manager reparented the client into). With no window manager the
stacking order is the root's children from XQueryTree.

Which windows are listed, and why:
- only viewable (mapped, with mapped ancestors) InputOutput windows at least `MIN_SIDE` pixels on
  each side: unmapped, input-only and 1×1 helper windows are not something the user sees;
- with no window manager, override-redirect windows (menus, tooltips, drag icons, notification
  bubbles) are skipped when they have no title, so a click on an open menu picks the application
  window below it, while a titled override-redirect window (a frameless full-screen game, a
  kiosk) is still listed; a window manager never lists override-redirect windows in
  `_NET_CLIENT_LIST_STACKING`, so with one they are not listed at all;
- minimised windows (`_NET_WM_STATE_HIDDEN`) are skipped.

Each call opens its own Display connection and closes it, so the lister may be used from any
thread (python-xlib connections are not thread-safe).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from desktop.availability import Availability, wayland_session
from desktop.capture.base import Rect
from desktop.capture.window_list import WindowInfo, window_at
from desktop.i18n import _

logger = logging.getLogger(__name__)

MIN_SIDE = 4  # pixels; smaller windows are helpers (Qt's and GTK's 1×1 leaders), not something to pick
_MAX_DEPTH = 8  # how deep to look for the client window (the one with WM_STATE) under a frame


class X11WindowLister:
    """Lists the windows of an X11 display (the one in DISPLAY unless `display` is given)."""

    name = "x11"

    def __init__(self, display: str | None = None) -> None:
        self._display_name = display

    # -- availability ---------------------------------------------------------------------------------
    def availability(self) -> Availability:
        """Available in X11 sessions; not under Wayland, where X11 sees only XWayland windows."""
        if not sys.platform.startswith("linux") and not sys.platform.startswith("freebsd"):
            return Availability(False, _("X11 window listing works only on Linux and BSD desktops."))
        if self._display_name is None:
            if wayland_session():
                return Availability(False, _("A Wayland session does not tell applications where other windows are."),
                                    _("Select a region or the whole screen instead, or log in with an X11 "
                                      "session to pick windows."))
            if not os.environ.get("DISPLAY"):
                return Availability(False, _("There is no X display (DISPLAY is not set)."),
                                    _("Run the app inside a graphical session."))
        try:
            import Xlib.display  # noqa: F401 - only checking that it is installed
        except ImportError:
            return Availability(False, _("python-xlib is not installed."),
                                _("Reinstall GLM-V Desktop, or install the python-xlib package."))
        try:
            with self._connection():
                pass
        except Exception as exc:  # noqa: BLE001 - any failure to open the display is "not available"
            return Availability(False, _("The X display could not be opened: {error}").format(error=exc))
        return Availability(True)

    # -- listing ----------------------------------------------------------------------------------------
    def windows(self) -> list[WindowInfo]:
        """Visible top-level windows, topmost first, frame included, in root coordinates."""
        with self._connection() as display:
            return _Session(display).windows()

    def active(self) -> WindowInfo | None:
        """The window manager's `_NET_ACTIVE_WINDOW`; with no window manager, the window under the pointer."""
        with self._connection() as display:
            return _Session(display).active()

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        from Xlib import display as xdisplay

        display = xdisplay.Display(self._display_name)
        try:
            yield display
        finally:
            display.close()


class _Session:
    """One listing over one open connection."""

    def __init__(self, display: Any) -> None:
        self.display = display
        self.root = display.screen().root

    def atom(self, name: str) -> int:
        return int(self.display.intern_atom(name))

    def prop(self, window: Any, name: str, kind: int = 0) -> list[int] | None:
        """A 32-bit property as a list, or None if absent (or the window is gone)."""
        from Xlib import X
        from Xlib.error import XError

        try:
            value = window.get_full_property(self.atom(name), kind or X.AnyPropertyType)
        except XError:
            return None
        if value is None or value.format != 32:
            return None
        return [int(v) for v in value.value]

    def wm_present(self) -> bool:
        """True when a live EWMH window manager runs (its check window points at itself)."""
        check = self.prop(self.root, "_NET_SUPPORTING_WM_CHECK")
        if not check or not check[0]:
            return False
        own = self.prop(self.display.create_resource_object("window", check[0]), "_NET_SUPPORTING_WM_CHECK")
        return own is not None and len(own) > 0 and own[0] == check[0]

    # -- the two ways of listing ------------------------------------------------------------------------
    def windows(self) -> list[WindowInfo]:
        if self.wm_present():
            stacking = self.prop(self.root, "_NET_CLIENT_LIST_STACKING")
            if stacking is not None:
                found = [self.managed(wid) for wid in reversed(stacking)]
                return [w for w in found if w is not None]
            logger.debug("the window manager has no _NET_CLIENT_LIST_STACKING; reading the window tree")
        return self.unmanaged()

    def unmanaged(self) -> list[WindowInfo]:
        """The root's children, topmost first (XQueryTree lists them bottom to top)."""
        from Xlib import X
        from Xlib.error import XError

        out = []
        for child in reversed(self.root.query_tree().children):
            try:
                attrs = child.get_attributes()
                if attrs.map_state != X.IsViewable or attrs.win_class == X.InputOnly:
                    continue
                rect = self.outer_rect(child)
                if rect is None:
                    continue
                client = self.client_of(child)
                title = self.title(client)
                if attrs.override_redirect and not title:
                    continue
                if self.hidden(client):
                    continue
                out.append(WindowInfo(id=child.id, title=title, rect=rect, pid=self.pid(client)))
            except XError as exc:  # it closed while we looked
                logger.debug("window %#x vanished while listing: %s", child.id, exc)
        return out

    def managed(self, client_id: int) -> WindowInfo | None:
        """One client of the window manager with its frame, or None if it is not visible."""
        from Xlib import X
        from Xlib.error import XError

        client = self.display.create_resource_object("window", client_id)
        try:
            frame = self.frame_of(client)
            attrs = frame.get_attributes()
            if attrs.map_state != X.IsViewable or attrs.win_class == X.InputOnly or self.hidden(client):
                return None
            extents = self.prop(client, "_NET_FRAME_EXTENTS")
            if extents is not None and len(extents) == 4:
                rect = self.client_rect_with_extents(client, extents)
            else:
                rect = self.outer_rect(frame)
            if rect is None:
                return None
            return WindowInfo(id=client.id, title=self.title(client), rect=rect, pid=self.pid(client))
        except XError as exc:
            logger.debug("window %#x vanished while listing: %s", client_id, exc)
            return None

    def active(self) -> WindowInfo | None:
        if self.wm_present():
            supported = self.prop(self.root, "_NET_SUPPORTED") or []
            if self.atom("_NET_ACTIVE_WINDOW") in supported:
                active = self.prop(self.root, "_NET_ACTIVE_WINDOW")
                if not active or not active[0]:
                    return None
                return self.managed(active[0])
        pointer = self.root.query_pointer()
        windows = self.windows()
        if pointer.child:
            for window in windows:
                if window.id == pointer.child.id:
                    return window
        return window_at(windows, int(pointer.root_x), int(pointer.root_y))

    # -- geometry ----------------------------------------------------------------------------------------
    def outer_rect(self, window: Any) -> Rect | None:
        """The window's rectangle in root coordinates, its X border included; None if tiny."""
        left, top, width, height, border = self.inside(window)
        return self.visible(window, Rect(left - border, top - border, width + 2 * border, height + 2 * border))

    def client_rect_with_extents(self, client: Any, extents: list[int]) -> Rect | None:
        """The client's inside in root coordinates, grown by the frame the window manager reports."""
        left, top, width, height, _border = self.inside(client)
        e_left, e_right, e_top, e_bottom = extents
        return self.visible(client, Rect(left - e_left, top - e_top, width + e_left + e_right,
                                         height + e_top + e_bottom))

    def inside(self, window: Any) -> tuple[int, int, int, int, int]:
        """Left, top (root coordinates), width, height of the inside of `window`, and its X border width."""
        geometry = window.get_geometry()
        origin = self.root.translate_coords(window, 0, 0)  # the inside's (0, 0) in root coordinates
        return int(origin.x), int(origin.y), int(geometry.width), int(geometry.height), int(geometry.border_width)

    def visible(self, window: Any, rect: Rect) -> Rect | None:
        """`rect` less the client-side shadows GTK draws inside the window; None if tiny."""
        gtk = self.prop(window, "_GTK_FRAME_EXTENTS")
        if gtk is not None and len(gtk) == 4:
            g_left, g_right, g_top, g_bottom = gtk
            rect = Rect(rect.left + g_left, rect.top + g_top, rect.width - g_left - g_right,
                        rect.height - g_top - g_bottom)
        if rect.width < MIN_SIDE or rect.height < MIN_SIDE:
            return None
        return rect

    def frame_of(self, client: Any) -> Any:
        """The client's ancestor that is a child of the root (the client itself if not reparented)."""
        window = client
        for _depth in range(_MAX_DEPTH * 4):
            parent = window.query_tree().parent
            if parent is None or parent.id in (0, self.root.id):
                return window
            window = parent
        return window

    def client_of(self, top: Any) -> Any:
        """The window carrying the application's properties: the one with WM_STATE, else `top` itself."""
        wm_state = self.atom("WM_STATE")
        level = [top]
        for _depth in range(_MAX_DEPTH):
            for window in level:
                if window.get_full_property(wm_state, 0) is not None:
                    return window
            level = [child for window in level for child in window.query_tree().children]
            if not level:
                break
        return top

    # -- properties ----------------------------------------------------------------------------------------
    def title(self, client: Any) -> str:
        """_NET_WM_NAME (UTF-8), else WM_NAME (Latin-1 or compound text, decoded leniently)."""
        from Xlib import X, Xatom
        from Xlib.error import XError

        try:
            value = client.get_full_property(self.atom("_NET_WM_NAME"), self.atom("UTF8_STRING"))
            if value is not None and value.value:
                raw = value.value
                return (raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")).strip()
            value = client.get_full_property(Xatom.WM_NAME, X.AnyPropertyType)
        except XError:
            return ""
        if value is None or not value.value:
            return ""
        raw = value.value
        return (raw if isinstance(raw, str) else bytes(raw).decode("latin-1")).strip()

    def pid(self, client: Any) -> int | None:
        values = self.prop(client, "_NET_WM_PID")
        return values[0] if values else None

    def hidden(self, client: Any) -> bool:
        return self.atom("_NET_WM_STATE_HIDDEN") in (self.prop(client, "_NET_WM_STATE") or [])
