"""The server the app runs, on this computer or on an SSH host: launch a plan, make it the endpoint new
questions go to, follow its start-up, stop it (or leave it running on quit), and find a server left by an
earlier run.

On an SSH host (`backends.remote`) the server listens on the host's 127.0.0.1 and is reached through a
tunnel to a local port; its endpoint profile is the host's own (`remote_profile_id`), so each host keeps
its endpoint.

The server gets a free port on 127.0.0.1 and a fresh random key. Once it answers its health check one
endpoint profile — always the same id, updated on every launch — points at it and is made active.
The key goes to the OS keychain (in memory only when there is none), so that after a crash or a
"keep running" quit the next start can adopt the server; a new key is made at each launch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from desktop.assistant.cluster_start import ClusterStart
from desktop.assistant.remote_hosts import RemoteServerNote
from desktop.assistant.services import AppPaths
from desktop.backends.catalog import Engine
from desktop.backends.engines import build_command, request_model_name, supports_api_key
from desktop.backends.log_advice import classify
from desktop.backends.planner import Plan
from desktop.backends.remote import LinkChanged, RemoteServerRecord, RemoteSupervisor, SshHost
from desktop.backends.startup_stages import StartupStage, StartupTracker
from desktop.backends.supervisor import (
    LogLines,
    RunningServerRecord,
    ServerCommand,
    ServerStartFailed,
    ServerState,
    ServerSupervisor,
    StateChanged,
    SupervisorEvent,
    api_key_hint,
    find_recorded_server,
    free_port,
    new_api_key,
    process_create_time,
    stop_recorded,
    terminate_group,
)
from desktop.config.hosts import SshHostEntry
from desktop.config.profiles import EndpointProfile, Flavor, ProfileBook
from desktop.config.secrets import SecretStore
from desktop.errors import UserFacingError
from desktop.i18n import _
from desktop.secret import Secret

log = logging.getLogger(__name__)

LOCAL_PROFILE_ID = "local-server"
DEFAULT_READY_TIMEOUT_S = 900.0  # large models take minutes to load and compile
RAY_HEAD_SETTLE_S = 3.0  # Ray's head is up (or has failed) before the workers join it
ENGINE_FLAVOR = {Engine.VLLM: Flavor.VLLM, Engine.SGLANG: Flavor.SGLANG, Engine.LLAMA_CPP: Flavor.LLAMACPP,
                 Engine.TRANSFORMERS: Flavor.TRANSFORMERS}


Supervisor = ServerSupervisor | RemoteSupervisor


def remote_profile_id(host: SshHostEntry) -> str:
    """The id of the endpoint profile for the server on `host`."""
    return f"ssh-{host.id}"


@dataclass
class LocalServer:
    """A running server (here or on an SSH host) and the endpoint profile that points at it."""

    supervisor: Supervisor
    command: ServerCommand
    profile: EndpointProfile


@dataclass(frozen=True)
class StageReached:
    """The server's start-up moved on to `stage` (read from its log)."""

    stage: StartupStage


ServerEvent = SupervisorEvent | StageReached | LinkChanged


def prepare_server(plan: Plan, model_path: str, *, logs_dir: Path, state_path: Path | None = None,
                   executable: str | Path | None = None, served_name: str | None = None,
                   extra_env: Mapping[str, str] | None = None,
                   on_event: Callable[[SupervisorEvent], None] | None = None,
                   port: int | None = None) -> ServerSupervisor:
    """The supervisor for `plan`'s server on `port` (default: a free one) of 127.0.0.1, with a new key.

    Not started yet.
    """
    engine = plan.engine
    port = port or free_port()
    key = new_api_key() if supports_api_key(engine) else None
    argv, env = build_command(plan, model_path, port=port, api_key=key, executable=executable,
                              served_name=served_name)
    command = ServerCommand(argv=tuple(argv), port=port, engine=engine.value, api_key=key,
                            env={**env, **(extra_env or {})}, model=plan.model.id)
    return ServerSupervisor(command, logs_dir / f"{_file_name(plan.model.id)}-{engine.value}.log", on_event=on_event,
                            classify=lambda text: classify(text, engine), state_path=state_path)


def _file_name(model_id: str) -> str:
    # Folder models have ids like "folder:/home/me/models/x": keep only what a file name may hold.
    return "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in model_id)[-80:]


