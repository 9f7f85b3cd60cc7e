"""Win32Hotkeys with a fake user32: key codes, RegisterHotKey calls, conflicts, WM_HOTKEY through the filter."""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import pytest

from desktop.config.shortcuts import NAMED_KEYS, Modifier, Shortcut
from desktop.hotkeys import win32
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.hotkeys.win32 import MSG, WM_HOTKEY, Win32Hotkeys


class FakeUser32:
    """RegisterHotKey/UnregisterHotKey as Windows answers them, for one process among others."""

    def __init__(self, taken: set[tuple[int, int]] | None = None) -> None:
        self.taken = taken or set()  # (modifiers without MOD_NOREPEAT, vk) other programs hold
        self.held: dict[int, tuple[int, int]] = {}
        self.calls: list[tuple[Any, ...]] = []
        self.last_error = 0

    def RegisterHotKey(self, hwnd: Any, hotkey_id: int, modifiers: int, vk: int) -> int:  # noqa: N802
        self.calls.append(("RegisterHotKey", hwnd, hotkey_id, modifiers, vk))
        combo = (modifiers & ~win32.MOD_NOREPEAT, vk)
        if combo in self.taken or combo in self.held.values():
            self.last_error = win32.ERROR_HOTKEY_ALREADY_REGISTERED
            return 0
        if vk == 0xFF:
            self.last_error = 87  # ERROR_INVALID_PARAMETER
            return 0
        self.held[hotkey_id] = combo
        return 1

    def UnregisterHotKey(self, hwnd: Any, hotkey_id: int) -> int:  # noqa: N802
        self.calls.append(("UnregisterHotKey", hwnd, hotkey_id))
        if self.held.pop(hotkey_id, None) is None:
            self.last_error = 1419  # ERROR_HOTKEY_NOT_REGISTERED
            return 0
        return 1


def make(qapp: Any, user32: FakeUser32, hits: list[HotkeyAction]) -> Win32Hotkeys:
    return Win32Hotkeys(hits.append, user32=user32, last_error=lambda: user32.last_error)


def hotkey_message(hotkey_id: int, message: int = WM_HOTKEY) -> MSG:
    return MSG(hwnd=None, message=message, wParam=hotkey_id, lParam=(0x53 << 16) | 0x7, time=1)


