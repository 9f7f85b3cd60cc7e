"""Global hotkeys on Wayland through the xdg-desktop-portal GlobalShortcuts interface (KDE 6+, GNOME 48+,
Hyprland), over D-Bus (jeepney).

The desktop, not the app, owns the keys: the app proposes a trigger per action and the desktop binds
it, often after showing the user a dialog, possibly to other keys or not at all. BindShortcuts binds
a whole set per session, so every change opens a fresh session and binds every wanted action again;
the desktop may show its dialog again then (most remember earlier choices). `register_all()` binds a
whole set in one go (one session, one dialog); `register()`/`unregister()` change one action and
rebind the rest, so they cost as much each.

One connection lives as long as the backend, because the portal ties the session (and its
`Activated` signals, sent to this connection only) to it. A worker thread reads it; binding waits for
the portal's answers, which can take as long as the user spends in that dialog, so the backend says
`blocking = True` and `HotkeyService` binds from a worker thread. `close()` may be called from the UI
thread while a bind is waiting: it stops the connection, which ends that wait at once. Activations
reach `on_activated` on the Qt UI thread through a queued signal (the backend must be created there).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot

from desktop import DESKTOP_ID
from desktop.availability import Availability
from desktop.capture.portal import (
    BUS_CALL_TIMEOUT_S,
    PORTAL_BUS_NAME,
    PORTAL_OBJECT_PATH,
    REQUEST_INTERFACE,
    RESPONSE_CANCELLED,
    RESPONSE_SUCCESS,
    SESSION_INTERFACE,
    PortalUnreachable,
    new_handle_token,
    portal_availability,
    request_path,
    session_path,
)
from desktop.config.shortcuts import Modifier, Shortcut
from desktop.hotkeys.base import HotkeyAction, Registration, RegistrationStatus
from desktop.i18n import _

logger = logging.getLogger(__name__)

GLOBAL_SHORTCUTS_INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
REGISTRY_INTERFACE = "org.freedesktop.host.portal.Registry"
DEFAULT_TIMEOUT_S = 60.0  # the desktop may wait for the user in its dialog
THREAD_NAME = "glmv-portal-hotkeys"
_NO_PORTAL_ERRORS = {"org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
                     "org.freedesktop.DBus.Error.Spawn.ServiceNotFound"}

# -- the XDG shortcut trigger format (https://specifications.freedesktop.org/shortcuts/latest) -----------------
_XDG_MODIFIERS = ((Modifier.CTRL, "CTRL"), (Modifier.ALT, "ALT"), (Modifier.SHIFT, "SHIFT"), (Modifier.META, "LOGO"))
# Qt's portable key names → xkb keysym names (xkbcommon-keysyms.h without XKB_KEY_).
_XDG_KEYS = {
    "Space": "space", "Tab": "Tab", "Return": "Return", "Enter": "KP_Enter", "Backspace": "BackSpace",
    "Insert": "Insert", "Delete": "Delete", "Home": "Home", "End": "End", "PgUp": "Page_Up", "PgDown": "Page_Down",
    "Left": "Left", "Right": "Right", "Up": "Up", "Down": "Down", "Print": "Print", "Pause": "Pause",
    "Esc": "Escape", "`": "grave", "-": "minus", "=": "equal", "[": "bracketleft", "]": "bracketright",
    "\\": "backslash", ";": "semicolon", "'": "apostrophe", ",": "comma", ".": "period", "/": "slash", "+": "plus",
}


def xdg_trigger(shortcut: Shortcut) -> str:
    """The shortcut as an XDG `preferred_trigger`, e.g. Ctrl+Alt+Shift+S → "CTRL+ALT+SHIFT+s"."""
    key = shortcut.key
    if len(key) == 1 and key.isascii() and key.isalpha():
        keysym = key.lower()  # the letter's keysym; the modifiers say whether Shift is held
    elif len(key) == 1 and key.isdigit() or key.startswith("F") and key[1:].isdigit():
        keysym = key
    else:
        keysym = _XDG_KEYS[key]
    return "+".join([*(name for modifier, name in _XDG_MODIFIERS if modifier in shortcut.modifiers), keysym])


def registrations_from_response(wanted: Mapping[HotkeyAction, Shortcut], code: int,
                                results: Mapping[str, tuple[str, Any]]) -> dict[HotkeyAction, Registration]:
    """Each wanted action's Registration from BindShortcuts' Response (code and results vardict)."""
    def every(status: RegistrationStatus, reason: str) -> dict[HotkeyAction, Registration]:
        return {action: Registration(action, shortcut.portable(), status, reason)
                for action, shortcut in wanted.items()}

    if code == RESPONSE_CANCELLED:
        return every(RegistrationStatus.UNSUPPORTED, _("You declined the shortcuts in the desktop's dialog."))
    if code != RESPONSE_SUCCESS:
        return every(RegistrationStatus.UNSUPPORTED, _("The desktop could not bind the shortcuts."))
    bound: dict[str, Mapping[str, tuple[str, Any]]] = dict(results.get("shortcuts", ("a(sa{sv})", []))[1])
    out = {}
    for action, shortcut in wanted.items():
        info = bound.get(action.value)
        if info is None:
            out[action] = Registration(action, shortcut.portable(), RegistrationStatus.UNSUPPORTED,
                                       _("The desktop did not bind this shortcut (it may be taken or not allowed)."))
            continue
        trigger = str(info.get("trigger_description", ("s", ""))[1]).strip()
        reason = (_("Bound to {trigger} by the desktop.").format(trigger=trigger) if trigger
                  else _("Bound by the desktop, which did not say to which keys; see its keyboard settings."))
        out[action] = Registration(action, shortcut.portable(), RegistrationStatus.REGISTERED, reason)
    return out


class _PortalCallFailed(Exception):
    """A portal call that got an error, no answer, or a refusal; `reason` is for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- the connection and its reader thread ----------------------------------------------------------------------
