"""MacHotkeys with a fake Carbon: key codes, modifiers, register/unregister, conflicts, the C handler path."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from desktop.config.shortcuts import NAMED_KEYS, Modifier, Shortcut
from desktop.hotkeys import macos
from desktop.hotkeys.base import HotkeyAction, RegistrationStatus
from desktop.hotkeys.macos import CtypesCarbon, EventHotKeyID, MacHotkeys


class FakeCarbon:
    """The CarbonApi as the system answers it, with other programs holding `taken` (keycode, modifiers)."""

    def __init__(self, taken: set[tuple[int, int]] | None = None) -> None:
        self.taken = taken or set()
        self.handlers: dict[int, Callable[[int], bool]] = {}
        self.held: dict[int, tuple[int, int, int]] = {}  # ref → (keycode, modifiers, id)
        self.next_ref = 100

    def install_handler(self, on_hotkey: Callable[[int], bool]) -> object:
        self.next_ref += 1
        self.handlers[self.next_ref] = on_hotkey
        return self.next_ref

    def remove_handler(self, handler: object) -> None:
        assert isinstance(handler, int)
        del self.handlers[handler]

    def register(self, keycode: int, modifiers: int, hotkey_id: int) -> tuple[int, object]:
        if (keycode, modifiers) in self.taken:
            return macos.eventHotKeyExistsErr, None
        if keycode == 0x7F:
            return -50, None  # paramErr
        self.next_ref += 1
        self.held[self.next_ref] = (keycode, modifiers, hotkey_id)
        return macos.noErr, self.next_ref

    def unregister(self, ref: object) -> int:
        assert isinstance(ref, int)
        return macos.noErr if self.held.pop(ref, None) else macos.eventHotKeyInvalidErr

    def press(self, keycode: int, modifiers: int) -> bool:
        """What Carbon does on a key press: call the handlers with the matching hot key's id."""
        for held_code, held_mods, hotkey_id in self.held.values():
            if (held_code, held_mods) == (keycode, modifiers):
                return any(handler(hotkey_id) for handler in self.handlers.values())
        return False


CTRL_ALT_SHIFT = macos.controlKey | macos.optionKey | macos.shiftKey


