"""The SSH hosts the user added for running servers there, kept in the settings file (`servers.ssh_hosts`).

A host is what the user typed (`user@host:port`, or an alias from ~/.ssh/config), an optional private key
file, and the Python to use there. Keys and passphrases are never here: the SSH agent or the key file
holds the key, and a passphrase is asked each time it is needed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop.config.settings import SettingsStore
from desktop.i18n import _

SETTING = "servers.ssh_hosts"
_ADDRESS = re.compile(r"^(?:[A-Za-z0-9._-]+@)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?$")


class HostError(ValueError):
    """A host entry that cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class SshHostEntry:
    """One SSH host for servers."""

    address: str  # user@host:port, host, or an ~/.ssh/config alias
    name: str = ""  # how it is shown; the address when empty
    identity_file: str = ""  # a private key file; empty: the SSH agent and ssh's defaults
    python: str = "python3"  # the Python 3 on the host that runs the app's helper and probe
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        if not _ADDRESS.match(self.address):
            raise HostError(_("\"{address}\" is not an SSH address. Write it as host, user@host or "
                              "user@host:port.").format(address=self.address))
        port = self.address.rsplit(":", 1)[-1] if self.address.count(":") == 1 or "]:" in self.address else ""
        if port and not 1 <= int(port) <= 65535:
            raise HostError(_("{port} is not a port (1 to 65535).").format(port=port))
        if not self.python.strip():
            raise HostError(_("Give the Python to use on the host (python3 if unsure)."))

    @property
    def label(self) -> str:
        """The name, or the address."""
        return self.name or self.address

    def to_dict(self) -> dict[str, str]:
        """As stored in the settings file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> SshHostEntry:
        """From the settings file; raise HostError when it is not a host."""
        if not isinstance(data, dict) or not isinstance(data.get("address"), str):
            raise HostError(_("A saved SSH host has no address."))
        known = {key: str(value) for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


class HostBook:
    """The user's SSH hosts, in their order."""

    def __init__(self, settings: SettingsStore) -> None:
        self._settings = settings
        self.skipped: list[str] = []

    def all(self) -> list[SshHostEntry]:
        """Every usable host (one that cannot be read is skipped and named in `skipped`)."""
        hosts, self.skipped = [], []
        for item in self._settings.get(SETTING):
            try:
                hosts.append(SshHostEntry.from_dict(item))
            except HostError as exc:
                self.skipped.append(str(exc))
        return hosts

    def get(self, host_id: str) -> SshHostEntry | None:
        """The host with this id or name, if any."""
        return next((h for h in self.all() if host_id in (h.id, h.name, h.address)), None)

    def add(self, entry: SshHostEntry) -> SshHostEntry:
        """Add `entry` (or replace the one with its id); returns it."""
        others = [h for h in self.all() if h.id != entry.id]
        if any(h.address == entry.address and h.identity_file == entry.identity_file for h in others):
            raise HostError(_("{address} is already in the list.").format(address=entry.address))
        self._settings.set(SETTING, [*(h.to_dict() for h in others), entry.to_dict()])
        return entry

    def remove(self, host_id: str) -> bool:
        """Remove the host; False when there was none."""
        hosts = self.all()
        kept = [h for h in hosts if h.id != host_id]
        self._settings.set(SETTING, [h.to_dict() for h in kept])
        return len(kept) != len(hosts)