class _PortalLink:
    """One D-Bus connection read by a worker thread; other threads call methods and await Responses."""

    def __init__(self, bus_address: str | None, on_activated: Callable[[str, str], None]) -> None:
        from jeepney import MatchRule
        from jeepney.bus_messages import message_bus
        from jeepney.io.threading import open_dbus_connection

        try:
            self._conn = open_dbus_connection(bus=bus_address or "SESSION")
        except KeyError as exc:
            raise PortalUnreachable("no-bus", "DBUS_SESSION_BUS_ADDRESS is not set") from exc
        except (OSError, RuntimeError, ValueError) as exc:
            raise PortalUnreachable("no-bus", str(exc)) from exc
        self.unique_name: str = self._conn.unique_name
        self._on_activated = on_activated
        self._lock = threading.Lock()
        self._stopped = False  # set, under the lock, once the reader has failed every waiting future
        self._replies: dict[int, Future[Any]] = {}
        self._responses: dict[str, Future[tuple[int, dict[str, Any]]]] = {}
        self.response_rule = MatchRule(type="signal", interface=REQUEST_INTERFACE, member="Response",
                                       path_namespace=request_path(self.unique_name, "").rstrip("/"))
        self.activated_rule = MatchRule(type="signal", interface=GLOBAL_SHORTCUTS_INTERFACE, member="Activated",
                                        path=PORTAL_OBJECT_PATH)
        self._conn_closed = False
        self._thread = threading.Thread(target=self._read, name=THREAD_NAME, daemon=False)
        self._thread.start()
        try:
            # Subscribed before any request, so no Response can arrive unseen.
            for rule in (self.response_rule, self.activated_rule):
                self.call(message_bus.AddMatch(rule), BUS_CALL_TIMEOUT_S)
        except Exception:
            self.stop()
            raise

    def call(self, message: Any, timeout_s: float) -> tuple[Any, ...]:
        """Send a method call and return its reply's body; DBusErrorResponse, TimeoutError or ConnectionError."""
        from jeepney.wrappers import unwrap_msg

        serial = next(self._conn.outgoing_serial)
        future: Future[Any] = Future()
        with self._lock:
            if self._stopped:
                raise ConnectionError("the portal connection is closed")
            self._replies[serial] = future
        try:
            try:
                self._conn.send(message, serial=serial)
            except (OSError, ValueError) as exc:  # closed by stop() from another thread
                raise ConnectionError(f"the portal connection is closed: {exc}") from exc
            return tuple(unwrap_msg(future.result(timeout_s)))
        finally:
            with self._lock:
                self._replies.pop(serial, None)

    def request(self, message: Any, token: str, timeout_s: float) -> tuple[int, dict[str, Any]]:
        """Make a portal request (with `handle_token` = `token`) and return its Response (code, results)."""
        handle = request_path(self.unique_name, token)
        answer: Future[tuple[int, dict[str, Any]]] = Future()
        with self._lock:
            self._responses[handle] = answer
        try:
            returned, = self.call(message, min(timeout_s, BUS_CALL_TIMEOUT_S))
            if returned != handle:  # portals older than 0.9 chose their own path (outside our match rule)
                raise ConnectionError(f"the portal answered on an unexpected request path {returned}")
            try:
                return answer.result(timeout_s)
            except TimeoutError:
                self.call_quietly(REQUEST_INTERFACE, handle, "Close")
                raise
        finally:
            with self._lock:
                self._responses.pop(handle, None)

    def call_quietly(self, interface: str, path: str, method: str) -> None:
        """A call that must not start a portal and whose failure only gets logged (closing a request or session)."""
        from jeepney import DBusAddress, MessageFlag, new_method_call

        message = new_method_call(DBusAddress(path, bus_name=PORTAL_BUS_NAME, interface=interface), method)
        message.header.flags |= MessageFlag.no_auto_start
        try:
            self.call(message, BUS_CALL_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - closing is best effort; the portal may be gone already
            logger.info("%s.%s on %s failed: %s", interface, method, path, exc)

    def stop(self) -> None:
        """Stop the reader thread and close the connection; whoever waits for an answer gets ConnectionError."""
        with self._lock:
            if self._conn_closed:
                return
            self._conn_closed = True
        self._conn.interrupt()
        self._thread.join(timeout=10)
        self._conn.close()

    def send_quietly(self, interface: str, path: str, method: str) -> None:
        """A call sent without waiting for its reply (closing a session while shutting down)."""
        from jeepney import DBusAddress, MessageFlag, new_method_call

        message = new_method_call(DBusAddress(path, bus_name=PORTAL_BUS_NAME, interface=interface), method)
        message.header.flags |= MessageFlag.no_auto_start | MessageFlag.no_reply_expected
        try:
            self._conn.send(message)
        except (OSError, ValueError) as exc:
            logger.info("%s.%s on %s failed: %s", interface, method, path, exc)

    def _read(self) -> None:
        from jeepney.io.threading import ReceiveStopped

        try:
            while True:
                self._dispatch(self._conn.receive())
        except ReceiveStopped:
            pass
        except (OSError, ValueError) as exc:
            logger.info("the portal connection closed: %s", exc)
        finally:
            with self._lock:
                self._stopped = True  # no call registers a future after this snapshot
                waiting = [*self._replies.values(), *self._responses.values()]
            for future in waiting:
                if not future.done():
                    future.set_exception(ConnectionError("the portal connection closed"))

    def _dispatch(self, message: Any) -> None:
        from jeepney import HeaderFields, MessageType

        fields = message.header.fields
        with self._lock:
            reply = self._replies.get(fields.get(HeaderFields.reply_serial, -1))
            response = self._responses.get(fields.get(HeaderFields.path, ""))
        if message.header.message_type in (MessageType.method_return, MessageType.error):
            if reply is not None and not reply.done():
                reply.set_result(message)
        elif self.response_rule.matches(message):
            if response is not None and not response.done():
                code, results = message.body
                response.set_result((int(code), dict(results)))
        elif self.activated_rule.matches(message) and fields.get(HeaderFields.signature) == "osta{sv}":
            session, shortcut_id, _timestamp, _options = message.body
            try:
                self._on_activated(session, shortcut_id)
            except Exception:
                logger.exception("handling a shortcut activation failed")


# -- handing activations to the UI thread ----------------------------------------------------------------------
class _ActivationRelay(QObject):
    """Lives on the UI thread; the reader thread emits `activated`, Qt delivers it on the UI thread."""

    activated = Signal(str)

    def __init__(self, deliver: Callable[[str], None]) -> None:
        super().__init__()
        self.setObjectName("portal_hotkeys_relay")
        self._deliver = deliver
        self.activated.connect(self._on_activated, Qt.ConnectionType.QueuedConnection)

    @Slot(str)
    def _on_activated(self, shortcut_id: str) -> None:
        self._deliver(shortcut_id)


# -- the backend -----------------------------------------------------------------------------------------------
class PortalHotkeys:
    """Global hotkeys through org.freedesktop.portal.GlobalShortcuts; create it on the UI thread.

    The reader thread is not a daemon (it holds the portal session): `close()` must be called at quit.
    `app_id` should be the reverse-DNS id of the installed .desktop file, or the portal's registry
    refuses it (then the desktop knows the app only by its process, and shortcuts still bind).
    """

    name = "portal"
    blocking = True  # binding waits for the desktop (and its dialog): HotkeyService binds from a worker thread

    def __init__(self, on_activated: Callable[[HotkeyAction], None], bus_address: str | None = None, *,
                 app_id: str = DESKTOP_ID, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._on_activated = on_activated
        self._bus_address = bus_address
        self._app_id = app_id
        self._timeout_s = timeout_s
        self._relay = _ActivationRelay(self._deliver)
        self._lock = threading.RLock()  # one bind at a time; held while waiting for the desktop
        self._state_lock = threading.Lock()  # guards _link and _closed for close(), never held while waiting
        self._wanted: dict[HotkeyAction, Shortcut] = {}
        self._link: _PortalLink | None = None
        self._session: str | None = None
        self._closed = False

    def availability(self) -> Availability:
        """Available on Linux when the portal answers and has the GlobalShortcuts interface."""
        fallback = _("Bind the 'glmv-desktop capture …' commands in your desktop's keyboard settings instead.")
        return portal_availability(
            GLOBAL_SHORTCUTS_INTERFACE, self._bus_address,
            not_linux=_("The shortcuts portal exists only on Linux desktops."),
            no_interface=_("This desktop's portal has no GlobalShortcuts (it needs GNOME 48, KDE Plasma 6, Hyprland "
                           "or newer)."),
            no_portal_hint=_("Install xdg-desktop-portal and the backend for your desktop (xdg-desktop-portal-gnome, "
                             "-kde or -hyprland), or bind the 'glmv-desktop capture …' commands in your desktop's "
                             "keyboard settings."),
            no_interface_hint=fallback, no_answer_hint=fallback)

    def register_all(self, wanted: Mapping[HotkeyAction, Shortcut]) -> dict[HotkeyAction, Registration]:
        """Bind exactly `wanted` in one new session with one BindShortcuts (one desktop dialog at most).

        Actions left out are dropped; an empty `wanted` closes the session. Blocks until the desktop
        answers (up to `timeout_s`, or until `close()`).
        """
        with self._lock:
            self._wanted = dict(wanted)
            if not wanted:
                self._close_session()
                return {}
            return self._bind(dict(wanted))

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        """Ask the desktop to bind `shortcut` for `action` (rebinding every wanted action); blocks until it answers."""
        with self._lock:
            self._wanted = wanted = {**self._wanted, action: shortcut}
            return self._bind(dict(wanted))[action]

    def unregister(self, action: HotkeyAction) -> None:
        """Drop the action and rebind the others (or close the session when none is left)."""
        with self._lock:
            if action not in self._wanted:
                return
            self._wanted = wanted = {a: sc for a, sc in self._wanted.items() if a is not action}
            if wanted:
                self._bind(dict(wanted))
            else:
                self._close_session()

    def close(self) -> None:
        """Close the portal session, stop the reader thread and close the connection.

        Safe from another thread while a bind waits for the desktop: it does not wait for that bind's lock;
        stopping the connection makes the bind fail at once ("the connection ... broke").
        """
        with self._state_lock:
            self._closed = True
            link, self._link = self._link, None
            session, self._session = self._session, None
            self._wanted = {}
        if link is not None:
            if session is not None:
                # Not waiting for the reply: the portal also ends the session when the connection goes.
                link.send_quietly(SESSION_INTERFACE, session, "Close")
            link.stop()

    # -- portal calls -------------------------------------------------------------------------------------------
    def _bind(self, wanted: dict[HotkeyAction, Shortcut]) -> dict[HotkeyAction, Registration]:
        try:
            link = self._connect()
            self._close_session()
            session = self._create_session(link)
            with self._state_lock:
                if self._closed:  # the connection is gone, and the session with it
                    raise _PortalCallFailed(_("The shortcuts backend was closed."))
                self._session = session
            code, results = self._call_request(link, "BindShortcuts", "oa(sa{sv})sa{sv}", lambda token: (
                session,
                [(action.value, {"description": ("s", action.label), "preferred_trigger": ("s", xdg_trigger(sc))})
                 for action, sc in wanted.items()],
                "",
                {"handle_token": ("s", token)},
            ))
        except _PortalCallFailed as exc:
            return {action: Registration(action, sc.portable(), RegistrationStatus.UNSUPPORTED, exc.reason)
                    for action, sc in wanted.items()}
        registrations = registrations_from_response(wanted, code, results)
        for registration in registrations.values():
            logger.info("portal shortcut %s (%s): %s %s", registration.action.value, registration.shortcut,
                        registration.status.value, registration.reason)
        return registrations

    def _connect(self) -> _PortalLink:
        """The backend's connection, opened (and the app id registered) on first use."""
        from jeepney.wrappers import DBusErrorResponse

        closed = _PortalCallFailed(_("The shortcuts backend was closed."))
        with self._state_lock:
            if self._closed:
                raise closed
            if self._link is not None:
                return self._link
        try:
            link = _PortalLink(self._bus_address, self._activated_on_reader_thread)
        except (PortalUnreachable, DBusErrorResponse, OSError) as exc:  # OSError covers timeouts, broken links
            raise _PortalCallFailed(_("There is no D-Bus session bus to reach the desktop portal.")) from exc
        with self._state_lock:
            if not self._closed:
                self._link = link
        if self._link is not link:  # close() came while the connection was opening
            link.stop()
            raise closed
        self._register_app_id(link)
        return link

    def _register_app_id(self, link: _PortalLink) -> None:
        """Tell the portal who we are (host apps have no app id otherwise); must be this connection's first call."""
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse

        registry = DBusAddress(PORTAL_OBJECT_PATH, bus_name=PORTAL_BUS_NAME, interface=REGISTRY_INTERFACE)
        try:
            link.call(new_method_call(registry, "Register", "sa{sv}", (self._app_id, {})), BUS_CALL_TIMEOUT_S)
        except DBusErrorResponse as exc:
            if exc.name in {"org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface"}:
                logger.debug("this portal has no host app registry (older than 1.19)")
            elif exc.name in _NO_PORTAL_ERRORS:
                logger.info("no portal to register the app id with: %s", exc)  # the next call says so to the user
            else:
                logger.warning("the portal did not register the app id %r: %s", self._app_id, exc)
        except (TimeoutError, ConnectionError) as exc:
            logger.warning("the portal did not answer the app id registration: %s", exc)

    def _create_session(self, link: _PortalLink) -> str:
        session_token = new_handle_token()
        code, results = self._call_request(link, "CreateSession", "a{sv}", lambda token: (
            {"handle_token": ("s", token), "session_handle_token": ("s", session_token)},
        ))
        if code != RESPONSE_SUCCESS:
            raise _PortalCallFailed(_("The desktop refused to open a shortcuts session.")
                                    if code == RESPONSE_CANCELLED else
                                    _("The desktop could not open a shortcuts session."))
        # Documented as a string holding the object path; some portals send an object path.
        return str(results.get("session_handle", ("s", session_path(link.unique_name, session_token)))[1])

    def _call_request(self, link: _PortalLink, method: str, signature: str,
                      body: Callable[[str], tuple[Any, ...]]) -> tuple[int, dict[str, Any]]:
        from jeepney import DBusAddress, new_method_call
        from jeepney.wrappers import DBusErrorResponse

        token = new_handle_token()
        portal = DBusAddress(PORTAL_OBJECT_PATH, bus_name=PORTAL_BUS_NAME, interface=GLOBAL_SHORTCUTS_INTERFACE)
        try:
            return link.request(new_method_call(portal, method, signature, body(token)), token, self._timeout_s)
        except DBusErrorResponse as exc:
            if exc.name in {"org.freedesktop.DBus.Error.UnknownMethod", "org.freedesktop.DBus.Error.UnknownInterface"}:
                raise _PortalCallFailed(_("This desktop's portal has no GlobalShortcuts (it needs GNOME 48, KDE "
                                          "Plasma 6, Hyprland or newer).")) from exc
            if exc.name in _NO_PORTAL_ERRORS:
                raise _PortalCallFailed(_("The desktop portal (xdg-desktop-portal) is not installed or not "
                                          "running.")) from exc
            raise _PortalCallFailed(_("The desktop portal refused the shortcuts request: {error}")
                                    .format(error=exc)) from exc
        except TimeoutError as exc:
            raise _PortalCallFailed(_("The desktop portal did not answer within {seconds:g} s.")
                                    .format(seconds=self._timeout_s)) from exc
        except ConnectionError as exc:
            raise _PortalCallFailed(_("The connection to the desktop portal broke: {error}")
                                    .format(error=exc)) from exc

    def _close_session(self) -> None:
        with self._state_lock:
            session, self._session = self._session, None
            link = self._link
        if session is not None and link is not None:
            link.call_quietly(SESSION_INTERFACE, session, "Close")

    # -- activations --------------------------------------------------------------------------------------------
    def _activated_on_reader_thread(self, session: str, shortcut_id: str) -> None:
        if session == self._session:
            self._relay.activated.emit(shortcut_id)

    def _deliver(self, shortcut_id: str) -> None:
        """On the UI thread: run the action, unless it was unregistered meanwhile."""
        try:
            action = HotkeyAction(shortcut_id)
        except ValueError:
            logger.info("the portal activated an unknown shortcut %r", shortcut_id)
            return
        if self._closed or action not in self._wanted:
            return
        self._on_activated(action)
