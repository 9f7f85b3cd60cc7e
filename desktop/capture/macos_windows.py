"""The visible windows of a macOS desktop, from CGWindowListCopyWindowInfo (ctypes + CoreFoundation).

The window list is taken with kCGWindowListOptionOnScreenOnly | kCGWindowListExcludeDesktopElements
and comes front to back. Only layer-0 windows are listed (normal application windows: the menu
bar, the Dock, status items and screen savers live on other layers), fully transparent and empty
ones are skipped. Without the Screen Recording permission macOS leaves other apps' window titles
out; the owning application's name is used then.

Quartz reports bounds in points, with the origin at the top-left of the main display. They are
kept in points: on macOS mss captures at nominal resolution (one pixel per point) and reports its
monitors in points, so points are the capture's pixels there and rectangles line up with the
pictures on every display, whatever its backing scale. (The displays' scales are still read, for
a future capture at full Retina resolution.)

The Quartz access can be injected (`QuartzWindows`); tests pass a fake.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from typing import Any, Protocol

from desktop.availability import Availability
from desktop.capture.base import Rect
from desktop.capture.window_list import WindowInfo
from desktop.i18n import _

logger = logging.getLogger(__name__)

kCGWindowListOptionOnScreenOnly = 1 << 0  # noqa: N816 - Apple's names
kCGWindowListExcludeDesktopElements = 1 << 4  # noqa: N816
kCGNullWindowID = 0  # noqa: N816


class QuartzWindows(Protocol):
    """What the lister needs from Quartz, as plain Python values."""

    def window_list(self) -> list[dict[str, Any]]:
        """CGWindowListCopyWindowInfo(on screen only | exclude desktop, kCGNullWindowID), front to back."""
        ...

    def displays(self) -> list[tuple[Rect, float]]:
        """Each active display's bounds in points and its backing scale factor."""
        ...

    def frontmost_pid(self) -> int | None:
        """The process id of the frontmost application, if known."""
        ...


class MacWindowLister:
    """Lists the windows of the macOS desktop."""

    name = "quartz"

    def __init__(self, quartz: QuartzWindows | None = None) -> None:
        self._quartz = quartz

    def availability(self) -> Availability:
        """Available on macOS (or with an injected Quartz)."""
        if self._quartz is None and sys.platform != "darwin":
            return Availability(False, _("macOS window listing works only on macOS."))
        try:
            self._api()
        except OSError as exc:
            return Availability(False, _("The macOS window functions could not be loaded: {error}").format(error=exc))
        return Availability(True)

    def windows(self) -> list[WindowInfo]:
        """On-screen layer-0 windows, front to back, in points (the capture's pixels on macOS)."""
        api = self._api()
        displays = api.displays()
        found = [_window(entry, displays) for entry in api.window_list()]
        return [w for w in found if w is not None]

    def active(self) -> WindowInfo | None:
        """The frontmost layer-0 window of the frontmost application."""
        api = self._api()
        pid = api.frontmost_pid()
        if pid is None:
            return None
        return next((w for w in self.windows() if w.pid == pid), None)

    def _api(self) -> QuartzWindows:
        if self._quartz is None:
            self._quartz = CoreGraphicsWindows()
        return self._quartz


def _window(entry: dict[str, Any], displays: list[tuple[Rect, float]]) -> WindowInfo | None:
    """One entry of the window list as a WindowInfo, or None if it is not a normal visible window."""
    if int(entry.get("kCGWindowLayer", -1)) != 0 or float(entry.get("kCGWindowAlpha", 1.0)) <= 0:
        return None
    bounds = entry.get("kCGWindowBounds") or {}
    x, y = float(bounds.get("X", 0)), float(bounds.get("Y", 0))
    width, height = float(bounds.get("Width", 0)), float(bounds.get("Height", 0))
    if width <= 0 or height <= 0:
        return None
    left, top = round(x), round(y)
    rect = Rect(left, top, round(x + width) - left, round(y + height) - top)
    title = str(entry.get("kCGWindowName") or entry.get("kCGWindowOwnerName") or "")
    pid = entry.get("kCGWindowOwnerPID")
    return WindowInfo(id=int(entry.get("kCGWindowNumber", 0)), title=title, rect=rect,
                      pid=int(pid) if pid is not None else None)


