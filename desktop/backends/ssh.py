"""SSH to a GPU server with the system's OpenSSH client: host keys, one shared connection, commands and tunnels.

The system `ssh` is used rather than an SSH library so that everything the user already set up works as
it does in a terminal: `~/.ssh/config` (aliases, ProxyJump, ports, users), the SSH agent, hardware keys.
One master connection per host (OpenSSH's ControlMaster, its socket in a private folder) carries every
command, the followed log and the port forward, so a key's passphrase is asked once per connection.

Security (ADR 011):
- Host keys are always checked (`StrictHostKeyChecking=yes`) against the user's known_hosts and the
  app's own file. A host in neither raises `HostKeyUnknown` with the keys' fingerprints: the caller
  shows them and, when the user accepts, `KnownHosts.trust` adds them to the app's file. A key that
  differs from the one on record raises `HostKeyChanged` and nothing connects.
- Passphrases are asked through `askpass` (a callback, usually a password dialog) over a socket in the
  private folder, handed to `ssh` and forgotten: never written anywhere.
- Forwards bind 127.0.0.1 on this side and reach 127.0.0.1 on the remote side: nothing listens beyond
  loopback on either machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.processenv import child_environment
from desktop.secret import Secret

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
COMMAND_TIMEOUT_S = 60.0
ALIVE_INTERVAL_S = 5  # ServerAliveInterval: a dead link is noticed within about 3 × this
ASKPASS_SOCKET = "askpass.sock"
ASKPASS_ENV = "GLMV_ASKPASS_SOCKET"
# Asked for a passphrase or password: "Enter passphrase for key '/home/me/.ssh/id_ed25519': ".
PASSPHRASE_PROMPT = re.compile(r"passphrase|password", re.IGNORECASE)

AskPass = Callable[[str], Awaitable[Secret | None]]
KILL = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows has no SIGKILL; its SIGTERM already kills


class SshError(UserFacingError):
    """Connecting or talking to an SSH host failed; the message says why and what to do."""


class SshUnavailable(SshError):
    """This computer has no OpenSSH client."""


class HostNotTrusted(SshError):
    """The user did not trust the host's key, so nothing was sent to it."""


class HostKeyUnknown(SshError):
    """The host is not in any known_hosts file: its keys are shown to the user, who may trust them."""

    def __init__(self, target: SshTarget, keys: Sequence[HostKey]) -> None:
        fingerprints = "\n".join(f"{key.kind}: {key.fingerprint}" for key in keys)
        super().__init__(
            _("{host} is not a known SSH host. Check that its key fingerprint is the one the server shows "
              "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it):").format(host=target.label),
            _("Trust the key only if it matches; anyone between you and the server could otherwise read "
              "everything."), detail=fingerprints)
        self.target = target
        self.keys = list(keys)


class HostKeyChanged(SshError):
    """The host presents a different key than the one on record."""


class SshAuthFailed(SshError):
    """The server refused every key (or the passphrase was wrong or not given)."""


class SshUnreachable(SshError):
    """The host could not be reached (name, network, port, timeout)."""


class SshDisconnected(SshError):
    """The connection is gone (reconnect to go on)."""


@dataclass(frozen=True)
class SshTarget:
    """Where to connect: a host name or address, or an alias from ~/.ssh/config; user and port optional."""

    host: str
    user: str | None = None
    port: int | None = None
    identity_file: str | None = None  # a private key file; None: the agent and ~/.ssh's defaults

    def __post_init__(self) -> None:
        if not self.host or self.host.startswith("-") or any(ch.isspace() for ch in self.host):
            raise ValueError(f"not a host name: {self.host!r}")
        if self.user is not None and (not self.user or self.user.startswith("-") or "@" in self.user):
            raise ValueError(f"not a user name: {self.user!r}")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ValueError(f"not a port: {self.port}")

    @classmethod
    def parse(cls, text: str, identity_file: str | None = None) -> SshTarget:
        """`host`, `user@host`, `host:port` or `user@host:port` (an IPv6 address in brackets)."""
        text = text.strip()
        user, _at, rest = text.rpartition("@")
        port: int | None = None
        if rest.startswith("["):
            host, _close, tail = rest[1:].partition("]")
            if tail.startswith(":"):
                port = int(tail[1:])
        elif rest.count(":") == 1:
            host, port_text = rest.split(":")
            port = int(port_text)
        else:
            host = rest
        return cls(host, user or None, port, identity_file)

    @property
    def label(self) -> str:
        """How the user wrote it: user@host:port."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}{':' + str(self.port) if self.port else ''}"

    @property
    def known_hosts_name(self) -> str:
        """The name known_hosts files use for it: host, or [host]:port for another port than 22."""
        return f"[{self.host}]:{self.port}" if self.port and self.port != 22 else self.host


@dataclass(frozen=True)
class HostKey:
    """One of a host's public keys as ssh-keyscan reports it."""

    line: str  # "host ssh-ed25519 AAAA…", ready for a known_hosts file
    kind: str  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    fingerprint: str  # SHA256:…


