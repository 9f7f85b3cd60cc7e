"""One running instance per user; a second launch hands its command over a local socket and exits.

This is also the universal hotkey fallback: any desktop can bind `glmv-desktop ask --screen` to
a key in its own keyboard settings. The socket name is derived from the user's config directory,
so two users (or a test with its own config dir) never meet. Qt's QLocalServer makes it a Unix
socket private to the user, or a named pipe on Windows.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger(__name__)

_TIMEOUT_MS = 3000


def instance_name(config_dir: Path) -> str:
    """The socket name for the instance that owns `config_dir`."""
    digest = hashlib.sha256(str(config_dir.resolve()).encode()).hexdigest()[:16]
    return f"glmv-desktop-{digest}"


def send_to_running(name: str, argv: list[str], timeout_ms: int = _TIMEOUT_MS) -> dict[str, object] | None:
    """Hand `argv` to the running instance; its reply, or None if no instance is listening."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(timeout_ms):
        return None
    socket.write(json.dumps({"argv": argv}).encode() + b"\n")
    socket.flush()
    buffer = b""
    while b"\n" not in buffer:
        if not socket.waitForReadyRead(timeout_ms * 5):
            break
        buffer += bytes(socket.readAll().data())
    socket.disconnectFromServer()
    try:
        reply = json.loads(buffer.decode() or "{}")
    except ValueError:
        reply = {}
    return reply if isinstance(reply, dict) else {}


class InstanceServer(QObject):
    """Listens for commands from later launches and hands each to `handler`."""

    def __init__(self, name: str, handler: Callable[[list[str]], str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._name = name
        self._handler = handler
        self._server = QLocalServer(self)
        self._server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self._server.newConnection.connect(self._on_connection)

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
            argv = json.loads(line.decode())["argv"]
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ValueError("argv must be a list of strings")
            message = self._handler(argv)
            reply = {"ok": True, "message": message}
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the sender is told (argparse exits on bad
            # arguments); this instance keeps running
            log.warning("Rejected a command from another launch: %s", exc)
            reply = {"ok": False, "message": str(exc)}
        socket.write(json.dumps(reply).encode() + b"\n")
        socket.flush()
        socket.disconnectFromServer()
