"""Global hotkeys on Windows: `RegisterHotKey` for the UI thread, `WM_HOTKEY` read by a native event filter.

Registering with no window posts `WM_HOTKEY` to the registering thread's message queue; Qt's event
dispatcher hands every message it takes from that queue to the application's native event filters
as "windows_generic_MSG" (the message argument is the address of a `MSG`). So registration must
happen on the UI thread, which is where the service runs. `MOD_NOREPEAT` keeps a held combination
from firing again and again. A combination another program registered fails with
ERROR_HOTKEY_ALREADY_REGISTERED (1409): that is how a conflict is recognised.

`user32` and `last_error` can be injected, so the logic is tested on any platform.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray, QCoreApplication

from desktop.availability import Availability
from desktop.config.shortcuts import Modifier, Shortcut
from desktop.hotkeys.base import HotkeyAction, Registration, RegistrationStatus
from desktop.i18n import _

log = logging.getLogger(__name__)

MOD_ALT = 0x0001
MOD_CONTROL = 0x0002
MOD_SHIFT = 0x0004
MOD_WIN = 0x0008
MOD_NOREPEAT = 0x4000
WM_HOTKEY = 0x0312
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_FIRST_ID = 0x4C00  # ids 0x0000–0xBFFF belong to the application; keep clear of small numbers others pick

_MODIFIER_BITS = {Modifier.ALT: MOD_ALT, Modifier.CTRL: MOD_CONTROL, Modifier.SHIFT: MOD_SHIFT, Modifier.META: MOD_WIN}

# Qt's portable key names → Windows virtual-key codes; letters and digits are their ASCII codes.
VIRTUAL_KEYS: dict[str, int] = {
    **{chr(c): c for c in range(ord("A"), ord("Z") + 1)},
    **{chr(c): c for c in range(ord("0"), ord("9") + 1)},
    **{f"F{n}": 0x70 + n - 1 for n in range(1, 25)},  # VK_F1 … VK_F24
    "Space": 0x20, "Tab": 0x09, "Return": 0x0D, "Enter": 0x0D, "Backspace": 0x08,
    "Insert": 0x2D, "Delete": 0x2E, "Home": 0x24, "End": 0x23, "PgUp": 0x21, "PgDown": 0x22,
    "Left": 0x25, "Up": 0x26, "Right": 0x27, "Down": 0x28,
    "Print": 0x2C,  # VK_SNAPSHOT
    "Pause": 0x13, "Esc": 0x1B,
    # OEM keys, named by what they produce on a US layout (Windows maps them per layout).
    ";": 0xBA,  # VK_OEM_1
    "=": 0xBB, "+": 0xBB,  # VK_OEM_PLUS: the "=/+" key
    ",": 0xBC,  # VK_OEM_COMMA
    "-": 0xBD,  # VK_OEM_MINUS
    ".": 0xBE,  # VK_OEM_PERIOD
    "/": 0xBF,  # VK_OEM_2
    "`": 0xC0,  # VK_OEM_3
    "[": 0xDB,  # VK_OEM_4
    "\\": 0xDC,  # VK_OEM_5
    "]": 0xDD,  # VK_OEM_6
    "'": 0xDE,  # VK_OEM_7
}


class MSG(ctypes.Structure):
    """The Win32 MSG structure, with fixed-width fields so it has the same layout on every platform."""

    _fields_ = [
        ("hwnd", ctypes.c_void_p),
        ("message", ctypes.c_uint32),
        ("wParam", ctypes.c_size_t),  # WPARAM = UINT_PTR
        ("lParam", ctypes.c_ssize_t),  # LPARAM = LONG_PTR
        ("time", ctypes.c_uint32),
        ("pt_x", ctypes.c_int32),
        ("pt_y", ctypes.c_int32),
        ("lPrivate", ctypes.c_uint32),
    ]


def virtual_key(key: str) -> int | None:
    """The virtual-key code for a Shortcut key, or None if Windows has none."""
    return VIRTUAL_KEYS.get(key)


def modifier_flags(modifiers: frozenset[Modifier]) -> int:
    """RegisterHotKey's fsModifiers for `modifiers` (Meta is the Windows key), with MOD_NOREPEAT."""
    flags = MOD_NOREPEAT
    for modifier in modifiers:
        flags |= _MODIFIER_BITS[modifier]
    return flags


def _load_user32() -> tuple[Any, Callable[[], int]]:
    """The real user32 with argument types declared, and ctypes' saved GetLastError."""
    from ctypes import wintypes

    user32 = ctypes.WinDLL("user32", use_last_error=True)  # type: ignore[attr-defined]
    user32.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT]
    user32.RegisterHotKey.restype = wintypes.BOOL
    user32.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
    user32.UnregisterHotKey.restype = wintypes.BOOL
    return user32, ctypes.get_last_error  # type: ignore[attr-defined]


