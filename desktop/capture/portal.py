"""Screen capture on Wayland through the xdg-desktop-portal Screenshot interface, over D-Bus (jeepney).

Wayland gives programs no way to read the screen; the desktop's portal takes the picture and hands
back a file. The portal decides what it captures: the whole desktop (every monitor, as one picture),
never a chosen monitor, and it reports no monitor layout. So `monitors()` is one rectangle of the
picture's size, and both capture scopes return the whole desktop.

Calls block (a request, then the portal's `Response` signal), so the app runs them in a worker
thread; each capture opens its own short-lived connection. The module also holds the small portal
conventions (request paths, handle tokens, the `version` probe) that the GlobalShortcuts backend
in `desktop.hotkeys.portal` shares.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from desktop.availability import Availability
from desktop.capture.base import CaptureError, CaptureScope, Monitor, Screenshot
from desktop.i18n import _

if TYPE_CHECKING:
    from PIL import Image

logger = logging.getLogger(__name__)

PORTAL_BUS_NAME = "org.freedesktop.portal.Desktop"
PORTAL_OBJECT_PATH = "/org/freedesktop/portal/desktop"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
SESSION_INTERFACE = "org.freedesktop.portal.Session"
SCREENSHOT_INTERFACE = "org.freedesktop.portal.Screenshot"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

# Replies from the bus itself and from the portal's method calls (not its dialogs) come quickly.
BUS_CALL_TIMEOUT_S = 5.0
DEFAULT_RESPONSE_TIMEOUT_S = 20.0

# Request::Response codes (org.freedesktop.portal.Request).
RESPONSE_SUCCESS = 0
RESPONSE_CANCELLED = 1

# D-Bus errors that mean "nobody owns the portal's name and none can be started".
_NO_SERVICE_ERRORS = {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
                      "org.freedesktop.DBus.Error.Spawn.ServiceNotFound"}
# What GDBus (and so xdg-desktop-portal) answers for a property of an interface it does not export.
_NO_INTERFACE_ERRORS = {"org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.UnknownInterface",
                        "org.freedesktop.DBus.Error.UnknownProperty", "org.freedesktop.DBus.Error.UnknownMethod",
                        "org.freedesktop.DBus.Error.UnknownObject"}


# -- portal conventions shared with the GlobalShortcuts backend ------------------------------------------------
def new_handle_token() -> str:
    """A fresh `handle_token`: a valid, unguessable object path element."""
    return f"glmv_{secrets.token_hex(8)}"


def _sender_element(unique_name: str) -> str:
    """The caller's unique name as the portal spells it in paths (":1.42" → "1_42")."""
    return unique_name.removeprefix(":").replace(".", "_")


def request_path(unique_name: str, token: str) -> str:
    """The Request object path the portal will use for a call made with `handle_token` = `token`."""
    return f"{PORTAL_OBJECT_PATH}/request/{_sender_element(unique_name)}/{token}"


def session_path(unique_name: str, token: str) -> str:
    """The Session object path the portal will use for `session_handle_token` = `token`."""
    return f"{PORTAL_OBJECT_PATH}/session/{_sender_element(unique_name)}/{token}"


