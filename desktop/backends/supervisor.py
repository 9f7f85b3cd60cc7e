"""Start, health-wait, supervise and stop one local model server (vLLM, SGLang, llama.cpp, transformers serve).

The server runs as a child in a session (process group) of its own, because engines spawn their own
workers: stopping sends SIGTERM to the whole group, then SIGKILL after a grace period, so nothing of it
is left behind (on Windows: a new process group and a job object that kills the whole tree). Its
stdout and stderr go, merged, to a log file and to a ring buffer of recent lines. It is ready when the
process is alive and its health URL answers 200; refused connections and 503 mean "still loading".
While it runs, a record in a state file lets a later app start find it again and stop it.

The server writes its output straight into its log file (never into a pipe to the app), and the
supervisor follows that file: so a server the user keeps running when the app quits does not lose
its stdout, and a later app start can show its log. The lines the supervisor hands on are redacted;
the file is the server's own output, readable only by the user.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import redact, register_secret
from desktop.processenv import child_environment, group_alive, own_group_options

log = logging.getLogger(__name__)

LOG_RING_LINES = 500
DEFAULT_TAIL_LINES = 40
DEFAULT_STOP_TIMEOUT_S = 10.0
_MASK = "********"
_SECRET_ENV_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD")
_POLL_FIRST_S = 0.1
_POLL_MAX_S = 1.0
_HEALTH_REQUEST_TIMEOUT_S = 2.0
_READ_CHUNK = 65536
_TAIL_POLL_S = 0.1  # how often the log file is read for new output


class ServerState(StrEnum):
    """Where a supervised server is in its life."""

    NEW = "new"  # not started yet
    STARTING = "starting"  # being spawned
    LOADING = "loading"  # running, health URL not yet 200
    READY = "ready"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"  # exited without being asked to (or failed to start)


@dataclass(frozen=True)
class StateChanged:
    """The server moved to `state`; for crashed/stopped, its exit status and the end of its log."""

    state: ServerState
    exit_status: int | None = None
    log_tail: str = ""


@dataclass(frozen=True)
class LogLines:
    """New lines of the server's output (redacted), in order."""

    lines: tuple[str, ...]


SupervisorEvent = StateChanged | LogLines


class AdviceLike(Protocol):
    """What a log classifier returns: a user-facing cause and what to do about it."""

    @property
    def message(self) -> str: ...

    @property
    def hint(self) -> str: ...


Classifier = Callable[[str], AdviceLike | None]
# GET url with headers → HTTP status; raises OSError or httpx.HTTPError when nothing answers.
HttpGet = Callable[[str, Mapping[str, str]], Awaitable[int]]


async def answers_health(command: ServerCommand, http_get: HttpGet, base: str) -> bool:
    """Whether the server at `base` (http://host:port) is ready: 200 on its engine's first health path that it
    knows (404: try the next one)."""
    import httpx

    headers = {"Authorization": f"Bearer {command.api_key}"} if command.api_key else {}
    for path in command.health_paths:
        try:
            status = await http_get(f"{base}{path}", headers)
        except (OSError, httpx.HTTPError):
            return False  # refused or reset: still starting
        if status == 200:
            return True
        if status != 404:
            return False  # 503 while loading, or an error: not yet
    return False


class ServerStartFailed(UserFacingError):
    """The server exited, could not start, or did not become ready; carries the end of its log."""

    def __init__(self, message: str, hint: str = "", log_tail: str = "", *, exit_status: int | None = None) -> None:
        super().__init__(message, hint, detail=log_tail)
        self.log_tail = log_tail
        self.exit_status = exit_status


