"""Settings → Hotkeys & capture with the real X11 hotkey service on the test display: a combination
held by another program is reported as taken with the fallback command, a new one recorded with
the key recorder works after OK, and the backends of this desktop are listed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox
from Xlib import XK, X, error
from Xlib import display as xdisplay

from desktop.assistant.services import Services
from desktop.hotkeys.base import HotkeyAction
from desktop.hotkeys.service import HotkeyService
from desktop.ui.notifier import Notifier
from desktop.ui.settings_dialog import SettingsDialog
from tests.support import desktop_env

CTRL_ALT_SHIFT = X.ControlMask | X.Mod1Mask | X.ShiftMask


@pytest.fixture
def other_program(x_display: desktop_env.XServer) -> Iterator[Any]:
    """Another X client that holds Ctrl+Alt+Shift+S, as a screenshot tool might."""
    connection = xdisplay.Display(x_display.display)
    code = connection.keysym_to_keycode(XK.string_to_keysym("s"))
    catcher = error.CatchError(error.BadAccess)
    connection.screen().root.grab_key(code, CTRL_ALT_SHIFT, True, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
    connection.sync()
    assert catcher.get_error() is None
    yield connection
    connection.close()


@pytest.fixture
def hotkeys(services: Services, x_display: desktop_env.XServer, monkeypatch: pytest.MonkeyPatch,
            qapp: Any) -> Iterator[HotkeyService]:
    monkeypatch.setenv("DISPLAY", x_display.display)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    service = HotkeyService(services.settings)
    yield service
    service.close()


def make_dialog(qtbot: Any, services: Services, hotkeys: HotkeyService | None,
                notifier: Notifier | None = None) -> SettingsDialog:
    dialog = SettingsDialog(services, notifier or Notifier(), hotkeys=hotkeys)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.hotkeys)
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
    task = dialog.hotkeys.report_task
    assert task is not None, "shown once: the backends are being asked"
    qtbot.waitUntil(task.done, timeout=10000)
    return dialog


def test_taken_hotkey_is_reported_and_a_recorded_one_works(qtbot: Any, services: Services, other_program: Any,
                                                           hotkeys: HotkeyService) -> None:
    # GIVEN another program holds the default region hotkey
    hotkeys.start()
    assert hotkeys.backend_name == "x11"
    dialog = make_dialog(qtbot, services, hotkeys)
    page = dialog.hotkeys
    state = page.states[HotkeyAction.CAPTURE_REGION]
    # THEN the page says it is taken and what to bind instead
    assert "Taken" in state.text() and "Another program" in state.text()
    assert "glmv-desktop capture region" in page.advice[HotkeyAction.CAPTURE_REGION].text()
    assert "Works" in page.states[HotkeyAction.CAPTURE_WINDOW].text()
    # and it lists this desktop's backends once the report is in
    qtbot.waitUntil(lambda: "x11" in page.backend_text.text(), timeout=10000)
    assert "mss" in page.backend_text.text()

    # WHEN a new combination is recorded (the app's own grabs are released meanwhile)
    recorder = page.recorders[HotkeyAction.CAPTURE_REGION]
    recorder.setFocus()
    qtbot.waitUntil(lambda: hotkeys.suspended, timeout=5000)
    recorder.clear()
    QTest.keyClick(recorder, Qt.Key.Key_K, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert recorder.shortcut_text() == "Ctrl+Alt+Shift+K"
    page.recorders[HotkeyAction.CAPTURE_WINDOW].setFocus()
    # AND OK is pressed
    dialog._accept()  # noqa: SLF001 - the OK button's slot
    # THEN the setting is stored and the new combination is grabbed
    assert services.settings.get("hotkeys.capture_region") == "Ctrl+Alt+Shift+K"
    qtbot.waitUntil(lambda: not hotkeys.suspended, timeout=5000)
    [region] = [r for r in hotkeys.registrations() if r.action is HotkeyAction.CAPTURE_REGION]
    assert region.ok and region.shortcut == "Ctrl+Alt+Shift+K"


def test_one_combination_for_two_actions_is_refused(qtbot: Any, services: Services, hotkeys: HotkeyService) -> None:
    hotkeys.start()
    notifier = Notifier()
    dialog = make_dialog(qtbot, services, hotkeys, notifier)
    page = dialog.hotkeys
    page.recorders[HotkeyAction.QUICK_ASK].setKeySequence(page.recorders[HotkeyAction.CAPTURE_ALL].keySequence())
    dialog._accept()  # noqa: SLF001 - the OK button's slot
    assert dialog.isVisible(), "the dialog stays open to fix it"
    qtbot.waitUntil(lambda: bool(notifier.shown), timeout=5000)
    assert "two actions" in notifier.shown[0]
    for box in dialog.findChildren(QMessageBox):
        box.close()
    assert services.settings.get("hotkeys.quick_ask") == "Ctrl+Alt+Shift+Q"


def test_cleared_recorder_turns_the_hotkey_off(qtbot: Any, services: Services, hotkeys: HotkeyService) -> None:
    hotkeys.start()
    dialog = make_dialog(qtbot, services, hotkeys)
    page = dialog.hotkeys
    page.recorders[HotkeyAction.CAPTURE_ALL].clear()
    dialog._accept()  # noqa: SLF001 - the OK button's slot
    assert services.settings.get("hotkeys.capture_all") == ""
    assert page.states[HotkeyAction.CAPTURE_ALL].text() == "Off"
    page.refresh()
    assert not page.advice[HotkeyAction.CAPTURE_ALL].isVisible()


def test_macos_recorder_round_trip_keeps_command_and_control(qapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Qt on macOS calls ⌘ "Ctrl" and Control "Meta"; our settings call ⌘ Meta. Loading then reading
    # back must give the stored text unchanged, or every OK would swap them.
    from PySide6.QtGui import QKeySequence

    from desktop.ui.hotkeys_page import ShortcutRecorder, qt_key_text

    monkeypatch.setattr(sys, "platform", "darwin")
    for stored in ("Ctrl+Alt+Shift+S", "Meta+Shift+Q", "Ctrl+Meta+F"):
        recorder = ShortcutRecorder(stored)
        try:
            assert recorder.shortcut_text() == stored
            qt_text = recorder.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            assert qt_key_text(qt_text) == stored
        finally:
            recorder.deleteLater()
    assert qt_key_text("Meta+Alt+S") == "Ctrl+Alt+S"
