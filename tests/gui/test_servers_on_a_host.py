"""The Local servers window on an SSH host, against a real sshd on 127.0.0.1: the host added in its dialog,
its unknown key shown with the fingerprint and trusted, the app's own probe run there, the catalog planned
for it, what is missing there said with the commands to run, and the engine installed there from the window."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from desktop.assistant.local_server import remote_profile_id
from desktop.assistant.remote_hosts import RemoteHosts, RemoteServerNote
from desktop.assistant.services import Services
from desktop.backends.catalog import Engine
from desktop.backends.supervisor import ServerCommand, ServerState
from desktop.config.hosts import HostBook, SshHostEntry
from desktop.config.profiles import EndpointProfile, Flavor
from desktop.ui.servers.hosts import AddHostDialog
from desktop.ui.servers.window import LocalServersWindow
from tests.gui.test_local_servers_window import h100, machine
from tests.support.processes import session_members
from tests.support.servers_window import open_servers_window
from tests.support.sshd import HEALTHY, SshServer, gpu_server_path
from tests.support.wheels import write_wheel


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def top_level(name: str) -> QWidget | None:
    return next((w for w in QApplication.topLevelWidgets() if w.objectName() == name and w.isVisible()), None)


def test_a_host_is_added_trusted_probed_and_planned(qtbot: Any, services: Services, sshd: SshServer,
                                                   tmp_path: Path) -> None:
    window: LocalServersWindow = open_servers_window(qtbot, services, machine([h100(0)]))
    config = tmp_path / "ssh_config"
    config.write_text("")
    window.remote_hosts.config_file = config  # not the user's ~/.ssh/config
    window.remote_hosts.known_hosts.user_files = []
    selector = window.host_selector
    # WHEN "Add an SSH host…" is chosen and the dialog filled in
    selector._chosen(selector.box.count() - 1)  # noqa: SLF001 - the item the user picks
    qtbot.waitUntil(lambda: top_level("add_host_dialog") is not None, timeout=5000)
    dialog = top_level("add_host_dialog")
    assert isinstance(dialog, AddHostDialog)
    dialog.address.setText("not a host!")
    dialog._accept()  # noqa: SLF001 - the Add button
    assert dialog.error.isVisible() and "is not an SSH address" in dialog.error.text()
    dialog.address.setText(f"{sshd.user}@127.0.0.1:{sshd.port}")
    dialog.name.setText("gpu-box")
    dialog.identity.setText(str(sshd.key))
    dialog._accept()  # noqa: SLF001
    [entry] = HostBook(services.settings).all()
    assert entry.name == "gpu-box" and selector.current == entry
    # THEN its unknown key is shown with its fingerprint, and nothing goes on until it is trusted
    qtbot.waitUntil(lambda: top_level("trust_host_dialog") is not None, timeout=15000)
    box = top_level("trust_host_dialog")
    assert isinstance(box, QMessageBox)
    assert sshd.host_fingerprint in box.informativeText()
    trust = next(b for b in box.buttons() if b.text() == "Trust and connect")
    trust.click()
    # AND the host's own hardware is shown and the catalog is planned for it
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done()
                    and window._inventory is not None, timeout=30000)  # noqa: SLF001
    assert window.refresh_task.exception() is None
    assert "gpu-box" in window.hardware_label.text() and "H100" not in window.hardware_label.text()
    assert window._rows, "the catalog is planned for the host"  # noqa: SLF001
    assert services.paths.known_hosts.read_text().startswith(f"[127.0.0.1]:{sshd.port} ")
    # WHEN a vLLM row is chosen: the engine and the files are missing there, and the commands say how
    window.select("glm-4.6v-flash", Engine.VLLM)
    details = window.details
    assert "Not found on gpu-box" in details.engine_text.text() and "/bin/pip install" in details.engine_text.text()
    assert f"--local-dir {sshd.home}/.local/share/glmv-desktop/models/glm-4.6v-flash" in details.files_text.text()
    assert details.install_button.isVisible() and details.download_button.isVisible()
    assert not details.start_button.isEnabled()
    # WHEN Install is clicked (pip there finds the engine in a local folder: real venv, real pip, offline)
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "vllm", "0.12.0", scripts=("vllm",))
    write_wheel(wheels, "transformers", "5.2.0")
    assert window._ssh is not None  # noqa: SLF001
    window._ssh.job_env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}  # noqa: SLF001
    details.install_button.click()
    assert details.install_job.bar.isVisible() and details.install_job.cancel_button.isVisible()
    # THEN it is installed there, in the app's own environment on the host
    venv_vllm = f"{sshd.home}/.local/share/glmv-desktop/engines/vllm/bin/vllm"
    qtbot.waitUntil(lambda: f"On gpu-box: {venv_vllm}" in details.engine_text.text(), timeout=120_000)
    assert "Installed vLLM on gpu-box." in details.install_job.text.text()
    # (this host has no GPU, so vLLM's verdict stays red: Start stays off and says why)
    assert "cannot run it" in details.start_hint.text() and not details.start_button.isEnabled()
    # AND back on this computer, its own machine is shown again
    selector.choose(None)
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=30000)
    assert "This computer" in window.hardware_label.text() and "H100" in window.hardware_label.text()




def known_host(services: Services, server: SshServer, folder: Path) -> tuple[SshHostEntry, Path]:
    """`server` added as the host "gpu-box" whose key is already trusted, and an empty ssh_config to use."""
    entry = HostBook(services.settings).add(SshHostEntry(f"{server.user}@127.0.0.1:{server.port}", name="gpu-box",
                                                         identity_file=str(server.key), python=sys.executable))
    services.paths.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    services.paths.known_hosts.write_text(server.known_hosts_line())
    config = folder / "ssh_config"
    config.write_text("")
    return entry, config


def test_a_server_left_on_the_host_is_offered_used_and_stopped(qtbot: Any, services: Services, sshd: SshServer,
                                                              tmp_path: Path) -> None:
    entry, config = known_host(services, sshd, tmp_path)
    # GIVEN an earlier run left a server on the host (a stand-in that answers /health), and its endpoint
    first = RemoteHosts(services.paths.known_hosts, config_file=config, user_known_hosts=[])

    async def leave_one() -> None:
        host = await first.open(entry)
        port = await host.free_port()
        await host.launch(ServerCommand((sys.executable, "-c", HEALTHY, str(port)), port, "vllm",
                                        model="glm-4.6v-flash"), "left.log")
        await first.close_all()

    run_in_loop(qtbot, leave_one())
    services.profiles.upsert(EndpointProfile(name="gpu-box: GLM-4.6V-Flash (vLLM)", flavor=Flavor.VLLM,
                                             base_url="http://127.0.0.1:1/v1", model="zai-org/GLM-4.6V-Flash",
                                             id=remote_profile_id(entry)))
    window = open_servers_window(qtbot, services, machine([h100(0)]))
    window.remote_hosts.config_file = config
    window.remote_hosts.known_hosts.user_files = []
    # WHEN the host is chosen THEN the server found there is offered
    window.host_selector.choose(entry.id)
    banner = window.running.left_over
    qtbot.waitUntil(banner.isVisible, timeout=30000)
    assert "still running on gpu-box: vllm, glm-4.6v-flash" in banner.text.text()
    # WHEN it is used, it is reached through a tunnel and becomes the active endpoint
    banner.use_button.click()
    qtbot.waitUntil(lambda: window.manager.supervisor is not None
                    and window.manager.supervisor.state is ServerState.READY, timeout=30000)
    active = services.profiles.active()
    assert active is not None and active.id == remote_profile_id(entry)
    assert active.base_url == window.manager.supervisor.base_url != "http://127.0.0.1:1/v1"
    assert "on gpu-box" in window.running.state_label.text()
    # AND Stop ends it there
    supervisor = window.manager.supervisor
    window.stop_server()
    qtbot.waitUntil(lambda: supervisor.state is ServerState.STOPPED, timeout=30000)

    async def left_there() -> object:
        host = await first.open(entry)
        try:
            return await host.find_server()
        finally:
            await first.close_all()

    assert run_in_loop(qtbot, left_there()) is None
    window.host_selector.choose(None)
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=30000)


def run_in_loop(qtbot: Any, coroutine: Any) -> Any:
    """Run `coroutine` on the test's Qt event loop and return what it returned."""
    import asyncio

    task = asyncio.ensure_future(coroutine)
    qtbot.waitUntil(task.done, timeout=60000)
    return task.result()


