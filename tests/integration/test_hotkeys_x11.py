"""X11Hotkeys and HotkeyService on the session's real X server, with xdotool pressing the keys.

A negative ("did not fire", "fired only once") is checked by order, not by waiting: after the key
under test, a sentinel combination is pressed; X delivers events in order, so once the sentinel has
arrived anything the first press caused has arrived too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from Xlib import XK, X, error
from Xlib import display as xdisplay

from desktop.config.settings import SettingsStore
from desktop.config.shortcuts import Shortcut
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.hotkeys.service import HotkeyService
from desktop.hotkeys.x11 import X11Hotkeys
from tests.support import desktop_env

pytestmark = pytest.mark.display

REGION = Shortcut.parse("Ctrl+Alt+Shift+S")
SENTINEL = Shortcut.parse("Ctrl+Alt+Shift+Q")
CTRL_ALT_SHIFT = X.ControlMask | X.Mod1Mask | X.ShiftMask


@pytest.fixture
def x11_env(x_display: desktop_env.XServer, monkeypatch: pytest.MonkeyPatch) -> desktop_env.XServer:
    """An X11 session on the test display, whatever the machine running the tests is."""
    desktop_env.require("xdotool")
    monkeypatch.setenv("DISPLAY", x_display.display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    return x_display


@pytest.fixture
def other_client(x11_env: desktop_env.XServer) -> Iterator[Any]:
    """A second X client (another program, as far as the server can tell)."""
    connection = xdisplay.Display(x11_env.display)
    yield connection
    connection.close()


@pytest.fixture
def hits() -> list[HotkeyAction]:
    return []


@pytest.fixture
def backend(x11_env: desktop_env.XServer, qapp: Any, hits: list[HotkeyAction]) -> Iterator[X11Hotkeys]:
    hotkeys = X11Hotkeys(hits.append)
    yield hotkeys
    hotkeys.close()


def press(x: desktop_env.XServer, combo: str) -> None:
    desktop_env.xdotool(x, "key", combo)


def keycode(connection: Any, keysym: str) -> int:
    """The key code of an X keysym name ("s", "Num_Lock"); 0 if the layout lacks it."""
    return int(connection.keysym_to_keycode(XK.string_to_keysym(keysym)))


def try_grab(connection: Any, key: str, mask: int) -> bool:
    """Grab key+mask on the root window from `connection`; False on BadAccess (someone else holds it)."""
    catcher = error.CatchError(error.BadAccess)
    connection.screen().root.grab_key(keycode(connection, key), mask, True, X.GrabModeAsync, X.GrabModeAsync,
                                      onerror=catcher)
    connection.sync()
    return catcher.get_error() is None


def ungrab(connection: Any, key: str, mask: int) -> None:
    connection.screen().root.ungrab_key(keycode(connection, key), mask)
    connection.sync()


def lock_on(connection: Any, keysym: str) -> bool:
    """Whether the lock whose key is `keysym` is on, read from the pointer's modifier state."""
    code = keycode(connection, keysym)
    assert code, f"{keysym} is not on this server's layout"
    for index, codes in enumerate(connection.get_modifier_mapping()):
        if code in codes:
            return bool(connection.screen().root.query_pointer().mask & (1 << index))
    raise AssertionError(f"{keysym} is not a modifier on this server")


@pytest.fixture
def locks_restored(x11_env: desktop_env.XServer, other_client: Any) -> Iterator[None]:
    """Turn NumLock and CapsLock back off after the test, whatever happened."""
    yield
    for keysym in ("Num_Lock", "Caps_Lock"):
        if lock_on(other_client, keysym):
            press(x11_env, keysym)


def press_and_confirm(qtbot: Any, x: desktop_env.XServer, hits: list[HotkeyAction], *combos: str) -> None:
    """Press `combos`, then the sentinel, and wait until the sentinel has arrived."""
    for combo in combos:
        press(x, combo)
    press(x, "ctrl+alt+shift+q")
    qtbot.waitUntil(lambda: HotkeyAction.QUICK_ASK in hits, timeout=10000)


def test_available_in_an_x11_session(backend: X11Hotkeys) -> None:
    assert backend.availability().available