@dataclass(frozen=True, repr=False)
class ServerCommand:
    """One server launch: the exact command line, environment additions, where it listens and its key."""

    argv: tuple[str, ...]
    port: int
    engine: str
    api_key: str | None = field(default=None, repr=False)
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    model: str = ""
    health_path: str = "/health"
    # Tried in order when a path answers 404 (transformers serve versions differ, llama.cpp too).
    health_fallbacks: tuple[str, ...] = ("/v1/models",)
    cwd: Path | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL the server will answer on."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def health_paths(self) -> tuple[str, ...]:
        """The health path and its fallbacks, without repeats."""
        return tuple(dict.fromkeys((self.health_path, *self.health_fallbacks)))

    def display(self) -> str:
        """The command as one shell line (environment additions first), with secrets masked."""
        env = {name: _MASK if _is_secret_name(name) else value for name, value in self.env.items()}
        if sys.platform == "win32":
            prefix = "".join(f'set "{name}={value}" && ' for name, value in env.items())
            return prefix + subprocess.list2cmdline(self._masked_argv())
        prefix = "".join(f"{name}={shlex.quote(value)} " for name, value in env.items())
        return prefix + shlex.join(self._masked_argv())

    def __repr__(self) -> str:
        # The key is in argv too (--api-key KEY): never let a repr in a log or traceback show it.
        return f"ServerCommand(engine={self.engine!r}, port={self.port}, command={self.display()!r})"

    def _masked_argv(self) -> list[str]:
        key = self.api_key
        if not key:
            return list(self.argv)
        return [_MASK if word == key else word.replace(key, _MASK) for word in self.argv]


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return any(word in upper for word in _SECRET_ENV_WORDS)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing was bound to a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` on `host` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def new_api_key() -> str:
    """A fresh random key for one server launch."""
    return secrets.token_urlsafe(32)


def api_key_hint(key: str | None) -> str:
    """A few characters that identify a key without revealing it."""
    return f"…{key[-4:]}" if key else ""


# -- the state file ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunningServerRecord:
    """What a later app start needs to find a server this app left running (never the key itself)."""

    pid: int
    pgid: int
    port: int
    api_key_hint: str
    engine: str
    model: str
    started_at: float  # the process's creation time (epoch seconds): tells it from a reused pid
    log_path: str

    def to_json(self) -> str:
        """The record as JSON."""
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> RunningServerRecord:
        """Parse a record; raise ValueError if it is malformed."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the server record is not a JSON object")
        try:
            return cls(pid=int(data["pid"]), pgid=int(data["pgid"]), port=int(data["port"]),
                       api_key_hint=str(data["api_key_hint"]), engine=str(data["engine"]),
                       model=str(data["model"]), started_at=float(data["started_at"]),
                       log_path=str(data["log_path"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"the server record is malformed: {exc}") from exc


def write_record(path: Path, record: RunningServerRecord) -> None:
    """Write `record` to `path` atomically (a crash never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(record.to_json(), encoding="utf-8")
    temporary.replace(path)


def find_recorded_server(path: Path) -> RunningServerRecord | None:
    """The server recorded at `path` if that very process still runs; None for no, stale or broken files."""
    try:
        record = RunningServerRecord.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.info("Ignoring the unreadable server record %s: %s", path, exc)
        return None
    created = process_create_time(record.pid)
    if created is None or abs(created - record.started_at) > 1.0:
        log.info("Ignoring the stale server record %s (pid %d is gone or reused)", path, record.pid)
        return None
    return record


def stop_recorded(record: RunningServerRecord, timeout_s: float = DEFAULT_STOP_TIMEOUT_S,
                  path: Path | None = None) -> None:
    """Stop an adopted server's whole group (SIGTERM, then SIGKILL); blocking. Removes `path` if given."""
    created = process_create_time(record.pid)
    if created is not None and abs(created - record.started_at) <= 1.0:
        terminate_group(record.pgid, timeout_s)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _let_go(process: asyncio.subprocess.Process) -> None:
    """Drop asyncio's hold on a child that must outlive the app, so that neither kills it nor warns about it.

    asyncio has no public way to do this: closing the transport kills a running child, and a dropped
    `Popen` reports it "still running". If these private names change, only the warning comes back.
    """
    transport = getattr(process, "_transport", None)
    with contextlib.suppress(AttributeError):
        transport._closed = True  # type: ignore[union-attr]  # noqa: SLF001 - close() would kill the child
        transport._proc.returncode = 0  # type: ignore[union-attr]  # noqa: SLF001 - ends "still running"


def terminate_group(pgid: int, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
    """End a server's whole process group now: SIGTERM, SIGKILL after `timeout_s` (Windows: its tree). Blocking."""
    if sys.platform == "win32":
        _win_terminate_pid_tree(pgid)
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if group_alive(pgid):
        _signal_group(pgid, signal.SIGKILL)


def process_create_time(pid: int) -> float | None:
    """When process `pid` started (epoch seconds), or None if it does not exist (or is a zombie)."""
    try:
        import psutil
    except ImportError:
        return _proc_create_time(pid)
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _proc_create_time(pid: int) -> float | None:
    """Creation time from /proc (Linux without psutil)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the command name may contain spaces and parentheses
    if fields[0] == "Z":
        return None
    ticks = int(fields[19])  # field 22 of the whole line: starttime, in clock ticks after boot
    return float(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")


# -- process groups -------------------------------------------------------------------------------------------------
def _signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


# -- the supervisor ----------------------------------------------------------------------------------------------------
class ServerSupervisor:
    """Runs one `ServerCommand` as a supervised child on the running asyncio loop."""

    def __init__(self, command: ServerCommand, log_path: Path, *,
                 on_event: Callable[[SupervisorEvent], None] | None = None,
                 http_get: HttpGet | None = None,
                 classify: Classifier | None = None,
                 state_path: Path | None = None) -> None:
        self.command = command
        self.log_path = log_path
        self.state_path = state_path
        self._on_event = on_event
        self._http_get = http_get
        self._classify = classify
        self._state = ServerState.NEW
        self._lines: collections.deque[str] = collections.deque(maxlen=LOG_RING_LINES)
        self._process: asyncio.subprocess.Process | None = None
        self._log_offset = 0
        self._reader: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._exited: asyncio.Event = asyncio.Event()
        self._stop_requested = False
        self._detached = False
        self._job: Any = None  # Windows job object handle
        if command.api_key:
            register_secret(command.api_key)

    # -- what callers read
    @property
    def state(self) -> ServerState:
        """The current state."""
        return self._state

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL clients use."""
        return self.command.base_url

    @property
    def pid(self) -> int | None:
        """The server process's id (also its process group id), once started."""
        return self._process.pid if self._process is not None else None

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited (negative: killed by that signal)."""
        return self._process.returncode if self._process is not None else None

    def log_tail(self, n: int = DEFAULT_TAIL_LINES) -> str:
        """The last `n` lines of output (redacted)."""
        lines = list(self._lines)
        return "\n".join(lines[-n:] if n > 0 else [])

    # -- life cycle
    async def start(self) -> None:
        """Spawn the server; raise ServerStartFailed if its port is taken or the program cannot be run."""
        if self._state is not ServerState.NEW:
            raise RuntimeError("a ServerSupervisor starts one server once")
        command = self.command
        self._set_state(ServerState.STARTING)
        if not port_is_free(command.port, command.host):
            self._set_state(ServerState.CRASHED)
            raise ServerStartFailed(
                _("Port {port} on {host} is already in use, so the server cannot listen there.").format(
                    port=command.port, host=command.host),
                _("Another program (or a server started earlier) is using it. Stop that program or pick "
                  "another port."))
        try:
            log_fd = self._open_log()
        except OSError as exc:
            self._set_state(ServerState.CRASHED)
            raise ServerStartFailed(
                _("Could not write the server's log {path}: {error}").format(path=self.log_path, error=exc.strerror),
                _("Free some disk space or check that folder's permissions, then start it again.")) from exc
        # Python engines buffer a redirected stdout in blocks; the log must show each line as it comes.
        env = child_environment({"PYTHONUNBUFFERED": "1", **command.env})
        kwargs = own_group_options()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *command.argv, stdin=asyncio.subprocess.DEVNULL, stdout=log_fd,
                stderr=asyncio.subprocess.STDOUT, env=env, cwd=command.cwd, **kwargs)
        except OSError as exc:
            self._set_state(ServerState.CRASHED)
            raise ServerStartFailed(
                _("Could not run the {engine} server: {error}").format(engine=command.engine, error=exc),
                _("Check that {engine} is installed (the program is {program}).").format(
                    engine=command.engine, program=command.argv[0] if command.argv else "?")) from exc
        finally:
            os.close(log_fd)  # the child has its own copy
        if sys.platform == "win32":
            self._job = _win_assign_job(self._process.pid)
        log.info("Started %s server (pid %d): %s", command.engine, self._process.pid, command.display())
        self._reader = asyncio.create_task(self._read_output(), name="server-log-reader")
        self._watcher = asyncio.create_task(self._watch_exit(), name="server-exit-watcher")
        self._set_state(ServerState.LOADING)
        if self._stop_requested:  # stop() was called while it was being spawned
            await self.stop()
            raise ServerStartFailed(_("The start was cancelled."))

    def _open_log(self) -> int:
        """Create the log file (only the user may read it) and write the command line at its top."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # An engine may print its own arguments, SGLang's key among them.
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o600)
        try:
            os.write(log_fd, f"$ {self.command.display()}\n".encode())
            self._log_offset = os.fstat(log_fd).st_size
        except OSError:
            os.close(log_fd)
            raise
        return log_fd

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the health URL answers 200; raise ServerStartFailed if the server exits or times out.

        On a timeout the server is left running (the caller may wait longer or call `stop`).
        """
        if self._state is ServerState.READY:
            return
        if self._process is None:
            raise RuntimeError("start() the server first")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        delay = _POLL_FIRST_S
        client: Any = None
        http_get = self._http_get
        if http_get is None:
            import httpx

            client = httpx.AsyncClient(timeout=_HEALTH_REQUEST_TIMEOUT_S, trust_env=False)

            async def default_get(url: str, headers: Mapping[str, str]) -> int:
                response = await client.get(url, headers=dict(headers))
                return int(response.status_code)

            http_get = default_get
        try:
            while True:
                if self._exited.is_set():
                    raise self._exit_error()
                if await answers_health(self.command, http_get, f"http://{self.command.host}:{self.command.port}"):
                    if self._exited.is_set():
                        raise self._exit_error()
                    self._became_ready()
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise self._timeout_error(timeout_s)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._exited.wait(), min(delay, remaining))
                delay = min(delay * 1.5, _POLL_MAX_S)
        finally:
            if client is not None:
                await client.aclose()

    async def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> None:
        """Stop the server and everything it spawned: SIGTERM to the group, SIGKILL after `timeout_s`.

        Idempotent; also cleans up what a crashed server's children left behind.
        """
        process = self._process
        self._stop_requested = True
        if process is None:
            # Not spawned yet (or never): start() sees the request and stops what it spawns.
            if self._state is ServerState.NEW:
                self._set_state(ServerState.STOPPED)
            return
        if process.returncode is None and self._state not in (ServerState.STOPPING, ServerState.STOPPED):
            self._set_state(ServerState.STOPPING)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if sys.platform == "win32":
            await self._stop_windows(process, timeout_s)
        else:
            pgid = process.pid  # the leader of its own session
            _signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), max(0.0, deadline - loop.time()))
            # Each check reads /proc: off the loop's thread, which is the UI's.
            while await asyncio.to_thread(group_alive, pgid) and loop.time() < deadline:
                await asyncio.sleep(0.05)
            if process.returncode is None or await asyncio.to_thread(group_alive, pgid):
                log.info("The %s server did not stop within %.0f s; killing its process group",
                         self.command.engine, timeout_s)
                _signal_group(pgid, signal.SIGKILL)
            await process.wait()
            # SIGKILL cannot be ignored; give the kernel a moment to finish off the rest of the group.
            settle = loop.time() + 5.0
            while await asyncio.to_thread(group_alive, pgid) and loop.time() < settle:
                await asyncio.sleep(0.02)
        for task in (self._reader, self._watcher):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):  # the watcher is cancelled by detach()
                    await task
        self._remove_record()

    async def detach(self) -> None:
        """Leave the server running after the app quits (the user chose "keep running").

        The supervisor stops following it; its state-file record stays, so the next app start finds it
        and offers to use or stop it. On Windows its job no longer kills it when the app's handle closes.
        """
        if self._process is None or self._process.returncode is not None:
            return
        self._detached = True
        if sys.platform == "win32" and self._job is not None:
            _win_close_job(self._job, terminate=False, release=True)
            self._job = None
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        if self._reader is not None:
            await self._reader
        _let_go(self._process)
        log.info("Left the %s server (pid %d) running on port %d", self.command.engine, self._process.pid,
                 self.command.port)

    @property
    def detached(self) -> bool:
        """True once `detach` has let the server go."""
        return self._detached

    # -- internals
    def _became_ready(self) -> None:
        self._set_state(ServerState.READY)
        log.info("The %s server on port %d is ready", self.command.engine, self.command.port)
        if self.state_path is not None and self._process is not None:
            pid = self._process.pid
            record = RunningServerRecord(
                pid=pid, pgid=pid, port=self.command.port, api_key_hint=api_key_hint(self.command.api_key),
                engine=self.command.engine, model=self.command.model,
                started_at=process_create_time(pid) or time.time(), log_path=str(self.log_path))
            write_record(self.state_path, record)

    def _remove_record(self) -> None:
        """Remove the state file if it is this server's (another run's server may be recorded there)."""
        if self.state_path is None or self._process is None:
            return
        try:
            record = RunningServerRecord.from_json(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            record = None  # unreadable: nobody can use it
        if record is None or record.pid == self._process.pid:
            with contextlib.suppress(FileNotFoundError):
                self.state_path.unlink()

    def _exit_error(self) -> ServerStartFailed:
        status = self.returncode
        tail = self.log_tail()
        message = _("The {engine} server exited with status {status}.").format(
            engine=self.command.engine, status=status)
        hint = _("The end of its log says why; the full log is in {path}.").format(path=self.log_path)
        advice = self._classify("\n".join(self._lines)) if self._classify is not None else None
        if advice is not None:
            message = f"{message} {advice.message}"
            hint = advice.hint or hint
        return ServerStartFailed(message, hint, tail, exit_status=status)

    def _timeout_error(self, timeout_s: float) -> ServerStartFailed:
        tail = self.log_tail()
        message = _("The {engine} server did not become ready in {s:.0f} s.").format(
            engine=self.command.engine, s=timeout_s)
        hint = _("Large models can take many minutes to load. The end of its log (below, and in {path}) shows "
                 "how far it got.").format(path=self.log_path)
        return ServerStartFailed(message, hint, tail)

    async def _read_output(self) -> None:
        """Follow the log file the server writes to, into the ring buffer and events, line by line."""
        process = self._process
        assert process is not None
        pending = b""
        exited = False
        try:
            with self.log_path.open("rb") as log_file:
                log_file.seek(self._log_offset)
                while not self._detached:
                    # Read (in a worker thread) only when the file grew: an idle server costs one fstat a poll.
                    grew = os.fstat(log_file.fileno()).st_size > log_file.tell()
                    chunk = await asyncio.to_thread(log_file.read, _READ_CHUNK) if grew else b""
                    if chunk:
                        pending += chunk
                        *complete, pending = pending.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
                        self._add_lines(complete)
                        continue
                    if exited:
                        break  # everything written before (and just after) the exit has been read
                    if process.returncode is not None:
                        exited = True  # one more read: its last words may have landed after that EOF
                        await asyncio.sleep(_TAIL_POLL_S)
                        continue
                    await asyncio.sleep(_TAIL_POLL_S)
        except OSError as exc:
            log.warning("Stopped following the server's log %s: %s", self.log_path, exc)
        if pending:
            self._add_lines([pending])

    def _add_lines(self, raw: list[bytes]) -> None:
        lines = tuple(redact(line.decode("utf-8", "replace")) for line in raw if line.strip())
        if lines:
            self._lines.extend(lines)
            self._emit(LogLines(lines))

    async def _watch_exit(self) -> None:
        """Notice the process ending; unless asked to stop, that is a crash."""
        process = self._process
        assert process is not None
        status = await process.wait()
        if self._reader is not None:
            await self._reader  # the whole log, before anyone reads the tail
        self._exited.set()
        if self._stop_requested:
            if self._state is not ServerState.CRASHED:
                self._set_state(ServerState.STOPPED, status)
            log.info("The %s server stopped (status %s)", self.command.engine, status)
            return
        log.info("The %s server exited unexpectedly with status %s", self.command.engine, status)
        self._remove_record()
        self._set_state(ServerState.CRASHED, status)

    def _set_state(self, state: ServerState, exit_status: int | None = None) -> None:
        self._state = state
        final = state in (ServerState.CRASHED, ServerState.STOPPED)
        self._emit(StateChanged(state, exit_status, self.log_tail() if final else ""))

    def _emit(self, event: SupervisorEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("A server event handler failed")

    async def _stop_windows(self, process: asyncio.subprocess.Process, timeout_s: float) -> None:
        """Ask politely (CTRL_BREAK to the group), then end the whole job."""
        if process.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(process.pid, signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined,unused-ignore]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), timeout_s)
        if self._job is not None:
            _win_close_job(self._job, terminate=True)
            self._job = None
        elif process.returncode is None:
            process.kill()
        await process.wait()


# -- Windows: a job object that owns the server's process tree ---------------------------------------------------
_JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
_JOB_OBJECT_EXTENDED_LIMIT_INFORMATION = 9
_PROCESS_SET_QUOTA = 0x0100
_PROCESS_TERMINATE = 0x0001
_PROCESS_QUERY_INFORMATION = 0x0400


def _win_set_job_flags(kernel32: Any, job: Any, flags: int) -> None:
    """Set a job's basic limit flags (JOBOBJECT_EXTENDED_LIMIT_INFORMATION)."""
    import ctypes
    from ctypes import wintypes

    class IoCounters(ctypes.Structure):
        _fields_ = [(name, ctypes.c_ulonglong) for name in (
            "ReadOperationCount", "WriteOperationCount", "OtherOperationCount",
            "ReadTransferCount", "WriteTransferCount", "OtherTransferCount")]

    class BasicLimits(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                    ("LimitFlags", wintypes.DWORD), ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", wintypes.DWORD),
                    ("Affinity", ctypes.c_size_t), ("PriorityClass", wintypes.DWORD),
                    ("SchedulingClass", wintypes.DWORD)]

    class ExtendedLimits(ctypes.Structure):
        _fields_ = [("BasicLimitInformation", BasicLimits), ("IoInfo", IoCounters),
                    ("ProcessMemoryLimit", ctypes.c_size_t), ("JobMemoryLimit", ctypes.c_size_t),
                    ("PeakProcessMemoryUsed", ctypes.c_size_t), ("PeakJobMemoryUsed", ctypes.c_size_t)]

    kernel32.SetInformationJobObject.argtypes = (wintypes.HANDLE, ctypes.c_int, ctypes.c_void_p, wintypes.DWORD)
    info = ExtendedLimits()
    info.BasicLimitInformation.LimitFlags = flags
    if not kernel32.SetInformationJobObject(job, _JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, ctypes.byref(info),
                                            ctypes.sizeof(info)):
        log.info("Could not set the server job's limits (error %d)",
                 ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]


def _win_assign_job(pid: int) -> Any:
    """Put process `pid` in a new job that kills every process in it when closed. Returns the job handle."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.CreateJobObjectW.restype = wintypes.HANDLE
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.AssignProcessToJobObject.argtypes = (wintypes.HANDLE, wintypes.HANDLE)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    job = kernel32.CreateJobObjectW(None, None)
    if not job:
        log.info("No job object for the server (error %d); stopping falls back to its process",
                 ctypes.get_last_error())  # type: ignore[attr-defined,unused-ignore]
        return None
    _win_set_job_flags(kernel32, job, _JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE)
    handle = kernel32.OpenProcess(_PROCESS_SET_QUOTA | _PROCESS_TERMINATE, False, pid)
    # The child may already have spawned workers before it joined; they are still in its process group.
    if not handle or not kernel32.AssignProcessToJobObject(job, handle):
        log.info("Could not put the server in a job object")
    if handle:
        kernel32.CloseHandle(handle)
    return job


def _win_close_job(job: Any, *, terminate: bool, release: bool = False) -> None:
    """Close the job handle: `terminate` ends its processes first; `release` lets them outlive the handle."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.TerminateJobObject.argtypes = (wintypes.HANDLE, wintypes.UINT)
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    if terminate:
        kernel32.TerminateJobObject(job, 1)
    elif release:
        _win_set_job_flags(kernel32, job, 0)
    kernel32.CloseHandle(job)


def _win_terminate_pid_tree(pid: int) -> None:
    """Stop an adopted server on Windows (its job handle died with the app that made it): kill the tree."""
    subprocess.run(["taskkill", "/PID", str(pid), "/T", "/F"], capture_output=True, check=False)  # noqa: S603,S607
