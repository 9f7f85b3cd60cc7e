"""A protocol-faithful stand-in for xdg-desktop-portal (Screenshot, GlobalShortcuts, host Registry), run as a
child process on a private D-Bus bus (`PrivateBus`: a bare dbus-daemon that can activate nothing, so a real
portal installed on the machine can never take the name first).

It owns ``org.freedesktop.portal.Desktop`` and exports ``/org/freedesktop/portal/desktop`` the way the real
portal does: each request returns its handle (``.../request/SENDER/TOKEN`` from the caller's unique name and
``handle_token``), then ``org.freedesktop.portal.Request.Response`` is broadcast on that path (so a client
that did not add a match rule first never sees it); sessions live at ``.../session/SENDER/TOKEN`` and belong
to the connection that created them; ``Activated``/``Deactivated`` are sent to the session owner only, with
the real signature ``(osta{sv})``; a property of an interface it does not export answers GDBus's
``InvalidArgs``. A test-only interface, ``org.glmv.test.Portal``, makes it press a shortcut and tells what
happened. With ``--hold-binds`` it answers no BindShortcuts until the test releases them (a desktop whose
dialog the user has not answered yet), without blocking anything else. It exits cleanly on SIGTERM.

Usage::

    with FakePortal(bus_address, screenshot="ok", picture=png_path, shots_dir=tmp_path) as portal:
        ...  # talk to org.freedesktop.portal.Desktop on that bus
        portal.activate("capture_region")   # → number of sessions that got Activated
        portal.calls()                      # every portal call, as plain dicts
        portal.held(); portal.release()     # with hold_binds=True: unanswered binds; answer them now

    python -m tests.support.fake_portal --screenshot deny --shortcuts none --no-registry
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import count
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

PORTAL_BUS_NAME = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
REGISTRY = "org.freedesktop.host.portal.Registry"
PROPERTIES = "org.freedesktop.DBus.Properties"
PEER = "org.freedesktop.DBus.Peer"
TEST = "org.glmv.test.Portal"

SCREENSHOT_MODES = ("ok", "deny", "fail", "silent")
SHORTCUT_MODES = ("all", "none", "refuse")
_TOKEN = re.compile(r"^[A-Za-z0-9_]+$")
_APP_ID_ELEMENT = re.compile(r"^[A-Za-z_-][A-Za-z0-9_-]*$")
_MODIFIER_LABELS = {"CTRL": "Ctrl", "ALT": "Alt", "SHIFT": "Shift", "LOGO": "Meta", "NUM": "Num"}


def _plain(value: Any) -> Any:
    """A D-Bus value as JSON-friendly data; a{sv} variants lose their signatures."""
    if isinstance(value, dict):
        return {str(k): _plain(v[1] if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) else v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value


def trigger_label(trigger: str) -> str:
    """What a desktop shows for an XDG trigger ("CTRL+ALT+SHIFT+s" → "Ctrl+Alt+Shift+S"), as KDE does."""
    *mods, key = trigger.split("+") if trigger else [""]
    return "+".join([*(_MODIFIER_LABELS.get(m, m) for m in mods), key.upper() if len(key) == 1 else key])


def valid_app_id(app_id: str) -> bool:
    """GApplication's rule, which the portal's registry applies: two or more dot-separated elements."""
    elements = app_id.split(".")
    return len(app_id) <= 255 and len(elements) >= 2 and all(_APP_ID_ELEMENT.match(e) for e in elements)


class _DBusError(Exception):
    def __init__(self, name: str, text: str) -> None:
        super().__init__(text)
        self.name = name
        self.text = text


class _Stop(Exception):
    """Raised by the SIGTERM handler to leave the receive loop."""


# -- the service (runs in the child) ---------------------------------------------------------------------------
class FakePortalService:
    """The portal's objects on one jeepney connection, served by a single-threaded receive loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.conn: Any = None
        self.calls: list[dict[str, Any]] = []
        self.sessions: dict[str, dict[str, Any]] = {}  # path → {"sender", "bound": {id: trigger}}
        self.pending: set[str] = set()  # request paths that never got an answer ("silent")
        self.app_ids: dict[str, str] = {}  # sender → registered app id
        self.used_portal: set[str] = set()  # senders that made a portal call (too late to register)
        self.tokens = count(1)
        self.shots = count(1)
        self.after_reply: list[Callable[[], None]] = []
        self.held: list[tuple[str, Callable[[], None]]] = []  # --hold-binds: (request path, answer) not sent yet

    # -- plumbing ---------------------------------------------------------------------------------------------
    def serve(self) -> None:
        """Own the portal's name, then answer calls until SIGTERM."""
        from jeepney import MatchRule
        from jeepney.bus_messages import DBusNameFlags, message_bus
        from jeepney.io.blocking import Proxy, open_dbus_connection

        self.conn = open_dbus_connection(bus="SESSION")
        bus = Proxy(message_bus, self.conn, timeout=10)
        bus.AddMatch(MatchRule(type="signal", sender="org.freedesktop.DBus", interface="org.freedesktop.DBus",
                               member="NameOwnerChanged"))
        owned, = bus.RequestName(PORTAL_BUS_NAME, DBusNameFlags.do_not_queue)
        if owned != 1:  # e.g. a real xdg-desktop-portal was D-Bus-activated on this bus (it allows no replacement)
            owner, = bus.GetNameOwner(PORTAL_BUS_NAME)
            pid, = bus.GetConnectionUnixProcessID(owner)
            raise SystemExit(f"fake portal: {PORTAL_BUS_NAME} is already owned by {owner} (pid {pid})")
        while True:
            self.handle(self.conn.receive())

    def handle(self, msg: Any) -> None:
        """Answer one incoming message."""
        from jeepney import HeaderFields, MessageFlag, MessageType, new_error, new_method_return

        fields = msg.header.fields
        if msg.header.message_type is MessageType.signal:
            if fields.get(HeaderFields.member) == "NameOwnerChanged":
                name, _old, new = msg.body
                if name.startswith(":") and not new:  # a client left: its sessions and requests end
                    self.sessions = {p: s for p, s in self.sessions.items() if s["sender"] != name}
            return
        if msg.header.message_type is not MessageType.method_call:
            return
        self.after_reply = []
        try:
            signature, body = self.dispatch(msg)
            reply = new_method_return(msg, signature, body)
        except _DBusError as exc:
            self.after_reply = []
            reply = new_error(msg, exc.name, "s", (exc.text,))
        if not msg.header.flags & MessageFlag.no_reply_expected:
            self.conn.send(reply)
        for action in self.after_reply:
            action()

    def later(self, action: Callable[[], None]) -> None:
        """Run `action` after the method's reply is sent (the real portal answers dialogs later too)."""
        self.after_reply.append(action)

    def dispatch(self, msg: Any) -> tuple[str | None, tuple[Any, ...]]:
        """The reply (signature, body) for one method call, or _DBusError."""
        from jeepney import HeaderFields

        fields = msg.header.fields
        path, interface = fields.get(HeaderFields.path), fields.get(HeaderFields.interface, "")
        member, sender = fields.get(HeaderFields.member), fields.get(HeaderFields.sender, "")
        signature = fields.get(HeaderFields.signature, "")
        if path == PORTAL_PATH:
            exported = self.interfaces()
            if interface == PROPERTIES:
                return self.properties(member, signature, msg.body, exported)
            if interface == PEER and member == "Ping":
                return None, ()
            if interface == TEST:
                return self.test_method(member, signature, msg.body)
            if interface not in exported:
                raise _DBusError("org.freedesktop.DBus.Error.UnknownMethod",
                                 f"No such interface “{interface}” on object at path {path}")
            if interface == REGISTRY and member == "Register":
                self.expect(signature, "sa{sv}")
                return self.register(sender, *msg.body)
            self.used_portal.add(sender)
            self.calls.append({"sender": sender, "interface": interface, "member": member,
                               "body": _plain(msg.body)})
            if interface == SCREENSHOT and member == "Screenshot":
                self.expect(signature, "sa{sv}")
                return self.screenshot(sender, *msg.body)
            if interface == SHORTCUTS and member == "CreateSession":
                self.expect(signature, "a{sv}")
                return self.create_session(sender, *msg.body)
            if interface == SHORTCUTS and member == "BindShortcuts":
                self.expect(signature, "oa(sa{sv})sa{sv}")
                return self.bind_shortcuts(sender, *msg.body)
            if interface == SHORTCUTS and member == "ListShortcuts":
                self.expect(signature, "oa{sv}")
                return self.list_shortcuts(sender, *msg.body)
            raise _DBusError("org.freedesktop.DBus.Error.UnknownMethod",
                             f"Unknown method “{member}” or interface “{interface}”.")
        if path in self.pending and interface == REQUEST and member == "Close":
            self.pending.discard(path)
            self.calls.append({"sender": sender, "interface": REQUEST, "member": "Close", "path": path})
            return None, ()
        if path in self.sessions and interface == SESSION and member == "Close":
            if self.sessions[path]["sender"] != sender:
                raise _DBusError("org.freedesktop.DBus.Error.AccessDenied", "Invalid session")
            del self.sessions[path]
            self.calls.append({"sender": sender, "interface": SESSION, "member": "Close", "path": path})
            return None, ()
        raise _DBusError("org.freedesktop.DBus.Error.UnknownObject", f"No such object path '{path}'")

    @staticmethod
    def expect(signature: str, wanted: str) -> None:
        """GDBus refuses a call whose arguments have the wrong types, before the portal sees it."""
        if signature != wanted:
            raise _DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                             f"Type of message, “({signature})”, does not match expected type “({wanted})”")

    def interfaces(self) -> dict[str, int]:
        """The exported portal interfaces and their versions, per the command-line modes."""
        exported = {}
        if self.args.screenshot != "absent":
            exported[SCREENSHOT] = 2
        if self.args.shortcuts != "absent":
            exported[SHORTCUTS] = 2
        if self.args.registry:
            exported[REGISTRY] = 1
        return exported

    def properties(self, member: str, signature: str, body: tuple[Any, ...],
                   exported: dict[str, int]) -> tuple[str, tuple[Any, ...]]:
        if member == "Get":
            self.expect(signature, "ss")
            interface, name = body
            if interface not in exported:
                raise _DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                                 f"No such interface “{interface}” on object at path {PORTAL_PATH}")
            if name != "version":
                raise _DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                                 f"No such property “{name}”")
            return "v", (("u", exported[interface]),)
        if member == "GetAll":
            self.expect(signature, "s")
            interface, = body
            if interface not in exported:
                raise _DBusError("org.freedesktop.DBus.Error.InvalidArgs",
                                 f"No such interface “{interface}” on object at path {PORTAL_PATH}")
            return "a{sv}", ({"version": ("u", exported[interface])},)
        raise _DBusError("org.freedesktop.DBus.Error.PropertyReadOnly", "The version property is read-only")

    def request_handle(self, sender: str, options: dict[str, tuple[str, Any]]) -> str:
        """The Request path the real portal uses: from the caller's unique name and its handle_token."""
        token = self.option(options, "handle_token", "s") or f"t{next(self.tokens)}"
        if not _TOKEN.match(token):
            raise _DBusError("org.freedesktop.portal.Error.InvalidArgument", f"Invalid token: {token}")
        return f"{PORTAL_PATH}/request/{sender.removeprefix(':').replace('.', '_')}/{token}"

    @staticmethod
    def option(options: dict[str, tuple[str, Any]], key: str, signature: str) -> Any:
        """One vardict option, checked for type like xdp_filter_options does."""
        if key not in options:
            return None
        found, value = options[key]
        if found != signature:
            raise _DBusError("org.freedesktop.portal.Error.InvalidArgument",
                             f"Invalid type for option '{key}': expected '{signature}', got '{found}'")
        return value

    def respond(self, handle: str, code: int, results: dict[str, tuple[str, Any]]) -> None:
        """Broadcast Request::Response on `handle`, after the method's reply."""
        from jeepney import DBusAddress, new_signal

        def emit() -> None:
            self.conn.send(new_signal(DBusAddress(handle, interface=REQUEST), "Response", "ua{sv}", (code, results)))

        self.later(emit)

    # -- org.freedesktop.host.portal.Registry -----------------------------------------------------------------
    def register(self, sender: str, app_id: str, options: dict[str, Any]) -> tuple[None, tuple[()]]:
        self.calls.append({"sender": sender, "interface": REGISTRY, "member": "Register", "body": [app_id, {}]})
        if sender in self.app_ids:
            raise _DBusError("org.freedesktop.portal.Error.Failed",
                             "Could not register app ID: Connection already associated with an application ID")
        if sender in self.used_portal:
            raise _DBusError("org.freedesktop.portal.Error.InvalidArgument", "Registered too late")
        if not valid_app_id(app_id):
            raise _DBusError("org.freedesktop.portal.Error.Failed",
                             f"Could not register app ID: App info not found for '{app_id}'")
        self.app_ids[sender] = app_id
        return None, ()

    # -- org.freedesktop.portal.Screenshot --------------------------------------------------------------------
    def screenshot(self, sender: str, parent_window: str, options: dict[str, Any]) -> tuple[str, tuple[str]]:
        handle = self.request_handle(sender, options)
        for key, sig in (("modal", "b"), ("interactive", "b"), ("permission_store_checked", "b")):
            self.option(options, key, sig)
        mode = self.args.screenshot
        if mode == "ok":
            from PIL import Image

            target = Path(self.args.shots_dir) / f"Screenshot from fake portal {next(self.shots)}.png"
            with Image.open(self.args.picture) as picture:
                picture.convert("RGBA").save(target, "PNG")  # desktops often write an alpha channel
            self.respond(handle, 0, {"uri": ("s", target.as_uri())})
        elif mode == "deny":
            self.respond(handle, 1, {})
        elif mode == "fail":
            self.respond(handle, 2, {})
        else:  # "silent": like a desktop that drops a denied request without a word
            self.pending.add(handle)
        return "o", (handle,)

    # -- org.freedesktop.portal.GlobalShortcuts ---------------------------------------------------------------
    def create_session(self, sender: str, options: dict[str, Any]) -> tuple[str, tuple[str]]:
        handle = self.request_handle(sender, options)
        token = self.option(options, "session_handle_token", "s") or f"s{next(self.tokens)}"
        session = f"{PORTAL_PATH}/session/{sender.removeprefix(':').replace('.', '_')}/{token}"
        if session in self.sessions:
            raise _DBusError("org.freedesktop.portal.Error.Failed", "Session already exists")
        self.sessions[session] = {"sender": sender, "bound": {}}
        self.respond(handle, 0, {"session_handle": ("s", session)})  # documented as 's'
        return "o", (handle,)

    def owned_session(self, sender: str, session: str) -> dict[str, Any]:
        found = self.sessions.get(session)
        if found is None or found["sender"] != sender:
            raise _DBusError("org.freedesktop.DBus.Error.AccessDenied", "Invalid session")
        return found

    def bind_shortcuts(self, sender: str, session: str, shortcuts: list[tuple[str, dict[str, Any]]],
                       parent_window: str, options: dict[str, Any]) -> tuple[str, tuple[str]]:
        handle = self.request_handle(sender, options)
        state = self.owned_session(sender, session)
        wanted = {}
        for shortcut_id, info in shortcuts:
            if not shortcut_id:
                raise _DBusError("org.freedesktop.portal.Error.InvalidArgument", "Unexpected empty shortcut id")
            wanted[shortcut_id] = (self.option(info, "description", "s") or "",
                                   self.option(info, "preferred_trigger", "s") or "")
        mode = self.args.shortcuts

        def answer() -> None:
            if mode == "refuse":
                self.respond(handle, 1, {})
                return
            if mode == "all":
                state["bound"] = {sid: trigger for sid, (_desc, trigger) in wanted.items()}
            self.respond(handle, 0, {"shortcuts": ("a(sa{sv})", self.described(state, wanted))})

        if self.args.hold_binds:  # the user has not answered the desktop's dialog yet
            self.pending.add(handle)
            self.held.append((handle, answer))
        else:
            answer()
        return "o", (handle,)

    def release(self) -> int:
        """Answer every held BindShortcuts whose request and session are still open; how many were answered."""
        held, self.held = self.held, []
        answered = 0
        for handle, answer in held:
            if handle in self.pending:
                self.pending.discard(handle)
                answer()
                answered += 1
        return answered

    @staticmethod
    def described(state: dict[str, Any], wanted: dict[str, tuple[str, str]] | None = None) -> list[Any]:
        out = []
        for sid, trigger in state["bound"].items():
            description = wanted[sid][0] if wanted and sid in wanted else sid
            out.append((sid, {"description": ("s", description),
                              "trigger_description": ("s", trigger_label(trigger))}))
        return out

    def list_shortcuts(self, sender: str, session: str, options: dict[str, Any]) -> tuple[str, tuple[str]]:
        handle = self.request_handle(sender, options)
        state = self.owned_session(sender, session)
        self.respond(handle, 0, {"shortcuts": ("a(sa{sv})", self.described(state))})
        return "o", (handle,)

    # -- org.glmv.test.Portal (test only) ---------------------------------------------------------------------
    def test_method(self, member: str, signature: str, body: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
        if member == "Activate":
            self.expect(signature, "s")
            return "u", (self.activate(body[0]),)
        if member == "Bound":
            return "as", (sorted({sid for s in self.sessions.values() for sid in s["bound"]}),)
        if member == "Calls":
            return "s", (json.dumps(self.calls),)
        if member == "Sessions":
            return "u", (len(self.sessions),)
        if member == "Held":
            return "u", (sum(handle in self.pending for handle, _answer in self.held),)
        if member == "Release":
            return "u", (self.release(),)
        raise _DBusError("org.freedesktop.DBus.Error.UnknownMethod", f"Unknown test method “{member}”")

    def activate(self, shortcut_id: str) -> int:
        """Press and release `shortcut_id` for every session that bound it; how many sessions were told."""
        from jeepney import DBusAddress, HeaderFields, new_signal

        told = 0
        for session, state in self.sessions.items():
            if shortcut_id not in state["bound"]:
                continue
            stamp = time.monotonic_ns() // 1_000_000
            for member in ("Activated", "Deactivated"):
                signal_msg = new_signal(DBusAddress(PORTAL_PATH, interface=SHORTCUTS), member, "osta{sv}",
                                        (session, shortcut_id, stamp, {}))
                signal_msg.header.fields[HeaderFields.destination] = state["sender"]  # unicast, as the portal does

                def emit(message: Any = signal_msg) -> None:
                    self.conn.send(message)

                self.later(emit)
            told += 1
        return told


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def main(argv: list[str] | None = None) -> int:
    """Run the fake portal until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--screenshot", choices=[*SCREENSHOT_MODES, "absent"], default="ok")
    parser.add_argument("--picture", help="the picture an 'ok' screenshot returns")
    parser.add_argument("--shots-dir", default=tempfile.gettempdir(), help="where screenshots are written")
    parser.add_argument("--shortcuts", choices=[*SHORTCUT_MODES, "absent"], default="all")
    parser.add_argument("--no-registry", dest="registry", action="store_false",
                        help="no org.freedesktop.host.portal.Registry (portals before 1.19)")
    parser.add_argument("--hold-binds", action="store_true",
                        help="answer BindShortcuts only when the test calls Release (a dialog left open)")
    args = parser.parse_args(argv)
    if args.screenshot == "ok" and not args.picture:
        parser.error("--screenshot ok needs --picture")
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    service = FakePortalService(args)
    try:
        service.serve()
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        if service.conn is not None:
            service.conn.close()
    return 0


# -- the test side ----------------------------------------------------------------------------------------------
def _call(bus_address: str, path: str, interface: str, member: str, signature: str | None = None,
          body: tuple[Any, ...] = (), destination: str = PORTAL_BUS_NAME) -> tuple[Any, ...]:
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import unwrap_msg

    with open_dbus_connection(bus=bus_address) as conn:
        message = new_method_call(DBusAddress(path, bus_name=destination, interface=interface), member,
                                  signature, body)
        return tuple(unwrap_msg(conn.send_and_get_reply(message, timeout=10)))


def owner_pid(bus_address: str, name: str) -> int | None:
    """The process id of the connection that owns `name` on the bus, or None if nobody does."""
    from jeepney.wrappers import DBusErrorResponse

    bus = ("/org/freedesktop/DBus", "org.freedesktop.DBus")
    try:
        owner, = _call(bus_address, *bus, "GetNameOwner", "s", (name,), destination="org.freedesktop.DBus")
        pid, = _call(bus_address, *bus, "GetConnectionUnixProcessID", "s", (owner,),
                     destination="org.freedesktop.DBus")
    except DBusErrorResponse:
        return None
    return int(pid)


class FakePortal:
    """Start the fake portal as a child process on `bus_address`; stop it with SIGTERM and wait."""

    def __init__(self, bus_address: str, *, screenshot: str = "ok", picture: Path | None = None,
                 shots_dir: Path | None = None, shortcuts: str = "all", registry: bool = True,
                 hold_binds: bool = False) -> None:
        self.bus_address = bus_address
        self.argv = [sys.executable, "-m", "tests.support.fake_portal", "--screenshot", screenshot,
                     "--shortcuts", shortcuts]
        if picture is not None:
            self.argv += ["--picture", str(picture)]
        if shots_dir is not None:
            self.argv += ["--shots-dir", str(shots_dir)]
        if not registry:
            self.argv.append("--no-registry")
        if hold_binds:
            self.argv.append("--hold-binds")
        self.process: subprocess.Popen[bytes] | None = None
        self.returncode: int | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop(), kept open while the child writes
        self._output = ""

    def start(self, timeout_s: float = 20.0) -> Self:
        """Start the child and wait until it owns org.freedesktop.portal.Desktop."""
        root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "DBUS_SESSION_BUS_ADDRESS": self.bus_address}
        self.process = subprocess.Popen(self.argv, cwd=root, env=env, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + timeout_s
        while owner_pid(self.bus_address, PORTAL_BUS_NAME) != self.process.pid:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the fake portal did not start:\n{self.output()}")
            time.sleep(0.02)
        return self

    def stop(self) -> int | None:
        """SIGTERM, then wait; returns the exit code (0 when it stopped cleanly)."""
        if self.process is not None and self.returncode is None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.returncode = self.process.returncode
        if not self._log.closed:
            self._output = self.output()
            self._log.close()
        return self.returncode

    def output(self) -> str:
        """What the child wrote to stdout and stderr (complete once stopped; for failure messages)."""
        if not self._log.closed:  # pread: the child shares the file offset
            return os.pread(self._log.fileno(), 1 << 20, 0).decode(errors="replace")
        return self._output

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- the test interface -------------------------------------------------------------------------------------
    def activate(self, shortcut_id: str) -> int:
        """Press `shortcut_id`: Activated then Deactivated to each session that bound it; returns how many."""
        told, = _call(self.bus_address, PORTAL_PATH, TEST, "Activate", "s", (shortcut_id,))
        return int(told)

    def bound(self) -> list[str]:
        """The shortcut ids bound in open sessions."""
        ids, = _call(self.bus_address, PORTAL_PATH, TEST, "Bound")
        return list(ids)

    def sessions(self) -> int:
        """How many GlobalShortcuts sessions are open."""
        number, = _call(self.bus_address, PORTAL_PATH, TEST, "Sessions")
        return int(number)

    def held(self) -> int:
        """How many BindShortcuts wait for `release()` (with hold_binds=True), not counting closed requests."""
        number, = _call(self.bus_address, PORTAL_PATH, TEST, "Held")
        return int(number)

    def release(self) -> int:
        """Answer the held BindShortcuts, as a user who confirms the desktop's dialog; returns how many."""
        number, = _call(self.bus_address, PORTAL_PATH, TEST, "Release")
        return int(number)

    def calls(self) -> list[dict[str, Any]]:
        """Every portal call received, oldest first: sender, interface, member, body (plain values) or path."""
        text, = _call(self.bus_address, PORTAL_PATH, TEST, "Calls")
        return list(json.loads(text))


class PrivateBus:
    """A bare dbus-daemon with no activatable services: a desktop where the portal is not installed."""

    def __init__(self) -> None:
        self.address = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="glmv-bus-")

    def __enter__(self) -> Self:
        from tests.support.private_bus import start_bus_daemon

        try:
            self.process, self.address = start_bus_daemon(Path(self._dir.name))
        except RuntimeError:
            self._dir.cleanup()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                self.process.wait(10)
            if self.process.stdout is not None:
                self.process.stdout.close()
        self._dir.cleanup()


def check_clean_exit(portal: FakePortal) -> None:
    """The fake portal must have stopped cleanly on SIGTERM."""
    assert portal.returncode == 0, portal.output()


if __name__ == "__main__":
    sys.exit(main())

