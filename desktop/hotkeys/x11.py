"""Global hotkeys on X11: `XGrabKey` on the root window, read on the UI thread through a socket notifier.

The backend keeps its own Xlib connection (Qt's is not reachable from Python). A `QSocketNotifier`
on the connection's socket wakes the Qt loop when the server sends something; events that Xlib
already read while answering one of our own requests are drained right after that request, because
the socket will not signal them again. A combination is grabbed once for every NumLock/CapsLock
state, so the hotkey works whatever the lock lights show. A second client's grab of the same
combination fails with BadAccess: that is how a conflict with another program is recognised.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSocketNotifier, QTimer

from desktop.availability import Availability, wayland_session
from desktop.config.shortcuts import Modifier, Shortcut
from desktop.hotkeys.base import HotkeyAction, Registration, RegistrationStatus
from desktop.i18n import _

log = logging.getLogger(__name__)

# Qt's portable key names → X keysym names (letters and digits are their own lower-case names).
_KEYSYM_NAMES: dict[str, str] = {
    **{f"F{n}": f"F{n}" for n in range(1, 25)},
    "Space": "space", "Tab": "Tab", "Return": "Return", "Enter": "KP_Enter", "Backspace": "BackSpace",
    "Insert": "Insert", "Delete": "Delete", "Home": "Home", "End": "End", "PgUp": "Prior", "PgDown": "Next",
    "Left": "Left", "Right": "Right", "Up": "Up", "Down": "Down", "Print": "Print", "Pause": "Pause",
    "Esc": "Escape", "`": "grave", "-": "minus", "=": "equal", "[": "bracketleft", "]": "bracketright",
    "\\": "backslash", ";": "semicolon", "'": "apostrophe", ",": "comma", ".": "period", "/": "slash",
    "+": "plus",
}

# The modifier keys whose modifier bit we look up in the server's modifier mapping.
_ALT_KEYSYMS = ("Alt_L", "Alt_R", "Meta_L", "Meta_R")
_SUPER_KEYSYMS = ("Super_L", "Super_R", "Hyper_L", "Hyper_R")


def keysym_name(key: str) -> str | None:
    """The X keysym name for a Shortcut key ("S" → "s", "PgUp" → "Prior"), or None if it has none."""
    if len(key) == 1 and key.isascii() and key.isalnum():
        return key.lower()
    return _KEYSYM_NAMES.get(key)


def grabs_blind_here() -> bool:
    """True where X11 grabs would only see XWayland windows: a Wayland session, or any Wayland
    display at all (stricter than capture: a grab that misses native windows is worse than none)."""
    return wayland_session() or bool(os.environ.get("WAYLAND_DISPLAY"))


@dataclass(frozen=True)
class _Grab:
    """One action's grab: the key code and the modifier mask (without lock bits)."""

    keycode: int
    mask: int
    shortcut: Shortcut
    variants: tuple[int, ...]  # the lock bits it was grabbed with


