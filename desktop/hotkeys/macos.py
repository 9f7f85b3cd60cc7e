"""Global hotkeys on macOS: Carbon's `RegisterEventHotKey`, which needs no Input Monitoring permission.

Carbon delivers hot-key events to a handler installed on the application event target; Qt's Cocoa
event loop dispatches them, so the handler runs on the UI thread. Key codes are the `kVK_*`
virtual key codes of the ANSI layout (they name key positions, not characters). The project's
Meta modifier is the Command key (⌘); Ctrl is the Control key (⌃).

All Carbon calls go through a small `CarbonApi` object, so the logic is tested on any platform
with a fake one; `CtypesCarbon` is the real thing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from collections.abc import Callable
from typing import Any, Protocol

from desktop.availability import Availability
from desktop.config.shortcuts import Modifier, Shortcut
from desktop.hotkeys.base import HotkeyAction, Registration, RegistrationStatus
from desktop.i18n import _

log = logging.getLogger(__name__)


def four_char_code(text: str) -> int:
    """Carbon's OSType/FourCharCode for a four-letter code ('GLMV', 'keyb', '----')."""
    data = text.encode("ascii")
    assert len(data) == 4
    return int.from_bytes(data, "big")


SIGNATURE = four_char_code("GLMV")
kEventClassKeyboard = four_char_code("keyb")  # noqa: N816 - Carbon's own names
kEventHotKeyPressed = 5  # noqa: N816
kEventParamDirectObject = four_char_code("----")  # noqa: N816
typeEventHotKeyID = four_char_code("hkid")  # noqa: N816
noErr = 0  # noqa: N816
eventHotKeyExistsErr = -9878  # noqa: N816
eventHotKeyInvalidErr = -9879  # noqa: N816
eventNotHandledErr = -9874  # noqa: N816

cmdKey = 1 << 8  # noqa: N816
shiftKey = 1 << 9  # noqa: N816
optionKey = 1 << 11  # noqa: N816
controlKey = 1 << 12  # noqa: N816

_MODIFIER_BITS = {Modifier.META: cmdKey, Modifier.SHIFT: shiftKey, Modifier.ALT: optionKey, Modifier.CTRL: controlKey}

# Qt's portable key names → kVK_* codes (Events.h, ANSI layout).
KEY_CODES: dict[str, int] = {
    "A": 0x00, "S": 0x01, "D": 0x02, "F": 0x03, "H": 0x04, "G": 0x05, "Z": 0x06, "X": 0x07, "C": 0x08,
    "V": 0x09, "B": 0x0B, "Q": 0x0C, "W": 0x0D, "E": 0x0E, "R": 0x0F, "Y": 0x10, "T": 0x11,
    "1": 0x12, "2": 0x13, "3": 0x14, "4": 0x15, "6": 0x16, "5": 0x17, "=": 0x18, "9": 0x19, "7": 0x1A,
    "-": 0x1B, "8": 0x1C, "0": 0x1D, "]": 0x1E, "O": 0x1F, "U": 0x20, "[": 0x21, "I": 0x22, "P": 0x23,
    "L": 0x25, "J": 0x26, "'": 0x27, "K": 0x28, ";": 0x29, "\\": 0x2A, ",": 0x2B, "/": 0x2C, "N": 0x2D,
    "M": 0x2E, ".": 0x2F, "`": 0x32,
    "+": 0x18,  # the "=/+" key
    "Return": 0x24, "Enter": 0x4C,  # kVK_Return, kVK_ANSI_KeypadEnter
    "Tab": 0x30, "Space": 0x31, "Backspace": 0x33, "Esc": 0x35,
    "Delete": 0x75,  # kVK_ForwardDelete
    "Insert": 0x72,  # kVK_Help: the key in Insert's place on Apple's extended keyboards
    "Home": 0x73, "End": 0x77, "PgUp": 0x74, "PgDown": 0x79,
    "Left": 0x7B, "Right": 0x7C, "Down": 0x7D, "Up": 0x7E,
    "F1": 0x7A, "F2": 0x78, "F3": 0x63, "F4": 0x76, "F5": 0x60, "F6": 0x61, "F7": 0x62, "F8": 0x64,
    "F9": 0x65, "F10": 0x6D, "F11": 0x67, "F12": 0x6F, "F13": 0x69, "F14": 0x6B, "F15": 0x71,
    "F16": 0x6A, "F17": 0x40, "F18": 0x4F, "F19": 0x50, "F20": 0x5A,
    # A PC keyboard's Print Screen and Pause arrive on a Mac as F13 and F15.
    "Print": 0x69, "Pause": 0x71,
}