class PortalUnreachable(Exception):
    """Probing the portal failed; `kind` says how ("no-bus", "no-portal", "no-interface", "no-answer")."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def open_bus(bus_address: str | None) -> Any:
    """A blocking jeepney connection to `bus_address` (the session bus if None); PortalUnreachable if none."""
    from jeepney.io.blocking import open_dbus_connection

    try:
        return open_dbus_connection(bus=bus_address or "SESSION")
    except KeyError as exc:
        raise PortalUnreachable("no-bus", "DBUS_SESSION_BUS_ADDRESS is not set") from exc
    except (OSError, RuntimeError, ValueError) as exc:  # refused, missing socket, bad address, auth timeout
        raise PortalUnreachable("no-bus", str(exc)) from exc


def probe_version(interface: str, bus_address: str | None, timeout_s: float = BUS_CALL_TIMEOUT_S) -> int:
    """The `version` property of a portal interface; PortalUnreachable says why it cannot be read.

    The call may start the portal (it is D-Bus activated on most desktops).
    """
    from jeepney import DBusAddress, new_method_call
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    with open_bus(bus_address) as conn:
        portal = DBusAddress(PORTAL_OBJECT_PATH, bus_name=PORTAL_BUS_NAME, interface=PROPERTIES_INTERFACE)
        try:
            reply = conn.send_and_get_reply(new_method_call(portal, "Get", "ss", (interface, "version")),
                                            timeout=timeout_s)
            (signature, value), = unwrap_msg(reply)
        except DBusErrorResponse as exc:
            kind = ("no-portal" if exc.name in _NO_SERVICE_ERRORS
                    else "no-interface" if exc.name in _NO_INTERFACE_ERRORS else "no-answer")
            raise PortalUnreachable(kind, f"{exc.name}: {' '.join(map(str, exc.data))}") from exc
        except TimeoutError as exc:
            raise PortalUnreachable("no-answer", f"no reply within {timeout_s:g} s") from exc
        except (OSError, ValueError) as exc:
            raise PortalUnreachable("no-bus", str(exc)) from exc
    if signature != "u":
        raise PortalUnreachable("no-interface", f"version has type {signature!r}")
    return int(value)


def portal_availability(interface: str, bus_address: str | None, *, not_linux: str, no_interface: str,
                        no_portal_hint: str, no_interface_hint: str, no_answer_hint: str) -> Availability:
    """Whether a portal `interface` answers here, and if not why and what to do (the hints per cause)."""
    if not sys.platform.startswith("linux"):
        return Availability(False, not_linux)
    try:
        probe_version(interface, bus_address)
    except PortalUnreachable as exc:
        logger.info("%s not available: %s", interface, exc)
        if exc.kind == "no-bus":
            return Availability(False, _("There is no D-Bus session bus to reach the desktop portal."),
                                _("Run the app inside a desktop session."))
        if exc.kind == "no-portal":
            return Availability(False, _("The desktop portal (xdg-desktop-portal) is not installed or not running."),
                                no_portal_hint)
        if exc.kind == "no-interface":
            return Availability(False, no_interface, no_interface_hint)
        return Availability(False, _("The desktop portal did not answer."), no_answer_hint)
    return Availability(True)


def install_portal_hint() -> str:
    """How to get a working portal, in the user's words."""
    return _("Install xdg-desktop-portal and the backend for your desktop (xdg-desktop-portal-gnome, "
             "-kde, -wlr or -hyprland), then log out and back in.")


# -- the capture handler ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Answer:
    """The portal's Request::Response: a code and its results vardict."""

    code: int
    results: dict[str, tuple[str, Any]]