async def prepare_remote_server(plan: Plan, model_path: str, host: SshHost, *, executable: str | Path | None,
                                served_name: str | None = None, extra_env: Mapping[str, str] | None = None,
                                on_event: Callable[[SupervisorEvent | LinkChanged], None] | None = None,
                                local_port: int | None = None) -> RemoteSupervisor:
    """The supervisor for `plan`'s server on `host`, on a port free there, with a new key. Not started yet."""
    engine = plan.engine
    port = await host.free_port()
    key = new_api_key() if supports_api_key(engine) else None
    argv, env = build_command(plan, model_path, port=port, api_key=key, executable=executable,
                              served_name=served_name)
    command = ServerCommand(argv=tuple(argv), port=port, engine=engine.value, api_key=key,
                            env={**env, **(extra_env or {})}, model=plan.model.id)
    return RemoteSupervisor(host, command, f"{_file_name(plan.model.id)}-{engine.value}.log", on_event=on_event,
                            local_port=local_port)


async def activate(supervisor: Supervisor, plan: Plan, model_path: str, *, profiles: ProfileBook,
                   secrets: SecretStore, served_name: str | None = None,
                   host: SshHostEntry | None = None) -> LocalServer:
    """Point the server's endpoint profile (this computer's, or the host's) at a ready server, keep its key,
    and make it the active endpoint."""
    command = supervisor.command
    engine = plan.engine
    if host is None:
        name = _("This computer: {model} ({engine})").format(model=plan.model.name, engine=engine.label)
    else:
        name = _("{host}: {model} ({engine})").format(host=host.label, model=plan.model.name, engine=engine.label)
    profile = profiles.upsert(EndpointProfile(
        name=name, flavor=ENGINE_FLAVOR[engine], base_url=supervisor.base_url,
        model=request_model_name(plan, model_path, served_name),
        id=LOCAL_PROFILE_ID if host is None else remote_profile_id(host)))
    if command.api_key is not None:
        refused = await asyncio.to_thread(secrets.keep, profile.keychain_entry, Secret(command.api_key))
        if refused is not None:
            log.info("The local server's key is kept for this session only: %s", refused.message)
    profiles.set_active(profile.id, profile.model)
    return LocalServer(supervisor, command, profile)