def key_code(key: str) -> int | None:
    """The kVK_* code for a Shortcut key, or None (F21–F24 do not exist on a Mac)."""
    return KEY_CODES.get(key)


def modifier_flags(modifiers: frozenset[Modifier]) -> int:
    """RegisterEventHotKey's modifiers: Meta → cmdKey, Alt → optionKey, Ctrl → controlKey."""
    flags = 0
    for modifier in modifiers:
        flags |= _MODIFIER_BITS[modifier]
    return flags


class CarbonApi(Protocol):
    """The few Carbon calls the backend needs, in Python terms."""

    def install_handler(self, on_hotkey: Callable[[int], bool]) -> object:
        """Install a kEventHotKeyPressed handler on the application target; `on_hotkey(id)` says if handled."""
        ...

    def remove_handler(self, handler: object) -> None:
        """Remove a handler installed by `install_handler`."""
        ...

    def register(self, keycode: int, modifiers: int, hotkey_id: int) -> tuple[int, object]:
        """RegisterEventHotKey: (OSStatus, the hot key's ref)."""
        ...

    def unregister(self, ref: object) -> int:
        """UnregisterEventHotKey: the OSStatus."""
        ...


class EventTypeSpec(ctypes.Structure):
    """Carbon's EventTypeSpec."""

    _fields_ = [("eventClass", ctypes.c_uint32), ("eventKind", ctypes.c_uint32)]


class EventHotKeyID(ctypes.Structure):
    """Carbon's EventHotKeyID."""

    _fields_ = [("signature", ctypes.c_uint32), ("id", ctypes.c_uint32)]


# OSStatus (*EventHandlerProcPtr)(EventHandlerCallRef, EventRef, void *userData)
EventHandlerProcPtr = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class CtypesCarbon:
    """`CarbonApi` over the Carbon framework through ctypes."""

    def __init__(self, lib: Any = None) -> None:
        """`lib` defaults to the Carbon framework (tests hand in a stand-in with the same functions)."""
        if lib is None:
            path = ctypes.util.find_library("Carbon")
            if path is None:
                raise OSError(_("The Carbon framework was not found."))
            lib = ctypes.CDLL(path)
        self.lib = lib
        lib.GetApplicationEventTarget.restype = ctypes.c_void_p
        lib.GetApplicationEventTarget.argtypes = []
        lib.InstallEventHandler.restype = ctypes.c_int32
        lib.InstallEventHandler.argtypes = [ctypes.c_void_p, EventHandlerProcPtr, ctypes.c_size_t,  # ItemCount
                                            ctypes.POINTER(EventTypeSpec), ctypes.c_void_p,
                                            ctypes.POINTER(ctypes.c_void_p)]
        lib.RemoveEventHandler.restype = ctypes.c_int32
        lib.RemoveEventHandler.argtypes = [ctypes.c_void_p]
        lib.RegisterEventHotKey.restype = ctypes.c_int32
        lib.RegisterEventHotKey.argtypes = [ctypes.c_uint32, ctypes.c_uint32, EventHotKeyID, ctypes.c_void_p,
                                            ctypes.c_uint32, ctypes.POINTER(ctypes.c_void_p)]
        lib.UnregisterEventHotKey.restype = ctypes.c_int32
        lib.UnregisterEventHotKey.argtypes = [ctypes.c_void_p]
        lib.GetEventParameter.restype = ctypes.c_int32
        lib.GetEventParameter.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                                          ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t,
                                          ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(EventHotKeyID)]
        self._callbacks: dict[int, Any] = {}  # keep the C callbacks alive while installed

    def install_handler(self, on_hotkey: Callable[[int], bool]) -> object:
        """InstallEventHandler on GetApplicationEventTarget for (kEventClassKeyboard, kEventHotKeyPressed)."""

        def handler(_call_ref: int | None, event: int | None, _user_data: int | None) -> int:
            hotkey = EventHotKeyID()
            status = self.lib.GetEventParameter(event, kEventParamDirectObject, typeEventHotKeyID, None,
                                                ctypes.sizeof(hotkey), None, ctypes.pointer(hotkey))
            if status != noErr or hotkey.signature != SIGNATURE:
                return eventNotHandledErr
            try:
                handled = on_hotkey(int(hotkey.id))
            except Exception:  # an exception must not unwind through Carbon's C frames
                log.exception("macOS hotkey handler failed")
                return noErr
            return noErr if handled else eventNotHandledErr

        callback = EventHandlerProcPtr(handler)
        spec = EventTypeSpec(kEventClassKeyboard, kEventHotKeyPressed)
        ref = ctypes.c_void_p()
        status = self.lib.InstallEventHandler(self.lib.GetApplicationEventTarget(), callback, 1, ctypes.pointer(spec),
                                              None, ctypes.pointer(ref))
        if status != noErr:
            raise OSError(_("Carbon refused the hot-key handler (error {code}).").format(code=status))
        self._callbacks[ref.value or 0] = callback
        return ref.value

    def remove_handler(self, handler: object) -> None:
        """RemoveEventHandler, then let the callback go."""
        self.lib.RemoveEventHandler(handler)
        self._callbacks.pop(handler if isinstance(handler, int) else 0, None)

    def register(self, keycode: int, modifiers: int, hotkey_id: int) -> tuple[int, object]:
        """RegisterEventHotKey(keycode, modifiers, {'GLMV', id}, application target, 0, &ref)."""
        ref = ctypes.c_void_p()
        status = self.lib.RegisterEventHotKey(keycode, modifiers, EventHotKeyID(SIGNATURE, hotkey_id),
                                              self.lib.GetApplicationEventTarget(), 0, ctypes.pointer(ref))
        return int(status), ref.value

    def unregister(self, ref: object) -> int:
        """UnregisterEventHotKey(ref)."""
        return int(self.lib.UnregisterEventHotKey(ref))


