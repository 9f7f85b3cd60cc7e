"""The local-server supervisor with real child processes: the tiny GLM-V model under `transformers serve`
(start, ready, a streamed image question through the app's client, stop; a crash mid-answer), and small
stand-in servers for the rest (port taken, never ready, grandchildren, the state file).
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
from PIL import Image

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
    stop_recorded,
    write_record,
)
from desktop.chat.client import ChatClient, Endpoint
from desktop.chat.errors import ChatError
from desktop.chat.events import ContentDelta, Finished, ReasoningDelta, StreamEvent
from desktop.config.profiles import Flavor, preset
from tests.support import fake_servers
from tests.support.processes import session_members
from tests.support.tiny_glmv import TinyGlmvServer

T = TypeVar("T")
FAKE = str(Path(fake_servers.__file__).resolve())
READY_TIMEOUT_S = 120.0


def run(coro: Awaitable[T]) -> T:
    """Run one coroutine on a fresh plain asyncio loop (the supervisor is loop-agnostic)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


@dataclass
class Recorder:
    """Collects the supervisor's events."""

    events: list[SupervisorEvent]

    def __call__(self, event: SupervisorEvent) -> None:
        self.events.append(event)

    def states(self) -> list[ServerState]:
        return [e.state for e in self.events if isinstance(e, StateChanged)]

    def lines(self) -> list[str]:
        return [line for e in self.events if isinstance(e, LogLines) for line in e.lines]


def fake_command(kind: str, port: int | None = None, **extra: Any) -> ServerCommand:
    port = port or free_port()
    return ServerCommand(argv=(sys.executable, FAKE, kind, str(port)), port=port, engine="fake", **extra)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def grandchild_pid(recorder: Recorder) -> int:
    (line,) = [line for line in recorder.lines() if line.startswith("grandchild ")]
    return int(line.split()[1])


# -- the command --------------------------------------------------------------------------------------------------
def test_command_display_masks_the_key_and_quotes() -> None:
    key = new_api_key()
    command = ServerCommand(argv=("vllm", "serve", "zai-org/GLM-4.6V-Flash", "--api-key", key,
                                  "--chat-template-kwargs", '{"a": 1}'),
                            port=8123, engine="vllm", api_key=key,
                            env={"SGLANG_VLM_CACHE_SIZE_MB": "1024", "HF_TOKEN": "hf_secret"})
    shown = command.display()
    assert key not in shown and "hf_secret" not in shown
    assert shown.startswith("SGLANG_VLM_CACHE_SIZE_MB=1024 HF_TOKEN='********' vllm serve zai-org/GLM-4.6V-Flash "
                            "--api-key '********' --chat-template-kwargs '{\"a\": 1}'")
    assert command.base_url == "http://127.0.0.1:8123/v1"
    assert command.health_paths == ("/health", "/v1/models")
    assert key not in repr(command)
    assert api_key_hint(key) == "…" + key[-4:] and api_key_hint(None) == ""
    assert len(new_api_key()) >= 40 and new_api_key() != new_api_key()


def test_free_port_never_returns_a_bound_port() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        bound = taken.getsockname()[1]
        for _ in range(50):
            port = free_port()
            assert port != bound
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))  # really free


# -- the tiny real model -------------------------------------------------------------------------------------------
def tiny_command(model_dir: Path, workdir: Path) -> ServerCommand:
    """The same `transformers serve` launch as the session's tiny server, on a fresh port."""
    tiny = TinyGlmvServer(model_dir, workdir=workdir)
    env = tiny._environment()
    additions = {name: value for name, value in env.items() if os.environ.get(name) != value}
    return ServerCommand(argv=tuple(tiny._command()), port=tiny.port, engine="transformers serve",
                         env=additions, model=tiny.model)


def image_request(model: str) -> dict[str, Any]:
    image = Image.new("RGB", (64, 48), (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 48))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    parts = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": url}}]
    return {"model": model, "stream": True, "messages": [{"role": "user", "content": parts}]}