@pytest.mark.parametrize("key", [k for k in (*NAMED_KEYS, "+", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                                 if k not in {"F21", "F22", "F23", "F24"}])
def test_every_mac_key_has_a_key_code(key: str) -> None:
    assert macos.key_code(key) is not None


def test_letters_and_digits_have_distinct_codes() -> None:
    codes = [macos.key_code(k) for k in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize(("key", "code"), [
    ("A", 0x00), ("S", 0x01), ("Q", 0x0C), ("W", 0x0D), ("D", 0x02), ("F", 0x03), ("0", 0x1D), ("5", 0x17),
    ("Return", 0x24), ("Enter", 0x4C), ("Space", 0x31), ("Esc", 0x35), ("Backspace", 0x33), ("Delete", 0x75),
    ("F1", 0x7A), ("F12", 0x6F), ("F20", 0x5A), ("Left", 0x7B), ("Up", 0x7E), ("`", 0x32), ("/", 0x2C),
])
def test_ansi_key_codes(key: str, code: int) -> None:
    assert macos.key_code(key) == code


def test_function_keys_beyond_f20_do_not_exist() -> None:
    assert macos.key_code("F21") is None


def test_meta_is_command_and_ctrl_is_control() -> None:
    assert macos.modifier_flags(frozenset({Modifier.META})) == macos.cmdKey == 0x100
    assert macos.modifier_flags(frozenset({Modifier.CTRL})) == macos.controlKey == 0x1000
    assert macos.modifier_flags(frozenset({Modifier.ALT})) == macos.optionKey == 0x800
    assert macos.modifier_flags(frozenset({Modifier.SHIFT})) == macos.shiftKey == 0x200


def test_register_and_press_run_the_action() -> None:
    carbon, hits = FakeCarbon(), []
    backend = MacHotkeys(hits.append, carbon=carbon)
    assert backend.availability().available
    assert backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S")).ok
    assert backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Meta+Shift+Q")).ok
    assert len(carbon.handlers) == 1  # one handler for all hot keys
    assert carbon.press(0x01, CTRL_ALT_SHIFT)
    assert carbon.press(0x0C, macos.cmdKey | macos.shiftKey)
    assert hits == [HotkeyAction.CAPTURE_REGION, HotkeyAction.QUICK_ASK]
    backend.close()
    assert carbon.held == {} and carbon.handlers == {}


def test_a_combination_the_system_holds_is_taken() -> None:
    carbon = FakeCarbon(taken={(0x01, CTRL_ALT_SHIFT)})
    backend = MacHotkeys(lambda action: None, carbon=carbon)
    registration = backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert registration.status is RegistrationStatus.TAKEN
    assert registration.reason == "Another program already uses Ctrl+Alt+Shift+S."
    backend.close()


def test_missing_keys_and_other_errors_are_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MacHotkeys(lambda action: None, carbon=FakeCarbon())
    f24 = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+F24"))
    assert f24.status is RegistrationStatus.UNSUPPORTED and "F24" in f24.reason
    monkeypatch.setitem(macos.KEY_CODES, "F19", 0x7F)
    refused = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+F19"))
    assert refused.status is RegistrationStatus.UNSUPPORTED and "-50" in refused.reason
    backend.close()


def test_reregistering_replaces_and_unregister_releases() -> None:
    carbon = FakeCarbon()
    backend = MacHotkeys(lambda action: None, carbon=carbon)
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Meta+R"))
    assert [(code, mods) for code, mods, _id in carbon.held.values()] == [(0x0F, macos.cmdKey)]
    backend.unregister(HotkeyAction.CAPTURE_REGION)
    assert carbon.held == {}
    backend.close()


def test_one_combination_for_two_actions_is_refused() -> None:
    backend = MacHotkeys(lambda action: None, carbon=FakeCarbon())
    backend.register(HotkeyAction.CAPTURE_REGION, Shortcut.parse("Ctrl+Alt+Shift+S"))
    second = backend.register(HotkeyAction.CAPTURE_ALL, Shortcut.parse("Ctrl+Alt+Shift+S"))
    assert second.status is RegistrationStatus.TAKEN
    backend.close()


@pytest.mark.skipif(sys.platform == "darwin", reason="checks the answer on other platforms")
def test_unavailable_without_macos() -> None:
    backend = MacHotkeys(lambda action: None)
    assert not backend.availability().available
    assert backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Meta+Q")).status is RegistrationStatus.UNSUPPORTED
    backend.close()


def test_struct_layouts_and_codes() -> None:
    assert ctypes.sizeof(EventHotKeyID) == 8 and ctypes.sizeof(macos.EventTypeSpec) == 8
    assert macos.SIGNATURE == 0x474C4D56  # 'GLMV'
    assert macos.kEventClassKeyboard == 0x6B657962  # 'keyb'
    assert macos.typeEventHotKeyID == 0x686B6964  # 'hkid'
    assert macos.kEventParamDirectObject == 0x2D2D2D2D  # '----'


def fake_carbon_library(events: dict[int, EventHotKeyID]) -> SimpleNamespace:
    """Stand-ins for the Carbon C functions, taking the ctypes arguments CtypesCarbon passes."""
    calls: list[tuple[Any, ...]] = []
    installed: dict[str, Any] = {}

    def install(target: Any, callback: Any, count: int, spec: Any, user_data: Any, out_ref: Any) -> int:
        calls.append(("InstallEventHandler", target, count, spec.contents.eventClass, spec.contents.eventKind))
        installed["callback"] = callback
        out_ref.contents.value = 0xABC
        return 0

    def register(code: int, mods: int, hotkey_id: EventHotKeyID, target: Any, options: int, out_ref: Any) -> int:
        calls.append(("RegisterEventHotKey", code, mods, hotkey_id.signature, hotkey_id.id, target, options))
        out_ref.contents.value = 0xDEF
        return 0

    def get_parameter(event: Any, name: int, kind: int, actual: Any, size: int, out_size: Any, out: Any) -> int:
        calls.append(("GetEventParameter", event, name, kind, size))
        if event not in events:
            return -9870  # eventParameterNotFoundErr
        out.contents.signature = events[event].signature
        out.contents.id = events[event].id
        return 0

    return SimpleNamespace(
        calls=calls, installed=installed,
        GetApplicationEventTarget=lambda: 0x7A7,
        InstallEventHandler=install,
        RemoveEventHandler=lambda ref: calls.append(("RemoveEventHandler", ref)) or 0,
        RegisterEventHotKey=register,
        UnregisterEventHotKey=lambda ref: calls.append(("UnregisterEventHotKey", ref)) or 0,
        GetEventParameter=get_parameter,
    )


def test_ctypes_carbon_installs_the_handler_and_reads_the_hot_key_id() -> None:
    # GIVEN the real ctypes adapter over stand-in C functions
    events = {0x1001: EventHotKeyID(macos.SIGNATURE, 2), 0x1002: EventHotKeyID(macos.four_char_code("ABCD"), 2)}
    lib = fake_carbon_library(events)
    hits: list[HotkeyAction] = []
    backend = MacHotkeys(hits.append, carbon=CtypesCarbon(lib))
    assert backend.register(HotkeyAction.CAPTURE_WINDOW, Shortcut.parse("Ctrl+Alt+Shift+W")).ok
    assert lib.calls[0] == ("InstallEventHandler", 0x7A7, 1, macos.kEventClassKeyboard, macos.kEventHotKeyPressed)
    assert lib.calls[1] == ("RegisterEventHotKey", 0x0D, CTRL_ALT_SHIFT, macos.SIGNATURE, 2, 0x7A7, 0)

    # WHEN Carbon calls the C handler for our hot key, another program's and an event without an id
    callback = lib.installed["callback"]
    assert callback(None, 0x1001, None) == macos.noErr
    assert callback(None, 0x1002, None) == macos.eventNotHandledErr
    assert callback(None, 0x1003, None) == macos.eventNotHandledErr

    # THEN only ours ran, and the id was read as typeEventHotKeyID from the direct object
    assert hits == [HotkeyAction.CAPTURE_WINDOW]
    assert ("GetEventParameter", 0x1001, macos.kEventParamDirectObject, macos.typeEventHotKeyID, 8) in lib.calls
    backend.close()
    assert lib.calls[-2:] == [("UnregisterEventHotKey", 0xDEF), ("RemoveEventHandler", 0xABC)]


@pytest.mark.skipif(sys.platform != "darwin", reason="needs the real Carbon framework (macOS only)")
def test_real_carbon_register_and_unregister() -> None:
    backend = MacHotkeys(lambda action: None)
    assert backend.availability().available
    registration = backend.register(HotkeyAction.QUICK_ASK, Shortcut.parse("Ctrl+Alt+Shift+Meta+F19"))
    assert registration.status in {RegistrationStatus.REGISTERED, RegistrationStatus.TAKEN}
    backend.close()
