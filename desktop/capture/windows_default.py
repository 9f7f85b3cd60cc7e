"""The window lister for the platform the app runs on."""

from __future__ import annotations

import sys

from desktop.capture.window_list import WindowLister


def default_window_lister() -> WindowLister:
    """Win32 on Windows, Quartz on macOS, X11 elsewhere (it reports itself unavailable under Wayland)."""
    if sys.platform == "win32":
        from desktop.capture.win32_windows import Win32WindowLister

        return Win32WindowLister()
    if sys.platform == "darwin":
        from desktop.capture.macos_windows import MacWindowLister

        return MacWindowLister()
    from desktop.capture.x11_windows import X11WindowLister

    return X11WindowLister()