@pytest.mark.tiny_model
def test_tiny_model_starts_answers_an_image_and_stops(tiny_model_dir: Path, tmp_path: Path) -> None:
    command = tiny_command(tiny_model_dir, tmp_path)
    state_path = tmp_path / "state" / "server.json"
    recorder = Recorder([])
    supervisor = ServerSupervisor(command, tmp_path / "logs" / "server.log", on_event=recorder,
                                  state_path=state_path)

    async def scenario() -> tuple[list[StreamEvent], RunningServerRecord | None, list[int]]:
        client = ChatClient()
        try:
            await supervisor.start()
            await supervisor.wait_ready(READY_TIMEOUT_S)
            record = find_recorded_server(state_path)
            endpoint = Endpoint(preset(Flavor.TRANSFORMERS, base_url=command.base_url, model=command.model), None)
            events = [event async for event in client.stream_reply(endpoint, image_request(command.model))]
            members = session_members(supervisor.pid or 0)
        finally:
            await client.aclose()
            await supervisor.stop()
        return events, record, members

    # WHEN the tiny model is started, asked about an image and stopped
    events, record, members = run(scenario())
    # THEN the answer streamed in full through the app's own client
    assert any(isinstance(e, ReasoningDelta) for e in events)
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)).strip()
    assert isinstance(events[-1], Finished)
    # AND the state file described the running server while it ran, and is gone now
    assert record is not None and record.pid == members[0] and record.port == command.port
    assert record.engine == "transformers serve" and record.api_key_hint == ""
    assert not state_path.exists() and find_recorded_server(state_path) is None
    # AND the states ran their course, and nothing of the server's session is left
    assert recorder.states() == [ServerState.STARTING, ServerState.LOADING, ServerState.READY,
                                 ServerState.STOPPING, ServerState.STOPPED]
    assert supervisor.state is ServerState.STOPPED
    assert not session_members(members[0])
    assert (tmp_path / "logs" / "server.log").read_text().startswith("$ ")


@pytest.mark.tiny_model
def test_tiny_model_killed_mid_answer_is_a_crash(tiny_model_dir: Path, tmp_path: Path) -> None:
    command = tiny_command(tiny_model_dir, tmp_path)
    recorder = Recorder([])
    supervisor = ServerSupervisor(command, tmp_path / "server.log", on_event=recorder)

    async def scenario() -> tuple[list[StreamEvent], ChatError | None]:
        client = ChatClient()
        received: list[StreamEvent] = []
        error: ChatError | None = None
        try:
            await supervisor.start()
            await supervisor.wait_ready(READY_TIMEOUT_S)
            endpoint = Endpoint(preset(Flavor.TRANSFORMERS, base_url=command.base_url, model=command.model), None)
            try:
                async for event in client.stream_reply(endpoint, image_request(command.model)):
                    received.append(event)
                    if len(received) == 1:
                        os.killpg(supervisor.pid or 0, signal.SIGKILL)  # the whole server, mid-answer
            except ChatError as exc:
                error = exc
            await wait_until(lambda: supervisor.state is ServerState.CRASHED)
        finally:
            await client.aclose()
            await supervisor.stop()
        return received, error

    # WHEN the server is killed as the first words of the answer arrive
    received, error = run(scenario())
    # THEN the client keeps the partial answer and ends with a typed error
    assert received and not any(isinstance(e, Finished) for e in received)
    assert error is not None and "broke" in error.message
    # AND the supervisor reports a crash with the exit status and the log
    assert supervisor.state is ServerState.CRASHED and supervisor.returncode == -signal.SIGKILL
    crash = [e for e in recorder.events if isinstance(e, StateChanged) and e.state is ServerState.CRASHED]
    assert len(crash) == 1 and crash[0].exit_status == -signal.SIGKILL
    assert crash[0].log_tail == supervisor.log_tail()
    assert ServerState.STOPPED not in recorder.states()


