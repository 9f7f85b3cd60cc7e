"""A model too large for one machine served from two SSH hosts (two aliases of a real sshd on 127.0.0.1):
every node checked over SSH, the layout planned (vLLM: tensor parallel 8 x pipeline parallel 2 over Ray), Ray's
head and worker started as jobs on their nodes, then the server on the head reached through the tunnel, made
the active endpoint, and everything stopped at the end. What cannot run here is a stand-in on the hosts' PATH:
nvidia-smi (eight 24 GB L4s per node), `ray` (it only stays up), and `vllm serve` (it answers /health)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from desktop.assistant.cluster_start import prepare_cluster
from desktop.assistant.local_server import ServerManager, remote_profile_id
from desktop.assistant.remote_hosts import RemoteHosts
from desktop.assistant.services import AppPaths
from desktop.backends.catalog import Engine
from desktop.backends.supervisor import ServerState
from desktop.config.hosts import HostBook, SshHostEntry
from desktop.config.profiles import ProfileBook
from desktop.config.secrets import SecretStore
from desktop.config.settings import SettingsStore
from desktop.errors import UserFacingError
from tests.support.sshd import VLLM_STAND_IN, SshServer

NVIDIA_SMI_8_L4 = """#!/bin/sh
case "$*" in
  *--query-gpu*) for i in 0 1 2 3 4 5 6 7; do echo "$i, NVIDIA L4, GPU-1$i, 23034, 22700, 8.9, 580.95.05"; done ;;
  *) echo "| NVIDIA-SMI 580.95.05    Driver Version: 580.95.05    CUDA Version: 13.0 |" ;;
esac
"""
RAY = """#!/bin/sh
echo "ray $*"
case "$*" in *--block*) exec sleep 3600 ;; esac
"""


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    tools = tmp_path_factory.mktemp("tools")
    stand_ins = (("nvidia-smi", NVIDIA_SMI_8_L4), ("ray", RAY), ("vllm", VLLM_STAND_IN.format(python=sys.executable)))
    for name, text in stand_ins:
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    with SshServer(tmp_path_factory.mktemp("sshd"), env={"PATH": f"{tools}:/usr/bin:/bin"}) as server:
        yield server


def test_a_model_larger_than_one_node_is_served_from_two(sshd: SshServer, tmp_path: Path, app_paths: AppPaths) -> None:
    settings = SettingsStore(app_paths.settings_file)
    profiles, secrets = ProfileBook(settings), SecretStore()
    book = HostBook(settings)
    nodes = [book.add(SshHostEntry(f"{sshd.user}@{address}:{sshd.port}", name=name, identity_file=str(sshd.key),
                                   python=sys.executable)) for name, address in (("node-a", "127.0.0.1"),
                                                                                 ("node-b", "localhost"))]
    config = tmp_path / "ssh_config"
    config.write_text("")

    async def trust(_unknown: object) -> bool:
        return True

    hosts = RemoteHosts(app_paths.known_hosts, confirm_host=trust, config_file=config, user_known_hosts=[])
    folder = sshd.home / ".local/share/glmv-desktop/models/glm-4.6v"

    async def scenario() -> tuple[list[str], list[int]]:
        # the files are missing on the nodes: said, with the command, before anything starts
        with pytest.raises(UserFacingError) as missing:
            await prepare_cluster("GLM-4.6V", Engine.VLLM, nodes, remote_hosts=hosts)
        assert "are not on node-a, node-b" in missing.value.message and "hf download" in missing.value.hint
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / ".glmv-complete").write_text("")
        start = await prepare_cluster("GLM-4.6V", Engine.VLLM, nodes, remote_hosts=hosts)
        assert (start.plan.tensor_parallel, start.plan.pipeline_parallel) == (8, 2)
        assert any("One node is not enough" in reason for reason in start.plan.reasons)
        manager = ServerManager(profiles, secrets, app_paths)
        server = await manager.launch_cluster(start, ready_timeout_s=60)
        assert manager.supervisor is not None and manager.supervisor.state is ServerState.READY
        active = profiles.active()
        assert active is not None and active.id == remote_profile_id(nodes[0]) == server.profile.id
        assert active.base_url == manager.supervisor.base_url
        logs = [(sshd.home / ".local/state/glmv-desktop/logs" / f"job-{name}.log").read_text()
                for name in ("ray-head", "ray-worker")]
        logs.append(manager.supervisor.log_tail())
        pids = [record.pid for _host, record in manager.cluster_jobs] + [manager.supervisor.pid or 0]
        await manager.stop()
        await hosts.close_all()
        return logs, pids

    logs, pids = asyncio.run(scenario())
    head, worker, serve = logs
    assert "ray start --head --node-ip-address=127.0.0.1 --port=6379 --disable-usage-stats --block" in head
    assert "ray start --address=127.0.0.1:6379 --node-ip-address=localhost --block" in worker
    assert "--tensor-parallel-size 8 --pipeline-parallel-size 2 --distributed-executor-backend ray" in serve
    assert "--host 127.0.0.1" in serve
    assert not [pid for pid in pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
