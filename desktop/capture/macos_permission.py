"""The macOS Screen Recording permission, without which captures show only the wallpaper.

Since macOS 10.15 an app needs the user's grant to see other apps' windows; CoreGraphics says
whether it has it (`CGPreflightScreenCaptureAccess`, no prompt) and can ask for it once
(`CGRequestScreenCaptureAccess`, which shows the system prompt the first time only). The grant
belongs to the app's code signature, so it takes effect after a restart and is lost when an
unsigned or differently signed build replaces the app. Older macOS versions need no grant.

The CoreGraphics library can be injected; tests pass a fake with the two functions (or without
them, as on an older macOS).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from typing import Any

from desktop.availability import Availability
from desktop.i18n import _

logger = logging.getLogger(__name__)

SCREEN_RECORDING_SETTINGS_URL = "x-apple.systempreferences:com.apple.preference.security?Privacy_ScreenCapture"


def screen_recording_access(coregraphics: Any = None) -> Availability:
    """Whether this app may capture the screen; if not, why and how to grant it. Does not prompt."""
    preflight = _function(coregraphics, "CGPreflightScreenCaptureAccess")
    if preflight is None:
        return Availability(True)  # not macOS, or older than 10.15: there is no such permission
    if bool(preflight()):
        return Availability(True)
    return Availability(
        False,
        _("macOS has not allowed GLM-V Desktop to record the screen, so captures would show only the "
          "desktop background."),
        _("Open System Settings → Privacy & Security → Screen Recording, turn on GLM-V Desktop, then quit "
          "and restart the app (the permission is tied to the app's signature and applies after a restart)."),
    )


def request_screen_recording_access(coregraphics: Any = None) -> bool:
    """Ask macOS for the permission (it prompts only the first time); True if it is already granted."""
    request = _function(coregraphics, "CGRequestScreenCaptureAccess")
    if request is None:
        return True
    granted = bool(request())
    logger.info("Screen Recording permission requested; granted now: %s", granted)
    return granted


def _function(coregraphics: Any, name: str) -> Any:
    """A bool-returning CoreGraphics function, or None where it does not exist."""
    real = coregraphics is None
    library = _system_coregraphics() if real else coregraphics
    if library is None:
        return None
    try:
        function = getattr(library, name)
    except AttributeError:  # a macOS older than 10.15
        return None
    if real:  # declare the C signature: `bool f(void)`
        function.restype = ctypes.c_bool
        function.argtypes = []
    return function


def _system_coregraphics() -> Any:
    """CoreGraphics on macOS; None elsewhere or if it cannot be loaded."""
    if sys.platform != "darwin":
        return None
    path = ctypes.util.find_library("CoreGraphics")
    if path is None:
        logger.warning("CoreGraphics was not found; cannot check the Screen Recording permission")
        return None
    return ctypes.CDLL(path)