# -- the real Quartz, through ctypes ------------------------------------------------------------------------
class _CGPoint(ctypes.Structure):
    _fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double)]


class _CGSize(ctypes.Structure):
    _fields_ = [("width", ctypes.c_double), ("height", ctypes.c_double)]


class _CGRect(ctypes.Structure):
    _fields_ = [("origin", _CGPoint), ("size", _CGSize)]


_kCFStringEncodingUTF8 = 0x08000100  # noqa: N816
_kCFNumberDoubleType = 13  # noqa: N816
_MAX_DISPLAYS = 32


class CoreGraphicsWindows:
    """QuartzWindows over CoreGraphics, CoreFoundation and (for the frontmost app) AppKit via the objc runtime."""

    def __init__(self) -> None:
        self.cf = _framework("CoreFoundation")
        self.cg = _framework("CoreGraphics")
        vp, cf = ctypes.c_void_p, self.cf
        for name, restype, argtypes in [
            ("CFGetTypeID", ctypes.c_ulong, [vp]), ("CFStringGetTypeID", ctypes.c_ulong, []),
            ("CFNumberGetTypeID", ctypes.c_ulong, []), ("CFBooleanGetTypeID", ctypes.c_ulong, []),
            ("CFDictionaryGetTypeID", ctypes.c_ulong, []), ("CFArrayGetTypeID", ctypes.c_ulong, []),
            ("CFArrayGetCount", ctypes.c_long, [vp]), ("CFArrayGetValueAtIndex", vp, [vp, ctypes.c_long]),
            ("CFDictionaryGetCount", ctypes.c_long, [vp]),
            ("CFDictionaryGetKeysAndValues", None, [vp, ctypes.POINTER(vp), ctypes.POINTER(vp)]),
            ("CFStringGetLength", ctypes.c_long, [vp]),
            ("CFStringGetMaximumSizeForEncoding", ctypes.c_long, [ctypes.c_long, ctypes.c_uint32]),
            ("CFStringGetCString", ctypes.c_bool, [vp, ctypes.c_char_p, ctypes.c_long, ctypes.c_uint32]),
            ("CFNumberGetValue", ctypes.c_bool, [vp, ctypes.c_long, vp]),
            ("CFBooleanGetValue", ctypes.c_bool, [vp]), ("CFRelease", None, [vp]),
        ]:
            function = getattr(cf, name)
            function.restype, function.argtypes = restype, argtypes
        cg = self.cg
        cg.CGWindowListCopyWindowInfo.restype = vp
        cg.CGWindowListCopyWindowInfo.argtypes = [ctypes.c_uint32, ctypes.c_uint32]
        cg.CGGetActiveDisplayList.restype = ctypes.c_int32
        cg.CGGetActiveDisplayList.argtypes = [ctypes.c_uint32, ctypes.POINTER(ctypes.c_uint32),
                                              ctypes.POINTER(ctypes.c_uint32)]
        cg.CGDisplayBounds.restype = _CGRect
        cg.CGDisplayBounds.argtypes = [ctypes.c_uint32]
        cg.CGDisplayCopyDisplayMode.restype = vp
        cg.CGDisplayCopyDisplayMode.argtypes = [ctypes.c_uint32]
        for name in ("CGDisplayModeGetWidth", "CGDisplayModeGetPixelWidth"):
            getattr(cg, name).restype = ctypes.c_size_t
            getattr(cg, name).argtypes = [vp]
        cg.CGDisplayModeRelease.restype = None
        cg.CGDisplayModeRelease.argtypes = [vp]

    def window_list(self) -> list[dict[str, Any]]:
        """The on-screen windows as dictionaries, front to back."""
        array = self.cg.CGWindowListCopyWindowInfo(
            kCGWindowListOptionOnScreenOnly | kCGWindowListExcludeDesktopElements, kCGNullWindowID)
        if not array:
            return []
        try:
            value = self._python(array)
        finally:
            self.cf.CFRelease(array)
        return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []

    def displays(self) -> list[tuple[Rect, float]]:
        """Active displays, the main one first, in points, with their backing scale."""
        ids = (ctypes.c_uint32 * _MAX_DISPLAYS)()
        count = ctypes.c_uint32(0)
        if self.cg.CGGetActiveDisplayList(_MAX_DISPLAYS, ids, ctypes.byref(count)) != 0:
            return []
        out = []
        for display in ids[: count.value]:
            box = self.cg.CGDisplayBounds(display)
            scale = 1.0
            mode = self.cg.CGDisplayCopyDisplayMode(display)
            if mode:
                points, pixels = self.cg.CGDisplayModeGetWidth(mode), self.cg.CGDisplayModeGetPixelWidth(mode)
                scale = pixels / points if points else 1.0
                self.cg.CGDisplayModeRelease(mode)
            out.append((Rect(int(box.origin.x), int(box.origin.y), int(box.size.width), int(box.size.height)), scale))
        return out

    def frontmost_pid(self) -> int | None:
        """NSWorkspace.sharedWorkspace.frontmostApplication.processIdentifier, through the objc runtime."""
        try:
            _framework("AppKit")
            objc = _framework("objc")
        except OSError as exc:
            logger.info("AppKit is not available to ask for the frontmost application: %s", exc)
            return None
        vp = ctypes.c_void_p
        objc.objc_getClass.restype, objc.objc_getClass.argtypes = vp, [ctypes.c_char_p]
        objc.sel_registerName.restype, objc.sel_registerName.argtypes = vp, [ctypes.c_char_p]
        address = ctypes.cast(objc.objc_msgSend, vp).value
        if address is None:
            return None
        send_object = ctypes.CFUNCTYPE(vp, vp, vp)(address)
        send_int = ctypes.CFUNCTYPE(ctypes.c_int, vp, vp)(address)
        workspace = send_object(objc.objc_getClass(b"NSWorkspace"), objc.sel_registerName(b"sharedWorkspace"))
        app = send_object(workspace, objc.sel_registerName(b"frontmostApplication")) if workspace else None
        if not app:
            return None
        return int(send_int(app, objc.sel_registerName(b"processIdentifier")))

    def _python(self, ref: int) -> Any:
        """A CoreFoundation property-list value as the Python equivalent (unknown types as None)."""
        cf = self.cf
        if not ref:
            return None
        kind = cf.CFGetTypeID(ref)
        if kind == cf.CFStringGetTypeID():
            size = cf.CFStringGetMaximumSizeForEncoding(cf.CFStringGetLength(ref), _kCFStringEncodingUTF8) + 1
            buffer = ctypes.create_string_buffer(size)
            return buffer.value.decode("utf-8") if cf.CFStringGetCString(ref, buffer, size, _kCFStringEncodingUTF8) \
                else ""
        if kind == cf.CFBooleanGetTypeID():
            return bool(cf.CFBooleanGetValue(ref))
        if kind == cf.CFNumberGetTypeID():
            number = ctypes.c_double(0)
            cf.CFNumberGetValue(ref, _kCFNumberDoubleType, ctypes.byref(number))
            return number.value
        if kind == cf.CFArrayGetTypeID():
            return [self._python(cf.CFArrayGetValueAtIndex(ref, i)) for i in range(cf.CFArrayGetCount(ref))]
        if kind == cf.CFDictionaryGetTypeID():
            count = cf.CFDictionaryGetCount(ref)
            keys, values = (ctypes.c_void_p * count)(), (ctypes.c_void_p * count)()
            cf.CFDictionaryGetKeysAndValues(ref, keys, values)
            return {str(self._python(k)): self._python(v) for k, v in zip(keys, values, strict=True)}
        return None


def _framework(name: str) -> ctypes.CDLL:
    """Load a system framework or library by name (OSError if absent)."""
    path = ctypes.util.find_library(name)
    if path is None:
        raise OSError(_("{name} was not found").format(name=name))
    return ctypes.CDLL(path)