async def launch_local_server(plan: Plan, model_path: str, *, profiles: ProfileBook, secrets: SecretStore,
                              logs_dir: Path, state_path: Path | None = None, executable: str | Path | None = None,
                              served_name: str | None = None, extra_env: Mapping[str, str] | None = None,
                              on_event: Callable[[SupervisorEvent], None] | None = None,
                              ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> LocalServer:
    """Start `plan`'s engine on `model_path`, wait until it is ready, then point the active endpoint at it.

    Raises the supervisor's `ServerStartFailed` (with the log's advice and tail) when the server
    exits or is not ready in time; the process is stopped then, so nothing is left running.
    """
    supervisor = prepare_server(plan, model_path, logs_dir=logs_dir, state_path=state_path, executable=executable,
                                served_name=served_name, extra_env=extra_env, on_event=on_event)
    await supervisor.start()
    try:
        await supervisor.wait_ready(ready_timeout_s)
    except BaseException:
        await supervisor.stop()
        raise
    return await activate(supervisor, plan, model_path, profiles=profiles, secrets=secrets, served_name=served_name)


# -- a server left by an earlier run --------------------------------------------------------------------------------
@dataclass
class AdoptedServer:
    """A server an earlier run of the app started and left running, now used again."""

    record: RunningServerRecord
    state_path: Path

    def alive(self) -> bool:
        """Whether that very process still runs (a reused pid does not count)."""
        created = process_create_time(self.record.pid)
        return created is not None and abs(created - self.record.started_at) <= 1.0

    def log_tail(self, max_bytes: int = 64 * 1024) -> str:
        """The end of its log file (it writes there directly); blocking, so call it off the UI thread."""
        try:
            with Path(self.record.log_path).open("rb") as log_file:
                log_file.seek(0, 2)
                size = log_file.tell()
                log_file.seek(max(0, size - max_bytes))
                data = log_file.read()
        except OSError:
            return ""
        from desktop.logsetup import redact

        text = data.decode("utf-8", "replace")
        return redact(text if size <= max_bytes else text.split("\n", 1)[-1])

    async def stop(self) -> None:
        """Stop its whole process group (SIGTERM, then SIGKILL) and forget the record."""
        await asyncio.to_thread(stop_recorded, self.record, path=self.state_path)


class ServerManager:
    """The one local server the app runs or adopted: launch, stages, stop, quit, and a left-over server.

    `on_event` gets the supervisor's events (state changes, log lines) and `StageReached`, on the
    loop's thread.
    """

    def __init__(self, profiles: ProfileBook, secrets: SecretStore, paths: AppPaths,
                 on_event: Callable[[ServerEvent], None] | None = None) -> None:
        self.profiles = profiles
        self.secrets = secrets
        self.state_path = paths.local_server_record
        self.remote_note_path = paths.remote_server_note
        self.logs_dir = paths.logs / "servers"
        self.on_event = on_event
        self.supervisor: Supervisor | None = None  # from the launch on, also while loading
        self.host: SshHostEntry | None = None  # where the server runs; None: this computer
        self.cluster_jobs: list[tuple[SshHost, RemoteServerRecord]] = []  # a multi-node layout's other processes
        self.plan: Plan | None = None
        self.server: LocalServer | None = None  # once ready and active
        self.adopted: AdoptedServer | None = None
        self.tracker: StartupTracker | None = None
        self._launching = asyncio.Lock()  # one launch at a time: a second waits, then replaces the first

    @property
    def running(self) -> bool:
        """Whether a server of ours is starting, loading or ready (an adopted one counts)."""
        if self.adopted is not None:
            return True
        return self.supervisor is not None and self.supervisor.state in (
            ServerState.STARTING, ServerState.LOADING, ServerState.READY)

    async def launch(self, plan: Plan, model_path: str, executable: str | Path | None, *,
                     served_name: str | None = None, extra_env: Mapping[str, str] | None = None,
                     port: int | None = None, ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S,
                     host: tuple[SshHostEntry, SshHost] | None = None) -> LocalServer:
        """Stop whatever runs, start `plan`'s server, wait until it is ready and make it the active endpoint.

        `host`: run it on that SSH host (connected), where `model_path` and `executable` are; `port` is then
        the tunnel's local end. A server an earlier run left (here, or on that host) is stopped first: it
        would hold the GPU memory the new one needs. Cancelling the returned coroutine stops the server.
        Raises `ServerStartFailed` as `launch_local_server` does.
        """
        async with self._launching:
            return await self._launch(plan, model_path, executable, served_name=served_name, extra_env=extra_env,
                                      port=port, ready_timeout_s=ready_timeout_s, host=host)

    async def _launch(self, plan: Plan, model_path: str, executable: str | Path | None, *,
                      served_name: str | None, extra_env: Mapping[str, str] | None, port: int | None,
                      ready_timeout_s: float, host: tuple[SshHostEntry, SshHost] | None) -> LocalServer:
        await self.stop()
        self.tracker = StartupTracker(plan.engine)
        holder: list[Supervisor] = []

        def forward(event: SupervisorEvent | LinkChanged) -> None:
            if holder and holder[0] is self.supervisor:  # events of a server this one replaced are dropped
                self._forward(event)

        supervisor: Supervisor
        if host is None:
            left_over = await asyncio.to_thread(find_recorded_server, self.state_path)
            if left_over is not None:
                log.info("Stopping the %s server (pid %d) an earlier run left, before starting another",
                         left_over.engine, left_over.pid)
                await AdoptedServer(left_over, self.state_path).stop()
            supervisor = prepare_server(plan, model_path, logs_dir=self.logs_dir, state_path=self.state_path,
                                        executable=executable, served_name=served_name, extra_env=extra_env,
                                        on_event=forward, port=port)
        else:
            entry, ssh = host
            left_there = await ssh.find_server()
            if left_there is not None:
                log.info("Stopping the %s server (pid %d) left on %s, before starting another",
                         left_there.engine, left_there.pid, entry.label)
                await ssh.stop(left_there)
            supervisor = await prepare_remote_server(plan, model_path, ssh, executable=executable,
                                                     served_name=served_name, extra_env=extra_env,
                                                     on_event=forward, local_port=port)
        holder.append(supervisor)
        self.supervisor, self.plan, self.server = supervisor, plan, None
        self.host = host[0] if host is not None else None
        try:
            await supervisor.start()
            await supervisor.wait_ready(ready_timeout_s)
            self.server = await activate(supervisor, plan, model_path, profiles=self.profiles, secrets=self.secrets,
                                         served_name=served_name, host=self.host)
            if isinstance(supervisor, RemoteSupervisor) and self.host is not None and supervisor.local_port:
                await asyncio.to_thread(RemoteServerNote(self.host.id, supervisor.local_port).save,
                                        self.remote_note_path)
        except BaseException:  # a cancel up to the very end (Stop pressed as it became ready) stops it too
            await supervisor.stop()
            raise
        return self.server

    async def launch_cluster(self, start: ClusterStart,
                             ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S) -> LocalServer:
        """Stop whatever runs, then start a checked multi-node layout (`cluster_start.prepare_cluster`): the
        engine's workers as jobs on their nodes first (for vLLM, Ray's head and workers), then the server on
        the head, reached through a tunnel; once ready the head's endpoint is the active one. Raise
        ServerStartFailed (everything started is stopped then)."""
        async with self._launching:
            await self.stop()
            cluster = start.plan
            launches = cluster.launches
            (head_entry, head), head_launch = start.hosts[0], launches[0]
            plan = start.as_plan()
            self.tracker = StartupTracker(cluster.engine)
            jobs: list[tuple[SshHost, RemoteServerRecord]] = []
            self.cluster_jobs = jobs
            holder: list[Supervisor] = []

            def forward(event: SupervisorEvent | LinkChanged) -> None:
                if holder and holder[0] is self.supervisor:
                    self._forward(event)

            try:
                if cluster.engine is Engine.VLLM and len(launches) > 1:
                    jobs.append((head, await head.start_job("ray-head", head_launch.commands[0], head_launch.env)))
                    await self._still_running(head, "ray-head", RAY_HEAD_SETTLE_S)
                    for (_entry, host), launch in zip(start.hosts[1:], launches[1:], strict=True):
                        jobs.append((host, await host.start_job("ray-worker", launch.commands[0], launch.env)))
                elif len(launches) > 1:
                    for rank, ((_entry, host), launch) in enumerate(zip(start.hosts[1:], launches[1:], strict=True), 1):
                        jobs.append((host, await host.start_job(f"sglang-rank-{rank}", launch.commands[0],
                                                                launch.env)))
                command = ServerCommand(argv=tuple(head_launch.commands[-1]), port=start.port,
                                        engine=cluster.engine.value, api_key=start.api_key, env=head_launch.env,
                                        model=cluster.model.id)
                supervisor = RemoteSupervisor(head, command, f"{_file_name(cluster.model.id)}-cluster.log",
                                              on_event=forward)
                holder.append(supervisor)
                self.supervisor, self.plan, self.server, self.host = supervisor, plan, None, head_entry
                await supervisor.start()
                await supervisor.wait_ready(ready_timeout_s)
                self.server = await activate(supervisor, plan, start.model_path, profiles=self.profiles,
                                             secrets=self.secrets, host=head_entry)
            except BaseException:
                await self.stop()
                raise
            return self.server

    @staticmethod
    async def _still_running(host: SshHost, job: str, seconds: float) -> None:
        """Wait `seconds`; raise ServerStartFailed if the job ended meanwhile."""
        await asyncio.sleep(seconds)
        running, status = await host.job_state(job)
        if running is None:
            raise ServerStartFailed(_("{job} on {host} ended at once (exit status {status}).").format(
                job=job, host=host.label, status=status), _("Its log on the host says why."))

    async def stop(self) -> None:
        """Stop the running or adopted server (nothing happens when there is none), and a layout's workers."""
        adopted, self.adopted = self.adopted, None
        if adopted is not None:
            await adopted.stop()
        supervisor = self.supervisor
        if supervisor is not None and not supervisor.detached:
            await supervisor.stop()
            if isinstance(supervisor, RemoteSupervisor):
                await asyncio.to_thread(self._forget_remote)
        jobs, self.cluster_jobs = self.cluster_jobs, []
        for host, record in reversed(jobs):
            await host.stop_job(record)

    def _forget_remote(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.remote_note_path.unlink()

    async def shutdown(self, keep_running: bool) -> None:
        """On quit: leave a ready server running when the user chose so, else stop it."""
        supervisor = self.supervisor
        if keep_running and supervisor is not None and supervisor.state is ServerState.READY:
            await supervisor.detach()
            return
        if keep_running and self.adopted is not None:
            return  # it was left running before; it stays so
        await self.stop()

    def kill_unless_kept(self, keep_running: bool) -> None:
        """The last resort when the app ends without `shutdown` (its loop is gone): end the server now.

        Blocking. A ready server the user keeps running is left alone; its record stays for the next start.
        """
        adopted, supervisor = self.adopted, self.supervisor
        if adopted is not None and not keep_running and adopted.alive():
            terminate_group(adopted.record.pgid)
        if isinstance(supervisor, RemoteSupervisor):
            return  # its pid is the host's; without the loop it cannot be reached: the next start finds it there
        if supervisor is None or supervisor.detached or supervisor.pid is None or supervisor.returncode is not None:
            return
        if keep_running and supervisor.state is ServerState.READY:
            return
        terminate_group(supervisor.pid)

    def find_left_over(self) -> RunningServerRecord | None:
        """A server an earlier run left running (after a crash, or "keep running"); blocking but quick."""
        if self.supervisor is not None or self.adopted is not None:
            return None
        return find_recorded_server(self.state_path)

    async def adopt(self, record: RunningServerRecord) -> AdoptedServer:
        """Use a left-over server again: the local endpoint becomes active; raise UserFacingError if it cannot.

        It can when the local profile still points at its port and, if it has a key, the keychain still
        holds that key (read in a worker thread; the settings are changed on the loop's thread).
        """
        profile = self.profiles.get(LOCAL_PROFILE_ID)
        if profile is None or not profile.base_url.startswith(f"http://127.0.0.1:{record.port}/"):
            raise UserFacingError(_("The endpoint for the server on port {port} was removed.").format(port=record.port),
                                  _("Stop that server and start it again from this window."))
        if record.api_key_hint:
            key = await asyncio.to_thread(self.secrets.get, profile.keychain_entry)
            if key is None or api_key_hint(key.reveal()) != record.api_key_hint:
                raise UserFacingError(_("The key of the server on port {port} was not kept.").format(port=record.port),
                                      _("Without a keychain the key lives only as long as the app. Stop that server "
                                        "and start it again."))
        self.profiles.set_active(profile.id, profile.model)
        self.adopted = AdoptedServer(record, self.state_path)
        return self.adopted

    async def stop_left_over(self, record: RunningServerRecord) -> None:
        """Stop a left-over server without adopting it."""
        await AdoptedServer(record, self.state_path).stop()

    # -- a server left on an SSH host ---------------------------------------------------------------------------
    def remote_note(self) -> RemoteServerNote | None:
        """Which host an earlier run left a server on (this computer's note; blocking but quick)."""
        if self.supervisor is not None or self.adopted is not None:
            return None
        return RemoteServerNote.load(self.remote_note_path)

    async def adopt_remote(self, entry: SshHostEntry, host: SshHost, record: RemoteServerRecord,
                           local_port: int | None = None) -> RemoteSupervisor:
        """Use a server left on `host` again: forward, follow its log, make the host's endpoint active.

        Raise UserFacingError when its endpoint was removed, or ServerStartFailed when it does not answer.
        """
        profile = self.profiles.get(remote_profile_id(entry))
        if profile is None:
            raise UserFacingError(_("The endpoint for the server on {host} was removed.").format(host=entry.label),
                                  _("Stop that server and start it again from this window."))
        supervisor = RemoteSupervisor.adopt(host, record, api_key=await self._profile_key(profile),
                                            on_event=self._forward, local_port=local_port)
        await supervisor.resume()
        self.supervisor, self.host, self.plan, self.server = supervisor, entry, None, None
        if supervisor.base_url != profile.base_url:
            profile = self.profiles.upsert(EndpointProfile(name=profile.name, flavor=profile.flavor,
                                                           base_url=supervisor.base_url, model=profile.model,
                                                           id=profile.id))
        self.profiles.set_active(profile.id, profile.model)
        return supervisor

    async def _profile_key(self, profile: EndpointProfile) -> str | None:
        key = await asyncio.to_thread(self.secrets.get, profile.keychain_entry)
        return key.reveal() if key is not None else None

    def _forward(self, event: SupervisorEvent | LinkChanged) -> None:
        if self.on_event is not None:
            self.on_event(event)
        if isinstance(event, LogLines) and self.tracker is not None:
            stage = self.tracker.feed(event.lines)
            if stage is not None:
                self._emit_stage(stage)
        elif isinstance(event, StateChanged) and event.state is ServerState.READY:
            self._advance(StartupStage.READY)

    def _advance(self, stage: StartupStage) -> None:
        if self.tracker is not None and self.tracker.advance_to(stage):
            self._emit_stage(stage)

    def _emit_stage(self, stage: StartupStage) -> None:
        if self.on_event is not None:
            self.on_event(StageReached(stage))