@contextlib.contextmanager
def gpu_host_window(qtbot: Any, services: Services, tmp_path_factory: pytest.TempPathFactory,
                    tmp_path: Path) -> Iterator[tuple[SshHostEntry, LocalServersWindow]]:
    """The window on a host with eight H100s and vLLM on its PATH (stand-ins for the GPUs and the engine this
    machine lacks; the SSH, the probe, the plan, the start there, the tunnel, the log and the stop are the
    app's own), GLM-4.6V-Flash on vLLM selected there."""
    tools = gpu_server_path(tmp_path_factory.mktemp("gpu-tools"), sys.executable)
    with SshServer(tmp_path_factory.mktemp("gpu-sshd"), env={"PATH": tools}) as gpu:
        folder = gpu.home / ".local/share/glmv-desktop/models/glm-4.6v-flash"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
        (folder / ".glmv-complete").write_text("")
        entry, config = known_host(services, gpu, tmp_path)
        window = open_servers_window(qtbot, services, machine([]))
        window.remote_hosts.config_file = config
        window.remote_hosts.known_hosts.user_files = []
        window.host_selector.choose(entry.id)
        qtbot.waitUntil(lambda: window._inventory is not None, timeout=30000)  # noqa: SLF001
        window.select("glm-4.6v-flash", Engine.VLLM)
        details = window.details
        assert "On gpu-box:" in details.engine_text.text() and "On gpu-box:" in details.files_text.text()
        assert window.source_box.isEnabled(), "where a download on the host comes from is chosen as here"
        assert not window.add_folder_button.isEnabled(), "a folder on this computer is not one on the host"
        yield entry, window
        window.host_selector.choose(None)
        qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=30000)


