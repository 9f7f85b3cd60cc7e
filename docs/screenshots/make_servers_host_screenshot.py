"""Take the README's picture of the Local servers window running models on an SSH host.

`local-servers-host.png`: the window with "Run on: gpu-box", an SSH host that is a real sshd on 127.0.0.1
(this machine, logged in to over SSH with a key: the connection, the app's own probe run there, the catalog
planned for it and the install there are all real). This machine has no GPU, so the host's nvidia-smi is a
stand-in that answers as a server with eight H100s; everything else is the app's own.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m docs.screenshots.make_servers_host_screenshot
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent



async def shoot() -> list[Path]:
    """Open the window on the host and save the picture."""
    from desktop.assistant.local_server import ServerManager
    from desktop.assistant.remote_hosts import RemoteHosts
    from desktop.assistant.services import AppPaths, Services
    from desktop.backends.catalog import Engine
    from desktop.backends.hardware import probe_hardware
    from desktop.config.hosts import HostBook, SshHostEntry
    from desktop.ui.notifier import Notifier
    from desktop.ui.servers.window import LocalServersWindow
    from docs.screenshots.make_local_servers_screenshots import settle, wait
    from tests.support.sshd import SshServer, eight_h100_path

    work = Path(tempfile.gettempdir()) / "gpu-box"
    shutil.rmtree(work, ignore_errors=True)
    with SshServer(work, env={"PATH": eight_h100_path(work / "tools")}) as sshd:
        services = Services.create(AppPaths(config=work / "config", data=work / "data", logs=work / "logs"))
        entry = HostBook(services.settings).add(SshHostEntry(f"{sshd.user}@127.0.0.1:{sshd.port}", name="gpu-box",
                                                             identity_file=str(sshd.key)))
        config = work / "ssh_config"
        config.write_text("")

        async def trust(_unknown: object) -> bool:
            return True

        hosts = RemoteHosts(services.paths.known_hosts, confirm_host=trust, config_file=config, user_known_hosts=[])
        manager = ServerManager(services.profiles, services.secrets, services.paths)
        window = LocalServersWindow(services, Notifier(), manager, probe=probe_hardware, remote_hosts=hosts)
        window.resize(1180, 820)
        window.show()
        await wait(lambda: window.refresh_task is not None and window.refresh_task.done())
        window.host_selector.choose(entry.id)
        await wait(lambda: window._inventory is not None)  # noqa: SLF001
        window.select("glm-4.6v-flash", Engine.VLLM)
        await settle(window, 30)
        out = HERE / "local-servers-host.png"
        window.grab().save(str(out))
        window.shutdown()
        await hosts.close_all()
        await services.client.aclose()
    return [out]


def main() -> int:
    """Render the picture."""
    from docs.screenshots.offscreen import run_offscreen

    print("\n".join(str(p) for p in run_offscreen(shoot)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
