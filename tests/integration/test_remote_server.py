"""A server on an SSH host, for real: a real sshd on 127.0.0.1 (the "remote" is this machine), the app's own
probe run there, the tiny GLM-V model launched there under `transformers serve`, answering an image question
through the tunnel, the link cut and restored while it runs (and while it answers), found again by a new
connection as a later app start would, and stopped with nothing left."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from desktop.assistant.local_server import ServerManager, remote_profile_id
from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.services import AppPaths
from desktop.backends.engines import build_command
from desktop.backends.hardware import probe_hardware
from desktop.backends.remote import LinkChanged, RemoteError, RemoteSupervisor, SshHost
from desktop.backends.ssh import HostKeyUnknown, KnownHosts, SshConnection, SshTarget
from desktop.backends.supervisor import ServerCommand, ServerStartFailed, ServerState
from desktop.chat.conversation import ReplyState
from desktop.config.hosts import HostBook, SshHostEntry
from desktop.config.profiles import ProfileBook
from desktop.config.secrets import SecretStore
from desktop.config.settings import SettingsStore
from tests.integration.test_local_server import ask_about_a_picture, offline_env, tiny_plan
from tests.support.processes import session_members
from tests.support.sshd import HEALTHY, SshServer, eight_h100_path


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def connect(sshd: SshServer, folder: Path) -> SshConnection:
    known = KnownHosts(folder / "app_known_hosts", user_files=[])
    known.path.write_text(sshd.known_hosts_line())
    config = folder / "ssh_config"
    config.write_text("")
    return SshConnection(SshTarget("127.0.0.1", sshd.user, sshd.port, str(sshd.key)), known, config_file=config)


def image_question(model: str, max_tokens: int) -> dict[str, Any]:
    buffer = io.BytesIO()
    Image.new("RGB", (56, 56), (200, 30, 30)).save(buffer, "PNG")
    pixel = base64.b64encode(buffer.getvalue()).decode()
    return {"model": model, "stream": True, "max_tokens": max_tokens, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{pixel}"}},
        {"type": "text", "text": "What is this?"}]}]}


async def ask(client: httpx.AsyncClient, url: str, model: str) -> str:
    """A short streamed answer to an image question, its text joined."""
    text = ""
    async with client.stream("POST", f"{url}/chat/completions", json=image_question(model, 8)) as stream:
        assert stream.status_code == 200, await stream.aread()
        async for line in stream.aiter_lines():
            if line.startswith("data:") and line != "data: [DONE]":
                delta = json.loads(line[5:])["choices"][0]["delta"]
                text += (delta.get("content") or "") + (delta.get("reasoning_content") or "")
    return text


def test_the_probe_runs_on_the_host(sshd: SshServer, tmp_path: Path) -> None:
    async def scenario() -> Any:
        connection = connect(sshd, tmp_path)
        await connection.connect()
        try:
            return await SshHost(connection, cache_dir=str(tmp_path / "cache")).probe(str(tmp_path))
        finally:
            await connection.close()

    remote = asyncio.run(scenario())
    here = probe_hardware(tmp_path)
    # the same machine, seen through SSH by the same probe
    assert (remote.os, remote.cpu_name, remote.cpu_cores, remote.ram_total_mib) == (
        here.os, here.cpu_name, here.cpu_cores, here.ram_total_mib)
    assert [gpu.name for gpu in remote.gpus] == [gpu.name for gpu in here.gpus]


def test_a_host_without_python_says_so(sshd: SshServer, tmp_path: Path) -> None:
    async def scenario() -> None:
        connection = connect(sshd, tmp_path)
        await connection.connect()
        try:
            with pytest.raises(RemoteError) as missing:
                await SshHost(connection, python="/nowhere/python3", cache_dir=str(tmp_path / "c")).probe()
            assert "has no Python 3" in missing.value.message
            with pytest.raises(ServerStartFailed) as failed:
                host = SshHost(connection, python=sys.executable, state_dir=str(tmp_path / "state"))
                await RemoteSupervisor(host, ServerCommand(("/nowhere/vllm", "serve"), 9, "vllm"), "x.log").start()
            assert "Could not run the vllm server on" in failed.value.message
        finally:
            await connection.close()

    asyncio.run(scenario())


@pytest.mark.tiny_model
def test_a_server_on_the_host_answers_through_the_tunnel_survives_a_cut_and_stops(
        sshd: SshServer, tiny_model_dir: Path, tmp_path: Path) -> None:
    events: list[Any] = []

    async def scenario() -> tuple[int, list[str]]:
        connection = connect(sshd, tmp_path)
        await connection.connect()
        host = SshHost(connection, python=sys.executable, state_dir=str(tmp_path / "state"))
        port = await host.free_port()
        argv, env = build_command(tiny_plan(), str(tiny_model_dir), port=port, api_key=None,
                                  executable=Path(sys.executable).with_name("transformers"))
        command = ServerCommand(tuple(argv), port, "transformers", env={**env, **offline_env(tmp_path)},
                                model=str(tiny_model_dir))
        supervisor = RemoteSupervisor(host, command, "tiny.log", on_event=events.append)
        await supervisor.start()
        record = supervisor.record
        assert record is not None
        try:
            await supervisor.wait_ready(240)
            assert supervisor.state is ServerState.READY
            url = supervisor.base_url
            assert url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
                # an image question answered through the tunnel
                assert await ask(client, url, command.model), supervisor.log_tail()
                # WHEN the link is cut in the middle of a long answer
                cut: list[str] = []
                with pytest.raises(httpx.HTTPError):
                    async with client.stream("POST", f"{url}/chat/completions",
                                             json=image_question(command.model, 4000)) as stream:
                        async for line in stream.aiter_lines():
                            if line.startswith("data:") and not cut:
                                cut.append(line)
                                os.kill(connection._master.pid, signal.SIGKILL)  # type: ignore[union-attr]  # noqa: SLF001
                assert cut, "the answer had started"
                # THEN the supervisor reconnects by itself, the server kept running, the same URL answers again
                for _ in range(300):
                    if any(isinstance(e, LinkChanged) and e.up for e in events):
                        break
                    await asyncio.sleep(0.1)
                assert [e.up for e in events if isinstance(e, LinkChanged)] == [False, True]
                assert await ask(client, url, command.model)
            assert (await host.find_server()) == record
            # AND a new connection (a later app start) finds it and takes it up
            later = connect(sshd, tmp_path / "later")
            await later.connect()
            later_host = SshHost(later, python=sys.executable, state_dir=str(tmp_path / "state"))
            found = await later_host.find_server()
            assert found == record
            adopted = RemoteSupervisor.adopt(later_host, found)
            await adopted.resume()
            assert adopted.state is ServerState.READY
            await adopted.detach()
            await later.close()
        finally:
            await supervisor.stop()
            await connection.close()
        return record.pid, list(supervisor._lines)  # noqa: SLF001

    (tmp_path / "later").mkdir()
    pid, lines = asyncio.run(scenario())
    assert lines and lines[0].startswith("$ "), "the log was followed from its first line"
    assert session_members(pid) == [], "nothing of the server's process session is left"
    states = [e.state for e in events if hasattr(e, "state")]
    assert states[:3] == [ServerState.STARTING, ServerState.LOADING, ServerState.READY]
    assert states[-1] is ServerState.STOPPED


@pytest.mark.tiny_model
def test_the_manager_runs_a_server_on_a_host_as_the_active_endpoint_and_finds_it_again(
        sshd: SshServer, tiny_model_dir: Path, tmp_path: Path, app_paths: AppPaths) -> None:
    settings = SettingsStore(app_paths.settings_file)
    profiles, secrets = ProfileBook(settings), SecretStore()
    entry = HostBook(settings).add(SshHostEntry(f"{sshd.user}@127.0.0.1:{sshd.port}", name="gpu-box",
                                                identity_file=str(sshd.key), python=sys.executable))
    shown: list[HostKeyUnknown] = []

    async def confirm(unknown: HostKeyUnknown) -> bool:
        shown.append(unknown)
        return True

    config = tmp_path / "ssh_config"
    config.write_text("")

    def hosts() -> RemoteHosts:
        return RemoteHosts(app_paths.known_hosts, confirm_host=confirm, config_file=config, user_known_hosts=[])

    async def scenario() -> tuple[ReplyState, str, int]:
        first = hosts()
        manager = ServerManager(profiles, secrets, app_paths)
        ssh = await first.open(entry)
        ssh.state_dir = str(tmp_path / "state")
        server = await manager.launch(tiny_plan(), str(tiny_model_dir), Path(sys.executable).with_name("transformers"),
                                      extra_env=offline_env(tmp_path), ready_timeout_s=240, host=(entry, ssh))
        active = profiles.active()
        assert active is not None and active.id == remote_profile_id(entry) == server.profile.id
        assert active.name.startswith("gpu-box: ") and active.base_url == server.supervisor.base_url
        reply = await ask_about_a_picture(active, secrets)
        pid = server.supervisor.pid
        assert pid is not None
        # WHEN the app quits keeping it running, and starts again
        await manager.shutdown(keep_running=True)
        await first.close_all()
        later = ServerManager(profiles, secrets, app_paths)
        note = later.remote_note()
        assert note is not None and note.host_id == entry.id
        second = hosts()
        ssh_again = await second.open(entry)
        ssh_again.state_dir = str(tmp_path / "state")
        record = await ssh_again.find_server()
        assert record is not None and record.pid == pid
        adopted = await later.adopt_remote(entry, ssh_again, record, note.local_port)
        assert adopted.state is ServerState.READY and profiles.active().id == remote_profile_id(entry)  # type: ignore[union-attr]
        # THEN stopping it there leaves nothing, here or there
        await later.stop()
        assert await ssh_again.find_server() is None
        assert later.remote_note() is None
        assert not later.remote_note_path.exists(), "the note of a server stopped there is gone"
        await second.close_all()
        return reply.state, reply.text, pid

    state, text, pid = asyncio.run(scenario())
    assert state is ReplyState.COMPLETE and text
    assert len(shown) == 1 and shown[0].keys[0].fingerprint == sshd.host_fingerprint, "asked once, then known"
    assert session_members(pid) == []


def test_the_gpu_check_probes_hosts_over_ssh_and_plans_across_them(tmp_path: Path) -> None:
    # Two hosts (two ~/.ssh/config aliases of one sshd) whose nvidia-smi answers as 8 H100s each: a stand-in
    # for the GPUs this machine lacks; the SSH, the probe run there and the planner are real.
    with SshServer(tmp_path / "sshd", env={"PATH": eight_h100_path(tmp_path / "tools")}) as server:
        config = tmp_path / "ssh_config"  # as in ~/.ssh/config (ssh reads that one from the passwd home)
        config.write_text("".join(
            f"Host {alias}\n  HostName 127.0.0.1\n  Port {server.port}\n  User {server.user}\n"
            f"  IdentityFile {server.key}\n  IdentitiesOnly yes\n" for alias in ("gpu-a", "gpu-b")))
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
        env.pop("SSH_AUTH_SOCK", None)
        check = [sys.executable, "-m", "desktop.backends", "-F", str(config), "--ssh", "gpu-a", "--ssh", "gpu-b",
                 "--model", "glm-4.6v"]
        refused = subprocess.run(check, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert refused.returncode == 1 and server.host_fingerprint in refused.stderr and "--trust" in refused.stderr
        done = subprocess.run([*check, "--trust"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Hardware of gpu-a (probed over SSH)" in out and "Hardware of gpu-b (probed over SSH)" in out
    assert "GPUs 0–7: 8 × NVIDIA H100 80GB HBM3" in out
    assert "Across gpu-a, gpu-b: GLM-4.6V with vllm" in out
    assert "vllm serve ~/.local/share/glmv-desktop/models/glm-4.6v --host 127.0.0.1" in out
    assert "fits on one node, gpu-a (8× NVIDIA H100 80GB HBM3): no need to span nodes" in out
    assert "--tensor-parallel-size 4" in out, "tensor parallel over 4 of its GPUs"





def test_a_server_killed_on_the_host_is_reported_as_crashed(sshd: SshServer, tmp_path: Path) -> None:
    events: list[Any] = []

    async def scenario() -> list[ServerState]:
        connection = connect(sshd, tmp_path)
        await connection.connect()
        host = SshHost(connection, python=sys.executable)
        port = await host.free_port()
        # a stand-in for a server (it answers /health), started there as the app starts one
        supervisor = RemoteSupervisor(host, ServerCommand((sys.executable, "-c", HEALTHY, str(port)), port, "vllm",
                                                          model="glm-4.6v-flash"), "killed.log", on_event=events.append)
        await supervisor.start()
        try:
            await supervisor.wait_ready(30)
            assert supervisor.pid is not None
            os.kill(supervisor.pid, signal.SIGKILL)  # the host is this machine: killed "there"
            for _ in range(100):
                if supervisor.state is ServerState.CRASHED:
                    break
                await asyncio.sleep(0.1)
        finally:
            await supervisor.stop()
            await connection.close()
        return [e.state for e in events if hasattr(e, "state")]

    states = asyncio.run(scenario())
    assert ServerState.READY in states and ServerState.CRASHED in states
    assert states.index(ServerState.CRASHED) > states.index(ServerState.READY)