def test_unavailable_under_wayland_with_the_fix(backend: X11Hotkeys, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    availability = backend.availability()
    assert not availability.available
    assert availability.reason == "X11 key grabs only see X11 windows under Wayland."
    assert "GlobalShortcuts" in availability.how_to_fix and "glmv-desktop" in availability.how_to_fix


def test_unavailable_without_a_display(qapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("XDG_SESSION_TYPE", raising=False)
    backend = X11Hotkeys(lambda action: None)
    assert not backend.availability().available
    assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).status is RegistrationStatus.UNSUPPORTED
    backend.close()


def test_a_press_fires_the_action_exactly_once(
        backend: X11Hotkeys, x11_env: desktop_env.XServer, qtbot: Any, hits: list[HotkeyAction]) -> None:
    assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).ok
    assert backend.register(HotkeyAction.QUICK_ASK, SENTINEL).ok
    press_and_confirm(qtbot, x11_env, hits, "ctrl+alt+shift+s")
    assert hits == [HotkeyAction.CAPTURE_REGION, HotkeyAction.QUICK_ASK]


def test_other_modifiers_do_not_fire(
        backend: X11Hotkeys, x11_env: desktop_env.XServer, qtbot: Any, hits: list[HotkeyAction]) -> None:
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    backend.register(HotkeyAction.QUICK_ASK, SENTINEL)
    press_and_confirm(qtbot, x11_env, hits, "ctrl+alt+s")
    assert hits == [HotkeyAction.QUICK_ASK]


@pytest.mark.parametrize("lock", ["Num_Lock", "Caps_Lock"])
def test_fires_with_a_lock_on(backend: X11Hotkeys, x11_env: desktop_env.XServer, other_client: Any,
                              locks_restored: None, qtbot: Any, hits: list[HotkeyAction], lock: str) -> None:
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    backend.register(HotkeyAction.QUICK_ASK, SENTINEL)
    assert not lock_on(other_client, lock)
    press(x11_env, lock)
    assert lock_on(other_client, lock)
    press_and_confirm(qtbot, x11_env, hits, "ctrl+alt+shift+s")
    assert hits == [HotkeyAction.CAPTURE_REGION, HotkeyAction.QUICK_ASK]


def test_a_held_combination_fires_once_despite_autorepeat(
        backend: X11Hotkeys, x11_env: desktop_env.XServer, qtbot: Any, hits: list[HotkeyAction],
        caplog: pytest.LogCaptureFixture) -> None:
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    backend.register(HotkeyAction.QUICK_ASK, SENTINEL)
    caplog.set_level(logging.DEBUG, logger="desktop.hotkeys.x11")
    # GIVEN the combination held down until the server has auto-repeated it
    desktop_env.xdotool(x11_env, "keydown", "ctrl+alt+shift+s")
    try:
        qtbot.waitUntil(lambda: any("autorepeat" in r.getMessage() for r in caplog.records), timeout=10000)
    finally:
        desktop_env.xdotool(x11_env, "keyup", "ctrl+alt+shift+s")
    # THEN it ran once
    press_and_confirm(qtbot, x11_env, hits)
    assert hits == [HotkeyAction.CAPTURE_REGION, HotkeyAction.QUICK_ASK]


def test_a_combination_another_client_holds_is_taken(
        backend: X11Hotkeys, other_client: Any, x11_env: desktop_env.XServer) -> None:
    # GIVEN another program grabbed Ctrl+Alt+Shift+S (without lock bits) first
    assert try_grab(other_client, "s", CTRL_ALT_SHIFT)
    try:
        registration = backend.register(HotkeyAction.CAPTURE_REGION, REGION)
        assert registration.status is RegistrationStatus.TAKEN
        assert registration.reason == "Another program already uses Ctrl+Alt+Shift+S."
        assert "glmv-desktop capture region" in registration.advice()
        # the lock variants that did succeed were given back
        assert try_grab(other_client, "s", CTRL_ALT_SHIFT | X.LockMask)
    finally:
        ungrab(other_client, "s", CTRL_ALT_SHIFT)
        ungrab(other_client, "s", CTRL_ALT_SHIFT | X.LockMask)
    # once the other program lets go, it registers
    assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).ok


def test_close_frees_the_combination(backend: X11Hotkeys, other_client: Any) -> None:
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    assert not try_grab(other_client, "s", CTRL_ALT_SHIFT)
    backend.close()
    try:
        assert try_grab(other_client, "s", CTRL_ALT_SHIFT)
    finally:
        ungrab(other_client, "s", CTRL_ALT_SHIFT)


