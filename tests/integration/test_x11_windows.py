"""X11 window listing on real X servers: the session's Xvfb (no window manager) and a private one
where this test plays an EWMH window manager (frames, stacking list, active window)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from desktop.capture.base import Rect
from desktop.capture.window_list import WindowInfo, window_at
from desktop.capture.x11_windows import X11WindowLister
from tests.support import desktop_env
from tests.support.x11_window import ShownWindow, show_window

pytestmark = pytest.mark.display


@pytest.fixture
def two_windows(x_display: desktop_env.XServer) -> Iterator[tuple[ShownWindow, ShownWindow]]:
    """Window A at (100, 120) 400×300 and, mapped after it so on top, window B at (300, 250) 420×310."""
    a = show_window(x_display.env(), 100, 120, 400, 300, "--title", "Fenêtre A — 窗口")
    try:
        b = show_window(x_display.env(), 300, 250, 420, 310, "--title", "Window B", "--color", "cc3333")
    except BaseException:
        a.close()
        raise
    yield a, b
    b.close()
    a.close()


def ours(windows: list[WindowInfo], *shown: ShownWindow) -> list[WindowInfo]:
    """The listed windows that the test created, in listing order."""
    ids = {s.id for s in shown}
    return [w for w in windows if w.id in ids]


def test_lists_real_windows_topmost_first(x_display: desktop_env.XServer,
                                          two_windows: tuple[ShownWindow, ShownWindow]) -> None:
    a, b = two_windows
    lister = X11WindowLister(x_display.display)
    assert lister.availability().available
    # GIVEN B mapped after A (so above it) THEN B is listed first, with exact rectangles and titles
    listed = ours(lister.windows(), a, b)
    assert [w.id for w in listed] == [b.id, a.id]
    assert listed[0] == WindowInfo(b.id, "Window B", Rect(300, 250, 420, 310), b.process.pid)
    assert listed[1] == WindowInfo(a.id, "Fenêtre A — 窗口", Rect(100, 120, 400, 300), a.process.pid)
    assert window_at(lister.windows(), 400, 300).id == b.id  # type: ignore[union-attr]
    # WHEN A is raised THEN it is listed first and picked at the overlap
    desktop_env.xdotool(x_display, "windowraise", str(a.id))
    listed = ours(lister.windows(), a, b)
    assert [w.id for w in listed] == [a.id, b.id]
    assert window_at(lister.windows(), 400, 300).id == a.id  # type: ignore[union-attr]
    assert window_at(lister.windows(), 400, 300, exclude_pid=a.process.pid).id == b.id  # type: ignore[union-attr]


def test_active_is_the_window_under_the_pointer_without_a_window_manager(
        x_display: desktop_env.XServer, two_windows: tuple[ShownWindow, ShownWindow]) -> None:
    a, b = two_windows
    lister = X11WindowLister(x_display.display)
    desktop_env.xdotool(x_display, "mousemove", "150", "150")
    assert lister.active() is not None and lister.active().id == a.id  # type: ignore[union-attr]
    desktop_env.xdotool(x_display, "mousemove", "650", "500")
    assert lister.active() is not None and lister.active().id == b.id  # type: ignore[union-attr]


def test_skips_untitled_popups_tiny_and_unmapped_windows(x_display: desktop_env.XServer) -> None:
    env = x_display.env()
    shown = [
        show_window(env, 600, 600, 200, 100, "--override-redirect"),  # an untitled menu or tooltip
        show_window(env, 600, 800, 200, 100, "--override-redirect", "--title", "Kiosk"),
        show_window(env, 900, 600, 2, 2, "--title", "Tiny"),
    ]
    try:
        listed = ours(X11WindowLister(x_display.display).windows(), *shown)
        assert [(w.id, w.title) for w in listed] == [(shown[1].id, "Kiosk")]
        desktop_env.xdotool(x_display, "windowunmap", "--sync", str(shown[1].id))
        assert ours(X11WindowLister(x_display.display).windows(), *shown) == []
    finally:
        for window in shown:
            window.close()


def test_unavailable_without_a_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    status = X11WindowLister().availability()
    assert not status.available and "DISPLAY" in status.reason


def test_unavailable_under_wayland(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    status = X11WindowLister().availability()
    assert not status.available and "Wayland" in status.reason and status.how_to_fix


# -- with an EWMH window manager ---------------------------------------------------------------------------
class PretendWindowManager:
    """Draws frames and publishes EWMH properties the way a reparenting window manager does.

    Not a real window manager (it redirects nothing); it builds the window tree and root
    properties that a lister reads: frames as children of the root, clients inside them with
    WM_STATE, `_NET_CLIENT_LIST_STACKING`, `_NET_FRAME_EXTENTS`, `_NET_ACTIVE_WINDOW`.
    """

    def __init__(self, display_name: str) -> None:
        from Xlib import X, display

        self.X = X
        self.display = display.Display(display_name)
        self.root = self.display.screen().root
        self.check = self.root.create_window(-10, -10, 1, 1, 0, X.CopyFromParent, X.InputOnly, X.CopyFromParent)
        self.set(self.check, "_NET_SUPPORTING_WM_CHECK", "WINDOW", [self.check.id])
        self.set(self.root, "_NET_SUPPORTING_WM_CHECK", "WINDOW", [self.check.id])
        self.set(self.root, "_NET_SUPPORTED", "ATOM", [self.atom("_NET_ACTIVE_WINDOW"),
                                                        self.atom("_NET_CLIENT_LIST_STACKING")])

    def atom(self, name: str) -> int:
        return int(self.display.intern_atom(name))

    def set(self, window: Any, name: str, kind: str, values: list[int]) -> None:
        window.change_property(self.atom(name), self.atom(kind), 32, values)

    def manage(self, title: str, frame: Rect, extents: tuple[int, int, int, int] | None) -> Any:
        """A frame at `frame` (outer rectangle) holding a client inset by 5 px left/right/bottom, 25 px top."""
        X = self.X  # noqa: N806 - Xlib's module name
        depth = self.display.screen().root_depth
        outer = self.root.create_window(frame.left, frame.top, frame.width, frame.height, 0, depth, X.InputOutput,
                                        X.CopyFromParent, background_pixel=0x888888)
        client = outer.create_window(5, 25, frame.width - 10, frame.height - 30, 0, depth, X.InputOutput,
                                     X.CopyFromParent, background_pixel=0xffffff)
        client.set_wm_name(title)
        self.set(client, "WM_STATE", "WM_STATE", [1, 0])
        self.set(client, "_NET_WM_PID", "CARDINAL", [4242])
        if extents is not None:
            self.set(client, "_NET_FRAME_EXTENTS", "CARDINAL", list(extents))
        client.map()
        outer.map()
        return client

    def publish(self, stacking_bottom_to_top: list[Any], active: Any | None) -> None:
        self.set(self.root, "_NET_CLIENT_LIST_STACKING", "WINDOW", [c.id for c in stacking_bottom_to_top])
        self.set(self.root, "_NET_ACTIVE_WINDOW", "WINDOW", [active.id if active is not None else 0])
        self.display.sync()

    def close(self) -> None:
        self.display.close()


@pytest.fixture
def managed_x() -> Iterator[tuple[desktop_env.XServer, PretendWindowManager]]:
    """A private Xvfb (so the session's display keeps having no window manager) with a pretend WM on it."""
    desktop_env.require("Xvfb")
    server = desktop_env.start_xvfb()
    wm = None
    try:
        wm = PretendWindowManager(server.display)
        yield server, wm
    finally:
        if wm is not None:
            wm.close()
        server.stop()


def test_with_a_window_manager_lists_frames_in_its_stacking_order(
        managed_x: tuple[desktop_env.XServer, PretendWindowManager]) -> None:
    server, wm = managed_x
    # GIVEN one client that reports its frame extents and one whose frame must be found in the tree
    editor = wm.manage("Editor", Rect(50, 60, 500, 400), extents=(5, 5, 25, 5))
    browser = wm.manage("Browser", Rect(300, 200, 600, 500), extents=None)
    wm.publish([editor, browser], active=editor)
    lister = X11WindowLister(server.display)
    # WHEN the windows are listed THEN they come topmost first with the frames' outer rectangles
    assert lister.windows() == [
        WindowInfo(browser.id, "Browser", Rect(300, 200, 600, 500), 4242),
        WindowInfo(editor.id, "Editor", Rect(50, 60, 500, 400), 4242),
    ]
    # AND the active window is the one the window manager names, not the one under the pointer
    desktop_env.xdotool(server, "mousemove", "700", "600")
    active = lister.active()
    assert active is not None and active.id == editor.id
    wm.publish([browser, editor], active=None)
    assert [w.title for w in lister.windows()] == ["Editor", "Browser"]
    assert lister.active() is None
