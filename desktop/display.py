"""Whether the GUI can reach a display, asked before Qt is: without one, Qt's xcb plugin aborts the process
with a note about a missing xcb-cursor0 library, which sends people looking for the wrong thing.

Only what Qt would use is checked: the plugins QT_QPA_PLATFORM names when it is set (offscreen and the
others that need no window system pass), else X11 (DISPLAY) or Wayland (WAYLAND_DISPLAY). Each is tried by
connecting to its socket, as libxcb and libwayland would find it: well under a millisecond, nothing heavy
imported. Where a display answers and Qt still cannot start (a library really is missing, the X server
refuses this user), Qt's own message is the right one and is left alone. Windows and macOS always have
their window system.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from desktop.availability import Availability
from desktop.i18n import _

X11_PLATFORMS = frozenset({"xcb"})
WAYLAND_PLATFORMS = frozenset({"wayland", "wayland-egl", "wayland-brcm"})


def display_availability(environ: Mapping[str, str] | None = None, platform: str = sys.platform) -> Availability:
    """Whether Qt will find a display to show the tray icon and windows on; if not, which and what to do."""
    env = os.environ if environ is None else environ
    if platform in ("win32", "cygwin", "darwin"):
        return Availability(True)
    # "wayland;xcb" is a list Qt tries in turn; "xcb:nomitshm" passes options to a plugin.
    requested = [p.split(":", 1)[0].strip() for p in env.get("QT_QPA_PLATFORM", "").split(";") if p.strip()]
    if any(p not in X11_PLATFORMS | WAYLAND_PLATFORMS for p in requested):
        return Availability(True)  # offscreen, minimal, vnc, eglfs…: no window system to reach
    explicit = env.get("QT_QPA_PLATFORM", "")
    problems = []
    if not requested and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        problems.append(_("No display found: neither DISPLAY nor WAYLAND_DISPLAY is set, so there is nowhere to "
                          "show the tray icon and windows."))
    else:
        if X11_PLATFORMS.intersection(requested) or (not requested and env.get("DISPLAY")):
            problem = _x11_problem(env.get("DISPLAY", ""), explicit)
            if problem is None:
                return Availability(True)
            problems.append(problem)
        # Without QT_QPA_PLATFORM, Qt picks Wayland only in a session that names a Wayland display.
        if WAYLAND_PLATFORMS.intersection(requested) or (not requested and env.get("WAYLAND_DISPLAY")):
            problem = _wayland_problem(env, explicit)
            if problem is None:
                return Availability(True)
            problems.append(problem)
    return Availability(False, " ".join(problems), _(
        "Start it from a desktop session, or set DISPLAY or WAYLAND_DISPLAY to a running one; over ssh, use "
        "'ssh -X'. 'glmv-desktop doctor' works without a display."))


def missing_display_message() -> str | None:
    """What a GUI command prints (on stderr, then exit 1) instead of starting, or None when it can start."""
    found = display_availability()
    if found.available:
        return None
    return _("glmv-desktop: {reason}\n{how_to_fix}").format(reason=found.reason, how_to_fix=found.how_to_fix)


def _x11_problem(display: str, explicit: str) -> str | None:
    if not display:
        return _("DISPLAY is not set, and QT_QPA_PLATFORM={platform} needs an X display.").format(platform=explicit)
    if _x11_answers(display):
        return None
    return _("Cannot connect to the X display '{display}' (DISPLAY): no X server answers there.").format(
        display=display)


def _x11_answers(display: str) -> bool:
    """Whether something listens on `display`'s socket, found as libxcb finds it ([protocol/]host:N[.screen]).

    Connecting is all: a full X handshake needs ctypes and libxcb, about 100 times the cost, on the way to
    the tray. A server that refuses this user is left to Qt, whose first line then says so.
    """
    host, colon, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not colon or not number.isdigit():
        return True  # not a name libxcb reads either: Qt's message says so
    if host.startswith("/"):
        return _answers(host)  # the socket's own path
    protocol, _slash, host = host.rpartition("/")
    if host in ("", "unix") and protocol in ("", "unix"):
        if sys.platform.startswith("linux") and _answers(f"\0/tmp/.X11-unix/X{number}"):
            return True
        if _answers(f"/tmp/.X11-unix/X{number}"):  # noqa: S108 - the X server's own fixed socket folder
            return True
        if protocol or host:
            return False
        host = "localhost"  # libxcb, too, tries TCP when there is no local socket
    return _answers((host, 6000 + int(number)))


def _answers(address: str | tuple[str, int]) -> bool:
    """Whether a Unix socket (a path; a leading NUL: Linux's abstract namespace) or a TCP port accepts us."""
    try:
        if isinstance(address, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                probe.settimeout(5)
                probe.connect(address)
        else:
            socket.create_connection(address, timeout=5).close()
    except OSError:
        return False
    return True


def _wayland_problem(env: Mapping[str, str], explicit: str) -> str | None:
    if env.get("WAYLAND_SOCKET"):
        return None  # a connection handed over by the compositor: nothing to look up
    name = env.get("WAYLAND_DISPLAY") or "wayland-0"  # libwayland's default, when a plugin is asked for
    path = Path(name)
    if not path.is_absolute():
        runtime = env.get("XDG_RUNTIME_DIR")
        if not runtime:
            return _("Cannot connect to the Wayland display '{display}': XDG_RUNTIME_DIR is not set, so its "
                     "socket cannot be found.").format(display=name)
        path = Path(runtime) / name
    if _answers(str(path)):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return _("Cannot connect to the Wayland display '{display}' (WAYLAND_DISPLAY): no compositor listens at "
                 "{path}.").format(display=name, path=path)
    return _("Cannot connect to the Wayland display '{display}', the default when WAYLAND_DISPLAY is not set and "
             "QT_QPA_PLATFORM={platform}: no compositor listens at {path}.").format(
        display=name, platform=explicit, path=path)