class X11Hotkeys:
    """`HotkeyBackend` for X11 sessions, on its own Xlib connection."""

    name = "x11"

    def __init__(self, on_activated: Callable[[HotkeyAction], None], display_name: str | None = None) -> None:
        """`display_name` defaults to $DISPLAY at the time of the first use."""
        self.on_activated = on_activated
        self.display_name = display_name
        self._display: Any = None
        self._root: Any = None
        self._notifier: QSocketNotifier | None = None
        self._grabs: dict[HotkeyAction, _Grab] = {}
        self._numlock_mask = 0
        self._closed = False
        self._gone = False  # the X server went away
        self._connect_error = ""
        self._held: set[int] = set()  # key codes pressed and not yet released (autorepeat guard)
        self._released_at: dict[int, int] = {}  # key code → server time of its last release

    # -- availability ----------------------------------------------------------------------------------
    def availability(self) -> Availability:
        """Available on Linux/BSD in an X11 session whose display we can open."""
        if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            return Availability(False, _("X11 key grabs exist only on Linux and BSD desktops."))
        if grabs_blind_here():
            return Availability(
                False, _("X11 key grabs only see X11 windows under Wayland."),
                _("Use the desktop's GlobalShortcuts portal (KDE Plasma 6, GNOME 48 or newer), or bind the "
                  "app's command (for example 'glmv-desktop capture region') in your desktop's keyboard "
                  "settings."))
        if not (self.display_name or os.environ.get("DISPLAY")):
            return Availability(False, _("There is no X display (DISPLAY is not set)."),
                                _("Run the app inside a graphical session."))
        if not self._connect():
            return Availability(False, _("The X display could not be opened: {error}").format(
                error=self._connect_error), _("Run the app inside a graphical session."))
        return Availability(True)

    # -- registration ------------------------------------------------------------------------------------
    def register(self, action: HotkeyAction, shortcut: Shortcut) -> Registration:
        """Grab `shortcut` on the root window in every lock state; TAKEN if another client holds it."""
        from Xlib import X, error

        text = shortcut.portable()
        self.unregister(action)
        if not self._connect():
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The X display could not be opened: {error}").format(error=self._connect_error))
        key = self._key(shortcut)
        if key is None:
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The key {key} is not on this keyboard layout.").format(key=shortcut.key))
        keycode, mask = key
        for other, grab in self._grabs.items():
            if (grab.keycode, grab.mask) == (keycode, mask):
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("{shortcut} is already the hotkey for '{action}'.").format(
                                        shortcut=text, action=other.label))
        variants = tuple(self._lock_variants())
        catchers: list[tuple[int, error.CatchError]] = []
        for variant in variants:
            catcher = error.CatchError()
            self._root.grab_key(keycode, mask | variant, True, X.GrabModeAsync, X.GrabModeAsync, onerror=catcher)
            catchers.append((variant, catcher))
        try:
            self._display.sync()
        except error.ConnectionClosedError as exc:
            self._lost(exc)
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The X display could not be opened: {error}").format(error=exc))
        failed = [(variant, c.get_error()) for variant, c in catchers if c.get_error() is not None]
        if failed:
            for variant, catcher in catchers:
                if catcher.get_error() is None:
                    self._root.ungrab_key(keycode, mask | variant)
            self._sync()
            self._schedule_drain()
            if any(isinstance(err, error.BadAccess) for _variant, err in failed):
                log.info("X11: %s is grabbed by another client", text)
                return Registration(action, text, RegistrationStatus.TAKEN,
                                    _("Another program already uses {shortcut}.").format(shortcut=text))
            log.info("X11: grabbing %s failed: %s", text, failed[0][1])
            return Registration(action, text, RegistrationStatus.UNSUPPORTED,
                                _("The X server refused {shortcut}: {error}").format(shortcut=text, error=failed[0][1]))
        self._grabs[action] = _Grab(keycode, mask, shortcut, variants)
        self._schedule_drain()
        log.info("X11: grabbed %s for %s", text, action.value)
        return Registration(action, text, RegistrationStatus.REGISTERED)

    def unregister(self, action: HotkeyAction) -> None:
        """Release the action's grab in every lock state."""
        grab = self._grabs.pop(action, None)
        if grab is None or self._display is None:
            return
        for variant in grab.variants:
            self._root.ungrab_key(grab.keycode, grab.mask | variant)
        self._held.discard(grab.keycode)
        self._sync()  # a round trip, so the combination is free for others when this returns
        self._schedule_drain()

    def close(self) -> None:
        """Ungrab everything, stop the notifier and close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._display is None:
            return
        for action in list(self._grabs):
            self.unregister(action)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None  # owned by Python: deleted here, which also cancels a pending drain
        try:
            self._display.close()
        except Exception as exc:  # the server may be gone already; closing must never raise
            log.info("X11: closing the display failed: %s", exc)
        self._display = None
        self._root = None

    # -- the connection ---------------------------------------------------------------------------------
    def _connect(self) -> bool:
        """Open the display and start listening, once; False (with the error kept) if impossible."""
        if self._display is not None:
            return True
        if self._closed:
            self._connect_error = _("the hotkey backend was closed")
            return False
        if self._gone:
            return False
        try:
            from Xlib import display as xdisplay
            from Xlib import error as xerror

            self._display = xdisplay.Display(self.display_name)
        except (ImportError, xerror.DisplayError, xerror.ConnectionClosedError, OSError) as exc:
            self._connect_error = str(exc)
            log.info("X11 hotkeys: cannot open the display: %s", exc)
            return False
        self._display.set_error_handler(self._on_async_error)
        self._root = self._display.screen().root
        self._numlock_mask = self._mask_of_keysyms(("Num_Lock",))
        self._notifier = QSocketNotifier(self._display.fileno(), QSocketNotifier.Type.Read)
        self._notifier.activated.connect(self._drain)
        return True

    def _on_async_error(self, err: Any, request: Any) -> None:
        log.info("X11 hotkeys: X error %s", err)

    def _lost(self, exc: Exception) -> None:
        """The X server went away: stop listening; the grabs died with the connection.

        No reconnection is tried: the session is over (Qt's own connection is gone too), and python-xlib
        leaks a socket on each failed connect.
        """
        log.info("X11 hotkeys: lost the X connection: %s", exc)
        self._connect_error = _("the connection to the X server was lost ({error})").format(error=exc)
        self._gone = True
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        display, self._display, self._root = self._display, None, None
        self._grabs.clear()
        self._held.clear()
        try:
            display.close()
        except Exception as close_exc:  # the socket is already gone
            log.debug("X11 hotkeys: closing a lost connection: %s", close_exc)

    def _sync(self) -> None:
        if self._display is None:
            return
        try:
            self._display.sync()
        except Exception as exc:  # a dead server: nothing to release any more
            self._lost(exc)

    # -- key and modifier mapping -----------------------------------------------------------------------
    def _key(self, shortcut: Shortcut) -> tuple[int, int] | None:
        """The key code and modifier mask to grab for `shortcut`, or None if the layout lacks its key.

        A key typed with Shift on this layout ("+" on a US keyboard) gets Shift added, as the user
        presses it that way.
        """
        from Xlib import XK, X

        name = keysym_name(shortcut.key)
        keysym = XK.string_to_keysym(name) if name else 0
        if not keysym:
            return None
        found = sorted(self._display.keysym_to_keycodes(keysym), key=lambda pair: (pair[1], pair[0]))
        if not found:
            return None
        keycode, level = found[0]
        mask = self._modifier_mask(shortcut.modifiers)
        if level == 1:
            mask |= X.ShiftMask
        return int(keycode), mask

    def _mask_of_keysyms(self, names: tuple[str, ...]) -> int:
        """The modifier bit (Mod1…Mod5, Shift, Lock, Control) that holds any key of `names`, or 0."""
        from Xlib import XK

        keycodes = {code for name in names for code, _level in
                    self._display.keysym_to_keycodes(XK.string_to_keysym(name))}
        for index, codes in enumerate(self._display.get_modifier_mapping()):
            if keycodes & {code for code in codes if code}:
                return int(1 << index)
        return 0

    def _modifier_mask(self, modifiers: frozenset[Modifier]) -> int:
        from Xlib import X

        mask = 0
        if Modifier.CTRL in modifiers:
            mask |= X.ControlMask
        if Modifier.SHIFT in modifiers:
            mask |= X.ShiftMask
        if Modifier.ALT in modifiers:
            mask |= self._mask_of_keysyms(_ALT_KEYSYMS) or X.Mod1Mask
        if Modifier.META in modifiers:
            mask |= self._mask_of_keysyms(_SUPER_KEYSYMS) or X.Mod4Mask
        return mask

    def _lock_variants(self) -> list[int]:
        """Every combination of CapsLock and NumLock bits, so the grab works whatever the lights show."""
        from Xlib import X

        bits = [X.LockMask, *([self._numlock_mask] if self._numlock_mask else [])]
        return sorted({sum(combo) for n in range(len(bits) + 1) for combo in itertools.combinations(bits, n)})

    def _relevant_state(self, state: int) -> int:
        from Xlib import X

        wanted = X.ShiftMask | X.ControlMask | X.Mod1Mask | X.Mod2Mask | X.Mod3Mask | X.Mod4Mask | X.Mod5Mask
        return int(state & wanted & ~self._numlock_mask)

    # -- events -----------------------------------------------------------------------------------------
    def _schedule_drain(self) -> None:
        """Xlib may have read events off the socket while waiting for a reply: handle them soon."""
        if self._notifier is not None:
            QTimer.singleShot(0, self._notifier, self._drain)

    def _drain(self) -> None:
        """Handle every event that has arrived (on the UI thread)."""
        from Xlib import X, error

        if self._display is None:
            return
        try:
            while self._display is not None and self._display.pending_events():
                event = self._display.next_event()
                if event.type == X.KeyPress:
                    self._on_key_press(event)
                elif event.type == X.KeyRelease:
                    self._held.discard(event.detail)
                    self._released_at[event.detail] = event.time
                elif event.type == X.MappingNotify:
                    self._on_mapping_changed(event)
        except error.ConnectionClosedError as exc:
            self._lost(exc)

    def _on_key_press(self, event: Any) -> None:
        keycode = event.detail
        # Autorepeat sends a release and a press with the same timestamp; a held key must fire once.
        repeat = keycode in self._held or self._released_at.get(keycode) == event.time
        self._held.add(keycode)
        if repeat:
            log.debug("X11: autorepeat of key code %d ignored", keycode)
            return
        state = self._relevant_state(event.state)
        matches = [action for action, grab in self._grabs.items() if grab.keycode == keycode]
        exact = [action for action in matches if self._grabs[action].mask == state]
        chosen = exact or (matches if len(matches) == 1 else [])
        if chosen:
            self.on_activated(chosen[0])

    def _on_mapping_changed(self, event: Any) -> None:
        """The keyboard layout changed: refresh Xlib's tables and re-grab keys that moved."""
        self._display.refresh_keyboard_mapping(event)
        self._numlock_mask = self._mask_of_keysyms(("Num_Lock",))
        variants = tuple(self._lock_variants())
        for action, grab in list(self._grabs.items()):
            if (self._key(grab.shortcut), variants) != ((grab.keycode, grab.mask), grab.variants):
                registration = self.register(action, grab.shortcut)
                log.info("X11: keyboard mapping changed; %s is now %s", grab.shortcut, registration.status)
