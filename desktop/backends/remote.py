"""A GPU server reached over SSH: probe it, start an engine there, follow its log, reach it through a tunnel,
find it again after the app or the link went away, and stop it.

Everything the host runs is plain Python 3 (which any engine needs anyway) given on the command line or
stdin; nothing of the app is installed there except the probe, copied into ~/.cache/glmv-desktop.

- The probe is the app's own (`desktop.backends.hardware`), sent as a small zip archive of its modules.
- A server is started by a helper that puts it in its own session (so it outlives the SSH connection
  and is stopped as a group), writes its output to a log file only the user can read, and records it in
  ~/.local/state/glmv-desktop/server.json (pid, port, the process's start time, never the key). Secret
  environment values (the server's key) travel on stdin, so the host's process list never shows them.
- The server listens on the host's 127.0.0.1 only; `RemoteSupervisor` forwards a local port to it.
- When the link drops, the supervisor reconnects with growing pauses, forwards the same local port
  again and follows the log from where it stopped; the server keeps running meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import json
import logging
import shlex
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop.backends.hardware import HardwareReport
from desktop.backends.ssh import SshConnection, SshDisconnected, SshError, signal_process
from desktop.backends.supervisor import (
    LogLines,
    ServerCommand,
    ServerStartFailed,
    ServerState,
    StateChanged,
    answers_health,
    api_key_hint,
)
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.logsetup import redact, register_secret

log = logging.getLogger(__name__)

REMOTE_ROOT = ".local/share/glmv-desktop"  # the app's models and engines there, under the host user's home
MODELS_DIR = f"~/{REMOTE_ROOT}/models"
STATE_DIR = "~/.local/state/glmv-desktop"
CACHE_DIR = "~/.cache/glmv-desktop"
PROBE_MODULES = ("desktop/__init__.py", "desktop/i18n.py", "desktop/processenv.py", "desktop/backends/__init__.py",
                 "desktop/backends/catalog.py", "desktop/backends/hardware.py")
FETCH_MODULE = "desktop/backends/host_fetch.py"
HOST_MODULES = (*PROBE_MODULES, FETCH_MODULE)  # the app's modules that run on hosts, sent there as source
HOST_SOURCES = "host_programs"  # where the installers keep those sources (their modules are compiled)
MIN_PYTHON = (3, 9)
LOG_RING_LINES = 2000
RECONNECT_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
HEALTH_TIMEOUT_S = 5.0
SERVER_POLL_S = 3.0  # how often a ready server is checked to still run there

# The host's side: one small Python program with three verbs, given with `python3 -c`. It reads its
# arguments as JSON on stdin (secrets included) and prints one JSON object.
_HELPER = r'''
import json, os, signal, subprocess, sys, time
def stat(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return f.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
def started(pid):
    fields = stat(pid)  # a zombie (exited, its parent not yet told) runs no more
    return fields[19] if fields and fields[0] != "Z" else None
def alive_group(pgid):
    for name in os.listdir("/proc"):
        fields = stat(name) if name.isdigit() else None
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
def read_record():
    try:
        with open(record_path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
args = json.loads(sys.stdin.readline() or "{}")
verb = sys.argv[1]
state = os.path.expanduser(args["state"])
record_path = os.path.join(state, args.get("record_file", "server.json"))
if verb == "launch":
    os.makedirs(os.path.join(state, "logs"), mode=0o700, exist_ok=True)
    os.chmod(state, 0o700)
    for folder in args.get("prepare", []):
        os.makedirs(os.path.expanduser(folder), mode=0o700, exist_ok=True)
    log_path = os.path.join(state, "logs", args["log_name"])
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, ("$ " + args["display"] + "\n").encode())
    env = dict(os.environ, PYTHONUNBUFFERED="1", **args["env"])
    if "GLMV_JOB_STATUS" in env:
        env["GLMV_JOB_STATUS"] = os.path.expanduser(env["GLMV_JOB_STATUS"])
    try:
        process = subprocess.Popen(args["argv"], stdin=subprocess.DEVNULL, stdout=fd, stderr=subprocess.STDOUT,
                                   env=env, cwd=os.path.expanduser("~"), start_new_session=True)
    except OSError as exc:
        print(json.dumps({"error": str(exc)}))
        sys.exit(0)
    record = dict(args["record"], pid=process.pid, pgid=process.pid, started=started(process.pid),
                  log_path=log_path, status_path=env.get("GLMV_JOB_STATUS", ""))
    with open(record_path + ".tmp", "w") as f:
        json.dump(record, f)
    os.replace(record_path + ".tmp", record_path)
    print(json.dumps(record))
elif verb == "status":
    record = read_record()
    status = None
    if record is not None and record.get("status_path") and os.path.exists(record["status_path"]):
        with open(record["status_path"]) as f:
            status = int(f.read().strip() or -1)
    if record is not None and started(record["pid"]) != record.get("started"):
        record = None
    print(json.dumps({"record": record, "exit_status": status}))
elif verb == "stop":
    pgid, deadline = int(args["pgid"]), time.time() + float(args.get("timeout", 20))
    if started(pgid) == args.get("started"):
        os.killpg(pgid, signal.SIGTERM)
        while alive_group(pgid) and time.time() < deadline:
            time.sleep(0.05)
        if alive_group(pgid):
            os.killpg(pgid, signal.SIGKILL)
            while alive_group(pgid) and time.time() < deadline + 5:
                time.sleep(0.02)
    record = read_record()
    if record is None or record.get("pid") == pgid:
        try:
            os.remove(record_path)
        except OSError:
            pass
    print(json.dumps({"stopped": not alive_group(pgid)}))
elif verb == "port":
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(json.dumps({"port": s.getsockname()[1]}))
    s.close()
'''


class RemoteError(UserFacingError):
    """The host cannot do what was asked (no Python, a failed command); the message says what to do."""


@dataclass(frozen=True)
class RemoteServerRecord:
    """A server the app started on a host, as the host's state file records it (never its key)."""

    pid: int
    port: int  # on the host's 127.0.0.1
    engine: str
    model: str
    log_path: str
    started: str  # the process's start time in clock ticks since boot: tells it from a reused pid
    api_key_hint: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RemoteServerRecord:
        """Parse the helper's JSON; raise ValueError when it is not a record."""
        try:
            return cls(pid=int(data["pid"]), port=int(data["port"]), engine=str(data["engine"]),
                       model=str(data["model"]), log_path=str(data["log_path"]), started=str(data["started"]),
                       api_key_hint=str(data.get("api_key_hint", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a server record: {exc}") from exc


def host_source(name: str) -> bytes:
    """The source of one of HOST_MODULES: from the source tree, or from the installed app's copy."""
    root = Path(__file__).resolve().parents[2]
    bundled = root / HOST_SOURCES
    return ((bundled if bundled.is_dir() else root) / name).read_bytes()


@functools.cache
def probe_archive() -> bytes:
    """The probe as a zip archive Python runs directly: the app's hardware module and what it imports. The
    same bytes for the same sources (no time stamps), so a host's cache keeps one copy."""
    out = io.BytesIO()

    def entry(name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))

    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in PROBE_MODULES:
            archive.writestr(entry(name), host_source(name), zipfile.ZIP_DEFLATED)
        archive.writestr(entry("__main__.py"), (
            "import enum, sys\n"
            "if not hasattr(enum, 'StrEnum'):  # Python < 3.11\n"
            "    class StrEnum(str, enum.Enum):\n"
            "        def __str__(self):\n"
            "            return str(self.value)\n"
            "    enum.StrEnum = StrEnum\n"
            "from desktop.backends.hardware import main\n"
            "sys.exit(main(sys.argv[1:]))\n"), zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _remote_path(path: str) -> str:
    """`path` for the host's shell: ~/… becomes "$HOME"/… (expanded there), everything else quoted."""
    if path == "~" or path.startswith("~/"):
        return '"$HOME"' + (shlex.quote(path[1:]) if len(path) > 1 else "")
    return shlex.quote(path)


class SshHost:
    """A host reached through `connection` (connected by the caller): probe, launch, find, stop."""

    def __init__(self, connection: SshConnection, python: str = "python3", *, state_dir: str = STATE_DIR,
                 cache_dir: str = CACHE_DIR) -> None:
        """`state_dir` (the record and the logs) and `cache_dir` (the probe) are on the host; ~ is its home."""
        self.connection = connection
        self.python = python
        self.state_dir = state_dir
        self.cache_dir = cache_dir
        self.job_env: dict[str, str] = {}  # added to every job's environment (a proxy, a package index)

    @property
    def label(self) -> str:
        """user@host:port, as typed."""
        return self.connection.target.label

    async def check_python(self) -> str:
        """The host's Python version; raise RemoteError when it has none (or one that is too old)."""
        code, out, err = await self.connection.run(
            f"{shlex.quote(self.python)} -c 'import sys; print(\"%d.%d.%d\" % sys.version_info[:3])'")
        if code != 0:
            raise RemoteError(_("{host} has no Python 3 ({python}).").format(host=self.label, python=self.python),
                              _("Install Python 3.10 or newer there (the engines need it too), or give the path "
                                "of one in the host's settings."), detail=err.strip())
        version = out.strip()
        if tuple(int(part) for part in version.split(".")[:2]) < MIN_PYTHON:
            raise RemoteError(_("{host} has Python {version}, which is too old.").format(host=self.label,
                                                                                       version=version),
                              _("Install Python 3.10 or newer there."))
        return version

    async def probe(self, models_dir: str = MODELS_DIR) -> HardwareReport:
        """The host's GPUs, memory and disk, by the app's own probe; raise RemoteError when it cannot run."""
        archive = probe_archive()
        put, target = self._put(archive, "probe", ".pyz")
        script = f"{put} && {shlex.quote(self.python)} {target} --json {_remote_path(models_dir)}"
        code, out, err = await self.connection.run(script, input_bytes=archive, timeout=120)
        if code != 0:
            await self.check_python()  # says so when there is no Python
            raise RemoteError(_("The hardware probe failed on {host}.").format(host=self.label), detail=err.strip())
        try:
            return HardwareReport.from_dict(json.loads(out))
        except ValueError as exc:
            raise RemoteError(_("The hardware probe on {host} answered something unexpected.").format(
                host=self.label), detail=f"{exc}: {out[:500]}") from exc

    def _put(self, data: bytes, stem: str, suffix: str) -> tuple[str, str]:
        """The shell command that writes `data` (given on its stdin) into the host's cache, named by its hash,
        and that file's path in the host's shell's words."""
        cache = _remote_path(self.cache_dir)
        target = f"{cache}/{shlex.quote(f'{stem}-{hashlib.sha256(data).hexdigest()[:12]}{suffix}')}"
        return f"mkdir -p {cache} && cat > {target}.part && mv {target}.part {target}", target

    async def upload(self, data: bytes, stem: str, suffix: str) -> str:
        """Put `data` into the host's cache; return its full path there."""
        put, target = self._put(data, stem, suffix)
        code, out, err = await self.connection.run(f"{put} && echo {target}", input_bytes=data, timeout=120)
        if code != 0 or not out.strip():
            raise RemoteError(_("Could not copy a file to {host}.").format(host=self.label),
                              _("Check that its home folder can be written and is not full."), detail=err.strip())
        return out.strip().splitlines()[-1]

    async def _helper(self, verb: str, args: Mapping[str, Any], timeout: float = 60,
                      record: str = "server.json") -> dict[str, Any]:
        code, out, err = await self.connection.run(
            f"{shlex.quote(self.python)} -c {shlex.quote(_HELPER)} {verb}",
            input_text=json.dumps({**args, "state": self.state_dir, "record_file": record}) + "\n", timeout=timeout)
        if code != 0:
            await self.check_python()
            raise RemoteError(_("A command failed on {host}.").format(host=self.label), detail=redact(err.strip()))
        try:
            answer = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError) as exc:
            raise RemoteError(_("{host} answered something unexpected.").format(host=self.label),
                              detail=redact(out[-500:] + err[-500:])) from exc
        if not isinstance(answer, dict):
            raise RemoteError(_("{host} answered something unexpected.").format(host=self.label))
        return answer

    async def free_port(self) -> int:
        """A TCP port free on the host's 127.0.0.1 a moment ago."""
        return int((await self._helper("port", {}))["port"])

    async def launch(self, command: ServerCommand, log_name: str) -> RemoteServerRecord:
        """Start `command` on the host in its own session, its output in a log file; return its record.

        Raise ServerStartFailed when the program cannot be started there.
        """
        # The environment (the key among it) goes on stdin with the rest: never on the host's command lines.
        answer = await self._helper("launch", {
            "argv": list(command.argv), "env": dict(command.env), "display": command.display(), "log_name": log_name,
            "record": {"port": command.port, "engine": command.engine, "model": command.model,
                       "api_key_hint": api_key_hint(command.api_key)}})
        if "error" in answer:
            raise ServerStartFailed(
                _("Could not run the {engine} server on {host}: {error}").format(
                    engine=command.engine, host=self.label, error=answer["error"]),
                _("Check that {engine} is installed there (the program is {program}).").format(
                    engine=command.engine, program=command.argv[0] if command.argv else "?"))
        return RemoteServerRecord.from_dict(answer)

    async def find_server(self) -> RemoteServerRecord | None:
        """The server an earlier run left on the host, if that very process still runs."""
        record = (await self._helper("status", {})).get("record")
        return RemoteServerRecord.from_dict(record) if record else None

    async def stop(self, record: RemoteServerRecord, timeout_s: float = 20.0) -> bool:
        """Stop the server's whole process group (SIGTERM, then SIGKILL); True when nothing of it is left."""
        answer = await self._helper("stop", {"pgid": record.pid, "started": record.started, "timeout": timeout_s},
                                    timeout=timeout_s + 30)
        return bool(answer.get("stopped"))

    # -- jobs: long commands (an install, a download) that run there on their own, like a server
    async def start_job(self, name: str, argv: Sequence[str],
                        env: Mapping[str, str] | None = None) -> RemoteServerRecord:
        """Run `argv` on the host in its own session with its output in a log; `job_state` tells when it ended and
        how. Its record is `job-NAME.json` beside the server's."""
        status = f"{self.state_dir}/jobs/{name}.status"
        # The exit status is written by a shell around the command: the job outlives the connection.
        shell = 'rm -f "$GLMV_JOB_STATUS"; code=0; "$@" || code=$?; echo $code > "$GLMV_JOB_STATUS"'
        wrapped = ["/bin/sh", "-c", shell, "job", *argv]
        answer = await self._helper("launch", {
            "argv": wrapped, "env": {**self.job_env, **(env or {}), "GLMV_JOB_STATUS": status},
            "display": shlex.join(argv), "log_name": f"job-{name}.log",
            "prepare": [f"{self.state_dir}/jobs"],
            "record": {"port": 0, "engine": name, "model": ""}}, record=f"job-{name}.json")
        if "error" in answer:
            raise RemoteError(_("Could not start {what} on {host}: {error}").format(what=name, host=self.label,
                                                                                   error=answer["error"]))
        return RemoteServerRecord.from_dict(answer)

    async def job_state(self, name: str) -> tuple[RemoteServerRecord | None, int | None]:
        """The job's record while it runs (None once it has ended) and its exit status once it has ended."""
        answer = await self._helper("status", {}, record=f"job-{name}.json")
        record = answer.get("record")
        status = answer.get("exit_status")
        return (RemoteServerRecord.from_dict(record) if record else None), (int(status) if status is not None else None)

    async def stop_job(self, record: RemoteServerRecord) -> None:
        """Stop a job and everything it started."""
        await self._helper("stop", {"pgid": record.pid, "started": record.started, "timeout": 10},
                           record=f"job-{record.engine}.json", timeout=40)

    async def follow(self, record: RemoteServerRecord, offset: int) -> asyncio.subprocess.Process:
        """`tail -F` of the server's log from byte `offset` (0: the start), as a process with stdout."""
        return await self.connection.stream(f"tail -c +{offset + 1} -F {shlex.quote(record.log_path)}")


@dataclass(frozen=True)
class LinkChanged:
    """The SSH link to the host dropped (`up` False, with why) or came back."""

    up: bool
    reason: str = ""


RemoteEvent = StateChanged | LogLines | LinkChanged


class RemoteSupervisor:
    """One server on an SSH host, seen like a local one: states, log lines, readiness, stop, keep running.

    `base_url` is the local end of the tunnel, stable across reconnections. Events arrive on the loop's
    thread through `on_event`.
    """

    def __init__(self, host: SshHost, command: ServerCommand, log_name: str, *,
                 on_event: Callable[[RemoteEvent], None] | None = None,
                 local_port: int | None = None) -> None:
        self.host = host
        self.command = command
        self.log_name = log_name
        self.on_event = on_event
        self.record: RemoteServerRecord | None = None
        self.local_port = local_port
        self._state = ServerState.NEW
        self._lines: deque[str] = deque(maxlen=LOG_RING_LINES)
        self._offset = 0
        self._tail: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._exited = asyncio.Event()
        self._link_up = True
        self._detached = False
        self._stopping = False
        if command.api_key:
            register_secret(command.api_key)

    @classmethod
    def adopt(cls, host: SshHost, record: RemoteServerRecord, *, api_key: str | None = None,
              on_event: Callable[[RemoteEvent], None] | None = None,
              local_port: int | None = None) -> RemoteSupervisor:
        """A supervisor for a server an earlier run left on the host (call `resume`); `api_key`: its key, as
        kept in the keychain (its health check needs it)."""
        command = ServerCommand(argv=(), port=record.port, engine=record.engine, model=record.model, api_key=api_key)
        supervisor = cls(host, command, Path(record.log_path).name, on_event=on_event, local_port=local_port)
        supervisor.record = record
        return supervisor

    # -- what callers read
    @property
    def state(self) -> ServerState:
        """The current state."""
        return self._state

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible URL on this computer (the tunnel's local end)."""
        return f"http://127.0.0.1:{self.local_port}/v1"

    @property
    def pid(self) -> int | None:
        """The server's process id on the host (not on this computer), once started."""
        return self.record.pid if self.record is not None else None

    @property
    def log_path(self) -> str:
        """Where its log is, in words: host:path."""
        path = self.record.log_path if self.record is not None else f"{self.host.state_dir}/logs/{self.log_name}"
        return f"{self.host.label}:{path}"

    @property
    def link_up(self) -> bool:
        """Whether the SSH link to the host is up now."""
        return self._link_up

    @property
    def detached(self) -> bool:
        """True once `detach` has let the server go."""
        return self._detached

    def log_tail(self, n: int = 40) -> str:
        """The last `n` lines of the server's output (redacted)."""
        return "\n".join(list(self._lines)[-n:])

    # -- life cycle
    async def start(self) -> None:
        """Start the server on the host, forward a local port to it and follow its log."""
        if self._state is not ServerState.NEW:
            raise RuntimeError("a RemoteSupervisor starts one server once")
        self._set_state(ServerState.STARTING)
        try:
            self.record = await self.host.launch(self.command, self.log_name)
        except BaseException:
            self._set_state(ServerState.CRASHED)
            raise
        log.info("Started %s server on %s (pid %d): %s", self.command.engine, self.host.label, self.record.pid,
                 self.command.display())
        await self._attach()
        self._set_state(ServerState.LOADING)

    async def resume(self) -> None:
        """Take up a server found on the host (see `adopt`): forward, follow; READY once it answers."""
        self._set_state(ServerState.LOADING)
        await self._attach()
        await self.wait_ready(60.0)

    async def _attach(self) -> None:
        assert self.record is not None
        self.local_port = await self.host.connection.forward(self.record.port, self.local_port)
        await self._follow()
        self._tasks.append(asyncio.create_task(self._watch_link(), name="ssh-link-watcher"))
        self._tasks.append(asyncio.create_task(self._watch_server(), name="remote-server-watcher"))

    async def _watch_server(self) -> None:
        """A ready server that exits (killed there, out of memory) is reported as crashed, with its log's end."""
        while not self._stopping and not self._detached:
            await asyncio.sleep(SERVER_POLL_S)
            if self._state is not ServerState.READY or self._stopping:
                continue
            alive = await self._server_alive()
            if self._stopping or self._detached:
                return
            if not alive:
                await asyncio.sleep(0.5)  # the log's last lines
                self._set_state(ServerState.CRASHED)
                return

    async def _follow(self) -> None:
        assert self.record is not None
        self._tail = await self.host.follow(self.record, self._offset)
        self._tasks.append(asyncio.create_task(self._read(self._tail), name="remote-log-reader"))

    async def _read(self, tail: asyncio.subprocess.Process) -> None:
        assert tail.stdout is not None
        while line := await tail.stdout.readline():
            self._offset += len(line)
            text = redact(line.decode("utf-8", "replace").rstrip("\r\n"))
            self._lines.append(text)
            self._emit(LogLines((text,)))

    async def wait_ready(self, timeout_s: float) -> None:
        """Wait until the server answers its health check through the tunnel; raise ServerStartFailed if it
        exits or is not ready in time (it is left running then: `stop` ends it)."""
        import httpx

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        next_check = loop.time()
        async with httpx.AsyncClient(timeout=HEALTH_TIMEOUT_S, trust_env=False) as client:

            async def get(url: str, headers: Mapping[str, str]) -> int:
                return (await client.get(url, headers=headers)).status_code

            while True:
                # Whether it still runs costs a command on the host: asked every few seconds, not at each poll.
                if loop.time() >= next_check:
                    next_check = loop.time() + SERVER_POLL_S
                    if not await self._server_alive():
                        self._set_state(ServerState.CRASHED)
                        raise ServerStartFailed(
                            _("The {engine} server on {host} exited.").format(engine=self.command.engine,
                                                                              host=self.host.label),
                            _("The end of its log says why."), self.log_tail())
                if await answers_health(self.command, get, f"http://127.0.0.1:{self.local_port}"):
                    self._set_state(ServerState.READY)
                    return
                if loop.time() >= deadline:
                    raise ServerStartFailed(
                        _("The {engine} server on {host} did not become ready in {s:.0f} s.").format(
                            engine=self.command.engine, host=self.host.label, s=timeout_s),
                        _("Large models can take many minutes to load; its log shows how far it got."),
                        self.log_tail())
                await asyncio.sleep(0.5)

    async def _server_alive(self) -> bool:
        """Whether the server still runs there (True while that cannot be asked: the link watcher deals with it)."""
        if not self._link_up:
            return True  # unknown while the link is down: the server keeps running without it
        try:
            found = await self.host.find_server()
        except SshError:
            return True
        return found is not None and self.record is not None and found.pid == self.record.pid

    async def _watch_link(self) -> None:
        connection = self.host.connection
        while not self._stopping and not self._detached:
            await connection.wait_closed()
            if self._stopping or self._detached:
                return
            self._link_up = False
            self._emit(LinkChanged(False, _("The SSH link to {host} dropped; reconnecting…").format(
                host=self.host.label)))
            await self._stop_tail()
            for attempt in range(10_000):
                await asyncio.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
                if self._stopping or self._detached:
                    return
                try:
                    await connection.connect()
                    break
                except SshError as exc:
                    log.info("Reconnecting to %s: %s", self.host.label, exc.message)
            assert self.record is not None
            found = await self.host.find_server()
            self._link_up = True
            if found is None or found.pid != self.record.pid:
                self._emit(LinkChanged(True))
                self._set_state(ServerState.CRASHED)
                return
            await connection.forward(self.record.port, self.local_port)
            await self._follow()
            self._emit(LinkChanged(True))

    async def stop(self, timeout_s: float = 20.0) -> None:
        """Stop the server and everything it started on the host; the tunnel and the log follower end."""
        self._stopping = True
        if self.record is not None and self._state not in (ServerState.STOPPED,):
            self._set_state(ServerState.STOPPING)
            try:
                await self.host.stop(self.record, timeout_s)
            except SshDisconnected:
                await self.host.connection.connect()
                await self.host.stop(self.record, timeout_s)
        await self._let_go()
        self._set_state(ServerState.STOPPED)

    async def detach(self) -> None:
        """Leave the server running on the host (found again by `SshHost.find_server` at the next start)."""
        self._detached = True
        await self._let_go()

    async def _let_go(self) -> None:
        """Stop following the log and watching the link."""
        await self._stop_tail()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _stop_tail(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None:
            signal_process(tail)
            await tail.wait()

    def _set_state(self, state: ServerState) -> None:
        if state is self._state:
            return
        self._state = state
        self._emit(StateChanged(state, None, self.log_tail() if state is ServerState.CRASHED else ""))

    def _emit(self, event: RemoteEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

