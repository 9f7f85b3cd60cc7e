"""Every command and capture mode is declared once, and each place that offers them derives from that."""

from __future__ import annotations

import asyncio
from typing import Any

from desktop.app import AppController
from desktop.assistant.services import AppPaths, Services
from desktop.capture.base import CaptureMode
from desktop.commands import COMMANDS, Where, build_parser
from desktop.hotkeys.base import HotkeyAction
from desktop.ui.notifier import Notifier
from desktop.ui.tray import Tray


def test_the_running_app_carries_out_every_command_handed_to_it(qapp: Any, qt_loop: asyncio.AbstractEventLoop,
                                                                  app_paths: AppPaths, session_bus: object,
                                                                  qtbot: Any) -> None:
    controller = AppController(qapp, Services.create(app_paths), Notifier())
    try:
        assert set(controller.command_handlers()) == {c.name for c in COMMANDS if c.where is not Where.HERE}
    finally:
        closing = asyncio.ensure_future(controller.services.client.aclose())
        qtbot.waitUntil(closing.done, timeout=5000)


def test_capture_modes_reach_the_cli_the_tray_and_the_hotkeys(qapp: Any) -> None:
    modes = [m.value for m in CaptureMode]
    capture = build_parser().parse_args(["capture", "window"])
    assert capture.mode == "window"
    choices = next(a for a in build_parser()._subparsers._group_actions[0].choices["capture"]._actions  # noqa: SLF001
                   if a.dest == "mode").choices
    assert list(choices) == modes
    assert [a.capture_mode.value for a in HotkeyAction if a.capture_mode] == modes
    assert [a.cli_command for a in HotkeyAction] == [*(f"glmv-desktop capture {m}" for m in modes),
                                                      "glmv-desktop quick-ask", "glmv-desktop record toggle"]
    tray = Tray("the monitor under the mouse pointer")
    try:
        assert list(tray.capture_actions) == modes
        assert [tray.capture_actions[m.value].text() for m in CaptureMode] == [m.menu_label for m in CaptureMode]
        # each working hotkey beside its menu entry; the one record hotkey both starts and stops a recording
        tray.set_hotkeys({"capture_region": "Ctrl+Alt+Shift+S", "record": "Ctrl+Alt+Shift+R"})
        assert tray.capture_actions["region"].text().endswith("\tCtrl+Alt+Shift+S")
        assert tray.capture_actions["window"].text() == CaptureMode.WINDOW.menu_label
        assert tray.record_actions["region"].text() == "Record a region…\tCtrl+Alt+Shift+R"
        assert tray.record_actions["stop"].text() == "Stop recording\tCtrl+Alt+Shift+R"
        assert tray.record_actions["screen"].text() == "Record the screen"
    finally:
        tray.deleteLater()
