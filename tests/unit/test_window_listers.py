"""The Windows and macOS window listers against fakes of user32/dwmapi and Quartz, and the platform default."""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass
from typing import Any

import pytest

from desktop.capture.base import Rect
from desktop.capture.macos_windows import MacWindowLister
from desktop.capture.win32_windows import (
    DWMWA_CLOAKED,
    DWMWA_EXTENDED_FRAME_BOUNDS,
    GWL_EXSTYLE,
    WS_EX_LAYERED,
    WS_EX_TOOLWINDOW,
    WS_EX_TRANSPARENT,
    Win32WindowLister,
)
from desktop.capture.window_list import WindowInfo, window_at
from desktop.capture.windows_default import default_window_lister

E_FAIL = -2147467259


# -- Windows ------------------------------------------------------------------------------------------------
@dataclass
class FakeHwnd:
    """One top-level window as user32 and DWM would describe it."""

    hwnd: int
    title: str
    frame: tuple[int, int, int, int]  # DWM extended frame bounds: left, top, right, bottom
    pid: int = 100
    visible: bool = True
    ex_style: int = 0
    class_name: str = "Notepad"
    cloaked: int = 0
    dwm_ok: bool = True
    invisible_border: int = 7  # GetWindowRect includes it on Windows 10/11


class FakeUser32:
    """The user32 calls the lister makes, taking the same ctypes arguments as the real ones."""

    def __init__(self, windows: list[FakeHwnd], foreground: int = 0) -> None:
        self.windows = {w.hwnd: w for w in windows}
        self.order = [w.hwnd for w in windows]
        self.foreground = foreground

    def EnumWindows(self, callback: Any, lparam: int) -> int:
        for hwnd in self.order:
            if not callback(hwnd, lparam):
                break
        return 1

    def IsWindowVisible(self, hwnd: int) -> int:
        return int(self.windows[hwnd].visible)

    def GetWindowLongW(self, hwnd: int, index: int) -> int:
        assert index == GWL_EXSTYLE
        style = self.windows[hwnd].ex_style
        return style - (1 << 32) if style & 0x80000000 else style  # LONG is signed

    def GetClassNameW(self, hwnd: int, buffer: Any, size: int) -> int:
        buffer.value = self.windows[hwnd].class_name[: size - 1]
        return len(buffer.value)

    def GetWindowTextW(self, hwnd: int, buffer: Any, size: int) -> int:
        buffer.value = self.windows[hwnd].title[: size - 1]
        return len(buffer.value)

    def GetWindowThreadProcessId(self, hwnd: int, pid: Any) -> int:
        pid.contents.value = self.windows[hwnd].pid
        return 1

    def GetWindowRect(self, hwnd: int, rect: Any) -> int:
        window = self.windows[hwnd]
        border = window.invisible_border
        left, top, right, bottom = window.frame
        box = rect.contents
        box.left, box.top, box.right, box.bottom = left - border, top, right + border, bottom + border
        return 1

    def GetForegroundWindow(self) -> int | None:
        return self.foreground or None  # ctypes gives None for a null HWND


class FakeDwmapi:
    """DwmGetWindowAttribute for the two attributes the lister asks for."""

    def __init__(self, user32: FakeUser32) -> None:
        self.user32 = user32

    def DwmGetWindowAttribute(self, hwnd: int, attribute: int, value: Any, size: int) -> int:
        window = self.user32.windows[hwnd]
        assert size == ctypes.sizeof(value.contents)
        if attribute == DWMWA_CLOAKED:
            value.contents.value = window.cloaked
            return 0
        if attribute == DWMWA_EXTENDED_FRAME_BOUNDS:
            if not window.dwm_ok:
                return E_FAIL
            box = value.contents
            box.left, box.top, box.right, box.bottom = window.frame
            return 0
        raise AssertionError(f"unexpected attribute {attribute}")


def win32(windows: list[FakeHwnd], foreground: int = 0, dwm: bool = True) -> Win32WindowLister:
    user32 = FakeUser32(windows, foreground)
    return Win32WindowLister(user32=user32, dwmapi=FakeDwmapi(user32) if dwm else None)


DESKTOP = [
    FakeHwnd(1, "Editor — notes.txt", (100, 50, 900, 650), pid=11),
    FakeHwnd(2, "hidden", (0, 0, 300, 300), visible=False),
    FakeHwnd(3, "Settings (other virtual desktop)", (0, 0, 500, 500), cloaked=2),
    FakeHwnd(4, "floating palette", (10, 10, 60, 60), ex_style=WS_EX_TOOLWINDOW),
    FakeHwnd(5, "GPU overlay", (0, 0, 1920, 1080), ex_style=WS_EX_LAYERED | WS_EX_TRANSPARENT | 0x80000000),
    FakeHwnd(6, "empty", (40, 40, 40, 90)),
    FakeHwnd(7, "Browser", (-1200, 0, 0, 800), pid=22, ex_style=WS_EX_LAYERED),
    FakeHwnd(8, "Program Manager", (0, 0, 1920, 1080), class_name="Progman"),
]


