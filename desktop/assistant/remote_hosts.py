"""Connections to the user's SSH hosts (`config.hosts`), opened when needed and shared by the Local servers
window, the CLI and the server manager.

Opening one checks its host key: a host in no known_hosts file is shown to the user (`confirm_host`, its
fingerprints) and trusted only when they accept; a key's passphrase is asked through `ask_passphrase`.
Keys the user trusted go to the app's own known_hosts file in its data folder; ~/.ssh is never written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from desktop.backends.remote import SshHost
from desktop.backends.ssh import AskPass, HostKeyUnknown, KnownHosts, SshConnection, SshTarget
from desktop.config.hosts import SshHostEntry

log = logging.getLogger(__name__)

ConfirmHost = Callable[[HostKeyUnknown], Awaitable[bool]]


class RemoteHosts:
    """Open SSH connections by host id; `open` connects (asking what must be asked) or reuses one."""

    def __init__(self, known_hosts_file: Path, *, ask_passphrase: AskPass | None = None,
                 confirm_host: ConfirmHost | None = None, config_file: Path | None = None,
                 user_known_hosts: list[Path] | None = None) -> None:
        self.known_hosts = KnownHosts(known_hosts_file, user_known_hosts)
        self.ask_passphrase = ask_passphrase
        self.confirm_host = confirm_host
        self.config_file = config_file  # an ssh_config instead of ~/.ssh/config (tests)
        self._connections: dict[str, SshConnection] = {}
        self._opening: dict[str, asyncio.Lock] = {}

    async def open(self, entry: SshHostEntry) -> SshHost:
        """A connected SshHost for `entry`; raise SshError (HostNotTrusted when the user said no)."""
        lock = self._opening.setdefault(entry.id, asyncio.Lock())
        async with lock:
            connection = self._connections.get(entry.id)
            if connection is None:
                target = SshTarget.parse(entry.address, entry.identity_file or None)
                connection = SshConnection(target, self.known_hosts, askpass=self.ask_passphrase,
                                           config_file=self.config_file)
                self._connections[entry.id] = connection
            if not connection.connected:
                await connection.connect_trusting(self.confirm_host, entry.label)
            return SshHost(connection, entry.python)

    async def close(self, entry: SshHostEntry) -> None:
        """Close the connection to `entry` (a server there keeps running)."""
        connection = self._connections.pop(entry.id, None)
        if connection is not None:
            await connection.close()

    async def close_all(self) -> None:
        """Close every connection (quitting)."""
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()


@dataclass(frozen=True)
class RemoteServerNote:
    """Which host runs the server the app started there, so that a later start looks there (this computer's
    note; the host keeps its own record of the process)."""

    host_id: str
    local_port: int

    def save(self, path: Path) -> None:
        """Write it (atomically)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.tmp")
        partial.write_text(json.dumps(asdict(self)), encoding="utf-8")
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> RemoteServerNote | None:
        """The note, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["host_id"]), int(data["local_port"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("Ignoring the unreadable note %s: %s", path, exc)
            return None