def test_unregister_frees_the_combination(backend: X11Hotkeys, other_client: Any) -> None:
    backend.register(HotkeyAction.CAPTURE_REGION, REGION)
    backend.unregister(HotkeyAction.CAPTURE_REGION)
    try:
        assert try_grab(other_client, "s", CTRL_ALT_SHIFT)
    finally:
        ungrab(other_client, "s", CTRL_ALT_SHIFT)


def test_a_key_missing_from_the_layout_is_unsupported(backend: X11Hotkeys, other_client: Any) -> None:
    missing = next((f"F{n}" for n in range(24, 12, -1) if not keycode(other_client, f"F{n}")), None)
    if missing is None:
        pytest.skip("this server's keyboard layout has F13–F24")
    registration = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse(f"Ctrl+{missing}"))
    assert registration.status is RegistrationStatus.UNSUPPORTED
    assert registration.reason == f"The key {missing} is not on this keyboard layout."


def test_the_service_re_registers_on_a_settings_change(
        x11_env: desktop_env.XServer, other_client: Any, qapp: Any, qtbot: Any, tmp_path: Path) -> None:
    # GIVEN a service on X11 with capture_region and the quick-ask sentinel
    settings = SettingsStore(tmp_path / "settings.json")
    for action in HotkeyAction:
        settings.set(f"hotkeys.{action.value}", "")
    settings.set("hotkeys.capture_region", "Ctrl+Alt+Shift+S")
    settings.set("hotkeys.quick_ask", "Ctrl+Alt+Shift+Q")
    service = HotkeyService(settings, [X11Hotkeys])
    fired: list[str] = []
    service.activated.connect(fired.append)
    service.start()
    try:
        assert service.backend_name == "x11"
        assert {r.action: r.status for r in service.registrations()}[HotkeyAction.CAPTURE_REGION] is \
            RegistrationStatus.REGISTERED

        # WHEN the user moves capture_region to Ctrl+Alt+Shift+R
        with qtbot.waitSignal(service.changed):
            settings.set("hotkeys.capture_region", "Ctrl+Alt+Shift+R")

        # THEN the new combination fires and the old one neither fires nor stays grabbed
        press(x11_env, "ctrl+alt+shift+s")
        press(x11_env, "ctrl+alt+shift+r")
        press(x11_env, "ctrl+alt+shift+q")
        qtbot.waitUntil(lambda: "quick_ask" in fired, timeout=10000)
        assert fired == ["capture_region", "quick_ask"]
        assert try_grab(other_client, "s", CTRL_ALT_SHIFT)
        ungrab(other_client, "s", CTRL_ALT_SHIFT)

        # suspend lets go of everything (the key recorder needs the keys); resume grabs again
        service.suspend()
        assert try_grab(other_client, "r", CTRL_ALT_SHIFT)
        ungrab(other_client, "r", CTRL_ALT_SHIFT)
        service.resume()
        assert not try_grab(other_client, "r", CTRL_ALT_SHIFT)
    finally:
        service.close()
    assert try_grab(other_client, "r", CTRL_ALT_SHIFT)
    ungrab(other_client, "r", CTRL_ALT_SHIFT)


def test_a_key_typed_with_shift_is_grabbed_with_shift(
        backend: X11Hotkeys, x11_env: desktop_env.XServer, qtbot: Any, hits: list[HotkeyAction]) -> None:
    # "+" is Shift+= on the test server's US layout: xdotool presses it as ctrl+alt+shift+equal
    assert backend.register(HotkeyAction.CAPTURE_ALL, Shortcut.parse("Ctrl+Alt++")).ok
    backend.register(HotkeyAction.QUICK_ASK, SENTINEL)
    press_and_confirm(qtbot, x11_env, hits, "ctrl+alt+equal", "ctrl+alt+plus")
    assert hits == [HotkeyAction.CAPTURE_ALL, HotkeyAction.QUICK_ASK]


def test_losing_the_x_server_is_survived(qapp: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a backend on a private X server that then goes away
    desktop_env.require("Xvfb")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("XDG_SESSION_TYPE", "x11")
    private = desktop_env.start_xvfb(640, 480)
    backend = X11Hotkeys(lambda action: None, display_name=private.display)
    try:
        assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).ok
        private.stop()
        # THEN the backend notices on the event loop, and says so instead of raising
        qtbot.waitUntil(lambda: not backend.availability().available, timeout=10000)
        assert backend.register(HotkeyAction.CAPTURE_REGION, REGION).status is RegistrationStatus.UNSUPPORTED
    finally:
        backend.close()
        private.stop()