# -- stand-in servers ----------------------------------------------------------------------------------------------
def test_a_taken_port_is_refused_before_starting(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        supervisor = ServerSupervisor(fake_command("spawner", port), tmp_path / "server.log")
        with pytest.raises(ServerStartFailed) as failure:
            run(supervisor.start())
    assert f"Port {port}" in failure.value.message and "already in use" in failure.value.message
    assert supervisor.pid is None and supervisor.state is ServerState.CRASHED
    run(supervisor.stop())


@dataclass(frozen=True)
class Advice:
    message: str
    hint: str


def classify(log_text: str) -> Advice | None:
    if "address already in use" in log_text:
        return Advice("Its port is already in use.", "Pick another port.")
    return None


def test_a_server_that_exits_says_its_status_and_cause(tmp_path: Path) -> None:
    # GIVEN a server that finds its port taken after all (another program got there first)
    command = fake_command("port-taken")
    recorder = Recorder([])
    supervisor = ServerSupervisor(command, tmp_path / "server.log", on_event=recorder, classify=classify)

    async def scenario() -> ServerStartFailed:
        await supervisor.start()
        try:
            with pytest.raises(ServerStartFailed) as failure:
                await supervisor.wait_ready(READY_TIMEOUT_S)
        finally:
            await supervisor.stop()
        return failure.value

    error = run(scenario())
    assert error.message == "The fake server exited with status 1. Its port is already in use."
    assert error.hint == "Pick another port." and error.exit_status == 1
    assert f"('127.0.0.1', {command.port}): address already in use" in error.log_tail
    assert error.detail == error.log_tail
    assert supervisor.state is ServerState.CRASHED


@pytest.mark.parametrize("kind", ["loading", "silent"])
def test_a_server_that_never_becomes_ready_times_out_with_its_log(kind: str, tmp_path: Path) -> None:
    supervisor = ServerSupervisor(fake_command(kind), tmp_path / "server.log")

    async def scenario() -> tuple[ServerStartFailed, ServerState]:
        await supervisor.start()
        try:
            with pytest.raises(ServerStartFailed) as failure:
                await supervisor.wait_ready(1.0)
            still = supervisor.state
        finally:
            await supervisor.stop()
        return failure.value, still

    error, state_after_timeout = run(scenario())
    assert "did not become ready in 1 s" in error.message
    assert "loading" in error.log_tail and error.detail == error.log_tail  # shown with the error, not in its message
    assert state_after_timeout is ServerState.LOADING  # left running for the caller to decide
    assert supervisor.state is ServerState.STOPPED


@pytest.mark.parametrize("kind", ["spawner", "stubborn"])
def test_stop_leaves_neither_child_nor_grandchild(kind: str, tmp_path: Path) -> None:
    recorder = Recorder([])
    supervisor = ServerSupervisor(fake_command(kind), tmp_path / "server.log", on_event=recorder)

    async def scenario() -> tuple[int, int, int]:
        await supervisor.start()
        try:
            await supervisor.wait_ready(READY_TIMEOUT_S)
            await wait_until(lambda: any(line.startswith("grandchild ") for line in recorder.lines()))
            grandchild = grandchild_pid(recorder)
            members = len(session_members(supervisor.pid or 0))
        finally:
            await supervisor.stop(timeout_s=1.0)  # the stubborn one ignores SIGTERM: SIGKILL after 1 s
        return supervisor.pid or 0, grandchild, members

    pid, grandchild, members = run(scenario())
    assert members == 2
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE
    assert not session_members(pid)
    assert supervisor.state is ServerState.STOPPED
    run(supervisor.stop())  # idempotent
    assert recorder.states().count(ServerState.STOPPED) == 1


def test_state_file_written_on_ready_removed_on_stop_and_adoptable(tmp_path: Path) -> None:
    state_path = tmp_path / "server.json"
    key = new_api_key()
    command = fake_command("spawner", api_key=key, model="tiny")
    recorder = Recorder([])
    supervisor = ServerSupervisor(command, tmp_path / "server.log", on_event=recorder, state_path=state_path)

    async def scenario() -> tuple[RunningServerRecord | None, RunningServerRecord | None]:
        await supervisor.start()
        try:
            before_ready = find_recorded_server(state_path)
            await supervisor.wait_ready(READY_TIMEOUT_S)
            await wait_until(lambda: any(line.startswith("grandchild ") for line in recorder.lines()))
            # WHEN a later app start finds the record and stops the server it describes
            adopted = find_recorded_server(state_path)
            assert adopted is not None
            await asyncio.to_thread(stop_recorded, adopted, 5.0, state_path)
            await wait_until(lambda: supervisor.state is ServerState.CRASHED)
        finally:
            await supervisor.stop()
        return before_ready, adopted

    before_ready, adopted = run(scenario())
    assert before_ready is None
    assert adopted is not None and adopted.pid == adopted.pgid == supervisor.pid
    assert adopted.port == command.port and adopted.engine == "fake" and adopted.model == "tiny"
    assert adopted.api_key_hint == "…" + key[-4:] and key not in state_path.parent.joinpath("server.log").read_text()
    assert adopted.log_path == str(tmp_path / "server.log")
    assert not state_path.exists()
    assert not session_members(adopted.pgid)


def test_state_file_removed_on_stop(tmp_path: Path) -> None:
    state_path = tmp_path / "server.json"
    supervisor = ServerSupervisor(fake_command("spawner"), tmp_path / "server.log", state_path=state_path)

    async def scenario() -> bool:
        await supervisor.start()
        try:
            await supervisor.wait_ready(READY_TIMEOUT_S)
            return state_path.exists()
        finally:
            await supervisor.stop()

    assert run(scenario()) is True
    assert not state_path.exists()


def test_stale_records_are_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = tmp_path / "server.json"
    me = psutil.Process()
    record = RunningServerRecord(pid=dead.pid, pgid=dead.pid, port=1234, api_key_hint="", engine="vllm",
                                 model="m", started_at=me.create_time(), log_path="x.log")
    write_record(path, record)
    assert find_recorded_server(path) is None  # the pid is gone
    write_record(path, RunningServerRecord(**{**record.__dict__, "pid": me.pid, "started_at": 1.0}))
    assert find_recorded_server(path) is None  # the pid lives, but it is another process
    write_record(path, RunningServerRecord(**{**record.__dict__, "pid": me.pid, "started_at": me.create_time()}))
    assert find_recorded_server(path) is not None  # the very same process
    path.write_text("{not json")
    assert find_recorded_server(path) is None
    assert find_recorded_server(tmp_path / "missing.json") is None


# -- the log file and "keep running" -------------------------------------------------------------------------------
def test_the_server_writes_its_log_file_itself_readable_only_by_the_user(tmp_path: Path) -> None:
    recorder = Recorder([])
    log_path = tmp_path / "logs" / "server.log"
    supervisor = ServerSupervisor(fake_command("spawner"), log_path, on_event=recorder)

    async def scenario() -> None:
        await supervisor.start()
        await supervisor.wait_ready(READY_TIMEOUT_S)
        await wait_until(lambda: any(line.startswith("grandchild ") for line in recorder.lines()))
        await supervisor.stop()

    run(scenario())
    text = log_path.read_text()
    # THEN the file starts with the command and holds the server's own output, as the events did
    assert text.startswith(f"$ {supervisor.command.display()}\n")
    assert f"grandchild {grandchild_pid(recorder)}" in text
    assert log_path.stat().st_mode & 0o777 == 0o600


def test_a_detached_server_outlives_the_loop_that_started_it_and_stops_by_its_record(
        tmp_path: Path, expect_log: Callable[[str], None]) -> None:
    # asyncio's child watcher still reaps the process after its loop closed, and says so: in the app
    # that happens only if the server ends before the app process does.
    expect_log(r"asyncio: Loop .* that handles pid \d+ is closed")
    state = tmp_path / "server.json"
    supervisor = ServerSupervisor(fake_command("spawner"), tmp_path / "server.log", state_path=state)

    async def scenario() -> int:
        await supervisor.start()
        await supervisor.wait_ready(READY_TIMEOUT_S)
        await supervisor.detach()
        assert supervisor.detached and supervisor.state is ServerState.READY
        pid = supervisor.pid
        assert pid is not None
        return pid

    pid = run(scenario())  # the loop is closed now, as when the app has quit
    try:
        # THEN the server still answers, and its record finds it
        with socket.create_connection(("127.0.0.1", supervisor.command.port), timeout=5):
            pass
        record = find_recorded_server(state)
        assert record is not None and record.pid == pid
        # WHEN it is stopped by its record THEN its whole session is gone
        stop_recorded(record, path=state)
        assert session_members(pid) == [] and not state.exists()
    finally:
        for member in session_members(pid):
            os.kill(member, signal.SIGKILL)