def test_win32_lists_visible_windows_in_z_order_with_their_drawn_frames() -> None:
    listed = win32(DESKTOP).windows()
    assert listed == [
        WindowInfo(1, "Editor — notes.txt", Rect(100, 50, 800, 600), 11),
        WindowInfo(7, "Browser", Rect(-1200, 0, 1200, 800), 22),
    ]
    assert window_at(listed, 500, 300) == listed[0]
    assert window_at(listed, 1000, 1000) is None  # the desktop (Progman) is not a window to pick


def test_win32_falls_back_to_the_window_rect_without_dwm() -> None:
    windows = [FakeHwnd(1, "Old", (100, 50, 900, 650), dwm_ok=False)]
    assert win32(windows).windows()[0].rect == Rect(93, 50, 814, 607)
    assert win32(windows, dwm=False).windows()[0].rect == Rect(93, 50, 814, 607)


def test_win32_active_is_the_foreground_window() -> None:
    assert win32(DESKTOP, foreground=7).active() == WindowInfo(7, "Browser", Rect(-1200, 0, 1200, 800), 22)
    assert win32(DESKTOP, foreground=0).active() is None
    assert win32(DESKTOP, foreground=4).active() is None  # a tool window is not listed


def test_win32_availability() -> None:
    assert win32([]).availability().available
    if sys.platform != "win32":
        status = Win32WindowLister().availability()
        assert not status.available and "Windows" in status.reason


# -- macOS ------------------------------------------------------------------------------------------------------
class FakeQuartz:
    """CGWindowListCopyWindowInfo's answer, the displays and the frontmost application."""

    def __init__(self, entries: list[dict[str, Any]], displays: list[tuple[Rect, float]],
                 frontmost: int | None = None) -> None:
        self.entries, self._displays, self.frontmost = entries, displays, frontmost

    def window_list(self) -> list[dict[str, Any]]:
        return self.entries

    def displays(self) -> list[tuple[Rect, float]]:
        return self._displays

    def frontmost_pid(self) -> int | None:
        return self.frontmost


def entry(number: int, pid: int, bounds: tuple[float, float, float, float], layer: int = 0,
          **extra: Any) -> dict[str, Any]:
    x, y, width, height = bounds
    return {"kCGWindowNumber": number, "kCGWindowOwnerPID": pid, "kCGWindowLayer": layer,
            "kCGWindowBounds": {"X": x, "Y": y, "Width": width, "Height": height},
            "kCGWindowAlpha": 1.0, "kCGWindowOwnerName": f"App{pid}", **extra}


RETINA = [(Rect(0, 0, 1512, 982), 2.0)]
WINDOW_LIST = [
    entry(90, 1, (0, 0, 1512, 33), layer=25, kCGWindowName="Menubar"),
    entry(10, 200, (100, 50, 800, 600), kCGWindowName="Chat — GLM-V"),
    entry(11, 300, (400.5, 300, 300, 200)),  # no title: no Screen Recording permission
    entry(12, 300, (0, 0, 10, 10), kCGWindowAlpha=0.0, kCGWindowName="invisible"),
    entry(13, 300, (0, 0, 0, 0), kCGWindowName="empty"),
    entry(14, 200, (10, 10, 200, 100), kCGWindowName="Inspector"),
]


def test_mac_lists_layer_zero_windows_front_to_back_in_points() -> None:
    # mss captures macOS at nominal resolution: points are the capture's pixels, even on Retina
    listed = MacWindowLister(FakeQuartz(WINDOW_LIST, RETINA)).windows()
    assert listed == [
        WindowInfo(10, "Chat — GLM-V", Rect(100, 50, 800, 600), 200),
        WindowInfo(11, "App300", Rect(400, 300, 300, 200), 300),
        WindowInfo(14, "Inspector", Rect(10, 10, 200, 100), 200),
    ]


def test_mac_rectangles_do_not_depend_on_the_displays_scale() -> None:
    displays = [(Rect(0, 0, 1512, 982), 2.0), (Rect(1512, 0, 1920, 1080), 1.0)]
    for window in ((1600, 100, 400, 300), (100, 100, 400, 300)):
        listed = MacWindowLister(FakeQuartz([entry(1, 5, window)], displays)).windows()
        assert listed[0].rect == Rect(*window)


def test_mac_active_is_the_frontmost_apps_front_window() -> None:
    assert MacWindowLister(FakeQuartz(WINDOW_LIST, RETINA, frontmost=300)).active().id == 11  # type: ignore[union-attr]
    assert MacWindowLister(FakeQuartz(WINDOW_LIST, RETINA, frontmost=1)).active() is None  # menu bar only
    assert MacWindowLister(FakeQuartz(WINDOW_LIST, RETINA, frontmost=None)).active() is None


def test_mac_availability() -> None:
    assert MacWindowLister(FakeQuartz([], RETINA)).availability().available
    if sys.platform != "darwin":
        status = MacWindowLister().availability()
        assert not status.available and "macOS" in status.reason


# -- the platform's default ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("platform", "name"), [("win32", "win32"), ("darwin", "quartz"), ("linux", "x11")])
def test_default_window_lister_per_platform(monkeypatch: pytest.MonkeyPatch, platform: str, name: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert default_window_lister().name == name
