"""Open the Local servers window in a test, with its own server manager, and wait for its first check."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from desktop.assistant.local_server import ServerManager
from desktop.assistant.services import Services
from desktop.backends.downloads import DiskUsage
from desktop.backends.hardware import MIB, HardwareReport, probe_hardware
from desktop.ui.notifier import Notifier
from desktop.ui.servers.window import LocalServersWindow


def open_servers_window(qtbot: Any, services: Services, probe: Callable[[Path], HardwareReport],
                        disk_usage: Callable[[Path], DiskUsage] | None = None) -> LocalServersWindow:
    """Show the window (as a fresh app start would) and wait until it has checked the machine.

    The models' disk has the free space `probe` reports (a stand-in machine's disk is a stand-in too),
    unless `disk_usage` says otherwise.
    """

    def probed_disk(path: Path) -> DiskUsage:
        return SimpleNamespace(free=probe(path).disk_free_mib * MIB)  # type: ignore[return-value]

    if disk_usage is None:
        disk_usage = shutil.disk_usage if probe is probe_hardware else probed_disk
    manager = ServerManager(services.profiles, services.secrets, services.paths)
    window = LocalServersWindow(services, Notifier(), manager, probe=probe, disk_usage=disk_usage)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=60000)
    return window
