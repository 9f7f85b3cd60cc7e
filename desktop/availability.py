"""Whether a platform feature (a capture handler, a hotkey backend) works here, and if not why."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Availability:
    """Whether a handler works here; if not, why, and what the user can do."""

    available: bool
    reason: str = ""
    how_to_fix: str = ""


def wayland_session(environ: Mapping[str, str] | None = None) -> bool:
    """True in a Wayland session: the login says so, or there is a Wayland display and no X one.

    There, X11 capture and key grabs see only XWayland windows; the desktop portal is the way.
    """
    env = os.environ if environ is None else environ
    return env.get("XDG_SESSION_TYPE", "").lower() == "wayland" or bool(
        env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"))