class MacHotkeys:
    """`HotkeyBackend` for macOS, through Carbon hot keys."""

    name = "macos"

    def __init__(self, on_activated: Callable[[HotkeyAction], None], carbon: CarbonApi | None = None) -> None:
        """`carbon` defaults to the real framework on macOS."""
        self.on_activated = on_activated
        self._carbon = carbon
        self._load_error = ""
        if carbon is None and sys.platform == "darwin":
            try:
                self._carbon = CtypesCarbon()
            except (OSError, AttributeError) as exc:
                self._load_error = str(exc)
        self._handler: object = None
        self._refs: dict[HotkeyAction, tuple[int, object, str]] = {}  # action → (id, ref, shortcut text)

    def availability(self) -> Availability:
        """Available on macOS wherever Carbon loads (it needs no permission for hot keys)."""
        if self._carbon is None:
            if self._load_error:
                return Availability(False, _("Carbon could not be loaded: {error}").format(error=self._load_error))
            return Availability(False, _("Carbon hot keys exist only on macOS."))
        return Availability(True)

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        """RegisterEventHotKey; TAKEN when the system or another program holds the combination."""
        text = shortcut.portable()
        self.unregister(action)
        if self._carbon is None:
            return Registration(action, text, RegistrationStatus.UNSUPPORTED, self.availability().reason)
        code = key_code(shortcut.key)
        if code is None:
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The key {key} does not exist on a Mac keyboard.").format(key=shortcut.key))
        for other, (_id, _ref, other_text) in self._refs.items():
            if other_text == text:
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("{shortcut} is already the hotkey for '{action}'.").format(
                                        shortcut=text, action=other.label))
        if self._handler is None:
            try:
                self._handler = self._carbon.install_handler(self._on_hotkey)
            except OSError as exc:
                log.info("macOS: installing the hot-key handler failed: %s", exc)
                return Registration(action, text, RegistrationStatus.UNSUPPORTED, str(exc))
        hotkey_id = list(HotkeyAction).index(action) + 1
        status, ref = self._carbon.register(code, modifier_flags(shortcut.modifiers), hotkey_id)
        if status == eventHotKeyExistsErr:
            log.info("macOS: %s is registered by another program", text)
            return Registration(action, text, RegistrationStatus.TAKEN,
                                _("Another program already uses {shortcut}.").format(shortcut=text))
        if status != noErr:
            log.info("macOS: RegisterEventHotKey(%s) failed with %d", text, status)
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("macOS refused {shortcut} (error {code}).").format(shortcut=text, code=status))
        self._refs[action] = (hotkey_id, ref, text)
        log.info("macOS: registered %s for %s", text, action.value)
        return Registration(action, text, RegistrationStatus.REGISTERED)

    def unregister(self, action: HotkeyAction) -> None:
        """UnregisterEventHotKey for the action, if it holds one."""
        held = self._refs.pop(action, None)
        if held is None or self._carbon is None:
            return
        status = self._carbon.unregister(held[1])
        if status != noErr:
            log.info("macOS: UnregisterEventHotKey for %s failed with %d", action.value, status)

    def close(self) -> None:
        """Unregister every hot key and remove the handler."""
        for action in list(self._refs):
            self.unregister(action)
        if self._handler is not None and self._carbon is not None:
            self._carbon.remove_handler(self._handler)
        self._handler = None

    def _on_hotkey(self, hotkey_id: int) -> bool:
        for action, (own_id, _ref, _text) in self._refs.items():
            if own_id == hotkey_id:
                self.on_activated(action)
                return True
        return False