@dataclass(frozen=True)
class ResolvedHost:
    """A target after ssh's configuration: the real host name and port, and a HostKeyAlias if one is set."""

    hostname: str
    port: int
    alias: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name its key is kept under: the alias, the host, or [host]:port for another port than 22."""
        if self.alias:
            return self.alias
        return f"[{self.hostname}]:{self.port}" if self.port != 22 else self.hostname


def ssh_program(name: str = "ssh") -> str:
    """The path of an OpenSSH program; raise SshUnavailable where there is none."""
    found = shutil.which(name)
    if found is None:
        raise SshUnavailable(_("This computer has no SSH client ({program}).").format(program=name),
                             _install_hint())
    return found


def _install_hint() -> str:
    if sys.platform == "win32":
        return _("Add the optional Windows feature \"OpenSSH Client\" (Settings → System → Optional features).")
    if sys.platform == "darwin":
        return _("macOS includes it; check that /usr/bin/ssh is there.")
    return _("Install the OpenSSH client (for example: sudo apt install openssh-client).")


async def _run(argv: Sequence[str], *, input_bytes: bytes | None = None, timeout: float = COMMAND_TIMEOUT_S,
               env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if input_bytes is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or child_environment({}))
    try:
        out, err = await asyncio.wait_for(process.communicate(input_bytes), timeout)
    except BaseException:
        signal_process(process, KILL)
        await process.wait()
        raise
    return process.returncode or 0, out, err


class KnownHosts:
    """The app's own known_hosts file (keys the user trusted in the app), read with the user's own."""

    IN_DATA_DIR = Path("ssh") / "known_hosts"  # where it is in the app's data folder

    def __init__(self, path: Path, user_files: Sequence[Path] | None = None) -> None:
        self.path = path
        home = Path.home() / ".ssh"
        self.user_files = list(user_files) if user_files is not None else [home / "known_hosts",
                                                                           home / "known_hosts2"]

    @property
    def files(self) -> list[Path]:
        """Every file ssh checks, the user's first."""
        return [*self.user_files, self.path]

    async def scan(self, target: SshTarget, resolved: ResolvedHost, timeout: float = 10.0) -> list[HostKey]:
        """The host's public keys, fetched with ssh-keyscan (not yet trusted); raise SshUnreachable if none."""
        argv = [ssh_program("ssh-keyscan"), "-T", str(int(timeout)), "-p", str(resolved.port)]
        code, out, err = await _run([*argv, "--", resolved.hostname], timeout=timeout + 5)
        keys = []
        for line in out.decode("utf-8", "replace").splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            _host, kind, blob = line.split()[:3]
            named = f"{resolved.known_hosts_name} {kind} {blob}"
            keys.append(HostKey(named, kind, await self._fingerprint(named)))
        if not keys:
            raise SshUnreachable(_("{host} did not answer as an SSH server.").format(host=target.label),
                                 _("Check the host name and port, that the server runs sshd, and your network."),
                                 detail=err.decode("utf-8", "replace").strip() or f"ssh-keyscan exit {code}")
        return keys

    @staticmethod
    async def _fingerprint(line: str) -> str:
        code, out, err = await _run([ssh_program("ssh-keygen"), "-l", "-E", "sha256", "-f", "-"],
                                    input_bytes=line.encode() + b"\n", timeout=10)
        if code != 0:
            raise SshError(_("Could not read a host key's fingerprint."), detail=err.decode("utf-8", "replace"))
        return out.decode().split()[1]

    def trust(self, keys: Sequence[HostKey]) -> None:
        """Add `keys` (as scanned) to the app's known_hosts file; blocking, quick."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as file:
            for key in keys:
                file.write(key.line.rstrip("\n") + "\n")

    async def is_known(self, resolved: ResolvedHost) -> bool:
        """Whether any known_hosts file has a key for the host (whichever key: ssh itself checks it)."""
        for path in self.files:
            if path.is_file():
                code, _out, _err = await _run([ssh_program("ssh-keygen"), "-F", resolved.known_hosts_name, "-f",
                                               str(path)], timeout=10)
                if code == 0:
                    return True
        return False


def signal_process(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to a child without Popen's poll first: that poll can reap a child that just exited, before
    asyncio's child watcher does, which then reports it as unknown with status 255."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(process.pid, sig)  # a zombie (exited, not yet reaped) takes the signal harmlessly


def _quote_option(path: Path) -> str:
    return f'"{path}"' if any(ch.isspace() for ch in str(path)) else str(path)


class SshConnection:
    """One master connection to a host, shared by every command and forward through its control socket."""

    def __init__(self, target: SshTarget, known_hosts: KnownHosts, *, askpass: AskPass | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S, config_file: Path | None = None) -> None:
        """`config_file`: an ssh_config to use instead of the user's ~/.ssh/config (None: theirs)."""
        self.config_file = config_file
        self.target = target
        self.known_hosts = known_hosts
        self.askpass = askpass
        self.connect_timeout = connect_timeout
        self._dir: Path | None = None
        self._master: asyncio.subprocess.Process | None = None
        self._askpass_server: asyncio.AbstractServer | None = None
        self._asked = 0
        self._resolved: ResolvedHost | None = None

    # -- the master connection
    @property
    def connected(self) -> bool:
        """Whether the master connection runs."""
        return self._master is not None and self._master.returncode is None

    @property
    def control_path(self) -> Path:
        """The master's control socket."""
        if self._dir is None:
            raise SshDisconnected(_("Not connected to {host}.").format(host=self.target.label))
        return self._dir / "control"

    def options(self) -> list[str]:
        """The options every ssh call to this host gets."""
        files = " ".join(_quote_option(path) for path in self.known_hosts.files)
        options = ["-F", str(self.config_file)] if self.config_file is not None else []
        options += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={files}",
                   "-o", "UpdateHostKeys=no", "-o", f"ConnectTimeout={max(1, int(self.connect_timeout))}",
                   "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}", "-o", "ServerAliveCountMax=3"]
        if self.target.port:
            options += ["-p", str(self.target.port)]
        if self.target.user:
            options += ["-l", self.target.user]
        if self.target.identity_file:
            options += ["-i", self.target.identity_file, "-o", "IdentitiesOnly=yes"]
        return options

    async def connect_trusting(self, confirm: Callable[[HostKeyUnknown], Awaitable[bool]] | None,
                               name: str = "") -> None:
        """`connect`, and for a host in no known_hosts file ask `confirm` (shown its keys): when it says yes the
        keys are trusted and the connection made, else HostNotTrusted. `confirm` None: HostKeyUnknown is raised
        (nobody to ask: the fingerprints go to whoever reports it). `name`: the host as the user knows it."""
        try:
            await self.connect()
        except HostKeyUnknown as unknown:
            if confirm is None:
                raise
            if not await confirm(unknown):
                raise HostNotTrusted(
                    _("{host} was not trusted, so nothing was sent to it.").format(host=name or self.target.label),
                    _("Check its key fingerprint with its administrator.")) from unknown
            await asyncio.to_thread(self.known_hosts.trust, unknown.keys)
            await self.connect()

    async def connect(self) -> None:
        """Open the master connection; raise HostKeyUnknown, HostKeyChanged, SshAuthFailed or SshUnreachable.

        A host in no known_hosts file is refused before anything is sent to it.
        """
        if self.connected:
            return
        ssh = ssh_program()
        resolved = self._resolved = await self.resolve()
        if not await self.known_hosts.is_known(resolved):
            raise HostKeyUnknown(self.target, await self.known_hosts.scan(self.target, resolved))
        await self._close_master()
        self._dir = Path(tempfile.mkdtemp(prefix="glmv-ssh-"))  # short: a socket path has ~100 bytes
        self._dir.chmod(stat.S_IRWXU)
        env = await self._askpass_env()
        # -N: no remote command; the master lives until closed. ControlPersist=no: it ends with this process.
        argv = [ssh, "-M", "-N", "-S", str(self.control_path), "-o", "ControlPersist=no",
                "-o", "ExitOnForwardFailure=yes", *self.options(), "--", self.target.host]
        log.info("Connecting to %s over SSH", self.target.label)
        self._asked = 0
        self._master = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env, start_new_session=sys.platform != "win32")
        deadline = asyncio.get_running_loop().time() + self.connect_timeout + 120  # passphrase typing included
        while asyncio.get_running_loop().time() < deadline:
            if self._master.returncode is not None:
                break
            if self.control_path.exists() and await self._check():
                return
            await asyncio.sleep(0.1)
        error = await self._master_error()
        await self._close_master()
        raise error

    async def resolve(self) -> ResolvedHost:
        """Where the target really is, as ssh's configuration (an alias, a HostName, a Port) says."""
        code, out, err = await _run([ssh_program(), "-G", *self.options(), "--", self.target.host], timeout=10)
        if code != 0:
            raise SshError(_("ssh could not read its configuration for {host}.").format(host=self.target.label),
                           _("Check ~/.ssh/config."), detail=err.decode("utf-8", "replace").strip())
        values: dict[str, str] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            key, _space, value = line.partition(" ")
            values.setdefault(key.lower(), value.strip())
        return ResolvedHost(values.get("hostname", self.target.host), int(values.get("port", "22") or 22),
                            values.get("hostkeyalias") or None)

    async def _check(self) -> bool:
        code, _out, _err = await _run([ssh_program(), "-S", str(self.control_path), "-O", "check", *self.options(),
                                       "--", self.target.host], timeout=10)
        return code == 0

    async def _master_error(self) -> SshError:
        master = self._master
        text = ""
        if master is not None:
            signal_process(master, KILL)
            assert master.stderr is not None
            with contextlib.suppress(TimeoutError):
                text = (await asyncio.wait_for(master.stderr.read(), 5)).decode("utf-8", "replace")
            await master.wait()
        name = self._resolved.known_hosts_name if self._resolved is not None else self.target.known_hosts_name
        return classify_ssh_error(text, self.target, asked=self._asked, known_name=name)

    async def close(self) -> None:
        """End the master connection (and with it every forward); what runs on the host keeps running."""
        if self.connected:
            with contextlib.suppress(OSError, TimeoutError):
                await _run([ssh_program(), "-S", str(self.control_path), "-O", "exit", *self.options(), "--",
                            self.target.host], timeout=10)
        await self._close_master()

    async def _close_master(self) -> None:
        master, self._master = self._master, None
        if master is not None and master.returncode is None:
            signal_process(master)
            try:
                await asyncio.wait_for(master.wait(), 5)
            except TimeoutError:
                signal_process(master, KILL)
                await master.wait()
        server, self._askpass_server = self._askpass_server, None
        if server is not None:
            server.close()
            with contextlib.suppress(Exception):
                await server.wait_closed()
        folder, self._dir = self._dir, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    async def wait_closed(self) -> int:
        """Wait until the master connection ends (the link died or it was closed); its exit status."""
        master = self._master
        if master is None:
            return -1
        return await master.wait()

    # -- passphrases
    async def _askpass_env(self) -> dict[str, str]:
        env = child_environment({})
        if self.askpass is None or sys.platform == "win32":
            env["SSH_ASKPASS_REQUIRE"] = "never"
            return env
        assert self._dir is not None
        path = self._dir / ASKPASS_SOCKET
        self._askpass_server = await asyncio.start_unix_server(self._answer, path=str(path))
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        program = self._dir / "askpass"
        command = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop"]
        program.write_text(f"#!/bin/sh\nexec {shlex.join(command)} --askpass \"$@\"\n", encoding="utf-8")
        program.chmod(stat.S_IRWXU)
        env.update({"SSH_ASKPASS": str(program), "SSH_ASKPASS_REQUIRE": "force", ASKPASS_ENV: str(path),
                    "DISPLAY": env.get("DISPLAY", ":0")})
        return env

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            prompt = (await reader.readline()).decode("utf-8", "replace").strip()
            if self.askpass is None or not PASSPHRASE_PROMPT.search(prompt):
                return  # anything else (a host key question) is answered by refusing
            self._asked += 1
            answer = await self.askpass(prompt)
            if answer is not None:
                writer.write(answer.reveal().encode("utf-8") + b"\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    # -- commands and forwards
    def command(self, remote: str) -> list[str]:
        """The ssh argv that runs the shell command `remote` on the host through the master."""
        return [ssh_program(), "-S", str(self.control_path), "-o", "ControlMaster=no", "-T", *self.options(), "--",
                self.target.host, remote]

    async def run(self, remote: str, *, input_text: str | None = None, input_bytes: bytes | None = None,
                  timeout: float = COMMAND_TIMEOUT_S) -> tuple[int, str, str]:
        """Run `remote` (a POSIX shell command) on the host with `input_text` or `input_bytes` on its stdin;
        (exit status, stdout, stderr). Exit status 255 with the master gone raises SshDisconnected.
        """
        if not self.connected:
            raise SshDisconnected(_("The connection to {host} is closed.").format(host=self.target.label),
                                  _("Connect again."))
        if input_text is not None:
            input_bytes = input_text.encode("utf-8")
        code, out, err = await _run(self.command(remote), timeout=timeout, input_bytes=input_bytes)
        if code == 255 and not self.connected:
            raise SshDisconnected(_("The connection to {host} was lost.").format(host=self.target.label),
                                  _("It is tried again by itself; check the network if it does not come back."))
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    async def stream(self, remote: str) -> asyncio.subprocess.Process:
        """Start `remote` on the host with its output as a pipe (stdout and stderr together)."""
        return await asyncio.create_subprocess_exec(
            *self.command(remote), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env=child_environment({}))

    async def forward(self, remote_port: int, local_port: int | None = None) -> int:
        """Forward 127.0.0.1:`local_port` here (a free one when None) to 127.0.0.1:`remote_port` on the host."""
        from desktop.backends.supervisor import free_port

        local = local_port or free_port()
        spec = f"127.0.0.1:{local}:127.0.0.1:{remote_port}"
        code, _out, err = await _run([ssh_program(), "-S", str(self.control_path), "-O", "forward", "-L", spec,
                                      *self.options(), "--", self.target.host], timeout=15)
        if code != 0:
            raise SshError(_("Could not forward port {port} from {host}.").format(port=remote_port,
                                                                                  host=self.target.label),
                           _("Port {local} on this computer may be taken; try again.").format(local=local),
                           detail=err.decode("utf-8", "replace").strip())
        return local


def classify_ssh_error(stderr: str, target: SshTarget, *, asked: int = 0, known_name: str = "") -> SshError:
    """The user's words for why ssh could not connect, from its stderr."""
    text = stderr.strip()
    host = target.label
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key for" in text and "has changed" in text:
        return HostKeyChanged(
            _("{host} presents a different host key than the one on record.").format(host=host),
            _("This happens after the server was reinstalled, or when someone is intercepting the connection. "
              "Ask the server's administrator for its key fingerprint; if it changed for a good reason, remove "
              "the old key (ssh-keygen -R {name}) and connect again.").format(
                name=known_name or target.known_hosts_name),
            detail=text)
    if "Host key verification failed" in text or "No host key is known" in text:
        return HostKeyChanged(_("The host key of {host} could not be verified.").format(host=host),
                              _("Connect again to see and check its fingerprint."), detail=text)
    if "Permission denied" in text or "Too many authentication failures" in text:
        hint = (_("The passphrase was not accepted, or the server does not know this key.") if asked else
                _("Add your key to the SSH agent (ssh-add) or choose its key file, and make sure the server "
                  "has its public key in ~/.ssh/authorized_keys."))
        return SshAuthFailed(_("{host} refused the login.").format(host=host), hint, detail=text)
    if any(word in text for word in ("Could not resolve hostname", "Name or service not known")):
        return SshUnreachable(_("The host name {host} is not known.").format(host=host),
                              _("Check the spelling, or use its address."), detail=text)
    if any(word in text for word in ("Connection refused", "timed out", "No route to host", "Network is unreachable",
                                     "Connection closed", "Connection reset")):
        return SshUnreachable(_("{host} could not be reached.").format(host=host),
                              _("Check that the server is on, runs sshd on that port, and that your network "
                                "(VPN, firewall) lets you reach it."), detail=text)
    return SshError(_("Could not connect to {host} over SSH.").format(host=host),
                    _("The details show what ssh said."), detail=text or _("(ssh said nothing)"))