def test_a_server_is_started_on_the_host_from_the_window_shows_its_log_and_stops(
        qtbot: Any, services: Services, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    with gpu_host_window(qtbot, services, tmp_path_factory, tmp_path) as (entry, window):
        details = window.details
        # WHEN Start is clicked
        qtbot.waitUntil(details.start_button.isEnabled, timeout=10000)
        details.start_button.click()
        # THEN it runs there, is reached through the tunnel, and the host's endpoint is the active one
        qtbot.waitUntil(lambda: window.manager.server is not None, timeout=60000)
        active = services.profiles.active()
        assert active is not None and active.id == remote_profile_id(entry)
        assert active.name == "gpu-box: GLM-4.6V-Flash (vLLM)" and active.base_url.startswith("http://127.0.0.1:")
        assert "Ready: GLM-4.6V-Flash on vLLM on gpu-box" in window.running.state_label.text()
        # AND its log shows here: the command as the host ran it, then what the server printed
        qtbot.waitUntil(lambda: "vllm serve" in window.running.log_view.toPlainText(), timeout=10000)
        assert "--host 127.0.0.1" in window.running.log_view.toPlainText()
        # AND Stop ends it there
        supervisor = window.manager.supervisor
        assert supervisor is not None and supervisor.command.api_key
        shown = window.running.log_view.toPlainText()
        assert "VLLM_API_KEY=" in shown and supervisor.command.api_key not in shown, "the key never shows"
        window.stop_server()
        qtbot.waitUntil(lambda: supervisor is not None and supervisor.state is ServerState.STOPPED, timeout=30000)


def test_stop_pressed_as_the_server_on_the_host_becomes_ready_stops_it(
        qtbot: Any, services: Services, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The start's last step (noting the tunnel's port) is held, so Stop comes while the start is not yet over.
    held, release = threading.Event(), threading.Event()
    save = RemoteServerNote.save

    def slow_save(note: RemoteServerNote, path: Path) -> None:
        held.set()
        release.wait(30)
        save(note, path)

    monkeypatch.setattr(RemoteServerNote, "save", slow_save)
    with gpu_host_window(qtbot, services, tmp_path_factory, tmp_path) as (_entry, window):
        qtbot.waitUntil(window.details.start_button.isEnabled, timeout=10000)
        window.details.start_button.click()
        qtbot.waitUntil(held.is_set, timeout=60000)
        supervisor = window.manager.supervisor
        assert supervisor is not None and supervisor.state is ServerState.READY and supervisor.pid is not None
        assert window.launch_task is not None and not window.launch_task.done()
        # WHEN Stop is pressed then
        window.stop_server()
        release.set()
        # THEN the server is stopped there (the host is this machine), not left running behind the window's back
        qtbot.waitUntil(lambda: supervisor.state is ServerState.STOPPED, timeout=30000)
        assert not session_members(supervisor.pid)
