"""Window titles as the desktop shows them: Qt appends the application's display name to every title
itself, so a title that names the app as well shows it twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QWidget
from Xlib import display

from desktop import APP_NAME
from desktop.assistant.services import Services
from desktop.backends.hardware import HardwareReport
from desktop.ui.chat_window import ChatWindow
from desktop.ui.notifier import Notifier
from desktop.ui.settings_dialog import SettingsDialog
from tests.support.servers_window import open_servers_window


def shown_title(x_display: Any, widget: QWidget) -> str:
    """The title the window manager and task bar show: the X window's _NET_WM_NAME as Qt set it."""
    connection = display.Display(x_display.display)
    try:
        window = connection.create_resource_object("window", int(widget.winId()))
        name = window.get_full_property(connection.intern_atom("_NET_WM_NAME"), connection.intern_atom("UTF8_STRING"))
        return name.value.decode() if name is not None else ""
    finally:
        connection.close()


def show(qtbot: Any, widget: QWidget) -> None:
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)


def test_the_settings_title_names_the_app_once(qtbot: Any, services: Services, x_display: Any) -> None:
    dialog = SettingsDialog(services, Notifier())
    show(qtbot, dialog)
    assert dialog.windowTitle() == "Settings"
    qtbot.waitUntil(lambda: shown_title(x_display, dialog) == f"Settings — {APP_NAME}", timeout=5000)


def test_the_local_servers_title_names_the_app_once(qtbot: Any, services: Services, x_display: Any) -> None:
    def probe(_models: Path) -> HardwareReport:
        return HardwareReport(os="linux", os_detail="", cpu_name="CPU", cpu_cores=4, ram_total_mib=16384,
                              ram_available_mib=12288, disk_free_mib=500_000, gpus=[], nvidia_driver=None,
                              cuda_version=None, apple_silicon=False, problems=[])

    window = open_servers_window(qtbot, services, probe)
    assert window.windowTitle() == "Local servers"
    qtbot.waitUntil(lambda: shown_title(x_display, window) == f"Local servers — {APP_NAME}", timeout=5000)


def test_the_chat_window_is_titled_with_the_app_name_alone(qtbot: Any, services: Services, x_display: Any) -> None:
    window = ChatWindow(services, Notifier())
    show(qtbot, window)
    try:
        qtbot.waitUntil(lambda: shown_title(x_display, window) == APP_NAME, timeout=5000)
    finally:
        window.shutdown()
        qtbot.waitUntil(lambda: not window.busy, timeout=5000)
