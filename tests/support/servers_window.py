"""Open the Local servers window in a test, with its own server manager, and wait for its first check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from desktop.assistant.local_server import ServerManager
from desktop.assistant.services import Services
from desktop.backends.hardware import HardwareReport
from desktop.ui.notifier import Notifier
from desktop.ui.servers.window import LocalServersWindow


def open_servers_window(qtbot: Any, services: Services, probe: Callable[[Path], HardwareReport]) -> LocalServersWindow:
    """Show the window (as a fresh app start would) and wait until it has checked the machine."""
    manager = ServerManager(services.profiles, services.secrets, services.paths)
    window = LocalServersWindow(services, Notifier(), manager, probe=probe)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.refresh_task is not None and window.refresh_task.done(), timeout=60000)
    return window