class _HotkeyMessageFilter(QAbstractNativeEventFilter):
    """Picks WM_HOTKEY out of the messages Qt's dispatcher sees and hands its id on."""

    def __init__(self, on_hotkey: Callable[[int], bool]) -> None:
        super().__init__()
        self.on_hotkey = on_hotkey

    def nativeEventFilter(  # noqa: N802 - Qt's name
        self, event_type: QByteArray | bytes | bytearray | memoryview, message: Any,
    ) -> tuple[bool, int]:
        """Qt's hook: True (consumed) for our WM_HOTKEY, False for everything else."""
        kind = event_type.data() if isinstance(event_type, QByteArray) else bytes(event_type)
        if kind != b"windows_generic_MSG" or not message:
            return False, 0
        msg = MSG.from_address(int(message))
        if msg.message != WM_HOTKEY:
            return False, 0
        return self.on_hotkey(int(msg.wParam)), 0


class Win32Hotkeys:
    """`HotkeyBackend` for Windows, through RegisterHotKey and a native event filter."""

    name = "win32"

    def __init__(self, on_activated: Callable[[HotkeyAction], None], user32: Any = None,
                 last_error: Callable[[], int] | None = None, app: QCoreApplication | None = None) -> None:
        """`user32`/`last_error` default to the real DLL on Windows; `app` to the running application."""
        self.on_activated = on_activated
        self._user32 = user32
        self._load_error = ""
        if user32 is None and sys.platform == "win32":
            try:
                self._user32, last_error = _load_user32()
            except (OSError, AttributeError) as exc:
                self._load_error = str(exc)
        self._last_error: Callable[[], int] = last_error or (lambda: 0)
        self._app = app
        self._filter: _HotkeyMessageFilter | None = None
        self._ids: dict[HotkeyAction, int] = {}
        self._shortcuts: dict[HotkeyAction, str] = {}

    def availability(self) -> Availability:
        """Available wherever user32 could be loaded (every Windows desktop)."""
        if self._user32 is None:
            if self._load_error:
                return Availability(False, _("user32.dll could not be loaded: {error}").format(error=self._load_error))
            return Availability(False, _("RegisterHotKey exists only on Windows."))
        return Availability(True)

    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        """RegisterHotKey for the UI thread; TAKEN when another program holds the combination."""
        text = shortcut.portable()
        self.unregister(action)
        if self._user32 is None:
            return Registration(action, text, RegistrationStatus.UNSUPPORTED, self.availability().reason)
        vk = virtual_key(shortcut.key)
        if vk is None:
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The key {key} has no Windows key code.").format(key=shortcut.key))
        for other, other_text in self._shortcuts.items():
            if other_text == text:
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("{shortcut} is already the hotkey for '{action}'.").format(
                                        shortcut=text, action=other.label))
        self._install_filter()
        hotkey_id = _FIRST_ID + list(HotkeyAction).index(action)
        if not self._user32.RegisterHotKey(None, hotkey_id, modifier_flags(shortcut.modifiers), vk):
            code = self._last_error()
            if code == ERROR_HOTKEY_ALREADY_REGISTERED:
                log.info("win32: %s is registered by another program", text)
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("Another program already uses {shortcut}.").format(shortcut=text))
            log.info("win32: RegisterHotKey(%s) failed with error %d", text, code)
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("Windows refused {shortcut} (error {code}).").format(shortcut=text, code=code))
        self._ids[action] = hotkey_id
        self._shortcuts[action] = text
        log.info("win32: registered %s for %s", text, action.value)
        return Registration(action, text, RegistrationStatus.REGISTERED)

    def unregister(self, action: HotkeyAction) -> None:
        """UnregisterHotKey for the action, if it holds one."""
        hotkey_id = self._ids.pop(action, None)
        self._shortcuts.pop(action, None)
        if hotkey_id is not None and self._user32 is not None and not self._user32.UnregisterHotKey(None, hotkey_id):
            log.info("win32: UnregisterHotKey(%d) failed with error %d", hotkey_id, self._last_error())

    def close(self) -> None:
        """Unregister every hotkey and remove the event filter."""
        for action in list(self._ids):
            self.unregister(action)
        if self._filter is not None:
            app = self._app or QCoreApplication.instance()
            if app is not None:
                app.removeNativeEventFilter(self._filter)
            self._filter = None

    def _install_filter(self) -> None:
        if self._filter is not None:
            return
        app = self._app or QCoreApplication.instance()
        if app is None:
            return  # no event loop, no messages: nothing to listen to
        self._filter = _HotkeyMessageFilter(self._on_hotkey)
        app.installNativeEventFilter(self._filter)

    def _on_hotkey(self, hotkey_id: int) -> bool:
        """Run the action registered under `hotkey_id`; False if the id is not ours."""
        for action, own_id in self._ids.items():
            if own_id == hotkey_id:
                self.on_activated(action)
                return True
        return False

    @property
    def message_filter(self) -> QAbstractNativeEventFilter | None:
        """The installed native event filter (tests feed it messages)."""
        return self._filter
