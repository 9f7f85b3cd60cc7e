"""Installing an engine and downloading a model on an SSH host (a real sshd on 127.0.0.1): real pip in a venv
there (offline, from local wheels), Hugging Face's own `hf` there against the test hub, each as a job of its
own on the host with its progress here; cancel stops it there, and the next try finishes it."""

from __future__ import annotations

import asyncio
import dataclasses
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from desktop.assistant.remote_models import (
    HostJobCancelled,
    download_on_host,
    install_on_host,
    inventory,
    run_job,
)
from desktop.backends.catalog import Engine, ModelSpec, Precision
from desktop.backends.downloads import DownloadError, DownloadProgress, ModelSource
from desktop.backends.installer import InstallProgress, InstallStage
from desktop.backends.remote import RemoteError, SshHost
from desktop.backends.ssh import KnownHosts, SshConnection, SshTarget
from tests.support.fake_model_hub import REPO, FakeModelHub
from tests.support.sshd import SshServer
from tests.support.wheels import write_wheel

SIZE = 24 * 1024 * 1024  # more than hf writes at once (10 MB): a cut leaves a partial file there
TINY = ModelSpec("tiny-remote", "Tiny remote", REPO, None, Precision.BF16, SIZE, SIZE, 4096, 64, (0, 0), (Engine.VLLM,))


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    for _ in range(int(timeout_s * 20)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def connected(sshd: SshServer, folder: Path) -> SshHost:
    known = KnownHosts(folder / "known_hosts", user_files=[])
    known.path.write_text(sshd.known_hosts_line())
    config = folder / "ssh_config"
    config.write_text("")
    connection = SshConnection(SshTarget("127.0.0.1", sshd.user, sshd.port, str(sshd.key)), known, config_file=config)
    await connection.connect()
    return SshHost(connection, python=sys.executable)


def test_an_engine_is_installed_on_the_host_with_pips_progress(sshd: SshServer, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "vllm", "0.12.0", scripts=("vllm",))
    write_wheel(wheels, "transformers", "5.2.0")
    progress: list[InstallProgress] = []
    log: list[str] = []

    async def scenario() -> tuple[str | None, str | None]:
        host = await connected(sshd, tmp_path)
        host.job_env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
        try:
            before = await inventory(host)
            await install_on_host(host, before, Engine.VLLM, on_progress=progress.append, on_log=log.append)
            after = await inventory(host)
            return before.engines[Engine.VLLM], after.engines[Engine.VLLM]
        finally:
            await host.connection.close()

    before, after = asyncio.run(scenario())
    assert before is None
    assert after == f"{sshd.home}/.local/share/glmv-desktop/engines/vllm/bin/vllm"
    assert [p.stage for p in progress][-1] is InstallStage.DONE and "vllm-0.12.0" in progress[-1].message
    assert any(p.stage is InstallStage.INSTALLING for p in progress), "pip's progress reached this side"
    assert any("Successfully installed" in line and "vllm-0.12.0" in line for line in log)


def test_a_job_that_fails_says_so_and_one_cancelled_is_stopped_there(sshd: SshServer, tmp_path: Path) -> None:
    async def scenario() -> int:
        host = await connected(sshd, tmp_path)
        try:
            with pytest.raises(RemoteError) as failed:
                await run_job(host, "boom", ["/bin/sh", "-c", "echo it went wrong; exit 3"], poll_s=0.2)
            assert "exit status 3" in failed.value.message and "it went wrong" in failed.value.detail
            cancel = asyncio.Event()
            job = asyncio.ensure_future(run_job(host, "sleeper", ["sleep", "300"], cancel=cancel, poll_s=0.2))
            for _ in range(50):
                running, _status = await host.job_state("sleeper")
                if running is not None:
                    break
                await asyncio.sleep(0.1)
            assert running is not None
            cancel.set()
            with pytest.raises(HostJobCancelled):
                await job
            return running.pid
        finally:
            await host.connection.close()

    pid = asyncio.run(scenario())
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_model_is_downloaded_on_the_host_cancelled_and_resumed(sshd: SshServer, tmp_path: Path) -> None:
    weights = bytes(range(256)) * (SIZE // 256)
    files = {"config.json": b'{"model_type": "glm4v"}', "model.safetensors": weights}
    seen: list[DownloadProgress] = []

    async def scenario(hub: FakeModelHub) -> tuple[bool, bool, int]:
        host = await connected(sshd, tmp_path)
        try:
            found = await inventory(host, [TINY])
            # WHEN the download is cancelled while the weights are half-way
            hub.stall["model.safetensors"] = 12 * 1024 * 1024
            cancel = asyncio.Event()
            first = asyncio.ensure_future(download_on_host(
                host, found, TINY, source=ModelSource.HUGGING_FACE, endpoint=hub.url, on_progress=seen.append,
                cancel=cancel))
            assert await asyncio.to_thread(hub.stalled.wait, 60)
            part = sshd.home / ".local/share/glmv-desktop/models" / TINY.id / "model.safetensors.part"
            await until(lambda: part.exists() and part.stat().st_size > 0)
            cancel.set()
            with pytest.raises(HostJobCancelled):
                await first
            half = (await inventory(host, [TINY])).models.get(TINY.id)
            kept = len(seen)
            # THEN the next try continues from where the cut left the weights, and finishes
            hub.release.set()
            await download_on_host(host, found, TINY, source=ModelSource.HUGGING_FACE, endpoint=hub.url,
                                   on_progress=seen.append)
            done = (await inventory(host, [TINY])).models.get(TINY.id)
            return bool(half), bool(done), kept
        finally:
            await host.connection.close()

    with FakeModelHub(files) as hub:
        half, done, kept = asyncio.run(scenario(hub))
        fetched = [r for r in hub.file_requests("model.safetensors") if r.method == "GET"]
    assert (half, done) == (False, True)
    folder = sshd.home / ".local/share/glmv-desktop/models" / TINY.id
    assert (folder / "model.safetensors").read_bytes() == weights
    assert (folder / ".glmv-complete").is_file() and not list(folder.rglob("*.part"))
    # the second try asked only for the rest, from the byte the first had kept
    assert fetched[0].range is None and fetched[-1].range is not None
    resumed_at = int(fetched[-1].range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 12 * 1024 * 1024 and fetched[-1].sent == SIZE - resumed_at
    # progress: the hub's bytes across both files, the first try's included in the second's start
    total = SIZE + len(files["config.json"])
    assert all(p.total == total for p in seen)
    assert seen[kept].done >= resumed_at, "the resumed download starts from what was there"
    assert seen[-1].done == total and seen[-1].files_done == 2


def test_a_host_download_takes_only_the_models_files_and_a_damaged_one_is_said_and_deleted(
        sshd: SshServer, tmp_path: Path) -> None:
    # A GGUF repository on ModelScope: only the files its patterns name are fetched.
    gguf = dataclasses.replace(TINY, id="tiny-gguf", modelscope_repo=REPO, precision=Precision.Q4_K_M,
                               files=("*Q4_K_M.gguf", "mmproj*"))
    files = {"model-Q4_K_M.gguf": b"q4" * 5000, "model-Q8_0.gguf": b"q8" * 9000, "mmproj-f16.gguf": b"mm" * 100,
             "README.md": b"# tiny"}

    async def scenario(hub: FakeModelHub) -> DownloadError:
        host = await connected(sshd, tmp_path)
        try:
            found = await inventory(host, [gguf])
            await download_on_host(host, found, gguf, source=ModelSource.MODELSCOPE, endpoint=hub.url,
                                   on_progress=lambda _p: None)
            assert (await inventory(host, [gguf])).models[gguf.id]
            # WHEN a file arrives with bytes other than the hub listed
            other = dataclasses.replace(gguf, id="tiny-gguf-damaged")
            hub.wrong_sha.add("mmproj-f16.gguf")
            with pytest.raises(DownloadError) as caught:
                await download_on_host(host, await inventory(host, [other]), other, source=ModelSource.MODELSCOPE,
                                       endpoint=hub.url, on_progress=lambda _p: None)
            assert not (await inventory(host, [other])).models[other.id]
            return caught.value
        finally:
            await host.connection.close()

    with FakeModelHub(files) as hub:
        error = asyncio.run(scenario(hub))
        asked = {r.file for r in hub.requests if r.file}
    root = sshd.home / ".local/share/glmv-desktop/models"
    assert sorted(p.name for p in (root / "tiny-gguf").iterdir() if not p.name.startswith(".")) == [
        "mmproj-f16.gguf", "model-Q4_K_M.gguf"]
    assert asked == {"model-Q4_K_M.gguf", "mmproj-f16.gguf"}, "the other quantisation and the README stay there"
    # THEN it is said, with what to do, and nothing damaged is left to be taken for the model
    assert error.message == "mmproj-f16.gguf arrived damaged: its checksum does not match."
    assert "start the download again" in error.hint
    damaged = root / "tiny-gguf-damaged"
    assert not (damaged / "mmproj-f16.gguf").exists() and not list(damaged.rglob("*.part"))