class PortalCapture:
    """Captures through org.freedesktop.portal.Screenshot (non-interactive); for Wayland sessions."""

    name = "portal"

    def __init__(self, timeout_s: float = DEFAULT_RESPONSE_TIMEOUT_S, bus_address: str | None = None) -> None:
        self._timeout_s = timeout_s
        self._bus_address = bus_address
        self._last_size: tuple[int, int] | None = None

    def availability(self) -> Availability:
        """Available on Linux when the session bus is reachable and the portal's Screenshot answers."""
        return portal_availability(
            SCREENSHOT_INTERFACE, self._bus_address,
            not_linux=_("The screenshot portal exists only on Linux desktops."),
            no_interface=_("This desktop's portal has no Screenshot interface (its backend is missing)."),
            no_portal_hint=install_portal_hint(), no_interface_hint=install_portal_hint(),
            no_answer_hint=_("Restart the session, or check that xdg-desktop-portal is running."))

    def monitors(self) -> list[Monitor]:
        """One rectangle the size of the whole desktop: the portal does not tell the monitor layout.

        The size comes from the last picture; with none yet this takes one.
        """
        if self._last_size is None:
            self._picture()
        assert self._last_size is not None
        return [Monitor(0, 0, *self._last_size)]

    def grab(self, scope: CaptureScope, pointer: tuple[int, int] | None) -> Screenshot:
        """The whole desktop, whatever the scope: the portal cannot pick a monitor. Blocks: use a worker thread."""
        image = self._picture()
        return Screenshot(image=image, monitor=Monitor(0, 0, image.width, image.height), handler=self.name)

    def grab_monitors(self) -> list[Screenshot]:
        """One Screenshot covering every monitor (the portal's only picture)."""
        return [self.grab(CaptureScope.ALL_MONITORS, None)]

    # -- one request ----------------------------------------------------------------------------------------
    def _picture(self) -> Image.Image:
        answer = self._request_screenshot()
        if answer.code == RESPONSE_CANCELLED:
            raise CaptureError(_("The desktop refused the screenshot (permission denied or the dialog was "
                                 "cancelled)."),
                               _("Allow screenshots for GLM-V Desktop in your desktop's privacy or app "
                                 "permission settings, then try again."))
        if answer.code != RESPONSE_SUCCESS:
            raise CaptureError(_("The desktop portal could not take the screenshot."),
                               _("Check that your desktop's portal backend (xdg-desktop-portal-gnome, -kde, "
                                 "-wlr or -hyprland) is installed and running."),
                               detail=f"response {answer.code}: {answer.results!r}")
        uri = answer.results.get("uri", ("s", ""))[1]
        image = self._load(str(uri))
        self._last_size = image.size
        return image

    def _request_screenshot(self) -> _Answer:
        """Call Screenshot the documented way and wait for its Response (or time out)."""
        from jeepney import DBusAddress, MatchRule, new_method_call
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import Proxy
        from jeepney.wrappers import DBusErrorResponse, unwrap_msg

        deadline = time.monotonic() + self._timeout_s

        def left() -> float:
            return max(deadline - time.monotonic(), 0.0)

        try:
            conn = open_bus(self._bus_address)
        except PortalUnreachable as exc:
            raise CaptureError(_("There is no D-Bus session bus to reach the screenshot portal."),
                               _("Run the app inside a desktop session."), detail=exc.detail) from exc
        with conn, contextlib.ExitStack() as filters:
            token = new_handle_token()
            handle = request_path(conn.unique_name, token)
            responses: Any = None

            def watch(path: str) -> Any:
                # Subscribe before the call, so a quick Response cannot slip past us.
                rule = MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response", path=path)
                Proxy(message_bus, conn, timeout=BUS_CALL_TIMEOUT_S).AddMatch(rule)
                return filters.enter_context(conn.filter(rule, queue=responses, bufsize=4))

            try:
                responses = watch(handle)
                call = new_method_call(DBusAddress(PORTAL_OBJECT_PATH, bus_name=PORTAL_BUS_NAME,
                                                   interface=SCREENSHOT_INTERFACE),
                                       "Screenshot", "sa{sv}",
                                       ("", {"handle_token": ("s", token), "interactive": ("b", False)}))
                returned, = unwrap_msg(conn.send_and_get_reply(call, timeout=min(left(), BUS_CALL_TIMEOUT_S)))
                if returned != handle:  # portals older than 0.9 chose their own request path
                    watch(returned)
                message = conn.recv_until_filtered(responses, timeout=left())
            except DBusErrorResponse as exc:
                raise CaptureError(_("The desktop portal refused the screenshot request: {error}")
                                   .format(error=exc.name),
                                   _("Run 'glmv-desktop doctor' to see what capture needs on this desktop."),
                                   detail=str(exc)) from exc
            except TimeoutError as exc:
                self._close_request(conn, handle)
                raise CaptureError(
                    _("The desktop portal did not answer the screenshot request within {seconds:g} s.")
                    .format(seconds=self._timeout_s),
                    _("The desktop may have refused it silently: check that screenshots are allowed for "
                      "GLM-V Desktop in its privacy or app permission settings."),
                ) from exc
            except (OSError, ValueError) as exc:
                raise CaptureError(_("The connection to the desktop portal broke: {error}").format(error=exc),
                                   _("Try again; if it keeps failing, restart the session.")) from exc
        code, results = message.body
        return _Answer(int(code), dict(results))

    @staticmethod
    def _close_request(conn: Any, handle: str) -> None:
        """Withdraw a request that got no answer, so a dialog does not linger (best effort)."""
        from jeepney import DBusAddress, MessageFlag, new_method_call

        message = new_method_call(DBusAddress(handle, bus_name=PORTAL_BUS_NAME, interface=REQUEST_INTERFACE),
                                  "Close")
        message.header.flags |= MessageFlag.no_reply_expected | MessageFlag.no_auto_start
        try:
            conn.send(message)
        except OSError as exc:
            logger.info("could not close the unanswered screenshot request: %s", exc)

    @staticmethod
    def _load(uri: str) -> Image.Image:
        """Read the portal's picture as RGB, then delete the file it wrote (screenshots must not pile up)."""
        from PIL import Image, UnidentifiedImageError

        parts = urlsplit(uri)
        if parts.scheme != "file" or not parts.path:
            raise CaptureError(_("The desktop portal answered without a picture file."),
                               _("Try again; if it keeps failing, update xdg-desktop-portal."), detail=uri)
        path = Path(unquote(parts.path))
        try:
            with Image.open(path) as picture:
                return picture.convert("RGB")
        except (OSError, UnidentifiedImageError) as exc:
            raise CaptureError(_("The screenshot the desktop portal wrote could not be read: {error}")
                               .format(error=exc),
                               _("Try again; if it keeps failing, update xdg-desktop-portal."),
                               detail=str(path)) from exc
        finally:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                logger.warning("could not delete the portal's screenshot file %s: %s", path, exc)
