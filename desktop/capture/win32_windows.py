"""The visible top-level windows of a Windows desktop, through user32 and dwmapi with ctypes.

EnumWindows walks the top-level windows in Z order, topmost first. A window is listed when it is
visible, not cloaked by the desktop window manager (windows of other virtual desktops, suspended
UWP apps, the hidden "Windows Input Experience"), not a tool window, not a click-through overlay
(layered and transparent: game and GPU overlays that cover the screen but are not what the user
sees as a window), not the desktop itself (Progman/WorkerW), and not empty. Its rectangle is
DWMWA_EXTENDED_FRAME_BOUNDS: the frame as drawn, in physical pixels whatever the DPI awareness,
without the invisible resize border that GetWindowRect includes on Windows 10 and 11.

The user32 and dwmapi objects can be injected (tests pass fakes that take the same ctypes
arguments); by default the system DLLs are loaded on first use.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from ctypes import wintypes
from typing import Any

from desktop.availability import Availability
from desktop.capture.base import Rect
from desktop.capture.window_list import WindowInfo
from desktop.i18n import _

logger = logging.getLogger(__name__)

DWMWA_EXTENDED_FRAME_BOUNDS = 9
DWMWA_CLOAKED = 14
GWL_EXSTYLE = -20
WS_EX_TOOLWINDOW = 0x00000080
WS_EX_TRANSPARENT = 0x00000020
WS_EX_LAYERED = 0x00080000
_DESKTOP_CLASSES = frozenset({"Progman", "WorkerW"})
_TITLE_MAX = 512

# EnumWindows' callback type: stdcall on Windows; elsewhere (tests with fakes) a plain C callback.
_FUNCTYPE = getattr(ctypes, "WINFUNCTYPE", ctypes.CFUNCTYPE)
WNDENUMPROC = _FUNCTYPE(wintypes.BOOL, wintypes.HWND, wintypes.LPARAM)


class Win32WindowLister:
    """Lists the windows of the Windows desktop."""

    name = "win32"

    def __init__(self, user32: Any = None, dwmapi: Any = None) -> None:
        self._user32 = user32
        self._dwmapi = dwmapi

    def availability(self) -> Availability:
        """Available on Windows (or with injected libraries)."""
        if self._user32 is None and sys.platform != "win32":
            return Availability(False, _("Windows window listing works only on Windows."))
        try:
            self._libraries()
        except OSError as exc:
            return Availability(False, _("The Windows window functions could not be loaded: {error}").format(error=exc))
        return Availability(True)

    def windows(self) -> list[WindowInfo]:
        """Visible top-level windows, topmost first, in physical pixels."""
        user32, _dwm = self._libraries()
        handles: list[int] = []

        def collect(hwnd: Any, _lparam: Any) -> bool:
            handles.append(_handle(hwnd))
            return True

        callback = WNDENUMPROC(collect)  # kept referenced for the whole call
        user32.EnumWindows(callback, 0)
        found = [self._info(hwnd) for hwnd in handles]
        return [w for w in found if w is not None]

    def active(self) -> WindowInfo | None:
        """The foreground window (the one receiving keyboard input), if it is a listable window."""
        user32, _dwm = self._libraries()
        hwnd = _handle(user32.GetForegroundWindow())
        return self._info(hwnd) if hwnd else None

    # -- one window ---------------------------------------------------------------------------------------
    def _info(self, hwnd: int) -> WindowInfo | None:
        user32, dwmapi = self._libraries()
        if not user32.IsWindowVisible(hwnd):
            return None
        ex_style = int(user32.GetWindowLongW(hwnd, GWL_EXSTYLE)) & 0xFFFFFFFF
        if ex_style & WS_EX_TOOLWINDOW:
            return None
        if ex_style & WS_EX_LAYERED and ex_style & WS_EX_TRANSPARENT:
            return None
        class_name = ctypes.create_unicode_buffer(256)
        user32.GetClassNameW(hwnd, class_name, 256)
        if class_name.value in _DESKTOP_CLASSES:
            return None
        cloaked = wintypes.DWORD(0)
        if dwmapi is not None and dwmapi.DwmGetWindowAttribute(
                hwnd, DWMWA_CLOAKED, ctypes.pointer(cloaked), ctypes.sizeof(cloaked)) == 0 and cloaked.value:
            return None
        rect = self._rect(hwnd)
        if rect is None:
            return None
        title = ctypes.create_unicode_buffer(_TITLE_MAX)
        user32.GetWindowTextW(hwnd, title, _TITLE_MAX)
        pid = wintypes.DWORD(0)
        user32.GetWindowThreadProcessId(hwnd, ctypes.pointer(pid))
        return WindowInfo(id=hwnd, title=title.value, rect=rect, pid=int(pid.value) or None)

    def _rect(self, hwnd: int) -> Rect | None:
        """The drawn frame (DWM), else GetWindowRect; None when empty."""
        user32, dwmapi = self._libraries()
        box = wintypes.RECT()
        if dwmapi is None or dwmapi.DwmGetWindowAttribute(
                hwnd, DWMWA_EXTENDED_FRAME_BOUNDS, ctypes.pointer(box), ctypes.sizeof(box)) != 0:
            logger.debug("no DWM frame bounds for window %#x; using GetWindowRect", hwnd)
            if not user32.GetWindowRect(hwnd, ctypes.pointer(box)):
                return None
        width, height = box.right - box.left, box.bottom - box.top
        if width <= 0 or height <= 0:
            return None
        return Rect(box.left, box.top, width, height)

    def _libraries(self) -> tuple[Any, Any]:
        """user32 and dwmapi (dwmapi may be None where DWM is missing: then GetWindowRect is used)."""
        if self._user32 is None:
            self._user32, self._dwmapi = _load_system_libraries()
        return self._user32, self._dwmapi


def _handle(hwnd: Any) -> int:
    """An HWND as an int (ctypes hands callbacks None for a null handle)."""
    return int(hwnd or 0)


def _load_system_libraries() -> tuple[Any, Any]:
    """Load user32 and dwmapi with argument types set (on Windows only)."""
    windll = ctypes.WinDLL  # type: ignore[attr-defined]
    user32 = windll("user32", use_last_error=True)
    hwnd, rect_p, dword_p = wintypes.HWND, ctypes.POINTER(wintypes.RECT), ctypes.POINTER(wintypes.DWORD)
    user32.EnumWindows.argtypes = [WNDENUMPROC, wintypes.LPARAM]
    user32.EnumWindows.restype = wintypes.BOOL
    user32.IsWindowVisible.argtypes = [hwnd]
    user32.IsWindowVisible.restype = wintypes.BOOL
    user32.GetWindowLongW.argtypes = [hwnd, ctypes.c_int]
    user32.GetWindowLongW.restype = wintypes.LONG
    user32.GetClassNameW.argtypes = [hwnd, wintypes.LPWSTR, ctypes.c_int]
    user32.GetClassNameW.restype = ctypes.c_int
    user32.GetWindowTextW.argtypes = [hwnd, wintypes.LPWSTR, ctypes.c_int]
    user32.GetWindowTextW.restype = ctypes.c_int
    user32.GetWindowThreadProcessId.argtypes = [hwnd, dword_p]
    user32.GetWindowThreadProcessId.restype = wintypes.DWORD
    user32.GetWindowRect.argtypes = [hwnd, rect_p]
    user32.GetWindowRect.restype = wintypes.BOOL
    user32.GetForegroundWindow.argtypes = []
    user32.GetForegroundWindow.restype = hwnd
    try:
        dwmapi = windll("dwmapi")
    except OSError:
        logger.info("dwmapi is not available; window rectangles include the invisible resize border")
        return user32, None
    dwmapi.DwmGetWindowAttribute.argtypes = [hwnd, wintypes.DWORD, ctypes.c_void_p, wintypes.DWORD]
    dwmapi.DwmGetWindowAttribute.restype = ctypes.c_long  # HRESULT
    return user32, dwmapi