@pytest.mark.parametrize("key", [*NAMED_KEYS, "+", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"])
def test_every_shortcut_key_has_a_virtual_key(key: str) -> None:
    assert win32.virtual_key(key) is not None


@pytest.mark.parametrize(("key", "vk"), [
    ("A", 0x41), ("Z", 0x5A), ("0", 0x30), ("9", 0x39), ("F1", 0x70), ("F12", 0x7B), ("F24", 0x87),
    ("Space", 0x20), ("Esc", 0x1B), ("Print", 0x2C), ("Pause", 0x13), ("PgUp", 0x21), ("PgDown", 0x22),
    ("Delete", 0x2E), ("Insert", 0x2D), ("Left", 0x25), ("Down", 0x28),
    (";", 0xBA), ("=", 0xBB), (",", 0xBC), ("-", 0xBD), (".", 0xBE), ("/", 0xBF), ("`", 0xC0),
    ("[", 0xDB), ("\\", 0xDC), ("]", 0xDD), ("'", 0xDE),
])
def test_virtual_key_codes(key: str, vk: int) -> None:
    assert win32.virtual_key(key) == vk


def test_modifier_flags_always_ask_for_no_repeat() -> None:
    assert win32.modifier_flags(frozenset()) == win32.MOD_NOREPEAT
    everything = frozenset({Modifier.CTRL, Modifier.ALT, Modifier.SHIFT, Modifier.META})
    assert win32.modifier_flags(everything) == 0x4000 | 0x1 | 0x2 | 0x4 | 0x8
    assert win32.modifier_flags(frozenset({Modifier.META})) == win32.MOD_NOREPEAT | win32.MOD_WIN


def test_msg_has_the_windows_x64_layout() -> None:
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("the layout checked is the 64-bit one")
    assert ctypes.sizeof(MSG) == 48
    assert (MSG.message.offset, MSG.wParam.offset, MSG.lParam.offset, MSG.time.offset) == (8, 16, 24, 32)


def test_register_calls_register_hotkey_for_the_thread(qapp: Any) -> None:
    user32, hits = FakeUser32(), []
    backend = make(qapp, user32, hits)
    assert backend.availability().available
    registration = backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert registration.status is RegistrationStatus.REGISTERED
    (name, hwnd, _hotkey_id, modifiers, vk), = user32.calls
    assert (name, hwnd, vk) == ("RegisterHotKey", None, ord("S"))
    assert modifiers == win32.MOD_CONTROL | win32.MOD_ALT | win32.MOD_SHIFT | win32.MOD_NOREPEAT
    backend.close()


def test_a_combination_another_program_holds_is_taken(qapp: Any) -> None:
    user32 = FakeUser32(taken={(win32.MOD_CONTROL | win32.MOD_ALT | win32.MOD_SHIFT, ord("S"))})
    backend = make(qapp, user32, [])
    registration = backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert registration.status is RegistrationStatus.TAKEN
    assert registration.reason == "Another program already uses Ctrl+Alt+Shift+S."
    assert backend.register(HotkeyAction.CAPTURE_WINDOW, Shortcut.parse("Ctrl+Alt+Shift+W")).ok
    backend.close()


def test_other_failures_are_unsupported_with_the_error_code(qapp: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(win32.VIRTUAL_KEYS, "F24", 0xFF)
    backend = make(qapp, FakeUser32(), [])
    registration = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+F24"))
    assert registration.status is RegistrationStatus.UNSUPPORTED
    assert "87" in registration.reason
    backend.close()


def test_wm_hotkey_runs_the_registered_action(qapp: Any) -> None:
    user32, hits = FakeUser32(), []
    backend = make(qapp, user32, hits)
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+Alt+Shift+Q"))
    quick_id = next(c[2] for c in user32.calls if c[4] == ord("Q"))
    event_filter = backend.message_filter
    assert event_filter is not None

    # WHEN Qt's dispatcher hands the filter a WM_HOTKEY message (the address of a MSG)
    msg = hotkey_message(quick_id)
    assert event_filter.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(msg)) == (True, 0)
    assert hits == [HotkeyAction.QUICK_ASK]

    # other messages, other ids and other platforms' events are left alone
    other = hotkey_message(quick_id, message=0x0100)  # WM_KEYDOWN
    assert event_filter.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(other)) == (False, 0)
    stranger = hotkey_message(0x1234)
    assert event_filter.nativeEventFilter(b"windows_generic_MSG", ctypes.addressof(stranger)) == (False, 0)
    assert event_filter.nativeEventFilter(b"xcb_generic_event_t", ctypes.addressof(msg)) == (False, 0)
    assert hits == [HotkeyAction.QUICK_ASK]
    backend.close()


def test_reregistering_replaces_and_unregister_releases(qapp: Any) -> None:
    user32, hits = FakeUser32(), []
    backend = make(qapp, user32, hits)
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+R"))
    assert list(user32.held.values()) == [(win32.MOD_CONTROL | win32.MOD_ALT, ord("R"))]
    backend.unregister(HotkeyAction.CAPTURE_REGION)
    assert user32.held == {}
    backend.unregister(HotkeyAction.CAPTURE_REGION)  # twice is harmless
    assert [c[0] for c in user32.calls].count("UnregisterHotKey") == 2
    backend.close()


def test_one_combination_for_two_actions_is_refused(qapp: Any) -> None:
    backend = make(qapp, FakeUser32(), [])
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    second = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert second.status is RegistrationStatus.TAKEN
    assert HotkeyAction.CAPTURE_REGION.label in second.reason
    backend.close()


def test_close_unregisters_everything_and_removes_the_filter(qapp: Any) -> None:
    user32, hits = FakeUser32(), []
    backend = make(qapp, user32, hits)
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    backend.register(HotkeyAction.CAPTURE_ALL, Shortcut.parse("Ctrl+Alt+Shift+D"))
    backend.close()
    assert user32.held == {}
    assert backend.message_filter is None


@pytest.mark.skipif(sys.platform == "win32", reason="checks the answer on other platforms")
def test_unavailable_without_windows() -> None:
    backend = Win32Hotkeys(lambda action: None)
    availability = backend.availability()
    assert not availability.available and availability.reason
    registration = backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert registration.status is RegistrationStatus.UNSUPPORTED
    backend.close()


@pytest.mark.skipif(sys.platform != "win32", reason="needs the real user32 (Windows only)")
def test_real_register_and_unregister(qapp: Any) -> None:
    backend = Win32Hotkeys(lambda action: None)
    assert backend.availability().available
    registration = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+Alt+Shift+F23"))
    assert registration.status in {RegistrationStatus.REGISTERED, RegistrationStatus.TAKEN}
    backend.close()
