"""One running instance per user; a second launch hands its command over a local socket and exits.

This is also the universal hotkey fallback: any desktop can bind `glmv-desktop ask --screen` to
a key in its own keyboard settings. The socket name is derived from the user's config directory,
so two users (or a test with its own config dir) never meet. Qt's QLocalServer makes it a Unix
socket private to the user, or a named pipe on Windows.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.secret import Secret

log = logging.getLogger(__name__)

_TIMEOUT_MS = 3000


def instance_name(config_dir: Path) -> str:
    """The socket name for the instance that owns `config_dir`."""
    digest = hashlib.sha256(str(config_dir.resolve()).encode()).hexdigest()[:16]
    return f"glmv-desktop-{digest}"


# What a handler returns: the text to print there, or an awaitable of it for a command that takes a while.
Handler = Callable[[list[str], Secret | None], str | Awaitable[str]]


def send_to_running(name: str, argv: list[str], timeout_ms: int = _TIMEOUT_MS, *, secret: Secret | None = None,
                    answer_timeout_ms: int = _TIMEOUT_MS * 5) -> dict[str, object] | None:
    """Hand `argv` (and a key read from standard input, beside it, never in it) to the running instance;
    its reply, or None if no instance is listening. A reply that did not come is `ok` false with
    `no_answer` true: the instance may still be carrying the command out."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return None
    message: dict[str, object] = {"argv": argv}
    if secret is not None:
        message["secret"] = secret.reveal()
    socket.write(json.dumps(message).encode() + b"\n")
    socket.flush()
    buffer = b""
    while b"\n" not in buffer:
        if not socket.waitForReadyRead(answer_timeout_ms):
            break
        buffer += bytes(socket.readAll().data())
    socket.disconnectFromServer()
    try:
        reply = json.loads(buffer.decode()) if buffer.strip() else None
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        return {"ok": False, "no_answer": True, "message": _(
            "GLM-V Desktop did not answer in time; it may still be carrying out the command. Check the result "
            "before trying again (for example with 'glmv-desktop endpoint list').")}
    return reply


class InstanceServer(QObject):
    """Listens for commands from later launches and hands each to `handler`; a handler that returns an
    awaitable is answered when it is done (its exception, if any, is the failure reply)."""

    def __init__(self, name: str, handler: Handler, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._handler = handler
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)
        self._pending: set[asyncio.Future[str]] = set()

    def listen(self) -> bool:
        """Start listening; removes a stale socket left by a crashed instance first."""
        if self._server.listen(self._name):
            return True
        # A socket file without a listener is left over from a crash; one with a listener is not ours.
        probe = QLocalSocket()
        probe.connectToServer(self._name)
        if probe.waitForConnected(500):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self._name)
        return self._server.listen(self._name)

    def close(self) -> None:
        """Stop listening."""
        self._server.close()

    def _on_connection(self) -> None:
        while self._server.hasPendingConnections():
            socket = self._server.nextPendingConnection()
            socket.setProperty("buffer", b"")
            socket.readyRead.connect(lambda s=socket: self._on_ready(s))
            socket.disconnected.connect(socket.deleteLater)

    def _on_ready(self, socket: QLocalSocket) -> None:
        buffer = bytes(socket.property("buffer") or b"") + bytes(socket.readAll().data())
        if b"\n" not in buffer:
            socket.setProperty("buffer", buffer)
            return
        line = buffer.split(b"\n", 1)[0]
        try:
            request = json.loads(line.decode())
            argv, secret = request["argv"], request.get("secret")
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ValueError("argv must be a list of strings")
            result = self._handler(argv, Secret(secret) if isinstance(secret, str) else None)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the sender is told (argparse exits on bad
            # arguments); this instance keeps running
            self._reply(socket, exc)
            return
        if not inspect.isawaitable(result):
            self._reply(socket, result)
            return
        pending = asyncio.ensure_future(result)
        self._pending.add(pending)
        pending.add_done_callback(lambda done: self._finished(socket, done))

    def _finished(self, socket: QLocalSocket, done: asyncio.Future[str]) -> None:
        self._pending.discard(done)
        if done.cancelled():
            self._reply(socket, RuntimeError(_("GLM-V Desktop quit before the command was done.")))
        else:
            error = done.exception()
            self._reply(socket, done.result() if error is None else error)

    def _reply(self, socket: QLocalSocket, outcome: str | BaseException) -> None:
        if isinstance(outcome, BaseException):
            # A typing mistake is the sender's to show; anything else is worth a look in the log.
            log.log(logging.INFO if isinstance(outcome, UserFacingError) else logging.WARNING,
                    "Rejected a command from another launch: %s", outcome)
            reply = {"ok": False, "message": str(outcome)}
        else:
            reply = {"ok": True, "message": outcome}
        if not shiboken6.isValid(socket) or socket.state() != QLocalSocket.LocalSocketState.ConnectedState:
            return  # the other launch gave up waiting
        socket.write(json.dumps(reply).encode() + b"\n")
        socket.flush()
        socket.disconnectFromServer()
